"""The command line as a user meets it: help, bad flags, bad names, exit codes."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from autokeras_lab.cli import main


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
    ids=["zero-trials", "negative-epochs", "word-budget", "negative-seed", "bad-format",
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
    [("datasets", ["concrete", "car", "iris", "breast_cancer", "diabetes", "moons"]),
     ("spaces", ["mlp", "resmlp", "wide_deep"])],
)
def test_listings_show_one_described_line_each(
    command: str, expected: list[str], capsys: pytest.CaptureFixture[str]
) -> None:
    assert main([command]) == 0
    lines = {line.split()[0]: line for line in capsys.readouterr().out.splitlines() if line.strip()}
    for name in expected:
        assert len(lines[name].split()) > 3, lines[name]  # a name and a description
