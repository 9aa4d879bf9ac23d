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
from enum import StrEnum
from typing import Literal

__all__ = ["Direction", "TaskKind", "TrialStatus"]


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
    ``stopped_early``: the scheduler stopped it; ``failed``: it failed by itself
    (its reason is recorded).
    """

    COMPLETED = "completed"
    STOPPED_EARLY = "stopped_early"
    FAILED = "failed"
