"""The persistent leaderboard: one SQLite file holding every trial of every search.

Schema (see docs/leaderboard.md): a ``searches`` table, one row per search, and a
``trials`` table, one row per finished trial keyed by ``(search_id, trial_id)``;
``retrains`` and ``ensembles`` beside them. Configurations, curves and settings are
JSON text columns, so a row is readable with nothing but ``sqlite3``; statuses and
kinds are held to their enums' values by CHECK constraints.

:mod:`._records` holds the records (plain frozen dataclasses, the only things that go
in and come out), :mod:`._store` the file and its queries.

Example:
    >>> import tempfile, pathlib
    >>> from autokeras_lab.leaderboard import Leaderboard
    >>> from autokeras_lab.types import Direction
    >>> board = Leaderboard(pathlib.Path(tempfile.mkdtemp()) / "leaderboard.db")
    >>> board.trials("concrete", direction=Direction.MIN)
    []
"""

from autokeras_lab.leaderboard._records import (
    ClusterRecord,
    DriverRecord,
    EnsembleRecord,
    RetrainRecord,
    SearchKey,
    SearchRecord,
    TrialRecord,
    WarmStartRecord,
    cost_fields,
    rank_trials,
)
from autokeras_lab.leaderboard._store import Leaderboard, find_search

__all__ = [
    "ClusterRecord",
    "DriverRecord",
    "EnsembleRecord",
    "Leaderboard",
    "RetrainRecord",
    "SearchKey",
    "SearchRecord",
    "TrialRecord",
    "WarmStartRecord",
    "cost_fields",
    "find_search",
    "rank_trials",
]
