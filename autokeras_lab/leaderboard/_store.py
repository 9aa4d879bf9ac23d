"""The leaderboard's SQLite file: its schema, its migrations and its queries.

The file uses WAL journaling and a busy timeout, so a report can read while a search
writes and two searches can share one file. Records go in and come out as the plain
dataclasses of :mod:`._records`.
"""

from __future__ import annotations

import json
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, fields
from pathlib import Path
from typing import Any

from autokeras_lab.errors import UserError
from autokeras_lab.layout import RunsLayout
from autokeras_lab.leaderboard._records import (
    DriverRecord,
    EnsembleRecord,
    RetrainRecord,
    SearchKey,
    SearchRecord,
    TrialRecord,
    rank_trials,
)
from autokeras_lab.types import (
    Direction,
    RetrainKind,
    SearchStatus,
    TrialStatus,
    WorkerInfo,
    check_constraint,
)

__all__ = ["Leaderboard", "find_search"]

SCHEMA_VERSION = 1
#: What a search record keeps beside the experiment's own settings, in the same JSON
#: column (so files written before these were typed read the same).
_SEARCH_EXTRAS = ("driver", "cluster", "warm_start")

_SCHEMA = f"""
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
    status TEXT NOT NULL {check_constraint('status', SearchStatus)},
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
    status TEXT NOT NULL {check_constraint('status', TrialStatus)},
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
    metrics TEXT NOT NULL DEFAULT '{{}}',
    worker TEXT,
    checkpoint_path TEXT,
    retries INTEGER NOT NULL DEFAULT 0,
    params INTEGER,
    latency_ms REAL,
    rows_per_s REAL,
    rows_seen INTEGER,
    PRIMARY KEY (search_id, trial_id)
);
CREATE INDEX IF NOT EXISTS trials_by_experiment ON trials (experiment, best_val);
CREATE TABLE IF NOT EXISTS retrains (
    retrain_id TEXT NOT NULL,
    experiment TEXT NOT NULL,
    kind TEXT NOT NULL {check_constraint('kind', RetrainKind)},
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
    metrics TEXT NOT NULL DEFAULT '{{}}',
    exported INTEGER NOT NULL DEFAULT 0,
    created_at REAL NOT NULL,
    params INTEGER,
    latency_ms REAL,
    rows_per_s REAL
);
"""


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


_JSON_COLUMNS = {"config", "curve", "members", "metrics", "settings", "space_config",
                 "split_sizes", "worker"}


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
        status: SearchStatus,
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

    def reopen_search(self, search_id: str, *, driver: DriverRecord) -> None:
        """Mark an interrupted search as running again, by the process ``driver``."""
        with self._connect() as db:
            row = db.execute(
                "SELECT settings FROM searches WHERE search_id = ?", (search_id,)
            ).fetchone()
            settings = json.loads(row["settings"]) | {"driver": asdict(driver)}
            db.execute(
                "UPDATE searches SET status = ?, finished_at = NULL, settings = ?"
                " WHERE search_id = ?",
                (SearchStatus.RUNNING, json.dumps(settings), search_id),
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

    def set_costs(self, search_id: str, costs: dict[str, dict[str, Any]]) -> None:
        """Store what trials' models cost to run: by trial id, ``params``,
        ``latency_ms`` and ``rows_per_s`` (see :func:`cost_fields`; ``None`` where not
        measured)."""
        with self._connect() as db:
            db.executemany(
                "UPDATE trials SET params = ?, latency_ms = ?, rows_per_s = ?"
                " WHERE search_id = ? AND trial_id = ?",
                [(c["params"], c["latency_ms"], c["rows_per_s"], search_id, trial_id)
                 for trial_id, c in costs.items()],
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
            searches = [s for s in searches if s.status.resumable]
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
        statuses: tuple[TrialStatus, ...] | None = None,
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
        if isinstance(record, SearchRecord):
            values["settings"] = values["settings"] | {
                key: values.pop(key) for key in _SEARCH_EXTRAS}
        for key in _JSON_COLUMNS & values.keys():
            values[key] = json.dumps(values[key])
        names = ", ".join(values)
        marks = ", ".join("?" * len(values))
        verb = "INSERT OR REPLACE" if replace else "INSERT"
        with self._connect() as db:
            db.execute(f"{verb} INTO {table} ({names}) VALUES ({marks})", tuple(values.values()))


def _migrate(db: sqlite3.Connection) -> None:
    """Bring a file written by an earlier version up to date (columns only added; a
    trial's worker, once kept under ``metrics``, is read from there by :func:`_decode`)."""
    columns = {row[1] for row in db.execute("PRAGMA table_info(trials)")}
    if "retries" not in columns:
        db.execute("ALTER TABLE trials ADD COLUMN retries INTEGER NOT NULL DEFAULT 0")
    if "worker" not in columns:
        db.execute("ALTER TABLE trials ADD COLUMN worker TEXT")
    for table in ("trials", "ensembles"):  # what models cost to run (0.3)
        have = {row[1] for row in db.execute(f"PRAGMA table_info({table})")}
        for column, kind in (("params", "INTEGER"), ("latency_ms", "REAL"),
                             ("rows_per_s", "REAL")):
            if column not in have:
                db.execute(f"ALTER TABLE {table} ADD COLUMN {column} {kind}")
    if "rows_seen" not in columns:  # the fidelity of a sampled-epoch result (0.4)
        db.execute("ALTER TABLE trials ADD COLUMN rows_seen INTEGER")


def _decode(cls: type, row: sqlite3.Row) -> Any:
    names = {f.name for f in fields(cls)}
    columns = row.keys()  # a Row iterates over its values, not its column names
    values = {key: row[key] for key in columns if key in names}
    for key in _JSON_COLUMNS & values.keys():
        values[key] = None if values[key] is None else json.loads(values[key])
    if cls is SearchRecord:
        settings = values["settings"]
        values.update({key: settings.pop(key) for key in _SEARCH_EXTRAS if key in settings})
        if values.get("cluster") is None:
            values.pop("cluster", None)
        values["split_sizes"] = {"folds": int(settings.get("cv") or 1), "train": 0, "val": 0,
                                 "test": 0} | values["split_sizes"]
    if cls is TrialRecord:
        older = values["metrics"].pop("worker", None)  # where files before 0.2 kept it
        if values.get("worker") is None and older:
            values["worker"] = WorkerInfo(**older)
    return cls(**values)
