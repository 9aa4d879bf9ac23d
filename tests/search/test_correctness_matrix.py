"""Everything that ranks, selects or exports picks the best trial by the metric's own
direction, on every task kind, for minimised and maximised metrics alike: and the
ensemble selected from the trials is handed over only when it beats that trial.

Each case runs the commands a user types (in this process, on the shared Ray
runtime, tiny budgets) and checks them against the stored values with plain
``min``/``max``, independent of the package's own ranking code.
"""

from __future__ import annotations

import dataclasses
import io
import json
import re
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.cli import main
from autokeras_lab.cluster import ClusterOptions
from autokeras_lab.config import load_experiment
from autokeras_lab.costs import CostMeter
from autokeras_lab.ensemble import Calibration
from autokeras_lab.export import load_model_dir, val_predictions
from autokeras_lab.layout import RunsLayout
from autokeras_lab.leaderboard import Leaderboard, SearchRecord, TrialRecord
from autokeras_lab.search._choose import (
    Choice,
    Restored,
    calibration_for,
    choose,
    selection_metrics,
)
from autokeras_lab.search._run import SearchRun
from autokeras_lab.search._setup import Setup, set_up
from autokeras_lab.types import Direction

CASES = {  # id: (experiment, metric)
    "regression-rmse": ("concrete", "rmse"),
    "regression-mae": ("concrete", "mae"),
    "binary-accuracy": ("moons", "accuracy"),
    "binary-log_loss": ("moons", "log_loss"),
    "multiclass-accuracy": ("iris", "accuracy"),
    "multiclass-log_loss": ("iris", "log_loss"),
}
BEST = {"rmse": min, "mae": min, "log_loss": min, "accuracy": max}
TRIALS = 7  # more than the five the search evaluates on the test split
FOLDS = 3  # bagged, as the default search is on tables this small (with 5 folds)


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    return captured.out


def _printed_rank_one(out: str) -> int:
    """The trial number in rank 1 of the leaderboard table ``search`` printed (after
    the ensemble's row, if there is one)."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    columns = lines[header].split()
    rows = [line.split() for line in lines[header + 2:] if line.strip()]
    first = next(r for r in rows if r[columns.index("trial")] != "ensemble")
    assert first[columns.index("rank")] == "1"
    return int(first[columns.index("trial")])


def _report_rank_one(page: str) -> tuple[int, float]:
    """Rank 1's trial number in the report's table, and the headline's best value."""
    table = page[page.index('<table id="leaderboard">'):]
    head = re.findall(r"<th(?:\s[^>]*)?>(.*?)</th>", table.split("</thead>")[0])
    rows = [re.findall(r"<td(?:\s[^>]*)?>(.*?)</td>", row)
            for row in re.findall(r"<tr[^>]*>(.*?)</tr>", table.split("<tbody>")[1])]
    first = next(cells for cells in rows if cells[head.index("trial")] != "ensemble")
    assert first[head.index("rank")] == "1"
    headline = re.search(r'<div class="card"><b>([^<]*)</b><span>best validation', page)
    assert headline is not None
    return int(first[head.index("trial")]), float(headline.group(1))


def _check_refit(card: dict, model_dir: Path, metric: str, *, members: int, params: int,
                 ) -> None:
    """The chosen trials were refitted with the test rows added, and the refitted model
    was handed over exactly where its out-of-fold value beats the chosen model's on rows
    its choice did not see (a tie keeps the original), with the networks the chosen
    model has (``params``: a refit replaces them, never adds to them); the test metrics
    and the test predictions the report plots stay the original model's (the refitted
    one trained on those rows)."""
    refit = card["refit"]
    original, refitted, unseen = (refit[f"val_{metric}_{kind}"]
                                  for kind in ("original", "refitted", "original_unseen"))
    assert original == pytest.approx(card["metrics"][f"val_{metric}"], rel=1e-5)
    # with folds, each trial already a bag: both bags averaged is no candidate
    assert f"val_{metric}_both" not in refit
    beats = refitted != unseen and BEST[metric]([refitted, unseen]) == refitted
    assert refit["handed_over"] == ("refitted" if beats else "original")
    assert refit["trials_refitted"] == refit["trials_chosen"] == members
    # a regressor's refitted bag goes out as models trained on every row (no deadline
    # here, so every trial's); a classifier keeps the fold models its calibration fits
    regression = metric in ("rmse", "mae")
    assert refit["trials_on_every_row"] == (members if beats and regression else 0)
    # each network copied; the ensemble's fixed input and averaging layers are not
    assert card["cost"]["params"] == pytest.approx(params, rel=1e-3)
    predictions = pd.read_csv(model_dir / "test_predictions.csv")
    if metric in ("rmse", "mae"):
        error = predictions["predicted"] - predictions["actual"]
        tested = np.sqrt(np.mean(error**2)) if metric == "rmse" else np.mean(np.abs(error))
        assert tested == pytest.approx(card["metrics"][f"test_{metric}"], rel=1e-4)
    else:
        accuracy = np.mean(predictions["predicted"].astype(str) == predictions["actual"].astype(str))
        assert accuracy == pytest.approx(card["metrics"]["test_accuracy"], rel=1e-6)


@pytest.mark.slow
@pytest.mark.parametrize(("experiment", "metric"), CASES.values(), ids=CASES.keys())
def test_every_ranking_hands_over_the_best_trial(
    ray_session, tmp_path: Path, capsys: pytest.CaptureFixture[str], experiment: str,
    metric: str,
) -> None:
    best_of = BEST[metric]
    runs = str(tmp_path)
    out = _run(capsys, "search", experiment, "--metric", metric, "--trials", str(TRIALS),
               "--max-epochs", "4", "--seed", "0", "--cv", str(FOLDS), "--runs-dir", runs)
    assert out.count("best model:") == 1, out

    board = Leaderboard(tmp_path / "leaderboard.db")
    [search] = board.searches(experiment)
    assert (search.metric, search.direction) == (metric, "max" if best_of is max else "min")
    trials = {t.number: t for t in board.trials(experiment, direction=Direction.MIN)}
    scored = [t for t in trials.values() if t.best_val is not None]
    values = [t.best_val for t in scored]
    assert len(scored) == TRIALS and len(set(values)) > 1, values  # a wrong order would show
    best = best_of(values)

    def better_or_equal(a: TrialRecord, b: TrialRecord) -> bool:
        return best_of(a.best_val, b.best_val) == a.best_val

    # search's printed leaderboard
    assert trials[_printed_rank_one(out)].best_val == best

    # leaderboard --format json: the ensemble's row, then rank 1, every row at least
    # as good as the next
    entries = json.loads(_run(capsys, "leaderboard", experiment, "--format", "json",
                              "--top", "100", "--runs-dir", runs))
    rows = [row for row in entries if row["status"] != "ensemble"]
    assert rows[0]["best_val"] == best
    # every trial and the ensemble: what its model costs to run, measured
    assert all(row["params"] > 0 and row["latency_ms"] > 0 for row in entries), entries
    ordered = [row["best_val"] for row in rows]
    assert ordered == sorted(ordered, reverse=best_of is max)

    # the ensemble, if selected, was chosen among these trials; it is handed over
    # exactly when it beats the best trial on the rows it was selected on, as it
    # would be handed over (a classifier's calibration included)
    ensembles = board.ensembles(experiment, direction=search.direction)
    assert [e["config"]["members"] for e in entries if e["status"] == "ensemble"] == [
        e.members for e in ensembles]
    for ensemble in ensembles:
        assert set(ensemble.members) <= {t.trial_id for t in scored}
        assert sum(ensemble.members.values()) == pytest.approx(1.0)
        beats = (ensemble.best_val != ensemble.single_val
                 and best_of(ensemble.best_val, ensemble.single_val) == ensemble.best_val)
        assert ensemble.exported == beats
    handed = next((e for e in ensembles if e.exported), None)

    # the exported model is the best trial, or the ensemble that beat it, in the
    # search's directory and the experiment's
    chosen = (next(e for e in entries if e["status"] == "ensemble" and e["config"][
        "members"] == handed.members) if handed else rows[0])  # its leaderboard row
    for card_path in (tmp_path / experiment / "best" / "card.json",
                      tmp_path / experiment / "searches" / search.search_id / "best" / "card.json"):
        card = json.loads(card_path.read_text())
        assert card["direction"] == search.direction
        _check_refit(card, card_path.parent, metric,
                     members=len(handed.members) if handed else 1, params=chosen["params"])
        if handed is not None:
            assert card["kind"] == "ensemble"
            assert {m["trial_id"]: m["weight"] for m in card["members"]} == handed.members
            assert card["metrics"][f"val_{metric}"] == handed.best_val
            continue
        exported = next(t for t in scored if t.trial_id == card["trial_id"])
        assert exported.best_val == best
        if metric in ("rmse", "mae"):
            assert "calibration" not in card and card["metrics"][f"val_{metric}"] == best
            continue
        # a classifier's lone trial is handed over calibrated, as an ensemble is: the
        # card's value is its stored validation outputs' calibrated on its own rows
        # (the card's calibration where the original was handed over; a refitted
        # model's is its own), and no class is ruled out beyond the floor
        own, value = _as_handed(_setup(experiment, metric), exported, metric)
        assert card["metrics"][f"val_{metric}"] == pytest.approx(value, rel=1e-6)
        if card["refit"]["handed_over"] == "original":
            assert card["calibration"] == pytest.approx(dataclasses.asdict(own))
        assert card["calibration"]["floor"] > 0
        _check_floor(card_path.parent, card["calibration"]["floor"])
    assert trials[next(n for n, t in trials.items() if t.trial_id == search.best_trial_id)
                  ].best_val == best

    # the held-out test evaluation ran on the top trials, none better left out
    evaluated = [t for t in scored if t.test_metric is not None]
    left_out = [t for t in scored if t.test_metric is None]
    assert len(evaluated) == 5 and len(left_out) == TRIALS - 5
    assert all(better_or_equal(e, o) for e in evaluated for o in left_out)

    # the report: rank 1 of its table and its headline
    number, headline = _report_rank_one((tmp_path / experiment / "report.html").read_text())
    assert trials[number].best_val == best
    # the handed-over model's value (a classifier's lone trial calibrated: its card's)
    assert headline == pytest.approx(card["metrics"][f"val_{metric}"], rel=1e-3)
    if handed is not None:
        assert headline == pytest.approx(handed.best_val, rel=1e-3)
    elif metric in ("rmse", "mae"):
        assert headline == pytest.approx(best, rel=1e-3)

    # retrain --top 2 retrains the two best configurations
    _run(capsys, "retrain", experiment, "--top", "2", "--seeds", "1", "--epochs", "1",
         "--runs-dir", runs)
    picked = {r.source_trial_id for r in board.retrains(experiment) if r.kind == "run"}
    picked_values = sorted(t.best_val for t in scored if t.trial_id in picked)
    assert picked_values == sorted(sorted(values, reverse=best_of is max)[:2])

    # --warm-start proposes the best earlier configuration first
    _run(capsys, "search", experiment, "--metric", metric, "--warm-start", "--trials", "1",
         "--max-epochs", "1", "--seed", "1", "--runs-dir", runs, "--no-report",
         "--no-refit")
    warm = [s for s in board.searches(experiment) if s.search_id != search.search_id]
    [first] = board.trials(experiment, search_id=warm[0].search_id, direction=Direction.MIN)
    assert first.config in [t.config for t in scored if t.best_val == best]

    # an inference budget: the best trial within it, or an ensemble within it that
    # beats that trial; nothing when nothing fits
    params = sorted(t.params for t in scored)
    limit = params[len(params) // 2]
    choice = _choose_within(tmp_path, search, experiment, metric, max_params=limit)
    fitting = [t for t in scored if t.params <= limit]
    assert choice is not None and choice.best.best_val == best_of(t.best_val for t in fitting)
    assert choice.handed.params <= limit
    budget = choice.budget
    # each model's value as it would be handed over (a classifier's calibrated)
    setup = _setup(experiment, metric)
    handed_val = choice.handed.best_val
    if choice.ensemble is None or not choice.ensemble.exported:
        _, handed_val = _as_handed(setup, choice.best, metric)
    assert budget[f"val_{metric}"] == pytest.approx(handed_val, rel=1e-6)
    _, best_handed = _as_handed(setup, next(t for t in scored if t.best_val == best), metric)
    unbounded = budget[f"val_{metric}_unbounded"]
    assert best_of(unbounded, best_handed) == unbounded or unbounded == pytest.approx(
        best_handed, rel=1e-6)
    assert budget["given_up"] >= 0
    assert _choose_within(tmp_path, search, experiment, metric, max_params=params[0] - 1) is None


def _setup(experiment: str, metric: str, **overrides: Any) -> Setup:
    """The search's setup as its command made it."""
    return set_up(load_experiment(experiment).with_overrides(
        metric=metric, cv=FOLDS, seed=0, **overrides))


def _as_handed(setup: Setup, trial: TrialRecord, metric: str) -> tuple[Calibration, float]:
    """A classifier's trial as its model is handed over: the calibration fitted on its
    stored validation outputs, and their value under it, scored fold by fold as a
    trial's value is (a regressor's: none, and its outputs' value)."""
    outputs = np.asarray(val_predictions(trial))
    calibration = calibration_for(setup, outputs)
    return calibration, selection_metrics(setup, calibration.apply(outputs))[metric]


def _check_floor(model_dir: Path, floor: float) -> None:
    """The exported classifier gives no class less than ``floor / K`` on any row."""
    model = load_model_dir(model_dir)
    rows = model.preprocessor.features
    frame = pd.DataFrame(np.random.default_rng(0).normal(0, 3, (200, len(rows))), columns=rows)
    probabilities = model.predict(frame).filter(like="probability_").to_numpy()
    assert probabilities.min() >= floor / probabilities.shape[1] * (1 - 1e-4)


def _choose_within(runs: Path, search: SearchRecord, experiment: str, metric: str, *,
                   max_params: int) -> Choice | None:
    """What the search would hand over under ``--max-params``: its own trials chosen
    again (on a copy of its leaderboard: the selection stores its ensemble)."""
    copy = runs / "budget" / "leaderboard.db"
    copy.parent.mkdir(exist_ok=True)
    shutil.copy(runs / "leaderboard.db", copy)
    setup = _setup(experiment, metric, max_params=max_params)
    board = Leaderboard(copy)
    run = SearchRun(setup=setup, search_id=search.search_id, layout=RunsLayout(runs),
                    board=board, cluster=ClusterOptions(), out=io.StringIO())
    ranked = [t for t in board.trials(experiment, search_id=search.search_id,
                                      direction=search.direction) if t.checkpoint_path]
    meter = CostMeter(setup.builder, setup.prepared.preprocessor, folds=FOLDS)
    return choose(run, ranked, Restored(run), meter)
