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

__all__ = [
    "AUTO_TASK",
    "EPOCH_ROWS",
    "INPUT_TRANSFORMS",
    "MAX_EPOCHS",
    "SAMPLED_EPOCHS_ABOVE",
    "TASK_CHOICES",
    "TRIAL_ROWS",
    "Budget",
    "Direction",
    "InferenceBudget",
    "InferenceCost",
    "InputTransform",
    "ModelKind",
    "OutputKind",
    "RetrainKind",
    "SearchStatus",
    "SplitSizes",
    "TaskKind",
    "TrialReport",
    "TrialStatus",
    "WorkerInfo",
    "check_constraint",
    "check_positive",
]


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

    def output(self, n_classes: int = 0) -> OutputKind:
        """The kind of output a model of this task gives for ``n_classes`` classes."""
        if self is TaskKind.REGRESSION:
            return OutputKind.REGRESSION
        return OutputKind.BINARY if n_classes <= 2 else OutputKind.MULTICLASS


#: The task option that infers the task from the target column.
AUTO_TASK = "auto"
#: What ``--task`` (and an experiment's ``task``) accepts.
TASK_CHOICES = (AUTO_TASK, *(kind.value for kind in TaskKind))


class OutputKind(StrEnum):
    """What a model's output is, where the binary/multi-class split matters (the
    output layer, the loss, how probabilities become classes)."""

    REGRESSION = "regression"
    BINARY = "binary"
    MULTICLASS = "multiclass"

    @property
    def task(self) -> TaskKind:
        return TaskKind.REGRESSION if self is OutputKind.REGRESSION else TaskKind.CLASSIFICATION


class SearchStatus(StrEnum):
    """Where a search stands: ``running`` (or its driver died), ``interrupted``
    (Ctrl-C; both can be resumed), ``completed`` or ``failed``."""

    RUNNING = "running"
    INTERRUPTED = "interrupted"
    COMPLETED = "completed"
    FAILED = "failed"

    @property
    def resumable(self) -> bool:
        return self in (SearchStatus.RUNNING, SearchStatus.INTERRUPTED)


class ModelKind(StrEnum):
    """What an exported model directory holds (its card's ``kind``): one trial's
    ``single`` model (its bag of fold models with ``--cv``), a weighted ``ensemble``
    of trials, or a ``finetune`` of an exported model on new rows."""

    SINGLE = "single"
    ENSEMBLE = "ensemble"
    FINETUNE = "finetune"


class RetrainKind(StrEnum):
    """What a retraining row holds: one ``run`` (a configuration, a seed), the
    exported ``single`` best model or ``ensemble``, or a ``finetune`` of an exported
    model on new rows."""

    RUN = "run"
    SINGLE = "single"
    ENSEMBLE = "ensemble"
    FINETUNE = "finetune"


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

    @property
    def words(self) -> str:
        """The status as a reader says it ("stopped early")."""
        return self.value.replace("_", " ")


@dataclass(frozen=True, kw_only=True)
class SplitSizes:
    """How a search's rows were split: ``train``/``val`` are the single validation
    split's rows; with ``folds`` > 1 every row of the two trains ``folds - 1`` of a
    trial's fold models and validates one (a k-fold bag), and ``test`` rows are held
    out from every choice."""

    train: int
    val: int
    test: int
    folds: int = 1

    @property
    def searched(self) -> int:
        """The rows the search may look at (everything but the held-out test rows)."""
        return self.train + self.val

    def describe(self) -> str:
        """The split in words, as the header and the report say it."""
        if self.folds > 1:
            return (f"{self.searched} rows in {self.folds}-fold bags (each fold model "
                    f"trains on {self.folds - 1}/{self.folds} of them and validates on the "
                    f"rest) / {self.test} held-out test rows")
        return f"{self.train} train / {self.val} validation / {self.test} held-out test rows"


@dataclass(frozen=True, kw_only=True)
class WorkerInfo:
    """The process that trained a trial: its pid, its Ray node, its resident memory
    (MiB) when it reported and when the trial started, and whether the trial's models
    trained packed into one graph call."""

    pid: int
    rss_mb: float
    node: str | None = None
    rss_start_mb: float | None = None
    packed: bool | None = None


@dataclass(frozen=True, kw_only=True)
class InferenceCost:
    """What a model costs to run, measured on the driver's CPU (see
    :mod:`autokeras_lab.costs`): its parameters, the median milliseconds of one row
    at a time, and rows per second in batches of 1,000."""

    params: int
    latency_ms: float
    rows_per_s: float

    def describe(self) -> str:
        return (f"{self.params:,} params, {self.latency_ms:.3g} ms a row, "
                f"{self.rows_per_s:,.0f} rows/s in batches")


@dataclass(frozen=True, kw_only=True)
class InferenceBudget:
    """What the handed-over model may cost (``None``: no limit), from
    ``--max-latency-ms`` and ``--max-params``."""

    max_latency_ms: float | None = None
    max_params: int | None = None

    def __post_init__(self) -> None:
        check_positive("max_latency_ms", self.max_latency_ms)
        check_positive("max_params", self.max_params)

    @property
    def limited(self) -> bool:
        return self.max_latency_ms is not None or self.max_params is not None

    def admits(self, cost: InferenceCost | None) -> bool:
        """Whether a model of ``cost`` fits (an unmeasured one fits no limit)."""
        if not self.limited:
            return True
        if cost is None:
            return False
        return ((self.max_latency_ms is None or cost.latency_ms <= self.max_latency_ms)
                and (self.max_params is None or cost.params <= self.max_params))

    def describe(self) -> str:
        parts = []
        if self.max_latency_ms is not None:
            parts.append(f"at most {self.max_latency_ms:g} ms a row")
        if self.max_params is not None:
            parts.append(f"at most {self.max_params:,} params")
        return " and ".join(parts) or "no limit"


#: Above this many training rows, an epoch is ``EPOCH_ROWS`` of them by default (see
#: :attr:`Budget.epoch_rows`). Measured at 64,800 training rows (docs/benchmarks.md):
#: in 600 s, 19 trials and a better model against 7 with whole-table epochs. Smaller
#: tables (diamonds' 38,800 rows among them) keep whole epochs until measured.
SAMPLED_EPOCHS_ABOVE = 50_000
EPOCH_ROWS = 16_384
#: Where a budget does not give ``max_epochs``: a trial trains at most ``MAX_EPOCHS``
#: epochs and at most ``TRIAL_ROWS`` rows in all (300 epochs of an 8,192-row table),
#: so that its learning rate's cosine decay ends within a run the search can give it:
#: with 300 epochs, a 300 s diamonds search's longest trials ran about 120 of them,
#: at two thirds of their starting rate or more (docs/benchmarks.md, "Lever 7").
MAX_EPOCHS = 300
TRIAL_ROWS = MAX_EPOCHS * 8_192


@dataclass(frozen=True, kw_only=True)
class Budget:
    """How much a search may spend.

    Attributes:
        trials: Most trials to run; ``None`` means "until the time budget ends".
        max_epochs: Most epochs one trial trains (ASHA's ``max_t``); ``None``: by the
            table's size (:meth:`epochs_for`), which the search fills in.
        time_budget_s: Wall-clock limit of the whole search in seconds, or ``None``.
        concurrency: Trials trained at once; ``None`` lets Ray fill the free CPUs.
        patience: A trial ends once its validation metric has not improved for this
            many epochs (the scheduler may stop it sooner).
        max_consecutive_failures: Stop the search once this many trials in a row
            failed (a broken space or a hopeless range would otherwise burn the budget).
        worker_retries: Times a trial whose worker process died is restarted from its
            last checkpoint before it counts as failed.
        epoch_rows: Most rows one epoch trains on; ``None``: every row up to
            ``SAMPLED_EPOCHS_ABOVE`` training rows, ``EPOCH_ROWS`` above. On a larger
            table an epoch is the next stretch of a trial's passes over its rows, so
            the scheduler's first rungs judge models that have seen a sample of the
            table, and only the trials that go on see it all (see
            :class:`autokeras_lab.packing.RowStream`).
    """

    trials: int | None = None
    max_epochs: int | None = None
    time_budget_s: float | None = 300.0
    concurrency: int | None = None
    patience: int = 40
    max_consecutive_failures: int = 5
    worker_retries: int = 2
    epoch_rows: int | None = None

    def __post_init__(self) -> None:
        if self.trials is None and self.time_budget_s is None:
            raise ValueError("give a trial count, a time budget, or both")
        check_positive("trials", self.trials)
        check_positive("max_epochs", self.max_epochs)
        check_positive("time_budget_s", self.time_budget_s)
        check_positive("concurrency", self.concurrency)
        check_positive("patience", self.patience)
        check_positive("max_consecutive_failures", self.max_consecutive_failures)
        check_positive("epoch_rows", self.epoch_rows)
        if isinstance(self.worker_retries, bool) or self.worker_retries < 0:
            raise ValueError(f"worker_retries must be 0 or more, got {self.worker_retries!r}")

    def rows_per_epoch(self, fit_rows: int) -> int:
        """The rows an epoch trains on when a model has ``fit_rows`` training rows."""
        if self.epoch_rows is None:
            return fit_rows if fit_rows <= SAMPLED_EPOCHS_ABOVE else EPOCH_ROWS
        return max(1, min(fit_rows, self.epoch_rows))

    def epochs_for(self, epoch_rows: int) -> int:
        """The most epochs a trial trains when an epoch is ``epoch_rows`` rows:
        ``max_epochs`` where it is given, else ``MAX_EPOCHS`` but no more than
        ``TRIAL_ROWS`` rows in all (fewer epochs above 8,192 rows an epoch)."""
        if self.max_epochs is not None:
            return self.max_epochs
        return min(MAX_EPOCHS, math.ceil(TRIAL_ROWS / max(1, epoch_rows)))

    def describe(self) -> str:
        """The budget in words: "42 trials, 300 epochs max, 300 s budget"."""
        parts = [f"{self.trials} trials"] if self.trials is not None else []
        parts.append(f"{self.max_epochs} epochs max" if self.max_epochs is not None
                     else f"up to {MAX_EPOCHS} epochs (fewer on a large table)")
        if self.time_budget_s is not None:
            parts.append(f"{self.time_budget_s:.0f} s budget")
        return ", ".join(parts)


def check_positive(name: str, value: float | None) -> None:
    """Refuse a setting that must be a positive number (``None``: not set)."""
    if value is not None and (isinstance(value, bool) or value <= 0):
        raise ValueError(f"{name} must be a positive number, got {value!r}")


def check_constraint(column: str, kind: type[StrEnum]) -> str:
    """The SQL CHECK that holds a text column to an enum's values."""
    values = ", ".join(f"'{member.value}'" for member in kind)
    return f"CHECK ({column} IN ({values}))"


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
        rows_seen: Where an epoch is a sample of the table: the distinct training
            rows (of each fold model) its epochs have covered, the fidelity its
            results come from; ``None``: every row, each epoch.
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
    worker: WorkerInfo | None = None
    rows_seen: int | None = None

    def to_result(self) -> dict[str, Any]:
        """The dict handed to ``ray.tune.report`` (plain values only)."""
        return asdict(self)

    @classmethod
    def from_result(cls, result: Mapping[str, Any]) -> TrialReport:
        """A report back from a Ray Tune result (Tune's own keys left out)."""
        names = {f.name for f in fields(cls)}
        values = {key: value for key, value in result.items() if key in names}
        if isinstance(values.get("worker"), Mapping):
            values["worker"] = WorkerInfo(**values["worker"])
        return cls(**values)

    @classmethod
    def failed(cls, *, epoch: int, reason: str, direction: Direction) -> TrialReport:
        """The last report of a trial that failed by itself."""
        return cls(epoch=epoch, best_val_metric=direction.worst, finished=True,
                   failure=reason)
