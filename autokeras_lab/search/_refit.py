"""The chosen model trained again on every row: AutoGluon's ``refit_full``, kept only
where the out-of-fold evidence says that it helps.

A search scores its models on a held-out test split that no trial trains on, a tenth
of the user's rows. Once the search has chosen what to hand over (a trial's bag of
fold models, or an ensemble of trials) and scored it there, those rows have done that
job. Each chosen trial then trains again, with the same configuration, seed and
learning-rate schedule, on the search's own folds with the test rows dealt among them
(:meth:`~autokeras_lab.data.Prepared.refit_arrays`): fold k's model learns from every
row but fold k and its share of the test rows, for at most the epochs at which the
trial's models were best, and keeps its best epoch on what it left out.

The evidence: on the search's own rows, fold k's refitted model and its original
left out the same rows, so both have out-of-fold outputs there, weighted as the
ensemble weighs the trials. The refitted outputs are fresh; the original's are the
rows the search chose its trials and their weights on, so their value flatters it
(of many candidates, selection kept the ones that happened to fit those rows). The
original is therefore judged by what choosing it is worth on rows the choice did not
see (:func:`~autokeras_lab.search._choose.unseen_value`: each fold scored with the
choice made on the others), and the refitted model is handed over where its value
beats that (a tie keeps the original). Where the search has folds, both bags averaged
is not a candidate: out of fold, it is two models a row against one, and its value
rises by an averaging that two bags of fold models, each already averaged, do not
get; on held-out rows the refitted bag alone was the better (docs/benchmarks.md,
Lever 15). Without folds (one validation split, on a large table) a trial is one
network, the original and the refitted two different ones, and averaging them is a
bag of two that neither is alone: there both averaged is a third candidate, judged
with the original's outputs on rows its choice did not see (docs/benchmarks.md,
Lever 20), where an inference budget has room for twice the networks. The card
keeps the test metrics measured before the refit (a refitted model has seen the test
rows) and says what the refit did.

Where a regressor's refitted bag is handed over, its fold models are then replaced,
trial by trial in the time left, by as many models trained on every row
(:func:`every_row_arrays`; AutoGluon's ``refit_full``, one model a seed): each learns
from all the rows where a fold model learnt from four fifths, for the epochs at which
the refitted fold models were best (docs/benchmarks.md, Lever 17). The fold models'
out-of-fold value is the evidence that the configuration gains from the added rows;
models trained on every row have no rows left out to show it again. A classifier
keeps its fold models: its handed-over probabilities are calibrated on the
out-of-fold outputs of the very models handed over.

The refits are Ray tasks on the search's runtime, one CPU each, so they train in
parallel as trials do, heaviest first; workers start importing TensorFlow while the
driver still evaluates and selects. They must end with the time budget (the trials
leave it :attr:`~autokeras_lab.config.Experiment.refit_seconds`): a trial whose refit
is predicted not to end in time (its own training seconds, scaled to the refit's
epochs and rows) is not started, and one still training at the deadline stops; either
keeps its original models.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import time
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

import numpy as np

from autokeras_lab.data import Arrays
from autokeras_lab.ensemble import UNCALIBRATED, Calibration, Member, fit_calibration
from autokeras_lab.errors import one_line
from autokeras_lab.leaderboard import TrialRecord
from autokeras_lab.search._choose import Unseen
from autokeras_lab.search._run import SearchRun
from autokeras_lab.spaces import Task
from autokeras_lab.trainable import TrialSettings, TrialState, configure_threads, train_trial
from autokeras_lab.types import Direction, OutputKind, TrialReport

__all__ = ["MIN_REFIT_SECONDS", "Handed", "Refit", "Refitted", "every_row_arrays", "hand_over",
           "plan_refits", "refit_chosen", "refit_trial", "start_workers"]

MIN_REFIT_SECONDS = 5.0  # less time than this left in the budget: no refit
WARM_WORKERS = 4  # most workers started ahead of the refit
LATE_SECONDS = 30.0  # how long past the deadline a refit may take to stop by itself
WORKER_START_SECONDS = 3.0  # a refit's worker importing TensorFlow, if not started yet
TRACE_SECONDS = 2.0  # a refit's graphs traced before its first epoch


@dataclass(frozen=True)
class Refitted:
    """One trial trained again: its fold models' weights at their best epochs and
    their outputs on the rows each left out (fold after fold)."""

    weights: list[list[np.ndarray]]
    outputs: np.ndarray
    best_epoch: int


class Handed(StrEnum):
    """Which models the refit hands over, fewest networks first."""

    ORIGINAL = "original"  # the chosen trials' models as the search trained them
    REFITTED = "refitted"  # the refitted fold models in their place
    BOTH = "both"  # without folds: the original and the refitted models, averaged


@dataclass(frozen=True)
class Refit:
    """What the refit of a chosen model did: the out-of-fold value of each candidate
    on the search's own rows, the original's on rows its choice did not see
    (``unseen``: what it was judged by), the one handed over, its members and
    calibration."""

    handed: Handed
    values: dict[Handed, float]
    unseen: float
    members: list[Member]
    calibration: Calibration
    refitted: int
    chosen: int
    rows: int
    seconds: float
    every_row: int = 0  # refitted trials handed over as models trained on every row

    @property
    def kept(self) -> bool:
        """Whether the handed-over model is not the chosen trials' own."""
        return self.handed is not Handed.ORIGINAL

    def card(self, metric: str) -> dict[str, Any]:
        """What the model card says of the refit."""
        return {
            "handed_over": str(self.handed),
            **{f"val_{metric}_{name}": value for name, value in self.values.items()},
            f"val_{metric}_original_unseen": self.unseen,
            "trials_refitted": self.refitted,
            "trials_chosen": self.chosen,
            "trials_on_every_row": self.every_row,
            "rows": self.rows,
            "seconds": round(self.seconds, 1),
        }

    def describe(self, metric: str) -> str:
        """One line for the search's output."""
        partly = (f" ({self.refitted} of {self.chosen} trials in time)"
                  if self.refitted < self.chosen else "")
        values = (f"original {self.values[Handed.ORIGINAL]:.4g} ({self.unseen:.4g} on rows "
                  f"its choice did not see), refitted {self.values[Handed.REFITTED]:.4g}"
                  + (f", both averaged {both:.4g}" if (both := self.values.get(Handed.BOTH))
                     is not None else ""))
        line = f"refit on all {self.rows} rows{partly}: out-of-fold {metric} {values}: "
        if self.kept:
            every = (f", {self.every_row} of {self.refitted} trials then trained on every row"
                     if self.every_row else "")
            return line + (f"handed over {self.handed}{every} (its test metrics are the "
                           "model's before the refit)")
        return line + "kept the original"


def refit_chosen(
    run: SearchRun,
    chosen: dict[str, float],
    trials: dict[str, TrialRecord],
    originals: dict[str, list[Member]],
    *,
    calibration: Calibration,
    deadline: float,
    score: Callable[[np.ndarray], float],
    unseen: Unseen | None = None,
    may_double: bool = True,
) -> Refit | None:
    """Refit the trials of ``chosen`` (trial id: weight; their records in ``trials``)
    on every row by ``deadline`` (``time.time()``), and hand over the refitted models
    in place of ``originals`` (their members as the search trained them) where their
    out-of-fold value by ``score`` (the search's metric on its selection rows) beats
    ``unseen``: the original's value and outputs on rows its choice did not see
    (``None``: its out-of-fold ones). Without folds, both averaged is a candidate too
    (unless ``may_double`` is false: an inference budget without room for twice the
    networks). See :func:`hand_over`.

    ``None`` when no trial could be refitted (each failure is said on the search's
    output; the original model stands).
    """
    from autokeras_lab.export import input_transform, val_predictions

    started = time.perf_counter()
    setup = run.setup
    order = sorted(chosen, key=lambda trial_id: -chosen[trial_id])  # heaviest first
    transforms = {t: input_transform(trials[t].config, setup.prepared) for t in order}
    # built only for a transform a planned refit needs, once: on a large table each is
    # the table's size again, and its copy in the object store as much
    arrays_for = functools.cache(setup.prepared.refit_arrays)

    done = _train_on_workers(run, [trials[t] for t in order], transforms, arrays_for, deadline,
                             fit_rows=setup.prepared.refit_rows())
    before = {t: val_predictions(trials[t]) for t in order}
    if not done or any(output is None for output in before.values()):
        return None  # nothing refitted, or a checkpoint without its outputs (older)

    data, own = arrays_for(transforms[next(iter(done))])
    folds = data.get("folds") or [data]
    y_all = np.concatenate([fold["y_val"] for fold in folds])
    own_rows = _own_rows(own, folds)

    def refitted(t: str) -> np.ndarray:  # on every row, and where not refitted the own rows
        if t in done:
            return done[t].outputs
        return _spread(np.asarray(before[t]), own_rows, len(y_all))

    original = np.asarray(sum(chosen[t] * np.asarray(before[t]) for t in order))
    refit_all = np.asarray(sum(chosen[t] * refitted(t) for t in order))
    outputs = {Handed.ORIGINAL: original, Handed.REFITTED: refit_all[own_rows]}
    if not data.get("folds") and may_double:
        # the original as it does on rows its choice did not see, the refitted as is
        fresh = original if unseen is None else unseen.outputs
        outputs[Handed.BOTH] = (fresh + outputs[Handed.REFITTED]) / 2
    calibrations = dict.fromkeys(Handed, UNCALIBRATED)
    if setup.task.kind is not OutputKind.REGRESSION and not calibration.identity:
        # As the chosen model has one (a classifier's, ensemble or lone trial), the
        # refitted candidate gets its own, fitted on its out-of-fold rows.
        every = len(done) == len(order)
        calibrations = {
            Handed.ORIGINAL: calibration,
            Handed.REFITTED: (fit_calibration(refit_all, y_all) if every else
                              fit_calibration(outputs[Handed.REFITTED], y_all[own_rows])),
        }
        if Handed.BOTH in outputs:
            calibrations[Handed.BOTH] = fit_calibration(outputs[Handed.BOTH], y_all[own_rows])
        outputs = {h: calibrations[h].apply(o) for h, o in outputs.items()}
    values = {h: score(o) for h, o in outputs.items()}
    judged = values[Handed.ORIGINAL] if unseen is None else unseen.value
    handed = hand_over(values, judged, run.direction)
    every_row: dict[str, Refitted] = {}
    if (handed is Handed.REFITTED and data.get("folds")
            and setup.task.kind is OutputKind.REGRESSION):
        every_row = _train_on_workers(
            run, [trials[t] for t in order if t in done], transforms,
            lambda transform: (every_row_arrays(arrays_for(transform)[0]), []), deadline,
            fit_rows=len(y_all), epochs={t: done[t].best_epoch for t in done},
            what="training on every row")

    def handed_models(t: str) -> list[Member]:
        if handed is Handed.ORIGINAL or t not in done:
            return originals[t]
        models = _handed_members(
            run, trials[t], every_row.get(t) or done[t], chosen[t], transforms[t],
            rows=len(y_all) if t in every_row else setup.prepared.refit_rows())
        if handed is Handed.BOTH:  # the two halves, each at half the weight
            return [dataclasses.replace(m, weight=m.weight / 2) for m in originals[t] + models]
        return models

    handed_members = [m for t in order for m in handed_models(t)]
    return Refit(
        handed=handed, values=values, unseen=judged, members=handed_members,
        calibration=calibrations[handed], refitted=len(done), chosen=len(order),
        # every row trains some fold model; without folds, the validation rows none
        rows=len(y_all) if data.get("folds") else len(data["y_train"]),
        seconds=time.perf_counter() - started, every_row=len(every_row),
    )


def hand_over(values: dict[Handed, float], judged: float, direction: Direction) -> Handed:
    """The candidate handed over: the best of ``values`` (each candidate's value on the
    search's rows) in the metric's ``direction``, the original taken at ``judged``
    (what choosing it is worth on rows the choice did not see); a tie goes to the one
    with fewer networks (the original, then the refitted)."""
    judged_values = {**values, Handed.ORIGINAL: judged}
    # ``Handed`` is in the order of fewest networks, and ``min`` keeps the first of equals
    return min((h for h in Handed if h in judged_values),
               key=lambda h: direction.key(judged_values[h]))


def every_row_arrays(folds: Arrays) -> Arrays:
    """The refit's rows (``folds``, from :meth:`~autokeras_lab.data.Prepared.refit_arrays`)
    as one training set per fold, each holding every row: the fold models' count of
    models, each trained on all the rows (its own seed and data order) and each keeping
    its weights at the epoch where it fits them best, which is in practice one of its
    last. The arrays are shared, not copied, so Ray stores them once. Regression only:
    no row weights (a classifier's balanced weights are not carried)."""
    first = folds["folds"][0]
    x = np.concatenate([first["x_train"], first["x_val"]])
    y = np.concatenate([first["y_train"], first["y_val"]])
    whole: Arrays = {"x_train": x, "y_train": y, "w_train": None, "x_val": x, "y_val": y}
    return {"target_scale": folds["target_scale"], **whole,
            "folds": [whole] * len(folds["folds"])}


def _train_on_workers(
    run: SearchRun, trials: list[TrialRecord], transforms: dict[str, str],
    arrays_for: Callable[[str], tuple[Arrays, list[int]]], deadline: float, *,
    fit_rows: int, epochs: dict[str, int] | None = None, what: str = "refit",
) -> dict[str, Refitted]:
    """The trials (heaviest first) that fit in the time left, each refitted as a Ray
    task (one CPU, its GPU share), the arrays they need (``arrays_for`` a transform,
    each model trained on ``fit_rows`` rows) put in the object store once; what
    finished by the deadline, by trial id. Each trains for its ``epochs`` (by trial
    id; by default at most those at which the trial's models were best). What was left
    out is said on the search's output, as ``what`` left it out."""
    import ray

    from autokeras_lab.search._tuner import parallel_trials

    base = _settings(run, fit_rows=fit_rows)
    epochs = epochs or {trial.trial_id: _epochs(trial, base) for trial in trials}
    planned, skipped = plan_refits(
        trials, seconds=deadline - time.time() - WORKER_START_SECONDS,
        workers=parallel_trials(None, run.cluster.gpus_per_trial),
        rows_ratio=(run.setup.experiment.budget.rows_per_epoch(fit_rows)
                    / max(1, run.setup.task.train_rows)), epochs=epochs)
    failures = [f"trial {trial.number}: would not finish in the time left (about "
                f"{cost:.0f} s)" for trial, cost in skipped]
    needed = dict.fromkeys(transforms[trial.trial_id] for trial in planned)
    refs = {transform: ray.put(arrays_for(transform)[0]) for transform in needed}
    task = ray.remote(refit_on_worker).options(
        num_cpus=1, num_gpus=run.cluster.gpus_per_trial or 0, max_retries=0)
    pending = {
        task.remote(trial.config, refs[transforms[trial.trial_id]],
                    dataclasses.replace(base, max_epochs=epochs[trial.trial_id]), deadline): trial
        for trial in planned
    }
    done: dict[str, Refitted] = {}
    if pending:
        # a refit checks the deadline every epoch; one stuck past it is cancelled
        wait = (None if math.isinf(deadline)
                else max(0.0, deadline - time.time()) + LATE_SECONDS)
        ready, late = ray.wait(list(pending), num_returns=len(pending), timeout=wait)
        for ref in late:
            ray.cancel(ref, force=True)
        failures += [f"trial {pending[ref].number}: still training" for ref in late]
        for ref in ready:
            try:
                result = ray.get(ref)
            except Exception as exc:  # a refit that fails leaves the trial's own models
                result = one_line(exc, 200)
            if isinstance(result, Refitted):
                done[pending[ref].trial_id] = result
            else:
                failures.append(f"trial {pending[ref].number}: {result}")
    if run.out is not None and failures:
        run.out.write(f"{what} left out " + "; ".join(failures) + "\n")
        run.out.flush()
    return done


def plan_refits(
    trials: list[TrialRecord], *, seconds: float, workers: int, rows_ratio: float,
    epochs: dict[str, int] | None = None,
) -> tuple[list[TrialRecord], list[tuple[TrialRecord, float]]]:
    """Which of ``trials`` (heaviest first) to refit in ``seconds`` on ``workers``:
    each trial's refit is predicted to cost what its own training did, scaled to the
    epochs the refit trains (``epochs`` by trial id; by default the trial's best) and
    the rows it adds, and a trial is taken where a list
    schedule (each on the first free worker) still ends in time. A trial that would
    not is left out before it starts, so it takes no worker from the others.

    Returns:
        The trials to refit, and those left out with their predicted seconds.
    """
    if math.isinf(seconds):
        return list(trials), []
    free = [0.0] * max(1, workers)
    planned, skipped = [], []
    for trial in trials:
        cost = _predicted_seconds(trial, rows_ratio, (epochs or {}).get(trial.trial_id))
        first = min(range(len(free)), key=free.__getitem__)
        if free[first] + cost <= seconds:
            free[first] += cost
            planned.append(trial)
        else:
            skipped.append((trial, cost))
    return planned, skipped


def _predicted_seconds(trial: TrialRecord, rows_ratio: float, epochs: int | None) -> float:
    spent = trial.train_seconds or trial.wall_seconds or 0.0
    share = (epochs or trial.best_epoch or trial.epochs) / max(1, trial.epochs)
    return TRACE_SECONDS + spent * share * rows_ratio


def start_workers() -> None:
    """Have workers import TensorFlow (seconds each) while the driver evaluates the
    trials and selects the ensemble, so the refit's tasks find them ready: one per
    CPU of the runtime, at most ``WARM_WORKERS``."""
    import ray

    cpus = int(ray.cluster_resources().get("CPU", 1))  # type: ignore[no-untyped-call]
    warm = ray.remote(_warm_up).options(num_cpus=1)
    for _ in range(max(1, min(cpus, WARM_WORKERS))):
        warm.remote()


def _warm_up() -> None:
    from autokeras_lab.search._worker import freeze_start_up

    freeze_start_up()


def refit_on_worker(config: dict[str, Any], data: Arrays, settings: TrialSettings,
                    deadline: float) -> Refitted | str:
    """The Ray task: :func:`refit_trial` on a worker set up as a trial's is."""
    import ray

    from autokeras_lab.cluster import configure_devices
    from autokeras_lab.search._worker import freeze_start_up

    configure_devices(ray.get_gpu_ids())
    configure_threads(1)
    freeze_start_up()
    return refit_trial(config, data, settings, deadline)


def refit_trial(config: dict[str, Any], data: Arrays, settings: TrialSettings,
                deadline: float) -> Refitted | str:
    """Train ``config`` on ``data`` as a trial does; its best fold models and their
    out-of-fold outputs, or why not (past ``deadline``, ``time.time()``, or the
    trial's own failure, such as a NaN loss)."""
    final: list[TrialState] = []

    def report(result: TrialReport, state: TrialState | None) -> None:
        if state is not None and state.finished:
            final.append(state)
        elif time.time() > deadline:
            raise _PastDeadline

    try:
        train_trial(config, data, settings, report)
    except _PastDeadline:
        return "the time budget ran out"
    except Exception as exc:  # the trial's own failure: the original models stand
        return one_line(exc, 200)
    [state] = final
    assert state.best_weights is not None and state.best_outputs is not None
    return Refitted(state.best_weights, state.best_outputs, state.best_epoch)


class _PastDeadline(Exception):
    """The time budget ended while a refit trained."""


def _settings(run: SearchRun, fit_rows: int) -> TrialSettings:
    """The search's trial settings for a refit: every epoch reported (to stop at the
    deadline), a checkpoint only at the end, the learning-rate schedule stretched
    over the refit folds' rows (or, on a large table, over epochs of the same
    rows as the search's)."""
    from autokeras_lab.search._tuner import trial_settings

    settings = trial_settings(run.setup)
    return dataclasses.replace(
        settings, report_epochs=(), report_every=1, checkpoint_every=0, recorded={},
        task=refit_task(run, fit_rows))


def refit_task(run: SearchRun, fit_rows: int) -> Task:
    """The search's task over the refit's ``fit_rows`` (its models are built for it:
    a retrieval model holds that many rows)."""
    return dataclasses.replace(run.setup.task, data_rows=fit_rows,
                               train_rows=run.setup.experiment.budget.rows_per_epoch(fit_rows))


def _epochs(trial: TrialRecord, settings: TrialSettings) -> int:
    """A refit trains for at most the epochs at which the trial's models were best."""
    return max(1, min(settings.max_epochs, trial.best_epoch or settings.max_epochs))


def _own_rows(own: list[int], folds: list[Arrays]) -> np.ndarray:
    """Where the search's own rows lie among the refit's out-of-fold outputs (each
    fold's own rows come before its share of the test rows)."""
    starts = np.cumsum([0] + [len(fold["y_val"]) for fold in folds])
    return np.concatenate([np.arange(s, s + n) for s, n in zip(starts, own, strict=False)])


def _spread(outputs: np.ndarray, own_rows: np.ndarray, total: int) -> np.ndarray:
    """A trial that was not refitted: its original out-of-fold outputs on the search's
    rows, zero on the test rows (which are then left out of the calibration's fit)."""
    spread = np.zeros((total, *outputs.shape[1:]), dtype=outputs.dtype)
    spread[own_rows] = outputs
    return spread


def _handed_members(run: SearchRun, trial: TrialRecord, refitted: Refitted, weight: float,
                    transform: str, *, rows: int) -> list[Member]:
    """A refitted trial's models as members sharing ``weight``, built for the ``rows``
    they trained on (a retrieval model holds that many); only for the model handed
    over."""
    builder = dataclasses.replace(run.setup.builder, task=refit_task(run, rows))
    models = []
    for weights in refitted.weights:
        model = builder.build(trial.config)
        model.set_weights(weights)
        models.append(model)
    return [Member(model, weight / len(models), transform) for model in models]
