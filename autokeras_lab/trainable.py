"""One trial: seed, build the model from the search-space module, train, report.

The engine is :func:`train_trial`, which knows nothing of Ray: it takes a ``report``
callback, so tests and benchmarks can run it in-process. :func:`ray_trainable` wraps
it for Ray Tune (data from the object store, checkpoints through ``tune.report``).

Tiny tabular trials are overhead-bound, so an epoch is one compiled TensorFlow call
(shuffle, every batch through the model's own ``train_step``, validation RMSE) instead
of ``model.fit``, which re-creates its data iterator and callbacks each epoch; on
concrete this is several times faster per epoch (see scripts/benchmark_epoch.py).
"""

from __future__ import annotations

import math
import os
import tempfile
import time
import zlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from autokeras_lab.errors import TrialFailedError
from autokeras_lab.metrics import evaluate
from autokeras_lab.spaces import Task, batch_size

__all__ = ["EpochReport", "TrialSettings", "derive_seed", "ray_trainable", "train_trial"]

WEIGHTS_FILE = "best_weights.npz"


@dataclass(frozen=True, kw_only=True)
class TrialSettings:
    """Everything a trial needs besides its sampled values and the data.

    Attributes:
        metric: The validation metric to optimise (see :mod:`autokeras_lab.metrics`).
        direction: ``"min"`` or ``"max"``.
        space: Search-space name or absolute path of its module.
        space_config: The derived space (``DerivedSpace.to_config()``).
        task: The task the model must fit.
        max_epochs: Most epochs to train.
        patience: Stop after this many epochs without improvement.
        search_seed: The search's seed; each trial's seed derives from it.
        report_epochs: Epochs at which a result must reach the scheduler (ASHA's
            rungs); between them, results are batched to spare round trips.
        report_every: Most epochs between two results.
    """

    space: str
    space_config: dict[str, Any]
    task: Task
    metric: str
    direction: str
    max_epochs: int
    patience: int
    search_seed: int
    report_epochs: tuple[int, ...] = ()
    report_every: int = 1


@dataclass(kw_only=True)
class EpochReport:
    """What a trial reports: the newest epoch and the epochs since the last report."""

    epoch: int
    val_metric: float
    best_val_metric: float
    best_metrics: dict[str, float]
    best_epoch: int
    best_metrics_std: dict[str, float] = field(default_factory=dict)
    train_loss: float
    new_curve: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    trial_seconds: float = 0.0
    finished: bool = False
    seed: int = 0
    active: list[str] = field(default_factory=list)

    def metrics(self) -> dict[str, Any]:
        return {
            "epoch": self.epoch,
            "val_metric": self.val_metric,
            "best_val_metric": self.best_val_metric,
            "best_metrics": self.best_metrics,
            "best_metrics_std": self.best_metrics_std,
            "best_epoch": self.best_epoch,
            "train_loss": self.train_loss,
            "new_curve": self.new_curve,
            "train_seconds": self.train_seconds,
            "trial_seconds": self.trial_seconds,
            "finished": self.finished,
            "trial_seed": self.seed,
            "active_hyperparameters": self.active,
        }


def derive_seed(search_seed: int, values: dict[str, Any]) -> int:
    """A trial's seed: a stable function of the search seed and its configuration."""
    key = repr(sorted(values.items())).encode("utf-8")
    return (zlib.crc32(key) ^ (search_seed * 2654435761)) % (2**31 - 1)


ReportFn = Callable[[EpochReport, "list[np.ndarray] | None"], None]


def train_trial(
    values: dict[str, Any],
    data: dict[str, Any],
    settings: TrialSettings,
    report: ReportFn,
) -> EpochReport:
    """Train one configuration and report as it goes.

    Args:
        values: The sampled hyperparameter values.
        data: ``x_train``, ``y_train``, optional ``w_train`` (row weights), ``x_val``,
            ``y_val`` and ``target_scale`` (to give regression errors in the target's
            units); with cross-validation also ``folds``, one such set per fold.
        settings: See :class:`TrialSettings`.
        report: Called with the report and, when the best weights changed since the
            last call that carried weights and the scheduler may act now, those weights.

    Returns:
        The last report.

    Raises:
        TrialFailedError: the loss became NaN or infinite.
    """
    started = time.perf_counter()
    import keras
    import keras_tuner as kt
    import tensorflow as tf

    from autokeras_lab.spaces import DerivedSpace, load_space

    keras.backend.clear_session()
    seed = derive_seed(settings.search_seed, values)
    hps = kt.HyperParameters.from_config(settings.space_config)
    derived = DerivedSpace(hps, tuple(hp.name for hp in hps.space))
    space = load_space(settings.space)
    # With cross-validation, one model per fold trains in lockstep and the reported
    # metric is their mean; fold 0's model is the one checkpointed and exported.
    folds = data.get("folds") or [data]
    models, epochs_fns = [], []
    for k, fold in enumerate(folds):
        keras.utils.set_random_seed(seed + k)
        fold_model, active = space.build_tracked(values, settings.task, derived)
        fold_model.optimizer.build(fold_model.trainable_variables)
        models.append(fold_model)
        epochs_fns.append(_compiled_epoch(fold_model, fold, batch_size(values), tf))
    model = models[0]
    target_scale = float(data["target_scale"])
    checkpoint_at = set(settings.report_epochs) | {settings.max_epochs}
    sign = 1.0 if settings.direction == "min" else -1.0

    best, best_epoch, best_weights, weights_dirty = math.inf, 0, None, False
    best_metrics: dict[str, float] = {}
    best_std: dict[str, float] = {}
    pending: list[float] = []
    last_reported = 0
    train_seconds = 0.0
    last: EpochReport | None = None
    for epoch in range(1, settings.max_epochs + 1):
        t0 = time.perf_counter()
        per_fold = []
        losses = []
        for fold, run_epoch in zip(folds, epochs_fns, strict=True):
            loss_tensor, output = run_epoch()
            losses.append(float(loss_tensor))
            per_fold.append(evaluate(settings.task.kind, fold["y_val"], output.numpy(),
                                     target_scale=target_scale))
        loss = float(np.mean(losses))
        metrics = {k: float(np.mean([m[k] for m in per_fold])) for k in per_fold[0]}
        value = metrics[settings.metric]
        train_seconds += time.perf_counter() - t0
        if not (math.isfinite(loss) and math.isfinite(value)):
            raise TrialFailedError(
                f"loss became {loss} at epoch {epoch}; lower the learning rate or narrow "
                "its range in the search space"
            )
        pending.append(value)
        if sign * value < best:
            best, best_epoch, best_metrics = sign * value, epoch, metrics
            if len(folds) > 1:
                best_std = {k: float(np.std([m[k] for m in per_fold])) for k in per_fold[0]}
            best_weights, weights_dirty = model.get_weights(), True
        finished = epoch == settings.max_epochs or epoch - best_epoch >= settings.patience
        due = finished or epoch in checkpoint_at or epoch - last_reported >= settings.report_every
        if not due:
            continue
        last = EpochReport(
            epoch=epoch,
            val_metric=value,
            best_val_metric=sign * best,
            best_metrics=best_metrics,
            best_metrics_std=best_std,
            best_epoch=best_epoch,
            train_loss=loss,
            new_curve=pending,
            train_seconds=train_seconds,
            trial_seconds=time.perf_counter() - started,
            finished=finished,
            seed=seed,
            active=active,
        )
        send = weights_dirty and (finished or epoch in checkpoint_at)
        report(last, best_weights if send else None)
        weights_dirty = weights_dirty and not send
        pending, last_reported = [], epoch
        if finished:
            break
    assert last is not None
    return last


def _compiled_epoch(model: Any, data: dict[str, Any], bs: int, tf: Any) -> Callable[[], Any]:
    """One epoch as one graph call: shuffle, all batches through the model's own
    ``train_step`` (its loss, regularisers and optimizer), then the validation output
    (or the loss again when ``data`` has no ``x_val``)."""
    x = tf.constant(data["x_train"])
    y = tf.constant(np.reshape(data["y_train"], (-1, 1)))
    weights = data.get("w_train")
    w = tf.constant(weights) if weights is not None else None
    xv = tf.constant(data["x_val"]) if data.get("x_val") is not None else None
    n = int(x.shape[0])
    steps = max(1, math.ceil(n / bs))

    @tf.function
    def epoch() -> Any:
        for metric in model.metrics:
            metric.reset_state()
        order = tf.random.shuffle(tf.range(n))
        logs = {"loss": tf.constant(0.0)}
        for i in tf.range(steps):
            batch = order[i * bs : (i + 1) * bs]
            step_data: tuple[Any, ...] = (tf.gather(x, batch), tf.gather(y, batch))
            if w is not None:
                step_data = (*step_data, tf.gather(w, batch))
            logs = model.train_step(step_data)
        loss = tf.cast(logs["loss"], tf.float32)
        if xv is None:
            return loss, loss
        return loss, tf.cast(model(xv, training=False), tf.float32)

    return epoch


def fit_epochs(model: Any, data: dict[str, Any], *, batch: int, epochs: int) -> float:
    """Train a compiled model for a fixed number of compiled epochs (no validation);
    returns the last epoch's training loss. Used to retrain and fine-tune."""
    import tensorflow as tf

    model.optimizer.build(model.trainable_variables)
    run_epoch = _compiled_epoch(model, {**data, "x_val": None}, batch, tf)
    loss = math.nan
    for _ in range(epochs):
        loss = float(run_epoch()[0])
        if not math.isfinite(loss):
            raise TrialFailedError(f"loss became {loss} while training; lower the learning rate")
    return loss


def save_weights(weights: list[np.ndarray], directory: Path) -> Path:
    path = directory / WEIGHTS_FILE
    np.savez(path, *weights)
    return path


def load_weights(path: Path) -> list[np.ndarray]:
    with np.load(path, allow_pickle=False) as archive:
        return [archive[f"arr_{i}"] for i in range(len(archive.files))]


def configure_threads(num_threads: int) -> None:
    """Pin TensorFlow to the trial's CPUs; only possible before TF's first op, which is
    fine: a reused worker keeps the same CPU share."""
    import tensorflow as tf

    try:
        tf.config.threading.set_intra_op_parallelism_threads(num_threads)
        tf.config.threading.set_inter_op_parallelism_threads(1)
    except RuntimeError:
        pass


def ray_trainable(config: dict[str, Any], *, data: dict[str, Any], settings: TrialSettings) -> None:
    """The Ray Tune function trainable.

    Used as ``tune.with_parameters(ray_trainable, data=..., settings=...)`` so the
    arrays travel once through the object store.
    """
    from ray import tune

    cpus = int(tune.get_context().get_trial_resources().required_resources.get("CPU", 1) or 1)
    configure_threads(max(1, cpus))

    def report(result: EpochReport, weights: list[np.ndarray] | None) -> None:
        if weights is None:
            tune.report(result.metrics())
            return
        with tempfile.TemporaryDirectory(prefix="akl-ckpt-") as tmp:
            save_weights(weights, Path(tmp))
            tune.report(result.metrics(), checkpoint=tune.Checkpoint.from_directory(tmp))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    train_trial(config, data, settings, report)
