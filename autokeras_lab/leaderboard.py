"""The persistent leaderboard: one SQLite file holding every trial of every search.

Schema (see docs/leaderboard.md): a ``searches`` table, one row per search, and a
``trials`` table, one row per finished trial keyed by ``(search_id, trial_id)``.
Configurations, curves and settings are JSON text columns, so a row is readable with
nothing but ``sqlite3``. The file uses WAL journaling and a busy timeout, so a report
can read while a search writes and two searches can share one file.

Only plain dataclasses go in and out; no Ray or Optuna objects reach the store.

Example:
    >>> import tempfile, pathlib
    >>> from autokeras_lab.leaderboard import Leaderboard
    >>> from autokeras_lab.types import Direction
    >>> board = Leaderboard(pathlib.Path(tempfile.mkdtemp()) / "leaderboard.db")
    >>> board.trials("concrete", direction=Direction.MIN)
    []
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from autokeras_lab.errors import UserError
from autokeras_lab.layout import RunsLayout
from autokeras_lab.types import Direction, TrialStatus

__all__ = [
    "RESUMABLE",
    "STATUSES",
    "EnsembleRecord",
    "Leaderboard",
    "RetrainRecord",
    "SearchKey",
    "SearchRecord",
    "TrialRecord",
    "find_search",
    "rank_trials",
]

STATUSES = tuple(status.value for status in TrialStatus)
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS searches (
    search_id TEXT PRIMARY KEY,
    experiment TEXT NOT NULL,
    dataset TEXT NOT NULL,
    data_fingerprint TEXT NOT NULL,
    space TEXT NOT NULL,
    metric TEXT NOT NULL,
    direction TEXT NOT NULL,
    seed INTEGER NOT NULL,
    status TEXT NOT NULL,
    started_at REAL NOT NULL,
    finished_at REAL,
    wall_seconds REAL,
    command TEXT NOT NULL,
    settings TEXT NOT NULL,
    space_config TEXT NOT NULL,
    split_sizes TEXT NOT NULL,
    best_trial_id TEXT,
    export_dir TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    search_id TEXT NOT NULL REFERENCES searches(search_id),
    trial_id TEXT NOT NULL,
    experiment TEXT NOT NULL,
    number INTEGER NOT NULL,
    config TEXT NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('completed', 'stopped_early', 'failed')),
    failure_reason TEXT,
    best_val REAL,
    best_epoch INTEGER,
    epochs INTEGER NOT NULL,
    curve TEXT NOT NULL,
    started_at REAL,
    finished_at REAL,
    wall_seconds REAL,
    train_seconds REAL,
    seed INTEGER,
    test_metric REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    checkpoint_path TEXT,
    retries INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (search_id, trial_id)
);
CREATE INDEX IF NOT EXISTS trials_by_experiment ON trials (experiment, best_val);
CREATE TABLE IF NOT EXISTS retrains (
    retrain_id TEXT NOT NULL,
    experiment TEXT NOT NULL,
    kind TEXT NOT NULL CHECK (kind IN ('run', 'single', 'ensemble', 'finetune')),
    source_search_id TEXT,
    source_trial_id TEXT,
    config TEXT NOT NULL,
    seed INTEGER,
    epochs INTEGER,
    metrics TEXT NOT NULL,
    model_dir TEXT,
    created_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS ensembles (
    search_id TEXT PRIMARY KEY REFERENCES searches(search_id),
    experiment TEXT NOT NULL,
    members TEXT NOT NULL,
    best_val REAL NOT NULL,
    single_val REAL NOT NULL,
    test_metric REAL,
    metrics TEXT NOT NULL DEFAULT '{}',
    exported INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL
);
"""


RESUMABLE = ("running", "interrupted")


def find_search(
    runs_dir: Path, experiment: str | None, search_id: str | None = None, *,
    unfinished: bool = False,
) -> tuple[Leaderboard, SearchRecord]:
    """The one way to find a search on the leaderboard under ``runs_dir``: the one
    named by ``search_id``, else the experiment's latest (``unfinished``: its latest
    that is still running or was interrupted). Returns the leaderboard and the search.

    Raises:
        UserError: no leaderboard file, no such search, or none of the experiment;
            the message says what exists and what to run.
    """
    path = RunsLayout(Path(runs_dir)).leaderboard
    if not path.is_file():
        raise UserError(
            f"no leaderboard at {path}; run `python -m autokeras_lab search "
            f"{experiment or 'EXPERIMENT'}` first or pass --runs-dir"
        )
    board = Leaderboard(path)
    return board, board.find(experiment, search_id, unfinished=unfinished)


@dataclass(frozen=True, kw_only=True)
class SearchRecord:
    """One search: what ran, on what data, with which settings, and how it ended."""

    search_id: str
    experiment: str
    dataset: str
    data_fingerprint: str
    space: str
    metric: str
    direction: Direction
    seed: int
    status: str
    started_at: float
    command: str
    settings: dict[str, Any]
    space_config: dict[str, Any]
    split_sizes: dict[str, int]
    finished_at: float | None = None
    wall_seconds: float | None = None
    best_trial_id: str | None = None
    export_dir: str | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "direction", Direction(self.direction))

    @property
    def key(self) -> SearchKey:
        return SearchKey(experiment=self.experiment, fingerprint=self.data_fingerprint,
                         space=self.space, metric=self.metric)


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
        metrics: Every metric of the task at the best epoch, ``{"val": {...}}``,
            ``"test"`` once the model was evaluated on the held-out split, and
            ``"worker"``: the process that trained it and its resident memory (MiB).
        retries: Times the trial was restarted from its checkpoint after its worker
            process died.
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
    checkpoint_path: str | None = None
    retries: int = 0

    def __post_init__(self) -> None:
        if self.status not in STATUSES:
            raise ValueError(f"status must be one of {STATUSES}, got {self.status!r}")
        object.__setattr__(self, "status", TrialStatus(self.status))


def rank_trials(trials: Iterable[TrialRecord], direction: Direction) -> list[TrialRecord]:
    """Trials best first by their validation metric in ``direction`` (ties: the one
    that finished first); trials without a metric (failed ones) last."""
    return sorted(
        trials, key=lambda t: (Direction(direction).key(t.best_val), t.finished_at or 0.0)
    )


@dataclass(frozen=True, kw_only=True)
class RetrainRecord:
    """One retraining result: a ``run`` (one configuration, one seed, on train +
    validation), the exported ``single`` best model or ``ensemble``, or a ``finetune``
    of an exported model on new rows. ``metrics`` are held-out test metrics (for
    ``single`` and ``ensemble`` also the mean and std over seeds of their runs)."""

    retrain_id: str
    experiment: str
    kind: str
    config: dict[str, Any]
    metrics: dict[str, Any]
    created_at: float
    source_search_id: str | None = None
    source_trial_id: str | None = None
    seed: int | None = None
    epochs: int | None = None
    model_dir: str | None = None


@dataclass(frozen=True, kw_only=True)
class EnsembleRecord:
    """The ensemble a search selected from its trials (see :mod:`autokeras_lab.ensemble`).

    Attributes:
        members: Trial id to weight (the weights sum to 1), heaviest first.
        best_val: The ensemble's validation metric on the rows it was selected on
            (with ``--cv``: all out-of-fold rows).
        single_val: The best single trial's value on the same rows, the same way.
        metrics: ``{"val": {...}, "test": {...}}``, like a trial's.
        exported: Whether it beat the best single trial and became the search's model.
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

    def __post_init__(self) -> None:
        object.__setattr__(self, "exported", bool(self.exported))


_JSON_COLUMNS = {"config", "curve", "members", "metrics", "settings", "space_config",
                 "split_sizes"}


class Leaderboard:
    """A SQLite leaderboard file; created with its schema on first use."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._connect() as db:
            db.executescript(_SCHEMA)
            _migrate(db)
            db.execute(
                "INSERT OR IGNORE INTO meta (key, value) VALUES ('schema_version', ?)",
                (str(SCHEMA_VERSION),),
            )

    @contextmanager
    def _connect(self) -> Iterator[sqlite3.Connection]:
        db = sqlite3.connect(self.path, timeout=30.0)
        try:
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA busy_timeout=30000")
            db.row_factory = sqlite3.Row
            with db:  # one transaction: committed on success, rolled back on error
                yield db
        finally:
            db.close()

    def start_search(self, record: SearchRecord) -> None:
        self._insert("searches", record, replace=False)

    def finish_search(
        self,
        search_id: str,
        *,
        status: str,
        best_trial_id: str | None = None,
        export_dir: str | None = None,
    ) -> None:
        now = time.time()
        with self._connect() as db:
            db.execute(
                "UPDATE searches SET status = ?, finished_at = ?, wall_seconds = ? - started_at,"
                " best_trial_id = COALESCE(?, best_trial_id), export_dir = COALESCE(?, export_dir)"
                " WHERE search_id = ?",
                (status, now, now, best_trial_id, export_dir, search_id),
            )

    def reopen_search(self, search_id: str, *, driver: dict[str, Any]) -> None:
        """Mark an interrupted search as running again, by the process ``driver``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT settings FROM searches WHERE search_id = ?", (search_id,)
            ).fetchone()
            settings = json.loads(row["settings"]) | {"driver": driver}
            db.execute(
                "UPDATE searches SET status = 'running', finished_at = NULL, settings = ?"
                " WHERE search_id = ?",
                (json.dumps(settings), search_id),
            )

    def record_trial(self, record: TrialRecord) -> None:
        """Insert or replace a trial (a resumed trial replaces its earlier row)."""
        self._insert("trials", record, replace=True)

    def set_test_metrics(
        self, search_id: str, trial_id: str, test: dict[str, float], *, main: str
    ) -> None:
        """Store a trial's held-out test metrics (``main`` goes to ``test_metric``)."""
        with self._connect() as db:
            row = db.execute(
                "SELECT metrics FROM trials WHERE search_id = ? AND trial_id = ?",
                (search_id, trial_id),
            ).fetchone()
            metrics = json.loads(row["metrics"]) if row else {}
            metrics["test"] = test
            db.execute(
                "UPDATE trials SET test_metric = ?, metrics = ?"
                " WHERE search_id = ? AND trial_id = ?",
                (test[main], json.dumps(metrics), search_id, trial_id),
            )

    def record_retrain(self, record: RetrainRecord) -> None:
        self._insert("retrains", record, replace=False)

    def record_ensemble(self, record: EnsembleRecord) -> None:
        """Store a search's ensemble (a resumed search replaces its earlier one)."""
        self._insert("ensembles", record, replace=True)

    def ensembles(
        self, experiment: str, *, search_id: str | None = None, direction: Direction
    ) -> list[EnsembleRecord]:
        """The ensembles an experiment's searches selected (or search ``search_id``'s),
        best first in ``direction``."""
        query, args = "SELECT * FROM ensembles WHERE experiment = ?", [experiment]
        if search_id is not None:
            query += " AND search_id = ?"
            args.append(search_id)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        found = [_decode(EnsembleRecord, row) for row in rows]
        return sorted(found, key=lambda e: Direction(direction).key(e.best_val))

    def retrains(self, experiment: str) -> list[RetrainRecord]:
        with self._connect() as db:
            rows = db.execute(
                "SELECT * FROM retrains WHERE experiment = ? ORDER BY created_at", (experiment,)
            ).fetchall()
        return [_decode(RetrainRecord, row) for row in rows]

    def searches(
        self, experiment: str | None = None, *, like: SearchKey | None = None
    ) -> list[SearchRecord]:
        """Searches, oldest first: all, an experiment's, or those whose values are
        comparable with ``like``'s (same experiment, data, space and metric)."""
        wanted = {"experiment": experiment}
        if like is not None:
            wanted = {"experiment": like.experiment, "data_fingerprint": like.fingerprint,
                      "space": like.space, "metric": like.metric}
        given = {column: value for column, value in wanted.items() if value is not None}
        where = " AND ".join(f"{column} = ?" for column in given)
        query = "SELECT * FROM searches" + (f" WHERE {where}" if where else "")
        with self._connect() as db:
            rows = db.execute(query + " ORDER BY started_at", tuple(given.values())).fetchall()
        return [_decode(SearchRecord, row) for row in rows]

    def find(
        self, experiment: str | None, search_id: str | None = None, *, unfinished: bool = False
    ) -> SearchRecord:
        """See :func:`find_search`."""
        searches = self.searches(experiment)
        if search_id is not None:
            for search in searches:
                if search.search_id == search_id:
                    return search
            raise UserError(
                f"no search {search_id!r} "
                + (f"in experiment {experiment!r}" if experiment else f"in {self.path}")
                + f"; searches: {', '.join(s.search_id for s in searches) or '(none)'}"
            )
        if unfinished:
            searches = [s for s in searches if s.status in RESUMABLE]
            if not searches:
                raise UserError(
                    f"no interrupted search of experiment {experiment!r} in {self.path} to "
                    "resume; start a new search without --resume"
                )
        if not searches:
            raise UserError(
                f"no searches of experiment {experiment!r} in {self.path}; experiments "
                f"there: {', '.join(self.experiments()) or '(none)'}"
            )
        return searches[-1]

    def experiments(self) -> list[str]:
        with self._connect() as db:
            rows = db.execute("SELECT DISTINCT experiment FROM searches ORDER BY 1").fetchall()
        return [row[0] for row in rows]

    def trials(
        self,
        experiment: str,
        *,
        search_id: str | None = None,
        statuses: tuple[str, ...] | None = None,
        direction: Direction,
    ) -> list[TrialRecord]:
        """Trials of an experiment, best first in ``direction`` (failed ones last; see
        :func:`rank_trials`)."""
        query = "SELECT * FROM trials WHERE experiment = ?"
        args: list[Any] = [experiment]
        if search_id is not None:
            query += " AND search_id = ?"
            args.append(search_id)
        if statuses:
            query += f" AND status IN ({', '.join('?' * len(statuses))})"
            args.extend(statuses)
        with self._connect() as db:
            rows = db.execute(query, args).fetchall()
        return rank_trials((_decode(TrialRecord, row) for row in rows), direction)

    def _insert(self, table: str, record: Any, *, replace: bool) -> None:
        values = asdict(record)
        for key in _JSON_COLUMNS & values.keys():
            values[key] = json.dumps(values[key])
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        with self._connect() as db:
            db.execute(f"{verb} INTO {table} ({names}) VALUES ({marks})", tuple(values.values()))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file written by an earlier version up to date (columns only added)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    if "retries" not in columns:
        db.execute("ALTER TABLE trials ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")


def _decode(cls: type, row: sqlite3.Row) -> Any:
    names = {f.name for f in fields(cls)}
    columns = row.keys()  # a Row iterates over its values, not its column names
    values = {key: row[key] for key in columns if key in names}
    for key in _JSON_COLUMNS & values.keys():
        values[key] = json.loads(values[key])
    return cls(**values)
