from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import pytest

from autokeras_lab.leaderboard import ClusterRecord, DriverRecord, Leaderboard, WarmStartRecord
from autokeras_lab.types import Direction, SearchStatus, SplitSizes, TrialStatus, WorkerInfo
from tests.helpers import search, trial


def test_trials_survive_the_process_and_rank_best_first(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.db"
    board = Leaderboard(path)
    board.start_search(search())
    board.record_trial(trial("a", 6.0))
    board.record_trial(trial("b", 5.0, status=TrialStatus.STOPPED_EARLY))
    board.record_trial(trial("c", None, status=TrialStatus.FAILED, failure_reason="loss became nan"))
    board.set_test_metrics("s1", "b", {"rmse": 5.5, "mae": 4.0}, main="rmse")
    board.finish_search("s1", status=SearchStatus.COMPLETED, best_trial_id="b")

    reopened = Leaderboard(path)  # a new process would see the same
    ranked = reopened.trials("concrete", direction=Direction.MIN)
    assert [t.trial_id for t in ranked] == ["b", "a", "c"]
    assert ranked[0].test_metric == 5.5 and ranked[0].curve == [9.0, 7.5, 5.0]
    assert ranked[0].metrics["test"] == {"rmse": 5.5, "mae": 4.0}
    assert ranked[0].config == {"units_0": 16, "learning_rate": 0.01}
    assert ranked[2].failure_reason == "loss became nan"
    [stored] = reopened.searches("concrete")
    assert stored.status is SearchStatus.COMPLETED and stored.best_trial_id == "b"
    assert stored.wall_seconds is not None and stored.settings == {"a": 1}
    assert [t.trial_id for t in reopened.trials("concrete", statuses=(TrialStatus.FAILED,), direction=Direction.MIN)] == ["c"]


def test_searches_of_an_experiment_are_kept_apart(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "lb.db")
    board.start_search(search("s1"))
    board.start_search(search("s2"))
    board.record_trial(trial("a", 6.0, search_id="s1"))
    board.record_trial(trial("a", 4.0, search_id="s2"))  # same Ray id, other search
    assert len(board.trials("concrete", direction=Direction.MIN)) == 2
    assert [t.best_val for t in board.trials("concrete", search_id="s1", direction=Direction.MIN)] == [6.0]
    assert board.experiments() == ["concrete"]


def test_status_is_checked_before_anything_is_written(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="'weird' is not a valid TrialStatus"):
        trial("x", 1.0, status="weird")  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("table", "statement"),
    [("searches", "UPDATE searches SET status = 'paused'"),
     ("trials", "UPDATE trials SET status = 'finished'"),
     ("retrains", "INSERT INTO retrains (retrain_id, experiment, kind, config, metrics, "
                  "created_at) VALUES ('r', 'concrete', 'rerun', '{}', '{}', 1.0)")],
    ids=["search-status", "trial-status", "retrain-kind"],
)
def test_the_file_refuses_a_status_or_kind_outside_its_enum(
    tmp_path: Path, table: str, statement: str
) -> None:
    """A hand-edited or foreign write cannot put a value the records could not read."""
    path = tmp_path / "lb.db"
    board = Leaderboard(path)
    board.start_search(search())
    board.record_trial(trial("a", 1.0))
    with sqlite3.connect(path) as db, pytest.raises(sqlite3.IntegrityError, match="CHECK"):
        db.execute(statement)


def test_driver_cluster_and_warm_start_come_back_typed(tmp_path: Path) -> None:
    board = Leaderboard(tmp_path / "lb.db")
    record = dataclasses.replace(
        search(), driver=DriverRecord(pid=41, host="box"),
        cluster=ClusterRecord(storage="/shared/akl", gpus_per_trial=0.5),
        warm_start=WarmStartRecord(searches=("s0",), told=3, first=1, notes=("used s0",)),
        split_sizes=SplitSizes(train=741, val=186, test=103, folds=5),
    )
    board.start_search(record)
    board.reopen_search("s1", driver=DriverRecord(pid=42, host="box"))
    [stored] = board.searches("concrete")
    assert stored.driver == DriverRecord(pid=42, host="box")
    assert stored.cluster == ClusterRecord(storage="/shared/akl", gpus_per_trial=0.5)
    assert stored.warm_start == record.warm_start
    assert stored.split_sizes == record.split_sizes
    assert stored.settings == {"a": 1}  # the experiment's own settings, nothing else


def test_a_trial_worker_stored_under_metrics_by_an_older_version_reads_as_its_own_field(
    tmp_path: Path,
) -> None:
    path = tmp_path / "lb.db"
    board = Leaderboard(path)
    board.start_search(search())
    board.record_trial(trial("a", 1.0))
    with sqlite3.connect(path) as db:
        db.execute("UPDATE trials SET worker = NULL, metrics = ?",
                   ('{"val": {"rmse": 1.0}, "worker": {"pid": 7, "rss_mb": 300.0, '
                    '"node": "n1", "packed": true}}',))
    [stored] = Leaderboard(path).trials("concrete", direction=Direction.MIN)
    assert stored.worker == WorkerInfo(pid=7, rss_mb=300.0, node="n1", packed=True)
    assert stored.metrics == {"val": {"rmse": 1.0}}


def test_file_is_plain_sqlite_in_wal_mode(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    Leaderboard(path).start_search(search())
    with sqlite3.connect(path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert db.execute("SELECT experiment FROM searches").fetchall() == [("concrete",)]


def test_leaderboard_command_filters_by_search_and_status(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import json

    from autokeras_lab.cli import main

    board = Leaderboard(tmp_path / "leaderboard.db")
    board.start_search(search("s1"))
    board.start_search(search("s2"))
    board.record_trial(trial("a", 6.0, search_id="s1"))
    board.record_trial(trial("b", 5.0, status=TrialStatus.STOPPED_EARLY, search_id="s1"))
    board.record_trial(trial("c", 4.0, search_id="s2"))
    base = ["leaderboard", "concrete", "--runs-dir", str(tmp_path), "--format", "json"]

    def ids(*extra: str) -> list[str]:
        assert main([*base, *extra]) == 0
        return [row["trial_id"] for row in json.loads(capsys.readouterr().out)]

    assert ids() == ["c", "b", "a"]
    assert ids("--search", "s1") == ["b", "a"]
    assert ids("--status", "completed") == ["c", "a"]
    assert ids("--search", "s1", "--status", "stopped_early", "--top", "1") == ["b"]
    assert main([*base, "--search", "s9"]) == 2
    assert "no search 's9' in experiment 'concrete'; searches: s1, s2" in capsys.readouterr().err
    assert main(["leaderboard", "granite", "--runs-dir", str(tmp_path)]) == 2
    assert "experiments there: concrete" in capsys.readouterr().err


def test_the_leaderboard_command_fits_100_columns_unless_wide(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autokeras_lab.cli import main

    board = Leaderboard(tmp_path / "leaderboard.db")
    board.start_search(search())
    wide = {f"a_rather_long_hyperparameter_name_{c}": 0.123456 for c in "abcdef"}
    board.record_trial(dataclasses.replace(trial("a", 6.0), config=wide))
    assert main(["leaderboard", "concrete", "--runs-dir", str(tmp_path)]) == 0
    narrow = capsys.readouterr().out.splitlines()
    assert max(map(len, narrow)) <= 100 and "--wide" in narrow[-1]
    assert main(["leaderboard", "concrete", "--runs-dir", str(tmp_path), "--wide"]) == 0
    full = capsys.readouterr().out.splitlines()
    assert max(map(len, full)) > 100 and "a_rather_long_hyperparameter_name_f" in full[0]
