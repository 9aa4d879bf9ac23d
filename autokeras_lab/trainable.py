"""One trial: seed, build the model from the search-space module, train, report.

The engine is :func:`train_trial`, which knows nothing of Ray: it takes a ``report``
callback, so tests and benchmarks can run it in-process. The search's
``ray_trainable`` (in :mod:`autokeras_lab.search._worker`) wraps it for Ray Tune.

Tiny tabular trials are overhead-bound, so an epoch is one compiled TensorFlow call
(shuffle, every batch through the model's own ``train_step``, validation RMSE) instead
of ``model.fit``, which re-creates its data iterator and callbacks each epoch; on
concrete this is several times faster per epoch (see scripts/benchmark_epoch.py).
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import math
import os
import sys
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autokeras_lab.data import INPUT_TRANSFORM, Arrays, choose_inputs
from autokeras_lab.errors import TrialFailedError
from autokeras_lab.layout import (
    CHECKPOINT_ARRAYS,
    CHECKPOINT_PREDICTIONS,
    CHECKPOINT_STATE,
    CHECKPOINT_WEIGHTS,
)
from autokeras_lab.metrics import evaluate
from autokeras_lab.packing import RowStream, train_together
from autokeras_lab.spaces import SearchSpace, Task, batch_size
from autokeras_lab.types import Direction, TrialReport, WorkerInfo

__all__ = [
    "TrialSettings", "TrialState", "derive_seed", "fit_epochs", "fit_together", "train_trial",
]

@dataclass(frozen=True, kw_only=True)
class TrialSettings:
    """Everything a trial needs besides its sampled values and the data.

    Attributes:
        metric: The validation metric to optimise (see :mod:`autokeras_lab.metrics`).
        direction: Which way the metric improves.
        space: Search-space name or absolute path of its module.
        space_config: The derived space (``DerivedSpace.to_config()``).
        task: The task the model must fit.
        max_epochs: Most epochs to train.
        patience: Stop after this many epochs without improvement.
        search_seed: The search's seed; each trial's seed derives from it.
        report_epochs: Epochs at which a result must reach the scheduler (ASHA's
            rungs); between them, results are batched to spare round trips.
        report_every: Most epochs between two results.
        checkpoint_every: Also checkpoint every this many epochs (0: only at the
            rungs and the end), so a trial whose worker dies loses little.
        space_object: A search space that is no module (a user's model function, see
            :mod:`autokeras_lab.sklearn`); Ray ships it to the workers by value.
        space_source: The text of a search-space module named by path, so that a
            trial on another node runs the module the driver checked.
        recorded: On resume, the final results of the trials the leaderboard already
            holds, by trial id. The Tune state a search resumes from is taken at most
            a step before a trial's row is written, so it may still list a finished
            trial as running: such a trial reports its recorded result again and
            trains nothing (see :mod:`autokeras_lab.search._hooks`).
        pack: Train the fold models packed, as one graph call an epoch (see
            :mod:`autokeras_lab.packing`); false: one after another.
    """

    space: str
    space_config: dict[str, Any]
    task: Task
    metric: str
    direction: Direction
    max_epochs: int
    patience: int
    search_seed: int
    report_epochs: tuple[int, ...] = ()
    report_every: int = 1
    checkpoint_every: int = 0
    space_source: str | None = None
    space_object: SearchSpace | None = None
    recorded: dict[str, TrialReport] = field(default_factory=dict)
    pack: bool = True


@dataclass(kw_only=True)
class TrialState:
    """Everything needed to continue a trial where it was: what a checkpoint holds.

    ``models`` has one ``(weights, optimizer variables)`` pair per fold model;
    ``best`` is the best value signed so that lower is better; ``best_weights`` holds
    each fold model's weights at the best epoch, and ``best_outputs`` the models'
    outputs on their validation rows then (with folds: out-of-fold, fold after fold),
    which ensemble selection combines.
    """

    epoch: int
    best: float
    best_epoch: int
    best_metrics: dict[str, float]
    best_std: dict[str, float]
    curve: list[float]
    train_seconds: float
    trial_seconds: float
    finished: bool
    best_weights: list[list[np.ndarray]] | None
    models: list[tuple[list[np.ndarray], list[np.ndarray]]]
    best_outputs: np.ndarray | None = None

    def save(self, directory: Path) -> None:
        """Write the state into a checkpoint directory (``best_weights*.npz`` and
        ``val_predictions.npy`` are what export and ensemble selection read;
        ``state.npz`` and ``state.json`` are for resuming)."""
        for k, weights in enumerate(self.best_weights or []):
            save_weights(weights, directory, fold=k)
        if self.best_outputs is not None:
            np.save(directory / CHECKPOINT_PREDICTIONS, self.best_outputs)
        arrays = {
            f"f{k}_{kind}{i}": array
            for k, (weights, slots) in enumerate(self.models)
            for kind, group in (("w", weights), ("o", slots))
            for i, array in enumerate(group)
        }
        np.savez(directory / CHECKPOINT_ARRAYS, **arrays)  # type: ignore[arg-type]
        meta = {name: getattr(self, name) for name in _STATE_SCALARS}
        meta["shapes"] = [[len(w), len(o)] for w, o in self.models]
        (directory / CHECKPOINT_STATE).write_text(json.dumps(meta))

    @classmethod
    def load(cls, directory: Path) -> TrialState:
        meta = json.loads((directory / CHECKPOINT_STATE).read_text())
        with np.load(directory / CHECKPOINT_ARRAYS, allow_pickle=False) as archive:
            models = [
                ([archive[f"f{k}_w{i}"] for i in range(n_w)],
                 [archive[f"f{k}_o{i}"] for i in range(n_o)])
                for k, (n_w, n_o) in enumerate(meta.pop("shapes"))
            ]
        best_weights = load_fold_weights(directory) or None
        outputs = directory / CHECKPOINT_PREDICTIONS
        best_outputs = np.load(outputs, allow_pickle=False) if outputs.is_file() else None
        return cls(**meta, best_weights=best_weights, models=models, best_outputs=best_outputs)


_STATE_SCALARS = ("epoch", "best", "best_epoch", "best_metrics", "best_std", "curve",
                  "train_seconds", "trial_seconds", "finished")


def derive_seed(search_seed: int, values: dict[str, Any]) -> int:
    """A trial's seed: a stable function of the search seed and its configuration."""
    key = repr(sorted(values.items())).encode("utf-8")
    return (zlib.crc32(key) ^ (search_seed * 2654435761)) % (2**31 - 1)


ReportFn = Callable[[TrialReport, "TrialState | None"], None]


def train_trial(
    values: dict[str, Any],
    data: Arrays,
    settings: TrialSettings,
    report: ReportFn,
    resume: TrialState | None = None,
) -> TrialReport:
    """Train one configuration and report as it goes.

    Args:
        values: The sampled hyperparameter values.
        data: ``x_train``, ``y_train``, optional ``w_train`` (row weights), ``x_val``,
            ``y_val`` and ``target_scale`` (to give regression errors in the target's
            units); with cross-validation also ``folds``, one such set per fold.
        settings: See :class:`TrialSettings`.
        report: Called with each report and, where a checkpoint is due (the scheduler's
            rungs, every ``checkpoint_every`` epochs and the end), the trial's state.
        resume: Continue from this checkpointed state instead of from scratch; a
            state that had finished is reported again as it was, without training.

    Returns:
        The last report.

    Raises:
        TrialFailedError: the loss became NaN or infinite.
    """
    import keras

    # Collects what earlier trials released (a trial stopped by Tune ends inside its
    # last report, where Ray raises SystemExit, so only the next one can collect it).
    keras.backend.clear_session()
    with released_graphs():
        return _train(values, data, settings, report, resume)


def _train(
    values: dict[str, Any],
    data: Arrays,
    settings: TrialSettings,
    report: ReportFn,
    resume: TrialState | None,
) -> TrialReport:
    started = time.perf_counter()
    rss_start = resident_mb()  # what earlier trials on this worker left behind
    import keras
    import keras_tuner as kt

    from autokeras_lab.spaces import DerivedSpace, load_space

    seed = derive_seed(settings.search_seed, values)
    hps = kt.HyperParameters.from_config(settings.space_config)
    derived = DerivedSpace(hps, tuple(hp.name for hp in hps.space))
    space = settings.space_object or load_space(settings.space, source=settings.space_source)
    # With cross-validation, one model per fold trains in lockstep and the reported
    # metric is their mean; every fold's model is checkpointed and exported (a bag).
    data = choose_inputs(data, values.get(INPUT_TRANSFORM))
    folds = data.get("folds") or [data]
    models = []
    for k in range(len(folds)):
        keras.utils.set_random_seed(seed + k + (resume.epoch if resume else 0))
        fold_model, active = space.build_tracked(values, settings.task, derived)
        active += [INPUT_TRANSFORM] if INPUT_TRANSFORM in values else []  # read here
        fold_model.optimizer.build(fold_model.trainable_variables)
        models.append(fold_model)
    target_scale = float(data["target_scale"])
    checkpoint_at = set(settings.report_epochs) | {settings.max_epochs}
    direction = settings.direction

    state = dataclasses.replace(resume, curve=list(resume.curve)) if resume else TrialState(
        epoch=0, best=math.inf, best_epoch=0, best_metrics={}, best_std={}, curve=[],
        train_seconds=0.0, trial_seconds=0.0, finished=False, best_weights=None, models=[],
    )
    if resume is not None and resume.models:
        for fold_model, (weights, slots) in zip(models, resume.models, strict=True):
            fold_model.set_weights(weights)
            for variable, saved in zip(fold_model.optimizer.variables, slots, strict=True):
                variable.assign(saved)
    # The fold models train packed, as one graph call an epoch (autokeras_lab.packing).
    # On a large table an epoch is the next task.train_rows rows (packing.RowStream).
    training = train_together(models, folds, batch_size(values), pack=settings.pack,
                              order_seeds=[seed + k for k in range(len(folds))],
                              first_epoch=state.epoch + 1, epoch_rows=settings.task.sampled_epoch)
    sampled = settings.task.sampled_epoch
    rows = RowStream(len(folds[0]["x_train"]), None, sampled)  # counts the rows seen
    # The first report after a resume repeats the whole curve, so a fresh driver
    # has it all; the recorder places each report's epochs by their epoch numbers.
    pending: list[float] = list(state.curve)
    time_before = state.trial_seconds

    def make_report(value: float, loss: float) -> TrialReport:
        return TrialReport(
            epoch=state.epoch,
            val_metric=value,
            best_val_metric=state.best_metrics.get(settings.metric, direction.worst),
            best_metrics=state.best_metrics,
            best_metrics_std=state.best_std,
            best_epoch=state.best_epoch,
            train_loss=loss,
            new_curve=pending,
            train_seconds=state.train_seconds,
            trial_seconds=state.trial_seconds,
            finished=state.finished,
            seed=seed,
            active=active,
            worker=dataclasses.replace(worker_info(), rss_start_mb=rss_start,
                                       packed=training.packed),
            rows_seen=rows.seen(state.epoch) if sampled else None,
        )

    if state.finished:  # it ended before the crash: say so again, train nothing
        again = make_report(state.curve[-1], math.nan)
        report(again, None)
        return again

    last: TrialReport | None = None
    for epoch in range(state.epoch + 1, settings.max_epochs + 1):
        t0 = time.perf_counter()
        losses, outputs = training.run_epoch()
        per_fold = [evaluate(settings.task.kind, fold["y_val"], output, target_scale=target_scale)
                    for fold, output in zip(folds, outputs, strict=True)]
        loss = float(np.mean(losses))
        metrics = {k: float(np.mean([m[k] for m in per_fold])) for k in per_fold[0]}
        value = metrics[settings.metric]
        state.train_seconds += time.perf_counter() - t0
        state.epoch = epoch
        if not (math.isfinite(loss) and math.isfinite(value)):
            raise TrialFailedError(
                f"loss became {loss} at epoch {epoch}; lower the learning rate or narrow "
                "its range in the search space"
            )
        pending.append(value)
        state.curve.append(value)
        if direction.key(value) < state.best:
            state.best, state.best_epoch, state.best_metrics = direction.key(value), epoch, metrics
            if len(folds) > 1:
                state.best_std = {
                    k: float(np.std([m[k] for m in per_fold])) for k in per_fold[0]
                }
            state.best_weights = training.weights()
            state.best_outputs = np.concatenate(outputs, axis=0)
        state.finished = (
            epoch == settings.max_epochs or epoch - state.best_epoch >= settings.patience
        )
        checkpoint = (
            state.finished
            or epoch in checkpoint_at
            or (settings.checkpoint_every > 0 and epoch % settings.checkpoint_every == 0)
        )
        due = state.finished or checkpoint or len(pending) >= settings.report_every
        if not due:
            continue
        state.trial_seconds = time_before + time.perf_counter() - started
        last = make_report(value, loss)
        if checkpoint:
            state.models = training.states()
        report(last, state if checkpoint else None)
        pending = []
        if state.finished:
            break
    assert last is not None
    return last


def fit_epochs(model: Any, data: Arrays, *, batch: int, epochs: int) -> float:
    """Train a compiled model further for a fixed number of compiled epochs (no
    validation); returns the last epoch's training loss. Used to fine-tune: a
    retrieval model keeps the rows it holds and votes among them, with its encoder
    tuned on ``data``."""
    return fit_together([model], data, batch=batch, epochs=epochs, remember_rows=False)[0]


def fit_together(models: list[Any], data: Arrays, *, batch: int, epochs: int,
                 order_seeds: list[int] | None = None, pack: bool = True,
                 epoch_rows: int = 0, remember_rows: bool = True) -> list[float]:
    """Train compiled models of one architecture (a configuration's seeds) on the same
    rows for a fixed number of epochs, packed where possible (see
    :mod:`autokeras_lab.packing`); returns each one's last training loss.
    ``order_seeds``: each model's seed for its data order (default 0, 1, 2, ...);
    ``epoch_rows``: the rows of an epoch, as the search counted them (0: every row);
    ``remember_rows``: whether a retrieval model takes ``data``'s rows into its memory
    (:func:`~autokeras_lab.packing.train_together`).

    Raises:
        TrialFailedError: a model's loss became NaN or infinite.
    """
    for model in models:
        model.optimizer.build(model.trainable_variables)
    losses = [math.nan] * len(models)
    order_seeds = order_seeds or list(range(len(models)))
    with released_graphs():
        training = train_together(models, [{**data, "x_val": None}] * len(models), batch,
                                  pack=pack, order_seeds=order_seeds, epoch_rows=epoch_rows,
                                  remember_rows=remember_rows)
        for _ in range(epochs):
            losses, _ = training.run_epoch()
            if not all(math.isfinite(loss) for loss in losses):
                raise TrialFailedError(
                    f"loss became {losses} while training; lower the learning rate"
                )
        training.sync()
    return losses


@contextlib.contextmanager
def released_graphs() -> Iterator[None]:
    """Let go of the TensorFlow graphs traced inside the block once it ends.

    Every trace of a Keras train step registers a custom gradient (tf.distribute's
    ``all_reduce``, which the optimizer goes through) in TensorFlow's global gradient
    registry and never removes it. The entry's closure holds the traced graphs, and
    they hold their ``while`` loop functions in the eager context: a reused worker grew
    by about 4 MiB a trial. Gradients are taken while tracing, so the entries are dead
    weight once the block's functions are traced; without them the next collection
    (``clear_session`` at the next trial's start) frees the graphs (see
    scripts/benchmark_memory.py).
    """
    registry = _gradient_registry()
    before = set(registry)
    try:
        yield
    finally:
        for name in set(registry) - before:
            if name.startswith("CustomGradient-"):
                del registry[name]


def _gradient_registry() -> dict[str, Any]:
    """TensorFlow's registry of gradient functions (private; empty if it moved)."""
    from tensorflow.python.framework import ops

    registry = getattr(getattr(ops, "_gradient_registry", None), "_registry", None)
    return registry if isinstance(registry, dict) else {}


def weights_file(fold: int = 0) -> str:
    """The best weights of a trial's model (``fold``: its k-th fold model)."""
    return CHECKPOINT_WEIGHTS if fold == 0 else CHECKPOINT_WEIGHTS.replace(".npz", f"_{fold}.npz")


def save_weights(weights: list[np.ndarray], directory: Path, *, fold: int = 0) -> Path:
    path = directory / weights_file(fold)
    np.savez(path, *weights)
    return path


def load_weights(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def load_fold_weights(directory: Path) -> list[list[np.ndarray]]:
    """Every fold model's best weights in a checkpoint directory (one without folds:
    a list of one)."""
    found: list[list[np.ndarray]] = []
    while (directory / weights_file(len(found))).is_file():
        found.append(load_weights(directory / weights_file(len(found))))
    return found


def configure_threads(num_threads: int) -> None:
    """Pin TensorFlow to the trial's CPUs; only possible before TF's first op, which is
    fine: a reused worker keeps the same CPU share."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(num_threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def worker_info() -> WorkerInfo:
    """The process training the trial: pid, resident memory and, under Ray, its node."""
    ray = sys.modules.get("ray")
    node = (ray.get_runtime_context().get_node_id()
            if ray is not None and ray.is_initialized() else None)
    return WorkerInfo(pid=os.getpid(), rss_mb=resident_mb(), node=node)


def resident_mb() -> float:
    """This process's resident memory in MiB (Linux ``/proc``; peak RSS elsewhere)."""
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20
    except (OSError, ValueError, IndexError):
        import resource

        return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
