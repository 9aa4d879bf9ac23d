"""The end of a search run: the trials' costs measured, the top trials evaluated on
the held-out test split, the model chosen (:mod:`._choose`: the best trial within the
inference budget, or the ensemble that beats it), refitted (:mod:`._refit`) and
exported, the search closed on the leaderboard. The test rows take part in no choice:
they are only scored."""

from __future__ import annotations

import dataclasses
import math
import time
from typing import Any

from autokeras_lab.config import MIN_REFIT_WINDOW, REFIT_SHARE
from autokeras_lab.ensemble import Calibration
from autokeras_lab.errors import FatalSearchError
from autokeras_lab.leaderboard import EnsembleRecord, TrialRecord
from autokeras_lab.search._choose import (
    Choice,
    Restored,
    choose,
    measure_assembled,
    record_costs,
    selection_metrics,
    unseen_value,
)
from autokeras_lab.search._refit import (
    MIN_REFIT_SECONDS,
    Handed,
    Refit,
    refit_chosen,
    start_workers,
)
from autokeras_lab.search._run import SearchResult, SearchRun
from autokeras_lab.types import (
    InferenceBudget,
    InferenceCost,
    ModelKind,
    SearchStatus,
)

TEST_EVALUATED_TOP = 5


def finish(run: SearchRun, status: SearchStatus, started: float) -> SearchResult:
    """Measure what each trial's model costs to run, evaluate the top trials on the
    test split, select an ensemble (within the inference budget, if any), export the
    best model and close the search.

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
    meter = record_costs(run, ranked)  # on a quiet machine: before the refit's workers
    budget = setup.experiment.inference_budget
    kept = {t.trial_id for t in ranked}
    ranked = [t for t in run.trials() if t.trial_id in kept]  # now with their costs
    fitting = [t for t in ranked if budget.admits(t.cost)]
    if not fitting:
        return _nothing_fits(run, status, started, ranked, budget)
    if _refit_planned(run, status) and _refit_left(run, started) >= MIN_REFIT_SECONDS:
        start_workers()  # they start while the driver evaluates and selects
    evaluated = ranked[:TEST_EVALUATED_TOP]
    for trial in [*evaluated, *([] if fitting[0] in evaluated else fitting[:1])]:
        if trial.test_metric is None:  # a resumed search keeps earlier evaluations
            model, data = assemble(restored.members(trial), setup.prepared, setup.builder)
            test = test_metrics(model, data, setup.task)
            board.set_test_metrics(run.search_id, trial.trial_id, test,
                                   main=setup.experiment.metric)
    trials = run.trials()
    ranked = [t for t in trials if t.trial_id in kept]  # now with their test metrics
    choice = choose(run, ranked, restored, meter)
    assert choice is not None  # a trial fits: see above
    best, ensemble, members = choice.best, choice.ensemble, choice.members
    about, chosen = _chosen(choice, trials)
    calibration = choice.calibration
    cost = choice.handed.cost
    if choice.budget is not None:
        about["inference_budget"] = choice.budget
    scored = None
    refit = _refit(run, status, started, chosen, restored, calibration, trials,
                   candidates=fitting, may_double=budget.admits(_doubled(cost)))
    if refit is not None:
        about["refit"] = refit.card(setup.experiment.metric)
        if refit.kept:
            # the report plots the test rows: the model scored there, before the refit
            scored = assemble(members, setup.prepared, setup.builder,
                              calibration=calibration)
            members = refit.members
            if "calibration" in about:
                about["calibration"] = dataclasses.asdict(refit.calibration)
            if refit.handed is Handed.BOTH:  # twice the networks: measured as handed over
                cost = measure_assembled(assemble(members, setup.prepared, setup.builder,
                                                  calibration=refit.calibration))
    if cost is not None:
        about["cost"] = dataclasses.asdict(cost)
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
        model_metrics=dict(about["metrics"]),
    )


def _doubled(cost: InferenceCost | None) -> InferenceCost | None:
    """What a model costs with its refitted twin beside it (the refit's ``both``), at
    most."""
    if cost is None:
        return None
    return InferenceCost(params=2 * cost.params, latency_ms=2 * cost.latency_ms,
                         rows_per_s=cost.rows_per_s / 2)


def _nothing_fits(run: SearchRun, status: SearchStatus, started: float,
                  ranked: list[TrialRecord], budget: InferenceBudget) -> SearchResult:
    """Close a search none of whose models fits the inference budget: nothing is
    exported, and the search says what the cheapest model would have needed."""
    costs = [t.cost for t in ranked if t.cost is not None]
    fastest = min(c.latency_ms for c in costs)
    smallest = min(c.params for c in costs)
    run.say(f"no model fits the inference budget ({budget.describe()}): the fastest "
         f"takes {fastest:.3g} ms a row and the smallest has {smallest:,} params; nothing "
         "exported (raise --max-latency-ms / --max-params, or search a smaller space)")
    run.board.finish_search(run.search_id, status=status)
    return SearchResult(
        search_id=run.search_id, experiment=run.experiment_name,
        metric=run.setup.experiment.metric, direction=run.direction, status=status,
        wall_seconds=time.perf_counter() - started, trials=run.trials(),
        leaderboard_path=run.board.path, export_dir=None, best_trial_id=None,
    )


def _chosen(choice: Choice, trials: list[TrialRecord],
            ) -> tuple[dict[str, Any], dict[str, float]]:
    """What the card says of the chosen model (the ensemble, where it was exported,
    else the best trial; a classifier's with its calibration and the metrics it
    gives), and its trials by weight."""
    from autokeras_lab.export import trial_card

    ensemble, best = choice.ensemble, choice.best
    if ensemble is None or not ensemble.exported:
        about = trial_card(best)
        if not choice.calibration.identity:
            about["calibration"] = dataclasses.asdict(choice.calibration)
        if choice.metrics is not None:
            about["metrics"] |= _card_metrics(choice.metrics)
        return about, {best.trial_id: 1.0}
    about = {
        "kind": ModelKind.ENSEMBLE, "members": _member_cards(ensemble, trials),
        "calibration": dataclasses.asdict(choice.calibration),
        "metrics": _card_metrics(ensemble.metrics),
    }
    return about, dict(ensemble.members)


def _card_metrics(metrics: dict[str, Any]) -> dict[str, float]:
    """``{"val": {...}, "test": {...}}`` as a card says them: ``val_rmse``, ..."""
    return {f"{split}_{k}": v for split in ("val", "test")
            for k, v in metrics.get(split, {}).items()}


def _refit_planned(run: SearchRun, status: SearchStatus) -> bool:
    """Whether the search refits its model: asked to, with time kept for it (see
    :attr:`~autokeras_lab.config.Experiment.refit_seconds`; ``None``: no time budget),
    it ran to its end (an interrupted one hands over what it has), and it has test
    rows to add."""
    return (run.setup.experiment.refit_seconds != 0 and status is SearchStatus.COMPLETED
            and len(run.setup.prepared.y_test) > 0)


def _refit_left(run: SearchRun, started: float) -> float:
    """The seconds left in the search's time budget (infinite without one)."""
    budget = run.setup.experiment.budget.time_budget_s
    return math.inf if budget is None else budget - (time.perf_counter() - started)


def _refit(run: SearchRun, status: SearchStatus, started: float, chosen: dict[str, float],
           restored: Restored, calibration: Calibration, records: list[TrialRecord], *,
           candidates: list[TrialRecord], may_double: bool) -> Refit | None:
    """The chosen model refitted on every row (see :mod:`._refit`) where it is planned
    and the budget has time left, judged against the original's value on rows its
    choice among ``candidates`` did not see (taken first: its seconds are the refit's);
    both averaged a candidate only where ``may_double`` (the inference budget has room
    for twice the networks)."""
    experiment = run.setup.experiment
    if not _refit_planned(run, status):
        budget = experiment.budget.time_budget_s
        if (experiment.refit and experiment.refit_seconds == 0 and budget is not None
                and status is SearchStatus.COMPLETED):  # not where it has no test rows
            run.say(f"no refit: a {budget:.0f} s budget is too short to keep time for one "
                    f"({REFIT_SHARE:.0%} of a budget of {MIN_REFIT_WINDOW / REFIT_SHARE:.0f}"
                    " s or more); the trials had all of it")
        return None
    unseen = unseen_value(run, candidates, ensemble=len(chosen) > 1, calibration=calibration)
    left = _refit_left(run, started)
    if left < MIN_REFIT_SECONDS:
        run.say(f"no time left in the budget to refit the model ({max(0, left):.0f} s)")
        return None
    trials = {t.trial_id: t for t in records}
    run.say(f"refitting the model's {len(chosen)} trial(s) with the test rows added"
         + ("" if math.isinf(left) else f" (at most {left:.0f} s)"))
    refit = refit_chosen(
        run, chosen, trials, {t: restored.members(trials[t], w) for t, w in chosen.items()},
        calibration=calibration, deadline=time.time() + left,
        score=lambda output: selection_metrics(run.setup, output)[experiment.metric],
        unseen=unseen, may_double=may_double,
    )
    if refit is not None:
        run.say(refit.describe(experiment.metric))
    return refit


def _member_cards(ensemble: EnsembleRecord, trials: list[TrialRecord]) -> list[dict[str, Any]]:
    by_id = {t.trial_id: t for t in trials}
    return [
        {"trial_id": trial_id, "number": by_id[trial_id].number, "weight": weight,
         "config": by_id[trial_id].config}
        for trial_id, weight in ensemble.members.items()
    ]
