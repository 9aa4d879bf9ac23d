"""The typed values that cross module boundaries: which way a metric improves, what
kind of task a data set is, and how a trial ended.

They are string enums, so they read and store as their plain values (``"min"``,
``"classification"``, ``"stopped_early"``) in JSON, SQLite and printed text, while
code that ranks has to hold a :class:`Direction` to do it. Every ranking in the
package (search summary, export, test evaluation, the experiment's best model,
reports, warm starts, retraining, the scheduler's and sampler's mode) goes through
:meth:`Direction.key` or :meth:`Direction.better`.

Example:
    >>> from autokeras_lab.types import Direction
    >>> Direction.MAX.better(0.9, 0.8), Direction.MIN.better(0.9, 0.8)
    (True, False)
    >>> sorted([0.8, None, 0.9], key=Direction.MAX.key)
    [0.9, 0.8, None]
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from enum import StrEnum
from typing import Any, Literal

__all__ = ["INPUT_TRANSFORMS", "Direction", "InputTransform", "TaskKind", "TrialReport",
           "TrialStatus"]


class InputTransform(StrEnum):
    """How numeric input columns are scaled (see :class:`autokeras_lab.data.ColumnSpec`)."""

    STANDARD = "standard"
    QUANTILE = "quantile"


INPUT_TRANSFORMS = tuple(t.value for t in InputTransform)


class Direction(StrEnum):
    """Which way a metric improves: ``min`` (errors, losses) or ``max`` (accuracy)."""

    MIN = "min"
    MAX = "max"

    def key(self, value: float | None) -> float:
        """A sort key under which the best value comes first; a missing or NaN value
        (a failed trial) sorts after every real one."""
        if value is None or math.isnan(value):
            return math.inf
        return value if self is Direction.MIN else -value

    def better(self, a: float | None, b: float | None) -> bool:
        """Whether ``a`` is strictly better than ``b`` (a missing value never is)."""
        return self.key(a) < self.key(b)

    @property
    def worst(self) -> float:
        """The value worse than any real one, given to the searcher for a failed trial."""
        return math.inf if self is Direction.MIN else -math.inf

    @property
    def optuna(self) -> Literal["minimize", "maximize"]:
        """The direction in Optuna's words."""
        return "minimize" if self is Direction.MIN else "maximize"

    @property
    def words(self) -> str:
        return "lower is better" if self is Direction.MIN else "higher is better"


class TaskKind(StrEnum):
    """What a data set's target is: numbers to predict or classes to tell apart."""

    REGRESSION = "regression"
    CLASSIFICATION = "classification"


class TrialStatus(StrEnum):
    """How a finished trial ended.

    ``completed``: trained to its epoch limit or its patience ran out;
    ``stopped_early``: the scheduler stopped it, or the time budget ran out while it
    trained (its best epoch so far is kept); ``failed``: it failed by itself (its
    reason is recorded).
    """

    COMPLETED = "completed"
    STOPPED_EARLY = "stopped_early"
    FAILED = "failed"


@dataclass(kw_only=True)
class TrialReport:
    """What a trial reports to the driver: the one schema that the trainable, the
    failure paths and the driver's recorder share. It travels through Ray Tune as the
    plain dict of :meth:`to_result` (Tune adds keys of its own, which
    :meth:`from_result` leaves out).

    Attributes:
        epoch: The newest epoch trained.
        best_val_metric: The best validation value so far (the metric the search
            optimises; the worst possible value for a failed trial, so the sampler
            learns to avoid its region).
        finished: The trial ended by itself (epoch limit, patience, failure).
        val_metric: The newest epoch's validation value.
        best_metrics: Every metric of the task at the best epoch (with
            cross-validation: the means over folds; ``best_metrics_std``: the spreads).
        new_curve: The validation values of the epochs since the last report.
        active: The hyperparameters the model really used.
        failure: Why the trial failed by itself (it is recorded as failed).
        internal_error: The traceback of an error of this package inside the trial:
            the search stops and keeps it (the trial is not blamed).
        worker: The process that trained it: pid, node, resident memory.
    """

    epoch: int
    best_val_metric: float
    finished: bool = False
    val_metric: float | None = None
    best_metrics: dict[str, float] = field(default_factory=dict)
    best_metrics_std: dict[str, float] = field(default_factory=dict)
    best_epoch: int | None = None
    train_loss: float | None = None
    new_curve: list[float] = field(default_factory=list)
    train_seconds: float = 0.0
    trial_seconds: float = 0.0
    seed: int | None = None
    active: list[str] | None = None
    failure: str | None = None
    internal_error: str | None = None
    worker: dict[str, Any] = field(default_factory=dict)

    def to_result(self) -> dict[str, Any]:
        """The dict handed to ``ray.tune.report``."""
        return asdict(self)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> TrialReport:
        """A report back from a Ray Tune result (Tune's own keys left out)."""
        names = {f.name for f in fields(cls)}
        return cls(**{key: value for key, value in result.items() if key in names})

    @classmethod
    def failed(cls, *, epoch: int, reason: str, direction: Direction) -> TrialReport:
        """The last report of a trial that failed by itself."""
        return cls(epoch=epoch, best_val_metric=direction.worst, finished=True,
                   failure=reason)
