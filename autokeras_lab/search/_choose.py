"""Which model a search hands over: what each trial's model costs to run (measured
once the trials end), the best trial within the inference budget, and the ensemble
greedy selection builds from the best trials' validation predictions (within the
budget too), handed over where it beats that trial. A classifier's model, either,
is handed over calibrated (:func:`~autokeras_lab.ensemble.fit_calibration`), and the
two are compared so."""

from __future__ import annotations

import dataclasses
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from autokeras_lab.costs import CostMeter, measure
from autokeras_lab.ensemble import (
    UNCALIBRATED,
    Calibration,
    Member,
    Selection,
    cross_selected,
    fit_calibration,
    select_ensemble,
)
from autokeras_lab.leaderboard import EnsembleRecord, TrialRecord, cost_fields
from autokeras_lab.metrics import evaluate
from autokeras_lab.search._run import SearchRun
from autokeras_lab.search._setup import Setup
from autokeras_lab.types import (
    InferenceBudget,
    InferenceCost,
    OutputKind,
)

ENSEMBLE_CANDIDATES = 50  # the best this many trials: a long tail only costs time
RESELECTIONS = 3  # ensemble selections under a tightening latency estimate
COST_SHARE = 0.03  # of a time budget, at most, for measuring latencies (no inference budget)


@dataclass(frozen=True)
class Choice:
    """The model a search hands over: the best trial within the inference budget, the
    ensemble selected among those (handed over where it beats that trial), the members
    of the one handed over, its calibration, and what the budget cost (its card;
    ``None`` without one). A lone trial handed over calibrated has ``metrics`` of its
    own (``{"val": ..., "test": ...}``): its record's are its bag's as it trained."""

    best: TrialRecord
    ensemble: EnsembleRecord | None
    members: list[Member]
    calibration: Calibration
    budget: dict[str, Any] | None
    metrics: dict[str, dict[str, float]] | None = None

    @property
    def handed(self) -> TrialRecord | EnsembleRecord:
        return self.ensemble if self.ensemble is not None and self.ensemble.exported \
            else self.best


def choose(run: SearchRun, ranked: list[TrialRecord], restored: Restored,
           meter: CostMeter) -> Choice | None:
    """Choose the model to hand over among ``ranked`` (best first, their costs
    measured): ``None`` when none fits the inference budget."""
    from autokeras_lab.export import assemble, test_metrics

    setup = run.setup
    budget = setup.experiment.inference_budget
    fitting = [t for t in ranked if budget.admits(t.cost)]
    if not fitting:
        return None
    best = fitting[0]
    ensemble, members = select_from_trials(run, fitting, restored, meter=meter)
    metrics = None
    if ensemble is not None and ensemble.exported:
        calibration = Calibration(**ensemble.metrics.get("calibration", {}))
    else:
        members = restored.members(best)
        own = _candidates(setup, [best]).get(best.trial_id)
        calibration = UNCALIBRATED if own is None else restored.calibration(best.trial_id, own)
        if own is not None and not calibration.identity:
            model, data = assemble(members, setup.prepared, setup.builder,
                                   calibration=calibration)
            metrics = {"val": selection_metrics(setup, calibration.apply(own)),
                       "test": test_metrics(model, data, setup.task)}
    choice = Choice(best=best, ensemble=ensemble, members=members,
                    calibration=calibration, budget=None, metrics=metrics)
    if not budget.limited:
        return choice
    return dataclasses.replace(choice,
                               budget=_budget_card(run, ranked, choice, budget, restored))


def record_costs(run: SearchRun, ranked: list[TrialRecord]) -> CostMeter:
    """Measure and store what the trials' models cost to run: the parameters of every
    one; the latency of the best ``ENSEMBLE_CANDIDATES`` (the only ones that can be
    handed over), best first. Without an inference budget, measuring latencies stops
    after ``COST_SHARE`` of the time budget (the refit's time), and the search says how
    many it measured. A resumed search's measured trials keep theirs."""
    setup = run.setup
    meter = CostMeter(setup.builder, setup.prepared.preprocessor,
                      folds=setup.prepared.sizes().folds)
    seconds = setup.experiment.budget.time_budget_s
    limited = seconds is not None and not setup.experiment.inference_budget.limited
    deadline = time.perf_counter() + (COST_SHARE * seconds if limited and seconds else 1e9)
    costs, measured = {}, 0
    for rank, trial in enumerate(ranked):
        if trial.cost is not None:
            continue
        if rank < ENSEMBLE_CANDIDATES and time.perf_counter() < deadline:
            costs[trial.trial_id] = cost_fields(meter.trial(trial.config))
            measured += 1
        elif trial.params is None:
            costs[trial.trial_id] = cost_fields(None) | {"params": meter.params(trial.config)}
    if costs:
        run.board.set_costs(run.search_id, costs)
    unmeasured = len(costs) - measured
    if unmeasured and time.perf_counter() >= deadline:
        run.say(f"latency measured for the best {measured} trials in the time the budget "
                f"leaves it; {unmeasured} more have their parameters only")
    return meter


def measure_assembled(assembled: tuple[Any, Any]) -> InferenceCost:
    """What a model costs to run, with the data as it takes it (see
    :func:`autokeras_lab.export.assemble`: one block of inputs per input transform)."""
    model, data = assembled
    return measure(model, data.preprocessor.n_inputs * len(data.preprocessor.transforms))


def _budget_card(run: SearchRun, ranked: list[TrialRecord], choice: Choice,
                 budget: InferenceBudget, restored: Restored) -> dict[str, Any]:
    """What the inference budget cost in validation metric, said on the search's
    output and kept on the card: the handed-over model against the best the search
    found without the budget (the best trial, or the unbounded ensemble), each as it
    would be handed over (a classifier's calibrated)."""
    setup, metric = run.setup, run.setup.experiment.metric

    def handed_value(output: np.ndarray, calibration: Calibration) -> float:
        return selection_metrics(setup, calibration.apply(output))[metric]

    top = ranked[0].trial_id
    own = _candidates(setup, ranked[:1]).get(top)
    unbounded = (ranked[0].best_val if own is None
                 else handed_value(own, restored.calibration(top, own)))
    selected = _selection(run, ranked)
    if selected is not None:
        predictions, selection = selected
        averaged = np.asarray(sum(w * predictions[t] for t, w in selection.weights.items()))
        value = handed_value(averaged, calibration_for(setup, averaged))
        unbounded = value if run.direction.better(value, unbounded) else unbounded
    handed = choice.handed
    kept = choice.metrics["val"][metric] if choice.metrics is not None else handed.best_val
    assert kept is not None and unbounded is not None
    given_up = abs(kept - unbounded) if run.direction.better(unbounded, kept) else 0.0
    what = "an ensemble" if isinstance(handed, EnsembleRecord) else "a single trial"
    cost = handed.cost
    run.say(f"inference budget ({budget.describe()}): handed over {what} of "
         f"{cost.describe() if cost else 'unmeasured cost'}, validation {metric} "
         f"{kept:.4g} against {unbounded:.4g} without the budget ({given_up:.3g} given up)")
    return {"max_latency_ms": budget.max_latency_ms, "max_params": budget.max_params,
            f"val_{metric}": kept, f"val_{metric}_unbounded": unbounded,
            "given_up": given_up}


class Restored:
    """Each trial's models, restored from its checkpoint once for the whole finish
    (test evaluation, the ensemble and the export share them), and a lone trial's
    calibration, fitted once (the ensemble's comparison, the hand-over and the budget
    card share it: on a large table each fit is seconds)."""

    def __init__(self, run: SearchRun) -> None:
        self.setup = run.setup
        self._members: dict[str, list[Member]] = {}
        self._calibrations: dict[str, Calibration] = {}

    def calibration(self, trial_id: str, output: np.ndarray) -> Calibration:
        """The calibration of trial ``trial_id``'s validation ``output`` (see
        :func:`calibration_for`)."""
        if trial_id not in self._calibrations:
            self._calibrations[trial_id] = calibration_for(self.setup, output)
        return self._calibrations[trial_id]

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
    *, meter: CostMeter | None = None,
) -> tuple[EnsembleRecord | None, list[Member]]:
    """Greedy ensemble selection over the best trials' validation predictions (with
    ``--cv``: out-of-fold), its members restored, its cost measured and its test rows
    scored, and the record stored. ``None`` when it is off, there is one candidate,
    or the selection kept only one model.

    With an inference budget, a member is added only while the ensemble's estimated
    cost (see :meth:`CostMeter.ensemble`) fits; an ensemble whose measured cost does
    not is selected again under a tighter estimate, and dropped after ``RESELECTIONS``.
    """
    from autokeras_lab.export import assemble, test_metrics

    setup = run.setup
    restored = restored or Restored(run)
    budget = setup.experiment.inference_budget
    meter = meter or CostMeter(setup.builder, setup.prepared.preprocessor,
                               folds=setup.prepared.sizes().folds)
    by_id = {t.trial_id: t for t in ranked}
    prepared, task, metric = setup.prepared, setup.task, setup.experiment.metric
    slack = 1.0  # the estimate's share of the latency budget
    for _ in range(RESELECTIONS):
        def admissible(members: frozenset[str], slack: float = slack) -> bool:
            estimate = meter.ensemble([by_id[t].cost for t in members])
            return budget.admits(estimate and _scaled(estimate, 1 / slack))

        selected = _selection(run, ranked, admissible if budget.limited else None)
        if selected is None:
            return None, []
        predictions, selection = selected
        weights = selection.weights
        members = [member for trial_id, weight in weights.items()
                   for member in restored.members(by_id[trial_id], weight)]
        averaged = np.asarray(sum(w * predictions[t] for t, w in weights.items()))
        calibration = calibration_for(setup, averaged)
        averaged = calibration.apply(averaged)
        model, data = assemble(members, prepared, setup.builder, calibration=calibration)
        cost = measure_assembled((model, data))
        if budget.admits(cost):
            break
        estimate = meter.ensemble([by_id[t].cost for t in weights])
        assert estimate is not None
        slack *= estimate.latency_ms / cost.latency_ms * 0.9
    else:
        run.say(f"no ensemble within the inference budget ({budget.describe()})")
        return None, []
    val, test = selection_metrics(setup, averaged), test_metrics(model, data, task)
    single = predictions[selection.first]
    single_val = selection_metrics(
        setup, restored.calibration(selection.first, single).apply(single))[metric]
    # Handed over only where it beats the best trial as it would be handed over, each
    # with its own calibration: on a table the trials fit almost perfectly (car), one
    # trial sharpened can beat an average.
    exported = selection.improves and run.direction.better(val[metric], single_val)
    record = EnsembleRecord(
        search_id=run.search_id, experiment=run.experiment_name,
        members=weights, best_val=val[metric], single_val=single_val,
        created_at=time.time(), test_metric=test[metric], exported=exported,
        metrics={"val": val, "test": test, "calibration": dataclasses.asdict(calibration)},
        **cost_fields(cost),
    )
    run.board.record_ensemble(record)
    return record, members


def calibration_for(setup: Setup, output: np.ndarray) -> Calibration:
    """The calibration of a classifier's validation ``output`` (an ensemble's average
    or a trial's bag, on the selection rows) fitted on those rows (see
    :func:`~autokeras_lab.ensemble.fit_calibration`): a lone trial's bag can be more
    or less sure than it should be as an average can, and no model should rule a class
    out with more certainty than the rows can give. Regression: none."""
    if setup.task.kind is OutputKind.REGRESSION:
        return UNCALIBRATED
    return fit_calibration(output, setup.prepared.selection_targets())


def _selection(
    run: SearchRun, ranked: list[TrialRecord],
    admissible: Callable[[frozenset[str]], bool] | None = None,
) -> tuple[dict[str, np.ndarray], Selection] | None:
    """The best trials' validation predictions and greedy selection over them, or
    ``None`` (selection off, fewer than two candidates, or one kept)."""
    setup = run.setup
    rounds, metric = setup.experiment.ensemble_size, setup.experiment.metric
    if rounds < 1 or len(ranked) < 2:
        return None
    predictions = _candidates(setup, ranked)
    if len(predictions) < 2:
        return None
    selection = select_ensemble(
        predictions,
        lambda output: run.direction.key(selection_metrics(setup, output)[metric]),
        rounds=rounds, admissible=admissible,
    )
    if len(selection.weights) < 2:
        return None
    return predictions, selection


def _candidates(setup: Setup, ranked: list[TrialRecord]) -> dict[str, np.ndarray]:
    """The validation predictions of the best ``ENSEMBLE_CANDIDATES`` trials (older
    checkpoints have none), best first."""
    from autokeras_lab.export import val_predictions

    rows = len(setup.prepared.selection_targets())
    found = ((trial.trial_id, val_predictions(trial)) for trial in ranked[:ENSEMBLE_CANDIDATES])
    return {t: output for t, output in found if output is not None and len(output) == rows}


@dataclass(frozen=True)
class Unseen:
    """What choosing the handed-over model is worth on rows the choice did not see
    (:func:`unseen_value`): its ``value`` by the search's metric, and its ``outputs``
    on the selection rows, before any calibration."""

    value: float
    outputs: np.ndarray


def unseen_value(run: SearchRun, ranked: list[TrialRecord], *, ensemble: bool,
                 calibration: Calibration) -> Unseen | None:
    """What choosing the handed-over model is worth, by the search's metric, on rows
    the choice did not see: each of the search's folds (without folds, each half of
    its validation rows) gets the model chosen on the others, an ensemble by greedy
    selection (``ensemble``) or the best trial, with the handed-over model's
    ``calibration``. ``None`` with fewer than two candidates.

    The chosen model's own value is taken on the rows it was chosen on, so it flatters
    it; a model trained afresh (the refit) is judged against this instead.

    Two small biases are left, both known: an inference budget's limit on the
    ensemble is not replayed inside each fold's selection (under a budget the figure
    is that of the unbounded choice, slightly pessimistic for the original), and the
    ``calibration`` was fitted on all selection rows, not fold by fold (slightly
    optimistic for a classifier's original).
    """
    setup = run.setup
    predictions = _candidates(setup, ranked)
    if len(predictions) < 2:
        return None
    y = setup.prepared.selection_targets()
    parts = [np.arange(a, b) for a, b in setup.prepared.fold_bounds()]
    if len(parts) < 2:
        shuffled = np.random.default_rng(setup.experiment.seed).permutation(len(y))
        parts = [np.sort(half) for half in np.array_split(shuffled, 2)]
    metric = setup.experiment.metric

    def score(output: np.ndarray, on: list[np.ndarray]) -> float:  # fold by fold
        ends = np.cumsum([len(rows) for rows in on])
        return run.direction.key(_fold_mean(setup, [
            (y[rows], output[end - len(rows):end]) for rows, end in zip(on, ends, strict=True)
        ])[metric])

    outputs = cross_selected(predictions, parts, score,
                             rounds=setup.experiment.ensemble_size if ensemble else 1)
    return Unseen(selection_metrics(setup, calibration.apply(outputs))[metric], outputs)


def _scaled(cost: InferenceCost, factor: float) -> InferenceCost:
    return dataclasses.replace(cost, latency_ms=cost.latency_ms * factor)


def selection_metrics(setup: Setup, output: np.ndarray) -> dict[str, float]:
    """Every metric of ``output`` on the rows trials are validated on: fold by fold and
    averaged, as a trial's validation metric is taken, so an ensemble's value and the
    best trial's read the same in every table."""
    y = setup.prepared.selection_targets()
    return _fold_mean(setup, [(y[a:b], output[a:b]) for a, b in setup.prepared.fold_bounds()])


def _fold_mean(setup: Setup, folds: list[tuple[np.ndarray, np.ndarray]]) -> dict[str, float]:
    """Every metric of each fold's (targets, outputs), averaged over the folds."""
    values = [evaluate(setup.task.kind, y, output,
                       target_scale=setup.prepared.preprocessor.target_scale)
              for y, output in folds]
    return {name: float(np.mean([fold[name] for fold in values])) for name in values[0]}
