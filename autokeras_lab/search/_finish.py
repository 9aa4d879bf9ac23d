"""The end of a search run: the top trials evaluated on the held-out test split, an
ensemble selected from the trials' validation predictions, the best model (the
ensemble when it beats the best single trial) exported, the search closed on the
leaderboard. The test rows take part in no choice: they are only scored."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

import numpy as np

from autokeras_lab.ensemble import Member, apply_temperature, fit_temperature, select_ensemble
from autokeras_lab.errors import FatalSearchError
from autokeras_lab.leaderboard import EnsembleRecord, TrialRecord
from autokeras_lab.metrics import evaluate
from autokeras_lab.search._refit import (
    MIN_REFIT_SECONDS,
    Refit,
    refit_chosen,
    start_workers,
)
from autokeras_lab.search._run import SearchResult, SearchRun
from autokeras_lab.search._setup import Setup
from autokeras_lab.types import ModelKind, OutputKind, SearchStatus

TEST_EVALUATED_TOP = 5
ENSEMBLE_CANDIDATES = 50  # the best this many trials: a long tail only costs time


def finish(run: SearchRun, status: SearchStatus, started: float) -> SearchResult:
    """Evaluate the top trials on the test split, select an ensemble, export the best
    model and close the search.

    Raises:
        FatalSearchError: no trial produced a model.
    """
    from autokeras_lab.export import assemble, export_best, test_metrics

    setup, board = run.setup, run.board
    restored = Restored(run)
    trials = run.trials()
    ranked = [t for t in trials if t.checkpoint_path and t.best_val is not None]
    if not ranked:
        board.finish_search(run.search_id, status=SearchStatus.FAILED)
        reasons = {t.failure_reason for t in trials if t.failure_reason}
        raise FatalSearchError(
            f"no trial of search {run.search_id} produced a model"
            + (f" (failures: {'; '.join(sorted(reasons))[:300]})" if reasons else "")
            + "; raise --max-epochs or --time-budget, or check the search space"
        )
    if _refit_planned(run, status) and _refit_left(run, started) >= MIN_REFIT_SECONDS:
        start_workers()  # they start while the driver evaluates and selects
    for trial in ranked[:TEST_EVALUATED_TOP]:
        if trial.test_metric is None:  # a resumed search keeps earlier evaluations
            model, data = assemble(restored.members(trial), setup.prepared, setup.builder)
            test = test_metrics(model, data, setup.task)
            board.set_test_metrics(run.search_id, trial.trial_id, test,
                                   main=setup.experiment.metric)
    trials = run.trials()
    kept = {t.trial_id for t in ranked}
    ranked = [t for t in trials if t.trial_id in kept]  # now with their test metrics
    best = ranked[0]
    ensemble, members = select_from_trials(run, ranked, restored)
    if ensemble is None or not ensemble.exported:
        members = restored.members(best)
    about, chosen, temperature = _chosen(ensemble, best, trials)
    scored = None
    refit = _refit(run, status, started, chosen, restored, temperature, trials)
    if refit is not None:
        about["refit"] = refit.card(setup.experiment.metric)
        if refit.kept:
            # the report plots the test rows: the model scored there, before the refit
            scored = assemble(members, setup.prepared, setup.builder, temperature=temperature)
            members = refit.members
            if "temperature" in about:
                about["temperature"] = refit.temperature
    export_dir = export_best(
        members, board.find(run.experiment_name, run.search_id), prepared=setup.prepared,
        builder=setup.builder, runs_dir=run.layout.root, about=about, scored=scored,
    )
    board.finish_search(run.search_id, status=status, best_trial_id=best.trial_id,
                        export_dir=str(export_dir))
    return SearchResult(
        search_id=run.search_id,
        experiment=run.experiment_name,
        metric=setup.experiment.metric,
        direction=run.direction,
        status=status,
        wall_seconds=time.perf_counter() - started,
        trials=trials,
        leaderboard_path=board.path,
        export_dir=export_dir,
        best_trial_id=best.trial_id,
        ensemble=ensemble,
    )


class Restored:
    """Each trial's models, restored from its checkpoint once for the whole finish
    (test evaluation, the ensemble and the export share them)."""

    def __init__(self, run: SearchRun) -> None:
        self.setup = run.setup
        self._members: dict[str, list[Member]] = {}

    def members(self, trial: TrialRecord, weight: float = 1.0) -> list[Member]:
        """The trial's models (its bag with folds) as members sharing ``weight``."""
        from autokeras_lab.export import trial_members

        if trial.trial_id not in self._members:
            self._members[trial.trial_id] = trial_members(trial, self.setup.builder,
                                                          self.setup.prepared)
        return [dataclasses.replace(m, weight=m.weight * weight)
                for m in self._members[trial.trial_id]]


def select_from_trials(
    run: SearchRun, ranked: list[TrialRecord], restored: Restored | None = None,
) -> tuple[EnsembleRecord | None, list[Member]]:
    """Greedy ensemble selection over the best trials' validation predictions (with
    ``--cv``: out-of-fold), its members restored and scored on the test rows, and the
    record stored. ``None`` when it is off, there is one candidate, or the selection
    kept only one model."""
    from autokeras_lab.export import assemble, test_metrics, val_predictions

    setup = run.setup
    restored = restored or Restored(run)
    rounds = setup.experiment.ensemble_size
    if rounds < 1 or len(ranked) < 2:
        return None, []
    prepared, task, metric = setup.prepared, setup.task, setup.experiment.metric
    y = prepared.selection_targets()
    predictions = {}
    for trial in ranked[:ENSEMBLE_CANDIDATES]:
        found = val_predictions(trial)
        if found is not None and len(found) == len(y):  # older checkpoints have none
            predictions[trial.trial_id] = found

    def metrics(output: np.ndarray) -> dict[str, float]:
        return selection_metrics(setup, output)

    if len(predictions) < 2:
        return None, []
    selection = select_ensemble(
        predictions, lambda output: run.direction.key(metrics(output)[metric]), rounds=rounds
    )
    if len(selection.weights) < 2:
        return None, []
    by_id = {t.trial_id: t for t in ranked}
    members = [
        member
        for trial_id, weight in selection.weights.items()
        for member in restored.members(by_id[trial_id], weight)
    ]
    averaged = np.asarray(sum(w * predictions[t] for t, w in selection.weights.items()))
    # Averaging makes the probabilities less confident than they should be: scale them
    # by the temperature that fits the same selection rows best (accuracy unchanged).
    temperature = 1.0 if task.kind is OutputKind.REGRESSION else fit_temperature(averaged, y)
    if temperature != 1.0:
        averaged = apply_temperature(averaged, temperature)
    model, data = assemble(members, prepared, setup.builder, temperature=temperature)
    val, test = metrics(averaged), test_metrics(model, data, task)
    record = EnsembleRecord(
        search_id=run.search_id, experiment=run.experiment_name,
        members=selection.weights, best_val=val[metric],
        single_val=metrics(predictions[selection.first])[metric], created_at=time.time(),
        test_metric=test[metric], exported=selection.improves,
        metrics={"val": val, "test": test, "calibration": {"temperature": temperature}},
    )
    run.board.record_ensemble(record)
    return record, members


def selection_metrics(setup: Setup, output: np.ndarray) -> dict[str, float]:
    """Every metric of ``output`` on the rows trials are validated on: fold by fold and
    averaged, as a trial's validation metric is taken, so an ensemble's value and the
    best trial's read the same in every table."""
    prepared = setup.prepared
    y = prepared.selection_targets()
    folds = [evaluate(setup.task.kind, y[a:b], output[a:b],
                      target_scale=prepared.preprocessor.target_scale)
             for a, b in prepared.fold_bounds()]
    return {name: float(np.mean([fold[name] for fold in folds])) for name in folds[0]}


def _chosen(ensemble: EnsembleRecord | None, best: TrialRecord, trials: list[TrialRecord],
            ) -> tuple[dict[str, Any], dict[str, float], float]:
    """What the card says of the chosen model (the ensemble, where it was exported,
    else the best trial), its trials by weight, and its temperature."""
    from autokeras_lab.export import trial_card

    if ensemble is None or not ensemble.exported:
        return trial_card(best), {best.trial_id: 1.0}, 1.0
    temperature = float(ensemble.metrics.get("calibration", {}).get("temperature", 1.0))
    about = {
        "kind": ModelKind.ENSEMBLE, "members": _member_cards(ensemble, trials),
        "temperature": temperature,
        "metrics": {f"{split}_{k}": v for split in ("val", "test")
                    for k, v in ensemble.metrics.get(split, {}).items()},
    }
    return about, dict(ensemble.members), temperature


def _refit_planned(run: SearchRun, status: SearchStatus) -> bool:
    """Whether the search refits its model: asked to, it ran to its end (an
    interrupted one hands over what it has), and it has test rows to add."""
    return (run.setup.experiment.refit and status is SearchStatus.COMPLETED
            and len(run.setup.prepared.y_test) > 0)


def _refit_left(run: SearchRun, started: float) -> float:
    """The seconds left in the search's time budget (infinite without one)."""
    budget = run.setup.experiment.budget.time_budget_s
    return math.inf if budget is None else budget - (time.perf_counter() - started)


def _refit(run: SearchRun, status: SearchStatus, started: float, chosen: dict[str, float],
           restored: Restored, temperature: float, records: list[TrialRecord],
           ) -> Refit | None:
    """The chosen model refitted on every row (see :mod:`._refit`) where it is planned
    and the budget has time left."""
    experiment = run.setup.experiment
    if not _refit_planned(run, status):
        return None
    left = _refit_left(run, started)
    if left < MIN_REFIT_SECONDS:
        _say(run, f"no time left in the budget to refit the model ({max(0, left):.0f} s)")
        return None
    trials = {t.trial_id: t for t in records}
    _say(run, f"refitting the model's {len(chosen)} trial(s) with the test rows added"
         + ("" if math.isinf(left) else f" (at most {left:.0f} s)"))
    refit = refit_chosen(
        run, chosen, trials, {t: restored.members(trials[t], w) for t, w in chosen.items()},
        temperature=temperature, deadline=time.time() + left,
        score=lambda output: selection_metrics(run.setup, output)[experiment.metric],
    )
    if refit is not None:
        _say(run, refit.describe(experiment.metric))
    return refit


def _say(run: SearchRun, line: str) -> None:
    if run.out is not None:
        run.out.write(line + "\n")
        run.out.flush()


def _member_cards(ensemble: EnsembleRecord, trials: list[TrialRecord]) -> list[dict[str, Any]]:
    by_id = {t.trial_id: t for t in trials}
    return [
        {"trial_id": trial_id, "number": by_id[trial_id].number, "weight": weight,
         "config": by_id[trial_id].config}
        for trial_id, weight in ensemble.members.items()
    ]
