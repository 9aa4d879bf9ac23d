"""Finding the search to resume, and putting its Ray Tune state back in place."""

from __future__ import annotations

from pathlib import Path

from autokeras_lab.errors import UserError
from autokeras_lab.layout import RunsLayout
from autokeras_lab.leaderboard import Leaderboard, SearchRecord, find_search
from autokeras_lab.search._run import driver_alive
from autokeras_lab.search._state import restore_snapshot


def find_resumable(
    runs_dir: Path, experiment: str | None, search_id: str | None
) -> tuple[Leaderboard, SearchRecord]:
    """The search to resume: the one named, or the experiment's latest unfinished one.

    Raises:
        UserError: no such search, it finished, or its driver still runs.
    """
    board, record = find_search(runs_dir, experiment, search_id, unfinished=True)
    if not record.status.resumable:
        raise UserError(
            f"search {record.search_id} is {record.status}, not interrupted, so there is "
            "nothing to resume; start a new search (--warm-start reuses its results)"
        )
    if record.driver is not None and driver_alive(record.driver):
        raise UserError(
            f"search {record.search_id} is still running (process "
            f"{record.driver.pid}); stop it first or wait for it"
        )
    return board, record


def restore_tune_state(layout: RunsLayout, record: SearchRecord) -> None:
    """Put the driver's whole copy of the search's Ray Tune state in place of Tune's
    own, which may be half written (a kill during its background copy; see
    :mod:`._state`).

    Raises:
        UserError: the search left no Tune state to resume from.
    """
    from ray import tune

    tune_dir = layout.tune_dir(record.experiment, record.search_id,
                               storage=record.cluster.storage)
    restore_snapshot(layout.tune_snapshots(record.experiment, record.search_id), tune_dir)
    if not tune.Tuner.can_restore(tune_dir):
        raise UserError(
            f"search {record.search_id} left no Ray Tune state under {tune_dir} to resume "
            "from; start a new search (--warm-start reuses its results)"
        )
