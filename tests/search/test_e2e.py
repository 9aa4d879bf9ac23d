"""End to end: real Ray, real Optuna and ASHA, real Keras training, tiny budgets."""

from __future__ import annotations

import io
import json
import math
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab import load_experiment, load_model_dir, run_search
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.types import Direction


@pytest.fixture(scope="module")
def cli_search(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, subprocess.CompletedProcess[str]]:
    """The headline command as a user types it, on a tiny budget (4 trials x 5 epochs;
    random sampling, so the --sampler flag is exercised too)."""
    runs = tmp_path_factory.mktemp("runs")
    result = subprocess.run(
        [sys.executable, "-m", "autokeras_lab", "search", "concrete", "--sampler", "random",
         "--trials", "4", "--max-epochs", "5", "--seed", "0", "--runs-dir", str(runs)],
        capture_output=True, text=True, timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return runs, result


@pytest.mark.slow
def test_search_prints_progress_leaderboard_and_paths(cli_search) -> None:
    runs, result = cli_search
    assert "trials: 4 done" in result.stderr  # the progress view
    assert "Traceback" not in result.stderr and "absl" not in result.stderr
    lines = result.stdout.splitlines()
    header = next(line for line in lines if line.startswith("rank"))
    assert header.split()[:7] == ["rank", "trial", "status", "val_rmse", "test_rmse", "epochs", "seconds"]
    assert f"best model:  {runs / 'concrete' / 'best'}" in result.stdout
    assert f"leaderboard: {runs / 'leaderboard.db'}" in result.stdout


@pytest.mark.slow
def test_every_trial_is_on_the_leaderboard_with_its_status_and_curve(cli_search) -> None:
    runs, _ = cli_search
    board = Leaderboard(runs / "leaderboard.db")
    [search] = board.searches("concrete")
    assert search.status == "completed" and search.seed == 0
    assert search.settings["sampler"]["name"] == "random"  # --sampler reached the search
    trials = board.trials("concrete", direction=Direction.MIN)
    assert len(trials) == 4
    assert sorted(t.number for t in trials) == [1, 2, 3, 4]
    for trial in trials:
        assert trial.status in ("completed", "stopped_early")
        assert len(trial.curve) == trial.epochs and 1 <= trial.epochs <= 5
        assert trial.best_val == pytest.approx(min(trial.curve))
        assert trial.wall_seconds and trial.wall_seconds > 0 and trial.seed is not None
        assert trial.config["num_layers"] in (1, 2, 3, 4)
    assert any(t.status == "completed" and t.epochs == 5 for t in trials)
    best = trials[0]
    assert best.test_metric is not None and 0 < best.test_metric < 60  # MPa


@pytest.mark.slow
def test_every_trial_writes_tensorboard_logs(cli_search) -> None:
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    runs, _ = cli_search
    board = Leaderboard(runs / "leaderboard.db")
    [search] = board.searches("concrete")
    trial_dirs = sorted((runs / "concrete" / "ray" / search.search_id).glob("trial_*"))
    assert len(trial_dirs) == 4
    for trial_dir in trial_dirs:
        events = EventAccumulator(str(trial_dir))
        events.Reload()
        assert "ray/tune/best_val_metric" in events.Tags()["scalars"], events.Tags()


@pytest.mark.slow
def test_exported_model_predicts_plausible_strengths_and_reloads_the_same(
    cli_search, tmp_path: Path
) -> None:
    runs, _ = cli_search
    model_dir = runs / "concrete" / "best"
    card = json.loads((model_dir / "card.json").read_text())
    assert card["target"] == "strength" and card["unit"] == "MPa"
    assert card["versions"]["tensorflow"].startswith("2.")
    assert card["metrics"]["val_rmse"] > 0
    rows = pd.read_csv(Path(__file__).parents[2] / "autokeras_lab" / "data" / "concrete.csv")
    rows = rows.drop(columns=["strength"]).sample(20, random_state=1)
    first = load_model_dir(model_dir).predict(rows)["predicted_strength"].to_numpy()
    second = load_model_dir(model_dir).predict(rows)["predicted_strength"].to_numpy()
    assert first.shape == (20,) and np.all(np.isfinite(first))
    assert np.all((first > -20) & (first < 150))
    np.testing.assert_allclose(first, second, rtol=1e-6)

    csv, out = tmp_path / "rows.csv", tmp_path / "pred.csv"
    rows.to_csv(csv, index=False)
    result = subprocess.run(
        [sys.executable, "-m", "autokeras_lab", "predict", str(model_dir), str(csv),
         "--output", str(out)], capture_output=True, text=True, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    written = pd.read_csv(out)
    np.testing.assert_allclose(written["predicted_strength"], first, rtol=1e-4)


@pytest.mark.slow
def test_leaderboard_command_reads_the_store(cli_search) -> None:
    runs, _ = cli_search
    result = subprocess.run(
        [sys.executable, "-m", "autokeras_lab", "leaderboard", "concrete", "--runs-dir",
         str(runs), "--top", "2", "--format", "json"], capture_output=True, text=True, timeout=60,
    )
    assert result.returncode == 0, result.stderr
    entries = json.loads(result.stdout)
    rows = [row for row in entries if row["status"] != "ensemble"]  # the ensemble's row leads
    assert len(rows) == 2 and rows[0]["best_val"] <= rows[1]["best_val"]
    assert all(row["status"] == "ensemble" for row in entries[: len(entries) - 2])


@pytest.mark.slow
def test_same_seed_proposes_the_same_first_configurations(ray_session, tmp_path: Path) -> None:
    def proposals(seed: int, runs: Path) -> list[dict]:
        exp = load_experiment("concrete").with_overrides(cv=1, trials=3, max_epochs=1, seed=seed,
                                                           refit=False)
        result = run_search(exp, runs_dir=runs)
        return [t.config for t in sorted(result.trials, key=lambda t: t.number)]

    first = proposals(11, tmp_path / "a")
    again = proposals(11, tmp_path / "b")
    other = proposals(12, tmp_path / "c")
    assert first == again
    assert first != other
    assert all(math.isfinite(c["learning_rate"]) for c in first)


# The shortest time budget that leaves a slow, shared CI machine room for a Ray worker
# to start and train an epoch (20 s once left it none: the search had no model at all).
EPOCH_BUDGET_S = 60


@pytest.mark.slow
def test_time_budget_ends_the_search_before_the_trial_count(ray_session, tmp_path: Path) -> None:
    exp = load_experiment("concrete").with_overrides(
        cv=1, trials=10_000, max_epochs=5, time_budget_s=EPOCH_BUDGET_S)
    out = io.StringIO()
    result = run_search(exp, runs_dir=tmp_path, out=out)
    assert result.status == "completed"
    assert 1 <= len(result.trials) < 10_000
    assert result.wall_seconds < EPOCH_BUDGET_S + 120  # plus start-up, evaluation and export
    # a refit would have had a quarter of the budget: the trials had all of it, and the search says so
    assert f"no refit: a {EPOCH_BUDGET_S} s budget is too short to keep time for one (25% of " \
        "a budget of 120 s or more); the trials had all of it" in out.getvalue()
    assert result.export_dir is not None
    assert "refit" not in json.loads((result.export_dir / "card.json").read_text())


@pytest.mark.slow
def test_a_trial_the_time_budget_cuts_short_keeps_the_epochs_it_trained(
    ray_session, tmp_path: Path,
) -> None:
    """Ray ends a trial still running when the budget runs out without completing
    it; its best epoch so far is a model the budget paid for: recorded, ranked and
    handed over, not lost (before, this search had no model at all). Without the
    refit, so that the whole budget is the trial's."""
    exp = load_experiment("concrete").with_overrides(
        cv=1, trials=1, max_epochs=100_000, patience=100_000, time_budget_s=EPOCH_BUDGET_S,
        refit=False)
    result = run_search(exp, runs_dir=tmp_path)
    [trial] = result.trials
    assert trial.status == "stopped_early"
    assert 1 <= trial.best_epoch <= trial.epochs < 100_000
    assert trial.checkpoint_path and trial.test_metric is not None
    assert result.best_trial_id == trial.trial_id
    model = load_model_dir(result.export_dir)
    assert model.card["trial_id"] == trial.trial_id and "refit" not in model.card
    frame = pd.read_csv(Path(__file__).parents[2] / "autokeras_lab" / "data" / "concrete.csv")
    assert model.predict(frame.head(5)).notna().all().all()


@pytest.mark.slow
def test_mixed_type_csv_classification_end_to_end(ray_session, tmp_path: Path) -> None:
    """A user's CSV with numbers, categories, booleans and gaps: searched, exported,
    and predicted on raw rows (label plus class probabilities)."""
    from autokeras_lab.config import csv_experiment
    from tests.helpers import mixed_frame

    frame = mixed_frame(300)
    frame["tier"] = pd.qcut(frame.pop("price"), 3, labels=["cheap", "mid", "dear"]).astype(str)
    csv = tmp_path / "shop.csv"
    frame.to_csv(csv, index=False)
    exp = csv_experiment(csv, target="tier").with_overrides(cv=1, trials=3, max_epochs=8,
                                                            ensemble_size=0, refit=False)
    result = run_search(exp, runs_dir=tmp_path / "runs")
    assert (result.experiment, result.metric, result.direction) == ("shop", "log_loss", "min")
    best = result.trials[0]
    # ensemble selection off: the best trial is handed over
    assert result.ensemble is None and load_model_dir(result.export_dir).card["trial_id"] == best.trial_id
    assert set(best.metrics["val"]) == {"log_loss", "accuracy"}
    assert best.metrics["test"]["log_loss"] == best.test_metric

    rows = frame.drop(columns=["tier"]).head(12)  # raw rows, gaps included
    assert rows.isna().any().any()
    out = tmp_path / "pred.csv"
    completed = subprocess.run(
        [sys.executable, "-m", "autokeras_lab", "predict", str(result.export_dir), str(csv),
         "--output", str(out)], capture_output=True, text=True, timeout=300,
    )
    assert completed.returncode == 0, completed.stderr
    predictions = load_model_dir(result.export_dir).predict(rows)
    assert set(predictions["predicted_tier"]) <= {"cheap", "mid", "dear"}
    probs = predictions[["probability_cheap", "probability_dear", "probability_mid"]]
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-5)
    written = pd.read_csv(out)
    assert len(written) == len(frame) and "probability_mid" in written.columns


@pytest.mark.slow
def test_cross_validated_search_reports_mean_and_spread(ray_session, tmp_path: Path) -> None:
    from autokeras_lab.report import format_leaderboard

    exp = load_experiment("iris").with_overrides(trials=2, max_epochs=4, cv=3, refit=False)
    result = run_search(exp, runs_dir=tmp_path)
    best = result.trials[0]
    assert set(best.metrics["val_std"]) == {"log_loss", "accuracy"}
    assert best.metrics["val_std"]["log_loss"] >= 0
    header = format_leaderboard(result.trials, fmt="table", metric="log_loss").splitlines()[0]
    assert "val_log_loss_std" in header.split()


@pytest.mark.slow
@pytest.mark.parametrize(("experiment", "metric", "best_of"),
                         [("concrete", "rmse", min), ("moons", "accuracy", max)],
                         ids=["regression-rmse", "binary-accuracy"])
def test_without_folds_the_refit_is_judged_against_the_best_trial_chosen_on_the_other_half(
    ray_session, tmp_path: Path, experiment: str, metric: str, best_of: Callable,
) -> None:
    """A search without folds (one validation split, as on a table of more than 10,000
    rows) has no folds to cross-select on: the original's unseen-rows figure is taken
    on two halves of its validation rows, dealt by the search's seed, each scored with
    the trial that is best on the other half (in the metric's direction), and the
    figure is taken over all of them, as each trial's own value is. Recomputed here
    from the trials' stored validation outputs; the refit is handed over only if it
    beats it, and so is both averaged (the original's network and the refitted one: a
    bag of two, which a trial without folds is not), the original in it judged by its
    outputs on those halves."""
    from autokeras_lab.export import val_predictions
    from autokeras_lab.metrics import evaluate
    from autokeras_lab.search._setup import set_up

    exp = load_experiment(experiment).with_overrides(cv=1, trials=4, max_epochs=3, seed=3,
                                                       ensemble_size=0, metric=metric)
    result = run_search(exp, runs_dir=tmp_path)
    card = load_model_dir(result.export_dir).card
    refit = card["refit"]

    setup = set_up(exp)
    y = setup.prepared.selection_targets()
    outputs = [val_predictions(t) for t in result.trials if t.best_val is not None]
    assert len(outputs) == 4 and all(len(o) == len(y) for o in outputs)

    def value(output: np.ndarray, rows: np.ndarray) -> float:
        return evaluate(setup.task.kind, y[rows], output[rows],
                        target_scale=setup.prepared.preprocessor.target_scale)[metric]

    halves = [np.sort(h) for h in np.array_split(np.random.default_rng(3).permutation(len(y)), 2)]
    crossed = np.empty_like(outputs[0])  # each half from the trial best on the other
    for i, half in enumerate(halves):
        crossed[half] = best_of(outputs, key=lambda o: value(o, halves[1 - i]))[half]
    unseen = value(crossed, np.arange(len(y)))  # over every row, as a trial's value is taken
    assert refit[f"val_{metric}_original_unseen"] == pytest.approx(unseen, rel=1e-5)
    # three candidates without folds: the original (at its unseen-rows figure), the
    # refitted model, and both averaged; the best goes out, a tie to fewer networks
    candidates = {"original": unseen, "refitted": refit[f"val_{metric}_refitted"],
                  "both": refit[f"val_{metric}_both"]}
    best = best_of(candidates.values())
    assert refit["handed_over"] == next(k for k, v in candidates.items() if v == best)
    single = next(t for t in result.trials if t.trial_id == result.best_trial_id).params
    # both averaged hands over the original network and its refitted twin
    assert card["cost"]["params"] == pytest.approx(
        single * (2 if refit["handed_over"] == "both" else 1), rel=1e-3)


@pytest.mark.slow
def test_both_averaged_goes_out_as_the_original_network_beside_its_refitted_twin(
    ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
) -> None:
    """Where both averaged is handed over (forced here: which candidate wins is the
    data's), the model holds the original's network and the refitted one at half the
    weight each: twice the parameters, its cost measured as handed over, and it loads
    and predicts as any exported model does; under an inference budget it is a
    candidate only where twice the networks fit."""
    from autokeras_lab.search import _refit

    monkeypatch.setattr(_refit, "hand_over", lambda values, judged, direction: (
        _refit.Handed.BOTH if _refit.Handed.BOTH in values else _refit.Handed.ORIGINAL))
    exp = load_experiment("concrete").with_overrides(cv=1, trials=2, max_epochs=3, seed=3,
                                                       ensemble_size=0)
    result = run_search(exp, runs_dir=tmp_path)
    model = load_model_dir(result.export_dir)
    assert model.card["refit"]["handed_over"] == "both"
    single = next(t for t in result.trials if t.trial_id == result.best_trial_id).params
    assert model.card["cost"]["params"] == pytest.approx(2 * single, rel=1e-3)
    assert model.card["cost"]["latency_ms"] > 0
    rows = pd.read_csv(Path(__file__).parents[2] / "autokeras_lab" / "data" / "concrete.csv")
    predicted = model.predict(rows.drop(columns=["strength"]).head(20))
    assert np.all(np.isfinite(predicted["predicted_strength"].to_numpy()))

    # an inference budget without room for twice the networks keeps both averaged out
    # of the candidates (the same seed: the same configurations, the same sizes)
    limited = exp.with_overrides(max_params=single)
    result = run_search(limited, runs_dir=tmp_path / "limited")
    card = load_model_dir(result.export_dir).card
    chosen = next(t for t in result.trials if t.trial_id == result.best_trial_id).params
    doubled_fits = 2 * chosen <= single
    assert card["refit"]["handed_over"] == ("both" if doubled_fits else "original")
    assert ("val_rmse_both" in card["refit"]) == doubled_fits
    assert card["cost"]["params"] <= single
