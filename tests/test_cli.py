"""The command line as a user meets it: help, bad flags, bad names, exit codes."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

import pytest

from autokeras_lab import load_experiment
from autokeras_lab.cli import main
from autokeras_lab.errors import UserError
from tests.helpers import SIZES


def run_cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "autokeras_lab", *args],
        capture_output=True, text=True, cwd=cwd, timeout=600,
    )


@pytest.mark.parametrize("command", ["search", "leaderboard", "predict"])
def test_help_needs_neither_tensorflow_nor_ray(command: str) -> None:
    code = (
        "import sys\n"
        "from autokeras_lab.cli import main\n"
        f"try:\n    main(['{command}', '--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('tensorflow', 'ray', 'keras', 'optuna') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert "usage:" in result.stdout


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["search", "concrete", "--trials", "0"], "--trials: expected a positive whole number, received '0'"),
        (["search", "concrete", "--max-epochs", "-3"], "--max-epochs: expected a positive whole number"),
        (["search", "concrete", "--epoch-rows", "0"], "--epoch-rows: expected a positive whole number"),
        (["search", "concrete", "--time-budget", "soon"], "--time-budget: expected a positive number"),
        (["search", "concrete", "--seed", "-1"], "--seed: expected a whole number >= 0"),
        (["leaderboard", "concrete", "--format", "xml"], "invalid choice: 'xml'"),
        (["search", "granite"], "unknown experiment 'granite'; expected one of: breast_cancer, car, concrete"),
        (["search"], "say what to search: an experiment name, or --csv FILE --target COLUMN"),
        (["search", "--csv", "nothing.csv", "--target", "y"], "CSV file"),
        (["search", "--csv", "rows.csv"], "--csv rows.csv needs --target COLUMN"),
        (["search", "concrete", "--target", "strength"], "--target goes with --csv"),
        (["search", "concrete", "--csv", "rows.csv", "--target", "y"], "give an experiment ('concrete') or --csv, not both"),
        (["search", "--csv", "rows.csv", "--target", "y", "--task", "clustering"], "invalid choice: 'clustering'"),
    ],
    ids=["zero-trials", "negative-epochs", "zero-epoch-rows", "word-budget", "negative-seed", "bad-format",
         "unknown-experiment", "nothing-to-search", "missing-csv", "csv-without-target",
         "target-without-csv", "experiment-and-csv", "bad-task"],
)
def test_bad_input_gets_one_line_and_exit_code_2(
    argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(argv))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err
    assert len(err.splitlines()) == 1


def test_leaderboard_without_a_search_says_what_to_run(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["leaderboard", "concrete", "--runs-dir", str(tmp_path)]) == 2
    assert "run `python -m autokeras_lab search concrete` first" in capsys.readouterr().err


def test_predict_refuses_a_directory_that_is_not_a_model(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    rows = tmp_path / "rows.csv"
    rows.write_text("a,b\n1,2\n")
    assert main(["predict", str(tmp_path), str(rows)]) == 2
    err = capsys.readouterr().err
    assert "is not an exported model directory (missing model.keras" in err
    assert main(["predict", str(tmp_path), str(tmp_path / "none.csv")]) == 2
    assert "none.csv does not exist" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("command", "expected"),
    [("datasets", ["concrete", "car", "iris", "breast_cancer", "diabetes", "diamonds",
                   "moons"]),
     ("spaces", ["mlp", "resmlp", "wide_deep"])],
)
def test_listings_show_one_described_line_each(
    command: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in expected:
        assert len(lines[name].split()) > 3, lines[name]  # a name and a description


@pytest.fixture(scope="module")
def stored(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A runs directory as a finished search leaves it (a leaderboard with a search
    and its trials, the exported best model), plus a model carrying a Lambda layer and
    a few input files, good and bad."""
    import keras

    from autokeras_lab.data import load_dataset, prepare
    from autokeras_lab.export import write_model_dir
    from autokeras_lab.leaderboard import Leaderboard, SearchRecord, TrialRecord

    root = tmp_path_factory.mktemp("stored")
    runs = root / "runs"
    board = Leaderboard(runs / "leaderboard.db")
    # An earlier search that was interrupted (its Ray Tune state is gone), for --resume.
    board.start_search(SearchRecord(
        search_id="s0", experiment="concrete", dataset="concrete", data_fingerprint="fp",
        space="mlp", metric="rmse", direction="min", seed=0, status="interrupted",
        started_at=0.5, command="search concrete", space_config={}, split_sizes=SIZES,
        settings=asdict(load_experiment("concrete").with_overrides(trials=60)),
    ))
    board.start_search(SearchRecord(
        search_id="s1", experiment="concrete", dataset="concrete", data_fingerprint="fp",
        space="mlp", metric="rmse", direction="min", seed=0, status="completed",
        started_at=1.0, command="search concrete", settings={}, space_config={},
        split_sizes=SIZES,
    ))
    board.record_trial(TrialRecord(search_id="s1", trial_id="t1", experiment="concrete",
                                   number=1, config={"units_0": 8}, status="completed",
                                   epochs=3, curve=[9.0, 8.0, 7.0], best_val=7.0))
    prepared = prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2,
                       split_seed=42)
    width = prepared.x_train.shape[1]
    for name, layers in (("best", []), ("lambda", [keras.layers.Lambda(lambda t: t * 2.0)])):
        model = keras.Sequential([keras.Input((width,)), *layers, keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        target = runs / "concrete" / "best" if name == "best" else root / "lambda_model"
        write_model_dir(target, model, None, {"target": "strength"},
                        preprocessor=prepared.preprocessor)
    load_dataset("concrete").frame.head(40).to_csv(root / "labelled.csv", index=False)
    frame = load_dataset("concrete").frame.drop(columns=["strength"]).head(5)
    frame.to_csv(root / "rows.csv", index=False)
    frame.rename(columns=lambda c: c.upper()).to_csv(root / "wrong_columns.csv", index=False)
    (root / "broken.toml").write_text('dataset = "concrete"\n[budget\ntrials = 3\n')
    (root / "cnn.toml").write_text('dataset = "concrete"\nspace = "cnn"\n')
    (root / "constant.csv").write_text("x,y\n" + "".join(f"{i},1.0\n" for i in range(40)))
    return root


def _snapshot(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes()
            for p in sorted(directory.rglob("*")) if p.is_file()}


BAD_INPUT = {
    "unknown-experiment": (["search", "granite"], "unknown experiment 'granite'"),
    "zero-trials": (["search", "concrete", "--trials", "0"], "--trials: expected a positive"),
    "negative-epochs": (["search", "concrete", "--max-epochs", "-3"], "--max-epochs: expected"),
    "malformed-config": (["search", "{root}/broken.toml"], "broken.toml"),
    "unknown-space": (["search", "{root}/cnn.toml"], "unknown search space 'cnn'"),
    "unknown-space-flag": (["search", "concrete", "--space", "cnn"], "unknown search space 'cnn'"),
    "negative-ensemble": (["search", "concrete", "--ensemble-size", "-1"],
                          "--ensemble-size: expected a whole number >= 0"),
    "nothing-to-resume": (["search", "iris", "--resume"], "no interrupted search"),
    "unknown-search-to-resume": (["search", "--resume", "nope"], "no search 'nope'"),
    "resume-with-new-budget": (["search", "concrete", "--seed", "0", "--trials", "9", "--resume"],
                               "--trials 9 cannot change search s0 being resumed: it continues "
                               "with its own setting (60)"),
    # The search's own command with --resume added gets past the flags (and then finds
    # that this search's Ray Tune state is gone).
    "resume-with-its-own-flags": (["search", "concrete", "--trials", "60", "--max-epochs", "300",
                                   "--seed", "0", "--resume"], "left no Ray Tune state"),
    "constant-target": (["search", "--csv", "{root}/constant.csv", "--target", "y",
                         "--task", "regression"], "a constant target cannot be learned"),
    "not-an-address": (["search", "concrete", "--address", "head-node"],
                       "--address 'head-node' is not a Ray address"),
    "gpu-share": (["search", "concrete", "--gpus-per-trial", "1.5"], "not a GPU share"),
    "negative-gpus": (["search", "concrete", "--gpus-per-trial", "-1"],
                      "--gpus-per-trial: expected a number >= 0"),
    "dashboard-on-a-cluster": (["search", "concrete", "--dashboard", "--address", "auto"],
                               "a cluster joined with --address has its own"),
    "resume-with-new-storage": (["search", "concrete", "--resume", "--storage", "/mnt/x"],
                                "--storage /mnt/x cannot change search s0"),
    "unknown-experiment-board": (["leaderboard", "granite"], "no searches of experiment"),
    "unknown-search-report": (["report", "concrete", "--search", "nope"], "no search 'nope'"),
    "zero-top": (["retrain", "concrete", "--top", "0"], "--top: expected a positive"),
    "not-a-model": (["predict", "{root}", "{root}/rows.csv"], "is not an exported model"),
    "columns-do-not-match": (["predict", "{runs}/concrete/best", "{root}/wrong_columns.csv"],
                             "wrong_columns.csv does not fit the model in"),
    "finetune-columns": (["retrain", "--from", "{runs}/concrete/best", "--csv",
                          "{root}/wrong_columns.csv"], "column"),
    "lambda-layer": (["predict", "{root}/lambda_model", "{root}/rows.csv"],
                     "contains a Lambda layer"),
    "lambda-layer-finetune": (["retrain", "--from", "{root}/lambda_model", "--csv",
                               "{root}/labelled.csv"], "contains a Lambda layer"),
}


@pytest.mark.parametrize(("argv", "message"), BAD_INPUT.values(), ids=BAD_INPUT.keys())
def test_nonsense_gets_one_line_exit_2_and_leaves_the_store_untouched(
    stored: Path, argv: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    runs = stored / "runs"
    needs_runs = argv[0] in ("search", "leaderboard", "report") or argv[:2] == ["retrain", "concrete"]
    args = [a.format(root=stored, runs=runs) for a in argv] + (
        ["--runs-dir", str(runs)] if needs_runs else [])
    before = _snapshot(runs)
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(args))
    err = capsys.readouterr().err.strip()
    assert info.value.code == 2, err
    assert message in err and len(err.splitlines()) == 1, err
    assert _snapshot(runs) == before


def test_unsafe_loads_a_lambda_model_the_user_trusts(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["predict", str(stored / "lambda_model"), str(stored / "rows.csv"),
                 "--unsafe"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "predicted_strength" and len(lines) == 6


def test_unsafe_fine_tunes_a_lambda_model_the_user_trusts(
    stored: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["retrain", "--from", str(stored / "lambda_model"), "--csv",
                 str(stored / "labelled.csv"), "--epochs", "1", "--unsafe"]) == 0
    assert (stored / "lambda_model-v2" / "model.keras").is_file()
    assert "fine-tuned on 40 rows for 1 epochs" in capsys.readouterr().out


@pytest.mark.parametrize(("flags", "refit"), [([], True), (["--no-refit"], False)])
def test_no_refit_reaches_the_search(
    monkeypatch: pytest.MonkeyPatch, flags: list[str], refit: bool,
) -> None:
    import autokeras_lab.search as search

    searched = []

    def stop_before_ray(experiment, **_: object) -> None:
        searched.append(experiment)
        raise UserError("stopped before Ray starts")

    monkeypatch.setattr(search, "run_search", stop_before_ray)
    assert main(["search", "concrete", "--quiet", *flags]) == 2
    [experiment] = searched
    assert experiment.refit is refit
    assert experiment.trial_seconds == (225 if refit else 300)
