"""Exported models: a directory with ``model.keras``, ``preprocessing.json`` and
``card.json`` that :func:`load_model_dir` reads back and ``predict`` uses.

Example:
    >>> from autokeras_lab.export import load_model_dir
    >>> model = load_model_dir("runs/concrete/best")  # doctest: +SKIP
    >>> model.predict(rows)  # doctest: +SKIP
"""

from __future__ import annotations

import contextlib
import dataclasses
import json
import os
import platform
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autokeras_lab._env import import_tensorflow_quietly
from autokeras_lab.data import INPUT_TRANSFORM, Prepared, Preprocessor
from autokeras_lab.ensemble import UNCALIBRATED, Calibration, Member, weighted_average
from autokeras_lab.errors import UserError
from autokeras_lab.layout import CHECKPOINT_PREDICTIONS, ModelDir, RunsLayout
from autokeras_lab.leaderboard import SearchRecord, TrialRecord
from autokeras_lab.metrics import evaluate
from autokeras_lab.packing import in_batches
from autokeras_lab.spaces import ModelBuilder, Task
from autokeras_lab.trainable import load_fold_weights
from autokeras_lab.types import Direction, InferenceBudget, InferenceCost, ModelKind, TaskKind

__all__ = [
    "ExportedModel", "assemble", "export_best", "load_model_dir", "test_metrics",
    "trial_members", "val_predictions",
]

@contextlib.contextmanager
def checkpoint_dir(trial: TrialRecord) -> Iterator[Path]:
    """A trial's best checkpoint as a local directory (downloaded from cloud storage,
    ``--storage s3://...``, for the length of the block)."""
    assert trial.checkpoint_path is not None
    if "://" not in trial.checkpoint_path:
        yield Path(trial.checkpoint_path)
        return
    from ray import tune

    with tune.Checkpoint(trial.checkpoint_path).as_directory() as directory:
        yield Path(directory)


def restore_models(trial: TrialRecord, builder: ModelBuilder) -> list[Any]:
    """A trial's models at their best epoch: one, or with ``--cv K`` its K fold models."""
    with checkpoint_dir(trial) as directory:
        weights = load_fold_weights(directory)
    models = []
    for fold_weights in weights:
        model = builder.build(trial.config)
        model.set_weights(fold_weights)
        models.append(model)
    return models


def val_predictions(trial: TrialRecord) -> np.ndarray | None:
    """A trial's outputs on the validation rows at its best epoch (with ``--cv K``:
    out-of-fold, fold after fold), or ``None`` if its checkpoint has none."""
    if not trial.checkpoint_path:
        return None
    with checkpoint_dir(trial) as directory:
        path = directory / CHECKPOINT_PREDICTIONS
        return np.load(path, allow_pickle=False) if path.is_file() else None


def input_transform(config: dict[str, Any], prepared: Prepared) -> str:
    """The input transform a configuration trains on (the search's first one when the
    search did not choose among several)."""
    return str(config.get(INPUT_TRANSFORM, prepared.preprocessor.transforms[0]))


def trial_members(
    trial: TrialRecord, builder: ModelBuilder, prepared: Prepared, *, weight: float = 1.0
) -> list[Member]:
    """A trial's models as ensemble members sharing ``weight`` (a bag of fold models
    shares it equally)."""
    models = restore_models(trial, builder)
    transform = input_transform(trial.config, prepared)
    return [Member(model, weight / len(models), transform) for model in models]


def assemble(
    members: list[Member], prepared: Prepared, builder: ModelBuilder, *,
    calibration: Calibration = UNCALIBRATED,
) -> tuple[Any, Prepared]:
    """One model of the members (see :func:`weighted_average`) and the data as it
    takes it."""
    model, pre = weighted_average(members, preprocessor=prepared.preprocessor,
                                  task=builder.task, calibration=calibration)
    return model, prepared.with_transforms(*pre.transforms)


def outputs_of(model: Any, x: np.ndarray) -> np.ndarray:
    """The model's outputs on ``x``, at most ``packing.VAL_BATCH`` rows at a time: on a large
    table's held-out rows, one call would hold activations many times their size."""
    return np.asarray(in_batches(model.predict_on_batch, x, axis=0))


def test_metrics(model: Any, prepared: Prepared, task: Task) -> dict[str, float]:
    """Every held-out test metric of a model (regression errors in the target's units);
    ``prepared`` as the model takes it."""
    output = outputs_of(model, prepared.x_test)
    return evaluate(task.kind, prepared.y_test, output,
                    target_scale=prepared.preprocessor.target_scale)


def export_best(
    members: list[Member],
    search: SearchRecord,
    *,
    prepared: Prepared,
    builder: ModelBuilder,
    runs_dir: Path,
    about: dict[str, Any],
    scored: tuple[Any, Prepared] | None = None,
) -> Path:
    """Export the model of ``members`` (one trial's, or an ensemble's) under
    ``runs/EXP/searches/SEARCH/best`` and, when it beats the experiment's current best
    on the same data (its validation metric better in the search's direction), copy
    it to ``runs/EXP/best``.

    Args:
        about: What the card says of the model: ``trial_id`` and ``config`` of a
            trial, or ``members`` of an ensemble and its ``calibration`` (see
            :func:`autokeras_lab.ensemble.fit_calibration`); ``metrics`` (``val_*``,
            ``test_*``).
        scored: The model the test metrics were measured on, with the data as it
            takes it, where that is not the exported one (a refitted model has
            trained on the test rows): its test predictions go with the export.

    Returns:
        The experiment-level ``best`` directory if it was updated, else the search's.
    """
    model, data = assemble(members, prepared, builder,
                           calibration=Calibration(**about.get("calibration", {})))
    dataset = prepared.dataset
    card = {
        "experiment": search.experiment,
        "search_id": search.search_id,
        "dataset": dataset.name,
        "data_fingerprint": dataset.fingerprint,
        "task": builder.task.kind,
        "target": dataset.target,
        "unit": dataset.unit,
        "classes": list(prepared.preprocessor.classes),
        "features": list(prepared.preprocessor.features),
        "input_transforms": list(data.preprocessor.transforms),
        "space": search.space,
        "metric": search.metric,
        "direction": search.direction,
        **about,
        "split_sizes": dataclasses.asdict(prepared.sizes()),
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "versions": versions(),
    }
    layout = RunsLayout(Path(runs_dir))
    search_dir = layout.search_best(search.experiment, search.search_id)
    write_model_dir(search_dir, model, data, card, scored=scored)
    top = layout.experiment_best(search.experiment)
    if _beats(card, ModelDir(top).card, search.direction):
        staging = Path(tempfile.mkdtemp(prefix=".best-", dir=top.parent))
        shutil.copytree(search_dir, staging, dirs_exist_ok=True)
        _replace_dir(staging, top)
        return top
    return search_dir


def trial_card(trial: TrialRecord) -> dict[str, Any]:
    """What an exported trial's card says of it."""
    return {
        "kind": ModelKind.SINGLE,
        "trial_id": trial.trial_id,
        "config": trial.config,
        "metrics": {
            **{f"val_{k}": v for k, v in trial.metrics.get("val", {}).items()},
            **{f"test_{k}": v for k, v in trial.metrics.get("test", {}).items()},
            "best_epoch": trial.best_epoch,
        },
    }


def _beats(card: dict[str, Any], current_card: Path, direction: Direction) -> bool:
    """Whether the model of ``card`` should replace the experiment's current best: it
    is better on validation, on the same data; or the current one is over the
    inference budget the new one was chosen within (a budgeted search's model is the
    one that can be deployed)."""
    if not current_card.is_file():
        return True
    try:
        current = json.loads(current_card.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return True
    if current.get("data_fingerprint") != card["data_fingerprint"]:
        return True
    if not _within(current.get("cost"), card.get("inference_budget")):
        return True
    key = f"val_{card['metric']}"
    old, new = current.get("metrics", {}).get(key), card["metrics"].get(key)
    if old is None or new is None:
        return True
    return direction.better(new, old)


def _within(cost: dict[str, Any] | None, budget: dict[str, Any] | None) -> bool:
    """Whether a card's ``cost`` fits a card's ``inference_budget`` (no budget: yes;
    an unmeasured model fits none)."""
    if not budget:
        return True
    limits = InferenceBudget(max_latency_ms=budget.get("max_latency_ms"),
                             max_params=budget.get("max_params"))
    return limits.admits(InferenceCost(**cost) if cost else None)


def _test_predictions(model: Any, prepared: Prepared) -> pd.DataFrame:
    """The model on the held-out rows, for the report's predicted-vs-actual plots."""
    pre = prepared.preprocessor
    output = outputs_of(model, prepared.x_test)
    if pre.task is TaskKind.CLASSIFICATION:
        index = output.argmax(axis=1) if output.shape[1] > 1 else (output[:, 0] > 0.5).astype(int)
        actual = [pre.classes[int(i)] for i in prepared.y_test]
        return pd.DataFrame({"actual": actual, "predicted": [pre.classes[i] for i in index]})
    return pd.DataFrame(
        {"actual": pre.inverse_y(prepared.y_test), "predicted": pre.inverse_y(output)}
    )


def write_model_dir(
    target: Path,
    model: Any,
    prepared: Prepared | None,
    card: dict[str, Any],
    *,
    preprocessor: Preprocessor | None = None,
    scored: tuple[Any, Prepared] | None = None,
) -> None:
    """Write a model directory atomically: the model, its preprocessing (``prepared``'s
    unless given), the card, and, with ``prepared``, its held-out test predictions
    (``scored``'s, a model with the data as it takes it, where given)."""
    pre = preprocessor or (prepared.preprocessor if prepared is not None else None)
    if pre is None:
        raise ValueError("write_model_dir needs prepared data or a preprocessor")
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".export-", dir=target.parent))
    optimizer = getattr(model, "optimizer", None)
    if optimizer is not None and not optimizer.built:
        # saved with all its slots, so loading the file restores them without warnings
        optimizer.build(model.trainable_variables)
    files = ModelDir(staging)
    model.save(files.model)
    pre.save(files.preprocessing)
    files.card.write_text(json.dumps(card, indent=2), encoding="utf-8")
    if prepared is not None:
        tested, rows = scored or (model, prepared)
        _test_predictions(tested, rows).to_csv(files.test_predictions, index=False)
    _replace_dir(staging, target)


def _replace_dir(staging: Path, target: Path) -> None:
    """Swap ``staging`` in as ``target`` so a reader never sees a half-written model."""
    staging.chmod(0o755)  # mkdtemp makes it private; an exported model is for sharing
    old = None
    if target.exists():
        old = target.with_name(f".{target.name}-old-{os.getpid()}")
        target.rename(old)
    staging.rename(target)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def versions() -> dict[str, str]:
    """Versions of Python and the libraries a model was made with, for its card."""
    versions = {"python": platform.python_version()}
    for package in ("autokeras_lab", "tensorflow", "keras", "ray", "optuna", "keras-tuner"):
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


@dataclass(frozen=True)
class ExportedModel:
    """A loaded model directory: the Keras model, its preprocessing and its card."""

    path: Path
    model: Any
    preprocessor: Preprocessor
    card: dict[str, Any]

    @property
    def target(self) -> str:
        return self.preprocessor.target

    def predict(self, frame: pd.DataFrame) -> pd.DataFrame:
        """Predictions for raw rows with the training columns.

        Returns:
            ``predicted_TARGET`` (in the target's units, or the class label) and, for
            classification, ``probability_CLASS`` per class; one row per input row.
        """
        pre = self.preprocessor
        x = pre.transform_x(frame)
        column = f"predicted_{pre.target}"
        output = (
            self.model.predict(x, verbose=0, batch_size=1024)
            if len(x) else np.zeros((0, max(1, len(pre.classes))))
        )
        if pre.task is not TaskKind.CLASSIFICATION:
            return pd.DataFrame({column: pre.inverse_y(output)}, index=frame.index)
        if output.shape[1] == 1:
            p1 = output.reshape(-1).astype(np.float64)
            probs = np.stack([1.0 - p1, p1], axis=1)
        else:
            probs = output.astype(np.float64)
        labels = [pre.classes[i] for i in probs.argmax(axis=1)]
        result = pd.DataFrame({column: labels}, index=frame.index)
        for i, name in enumerate(pre.classes):
            result[f"probability_{name}"] = probs[:, i]
        return result


def load_model_dir(path: str | Path, *, unsafe: bool = False) -> ExportedModel:
    """Load an exported model directory.

    Keras' safe mode is on: a model whose file carries Python code (a ``Lambda``
    layer) is refused, since loading it would run that code.

    Args:
        unsafe: Load such a model anyway (only for files from a source you trust).

    Raises:
        UserError: the path is not a model directory written by this tool, or the
            model carries code and ``unsafe`` is false.
    """
    directory = Path(path)
    files = ModelDir(directory)
    missing = [file.name for file in files.required if not file.is_file()]
    if missing:
        raise UserError(
            f"{directory} is not an exported model directory (missing {', '.join(missing)}); "
            "expected e.g. runs/EXPERIMENT/best"
        )
    import_tensorflow_quietly()
    import keras

    import autokeras_lab.layers  # noqa: F401  (registers the layers our spaces use)

    try:
        model = keras.saving.load_model(files.model, safe_mode=not unsafe)
        pre = Preprocessor.load(files.preprocessing)
        card = json.loads(files.card.read_text(encoding="utf-8"))
    except (ValueError, TypeError, OSError, KeyError) as exc:
        if "safe_mode" in str(exc):
            raise UserError(
                f"{files.model} contains a Lambda layer, Python code that would "
                "run on loading, so safe mode refused it; pass --unsafe only if you trust "
                "where the model came from"
            ) from None
        raise UserError(f"cannot load the model in {directory}: {exc}".splitlines()[0]) from None
    return ExportedModel(directory, model, pre, card)
