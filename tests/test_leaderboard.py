from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.types import Direction
from tests.helpers import search, trial


def test_trials_survive_the_process_and_rank_best_first(tmp_path: Path) -> None:
    path = tmp_path / "leaderboard.db"
    board = Leaderboard(path)
    board.start_search(search())
    board.record_trial(trial("a", 6.0))
    board.record_trial(trial("b", 5.0, status="stopped_early"))
    board.record_trial(trial("c", None, status="failed", failure_reason="loss became nan"))
    board.set_test_metrics("s1", "b", {"rmse": 5.5, "mae": 4.0}, main="rmse")
    board.finish_search("s1", status="completed", best_trial_id="b")

    reopened = Leaderboard(path)  # a new process would see the same
    ranked = reopened.trials("concrete", direction=Direction.MIN)
    assert [t.trial_id for t in ranked] == ["b", "a", "c"]
    assert ranked[0].test_metric == 5.5 and ranked[0].curve == [9.0, 7.5, 5.0]
    assert ranked[0].metrics["test"] == {"rmse": 5.5, "mae": 4.0}
    assert ranked[0].config == {"units_0": 16, "learning_rate": 0.01}
    assert ranked[2].failure_reason == "loss became nan"
    [stored] = reopened.searches("concrete")
    assert stored.status == "completed" and stored.best_trial_id == "b"
    assert stored.wall_seconds is not None and stored.settings == {"a": 1}
    assert [t.trial_id for t in reopened.trials("concrete", statuses=("failed",), direction=Direction.MIN)] == ["c"]


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
    with pytest.raises(ValueError, match="status must be one of"):
        trial("x", 1.0, status="weird")


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
    board.record_trial(trial("b", 5.0, status="stopped_early", search_id="s1"))
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
