"""The leaderboard's records: plain frozen dataclasses, the only things that go into
the store and come out of it (no Ray or Optuna objects).

A search's ``settings`` are the experiment as it ran; what a search also needs to know
about where and how it ran (its driver, its cluster, what a warm start told it) are
typed records beside them, not keys to dig out of the settings.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from autokeras_lab.types import (
    Budget,
    Direction,
    InferenceCost,
    RetrainKind,
    SearchStatus,
    SplitSizes,
    TrialStatus,
    WorkerInfo,
)

__all__ = [
    "ClusterRecord",
    "DriverRecord",
    "EnsembleRecord",
    "RetrainRecord",
    "SearchKey",
    "SearchRecord",
    "TrialRecord",
    "WarmStartRecord",
    "cost_fields",
    "rank_trials",
]


@dataclass(frozen=True, kw_only=True)
class DriverRecord:
    """The process that drives a search (a resume refuses while it still runs)."""

    pid: int
    host: str


@dataclass(frozen=True, kw_only=True)
class ClusterRecord:
    """Where a search's checkpoints live and each trial's GPU share; a resumed search
    keeps both (the address it joins may change)."""

    storage: str | None = None
    gpus_per_trial: float = 0.0


@dataclass(frozen=True, kw_only=True)
class WarmStartRecord:
    """What a warm start told a search: the earlier searches it read, how many of
    their trials the sampler was told, how many of their best configurations were
    proposed first, and the notes printed about it."""

    searches: tuple[str, ...] = ()
    told: int = 0
    first: int = 0
    notes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        object.__setattr__(self, "searches", tuple(self.searches))
        object.__setattr__(self, "notes", tuple(self.notes))


def _typed(kind: type, value: Any) -> Any:
    """A record from its stored JSON form (a dict), or the record itself."""
    return kind(**value) if isinstance(value, Mapping) else value


@dataclass(frozen=True, kw_only=True)
class SearchRecord:
    """One search: what ran, on what data, with which settings, and how it ended.

    Attributes:
        settings: The experiment as it ran (``Experiment.settings()``).
        driver: The process that drives it (the latest, after a resume).
        cluster: Its checkpoint storage and GPU share.
        warm_start: What a warm start told it, if it was warm-started.
        split_sizes: Rows in train / validation / test, and the folds of a bag.
    """

    search_id: str
    experiment: str
    dataset: str
    data_fingerprint: str
    space: str
    metric: str
    direction: Direction
    seed: int
    status: SearchStatus
    started_at: float
    command: str
    settings: dict[str, Any]
    space_config: dict[str, Any]
    split_sizes: SplitSizes
    driver: DriverRecord | None = None
    cluster: ClusterRecord = field(default_factory=ClusterRecord)
    warm_start: WarmStartRecord | None = None
    finished_at: float | None = None
    wall_seconds: float | None = None
    best_trial_id: str | None = None
    export_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))
        object.__setattr__(self, "status", SearchStatus(self.status))
        object.__setattr__(self, "split_sizes", _typed(SplitSizes, self.split_sizes))
        object.__setattr__(self, "driver", _typed(DriverRecord, self.driver))
        object.__setattr__(self, "cluster", _typed(ClusterRecord, self.cluster))
        object.__setattr__(self, "warm_start", _typed(WarmStartRecord, self.warm_start))

    @property
    def key(self) -> SearchKey:
        return SearchKey(experiment=self.experiment, fingerprint=self.data_fingerprint,
                         space=self.space, metric=self.metric)

    @property
    def budget(self) -> Budget | None:
        """The budget it ran on (``None`` for a record that stored none)."""
        stored = self.settings.get("budget")
        return Budget(**stored) if stored else None


@dataclass(frozen=True, kw_only=True)
class SearchKey:
    """What makes the trial values of two searches comparable: the same experiment,
    data (its fingerprint), search space and metric."""

    experiment: str
    fingerprint: str
    space: str
    metric: str


@dataclass(frozen=True, kw_only=True)
class TrialRecord:
    """One finished trial.

    Attributes:
        status: ``completed`` (trained to its end or its patience ran out),
            ``stopped_early`` (the scheduler or the time budget stopped it) or ``failed`` (see
            ``failure_reason``).
        best_val: Best validation metric over its epochs (``None`` if it failed first).
        curve: The validation metric after every epoch.
        test_metric: Held-out test value of the search's metric, filled in only for
            ranked models.
        metrics: Every metric of the task at the best epoch, ``{"val": {...}}`` (with
            cross-validation also ``"val_std"``), and ``"test"`` once the model was
            evaluated on the held-out split.
        worker: The process that trained it, its node and its resident memory.
        retries: Times the trial was restarted from its checkpoint after its worker
            process died.
        params, latency_ms, rows_per_s: What its model (its bag with folds) costs to
            run, measured on the driver once the search ends (see :attr:`cost`).
        rows_seen: On a table large enough that an epoch is a sample of it, the
            distinct training rows its model saw by its last epoch: the fidelity its
            result comes from (``None``: every row, each epoch).
    """

    search_id: str
    trial_id: str
    experiment: str
    number: int
    config: dict[str, Any]
    status: TrialStatus
    epochs: int
    curve: list[float] = field(default_factory=list)
    failure_reason: str | None = None
    best_val: float | None = None
    best_epoch: int | None = None
    started_at: float | None = None
    finished_at: float | None = None
    wall_seconds: float | None = None
    train_seconds: float | None = None
    seed: int | None = None
    test_metric: float | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    worker: WorkerInfo | None = None
    checkpoint_path: str | None = None
    retries: int = 0
    params: int | None = None
    latency_ms: float | None = None
    rows_per_s: float | None = None
    rows_seen: int | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "status", TrialStatus(self.status))
        object.__setattr__(self, "worker", _typed(WorkerInfo, self.worker))

    @property
    def cost(self) -> InferenceCost | None:
        """Its model's measured cost, or ``None`` before it was measured."""
        return _cost(self.params, self.latency_ms, self.rows_per_s)


def rank_trials(trials: Iterable[TrialRecord], direction: Direction) -> list[TrialRecord]:
    """Trials best first by their validation metric in ``direction`` (ties: the one
    that finished first); trials without a metric (failed ones) last."""
    return sorted(
        trials, key=lambda t: (Direction(direction).key(t.best_val), t.finished_at or 0.0)
    )


@dataclass(frozen=True, kw_only=True)
class RetrainRecord:
    """One retraining result (see :class:`~autokeras_lab.types.RetrainKind`).
    ``metrics`` are held-out test metrics (for ``single`` and ``ensemble`` also the
    mean and std over seeds of their runs)."""

    retrain_id: str
    experiment: str
    kind: RetrainKind
    config: dict[str, Any]
    metrics: dict[str, Any]
    created_at: float
    source_search_id: str | None = None
    source_trial_id: str | None = None
    seed: int | None = None
    epochs: int | None = None
    model_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", RetrainKind(self.kind))


@dataclass(frozen=True, kw_only=True)
class EnsembleRecord:
    """The ensemble a search selected from its trials (see :mod:`autokeras_lab.ensemble`).

    Attributes:
        members: Trial id to weight (the weights sum to 1), heaviest first.
        best_val: The ensemble's validation metric on the rows it was selected on
            (with ``--cv``: all out-of-fold rows).
        single_val: The best single trial's value on the same rows, the same way.
        metrics: ``{"val": {...}, "test": {...}}``, like a trial's.
        exported: Whether it beat the best single trial (``best_val`` against
            ``single_val``, its calibration included) and became the search's model.
        params, latency_ms, rows_per_s: What it costs to run (see :attr:`cost`).
    """

    search_id: str
    experiment: str
    members: dict[str, float]
    best_val: float
    single_val: float
    created_at: float
    test_metric: float | None = None
    metrics: dict[str, dict[str, float]] = field(default_factory=dict)
    exported: bool = False
    params: int | None = None
    latency_ms: float | None = None
    rows_per_s: float | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "exported", bool(self.exported))

    @property
    def cost(self) -> InferenceCost | None:
        return _cost(self.params, self.latency_ms, self.rows_per_s)


def cost_fields(cost: InferenceCost | None) -> dict[str, Any]:
    """A cost as the records' ``params``, ``latency_ms`` and ``rows_per_s``."""
    if cost is None:
        return {"params": None, "latency_ms": None, "rows_per_s": None}
    return {"params": cost.params, "latency_ms": cost.latency_ms,
            "rows_per_s": cost.rows_per_s}


def _cost(params: int | None, latency_ms: float | None, rows_per_s: float | None,
          ) -> InferenceCost | None:
    if params is None or latency_ms is None or rows_per_s is None:
        return None
    return InferenceCost(params=int(params), latency_ms=float(latency_ms),
                         rows_per_s=float(rows_per_s))
