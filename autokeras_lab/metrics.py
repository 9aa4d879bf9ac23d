"""Validation and test metrics, computed from a model's raw outputs.

Regression metrics are in the target's units (the network sees a standardised
target; ``target_scale`` brings errors back). Classification metrics take the output
probabilities: one sigmoid column for two classes, one softmax column per class else.

Example:
    >>> import numpy as np
    >>> from autokeras_lab.metrics import evaluate
    >>> from autokeras_lab.types import TaskKind
    >>> evaluate(TaskKind.REGRESSION, np.array([0.0, 1.0]), np.array([[0.0], [0.5]]),
    ...          target_scale=10.0)
    {'rmse': 3.5355339059327378, 'mae': 2.5}
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from autokeras_lab.types import Direction, OutputKind, TaskKind

__all__ = ["METRICS", "Metric", "default_metric", "direction_of", "evaluate"]


@dataclass(frozen=True, kw_only=True)
class Metric:
    """A metric: the task it applies to and which way it improves."""

    task: TaskKind
    direction: Direction


METRICS: dict[str, Metric] = {
    "rmse": Metric(task=TaskKind.REGRESSION, direction=Direction.MIN),
    "mae": Metric(task=TaskKind.REGRESSION, direction=Direction.MIN),
    "log_loss": Metric(task=TaskKind.CLASSIFICATION, direction=Direction.MIN),
    "accuracy": Metric(task=TaskKind.CLASSIFICATION, direction=Direction.MAX),
}

_EPS = 1e-7


def default_metric(task: TaskKind) -> str:
    return "rmse" if task is TaskKind.REGRESSION else "log_loss"


def direction_of(metric: str) -> Direction:
    return METRICS[metric].direction


def evaluate(
    kind: TaskKind | OutputKind, y_true: np.ndarray, output: Any, *, target_scale: float = 1.0
) -> dict[str, float]:
    """Every metric of the task.

    Args:
        kind: The task, or a model's output kind.
        y_true: Scaled targets (regression) or class indices.
        output: The model's raw output, shape ``(n, outputs)``.
        target_scale: The target's standard deviation (regression only).
    """
    out = np.asarray(output, dtype=np.float64)
    y = np.asarray(y_true).reshape(-1)
    if kind in (TaskKind.REGRESSION, OutputKind.REGRESSION):
        error = (out.reshape(-1) - y.astype(np.float64)) * target_scale
        return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}
    labels = y.astype(np.int64)
    if out.ndim == 1 or out.shape[1] == 1:
        p1 = np.clip(out.reshape(-1), _EPS, 1 - _EPS)
        probs = np.stack([1 - p1, p1], axis=1)
    else:
        probs = np.clip(out, _EPS, 1.0)
        probs = probs / probs.sum(axis=1, keepdims=True)
    chosen = probs[np.arange(len(labels)), labels]
    return {
        "log_loss": float(-np.mean(np.log(chosen))),
        "accuracy": float(np.mean(probs.argmax(axis=1) == labels)),
    }
