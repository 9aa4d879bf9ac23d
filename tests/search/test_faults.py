"""Faults a long search must survive without losing work: a killed driver (Ctrl-C is
tests/test_tracking.py's), a dead worker, trials that fail by themselves, two searches
on one leaderboard, and a runs directory that cannot take the search. Real Ray, real
training, tiny budgets."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import threading
import time
from pathlib import Path

import pytest

from autokeras_lab import load_experiment, run_search
from autokeras_lab.errors import FatalSearchError, UserError
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.types import Direction
from tests.helpers import (
    assert_complete_and_unique,
    leaderboard_rows,
    parent_pids,
    search_process,
    wait_for_trials,
)

SPACES = Path(__file__).parents[1] / "spaces"


@pytest.mark.slow
@pytest.mark.parametrize("how", ["sigkill", "sigkill-mid-copy"])
def test_a_killed_search_resumes_without_rerunning_or_losing_trials(
    how: str, tmp_path: Path
) -> None:
    """The driver killed (SIGKILL) after two trials, then the same command again with
    ``--resume``. (Ctrl-C and the command it prints: tests/test_tracking.py, whose
    search is tracked in MLflow besides.)"""
    command = ["concrete", "--trials", "4", "--max-epochs", "60", "--seed", "3",
               "--concurrency", "2", "--no-refit"]
    proc = search_process(tmp_path, *command)
    wait_for_trials(tmp_path, 2, proc)
    proc.kill()  # SIGKILL: the driver gets no chance to save anything
    proc.communicate(timeout=60)
    if how == "sigkill-mid-copy":
        # Killed while Ray Tune copied its state to the runs directory: Tune, left to
        # itself, would find the file unreadable and start over.
        state = max((tmp_path / "concrete" / "ray").glob("*/experiment_state-*.json"))
        state.write_bytes(state.read_bytes()[: state.stat().st_size // 2])
    before = leaderboard_rows(tmp_path)
    assert len(before) >= 2

    done = search_process(tmp_path, *command, "--resume")  # up-arrow style
    _, err = done.communicate(timeout=600)
    assert done.returncode == 0, err[-3000:]
    assert "resuming search" in err
    assert_complete_and_unique(tmp_path, 4, err)
    after = leaderboard_rows(tmp_path)
    for trial_id, row in before.items():
        assert after[trial_id] == row  # finished before the fault: kept, not trained again


def _worker_pid(trial_dir: Path) -> int | None:
    results = trial_dir / "result.json"
    if not results.is_file():
        return None
    lines = results.read_text().strip().splitlines()
    return json.loads(lines[-1])["worker"]["pid"] if lines else None


@pytest.mark.slow
def test_a_trial_whose_worker_dies_is_retried_from_its_checkpoint(
    ray_session, tmp_path: Path
) -> None:
    exp = load_experiment("concrete").with_overrides(cv=1,
        trials=1, max_epochs=400, patience=400, concurrency=1, seed=5, refit=False
    )
    killed: list[int] = []

    def kill_the_worker_after_its_first_checkpoint() -> None:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and not killed:
            for trial_dir in (tmp_path / "concrete" / "ray").glob("*/trial_*"):
                pid = _worker_pid(trial_dir)
                if pid and any(trial_dir.glob("checkpoint_*")):
                    os.kill(pid, signal.SIGKILL)
                    killed.append(pid)
            time.sleep(0.05)

    killer = threading.Thread(target=kill_the_worker_after_its_first_checkpoint)
    killer.start()
    result = run_search(exp, runs_dir=tmp_path)
    killer.join()
    assert killed, "the trial ended before the test could kill its worker"
    [trial] = result.trials
    assert trial.status == "completed" and trial.retries == 1
    assert trial.epochs == 400 and len(trial.curve) == 400
    assert trial.worker.pid != killed[0]  # it finished on another worker


@pytest.mark.slow
def test_trials_that_fail_by_themselves_are_recorded_and_the_search_goes_on(
    ray_session, tmp_path: Path
) -> None:
    exp = load_experiment("concrete").with_overrides(  # seed 15 samples all four faults
        cv=1, input_transforms=("standard",), trials=6, max_epochs=5, seed=15,
        space=str(SPACES / "faulty.py"), max_consecutive_failures=10, refit=False,
    )
    result = run_search(exp, runs_dir=tmp_path)
    assert result.status == "completed" and len(result.trials) == 6
    reasons = {t.config["fault"]: t.failure_reason for t in result.trials}
    assert set(reasons) == {"none", "exception", "nan", "huge"}
    assert reasons["none"] is None
    assert "RuntimeError: bug in the search-space module" in reasons["exception"]
    assert "loss became nan" in reasons["nan"]
    assert reasons["huge"].startswith("out of memory: the model needs a tensor of shape")
    for trial in result.trials:
        assert (trial.status == "failed") == (trial.config["fault"] != "none")
    assert result.trials[0].config["fault"] == "none"  # the exported model is a sound one


@pytest.mark.slow
def test_failures_in_a_row_stop_the_search_with_what_to_change(
    ray_session, tmp_path: Path
) -> None:
    exp = load_experiment("concrete").with_overrides(cv=1,
        trials=40, max_epochs=5, space=str(SPACES / "broken.py"), max_consecutive_failures=3,
        concurrency=1,
    )
    with pytest.raises(FatalSearchError) as info:
        run_search(exp, runs_dir=tmp_path)
    message = str(info.value)
    assert message.startswith("3 trials in a row failed, the last with")
    assert "loss became nan" in message and "--max-consecutive-failures" in message
    board = Leaderboard(tmp_path / "leaderboard.db")
    [search] = board.searches("concrete")
    assert search.status == "failed"
    trials = board.trials("concrete", direction=Direction.MIN)
    assert len(trials) == 3 and all(t.status == "failed" for t in trials)


@pytest.mark.slow
def test_two_searches_write_one_leaderboard_at_once(tmp_path: Path) -> None:
    procs = [
        search_process(tmp_path, "concrete", "--trials", "4", "--max-epochs", "8", "--seed", str(seed),
                "--quiet", "--no-refit")
        for seed in (1, 2)
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=600)
        assert proc.returncode == 0, err[-3000:]
    board = Leaderboard(tmp_path / "leaderboard.db")
    searches = board.searches("concrete")
    assert [s.status for s in searches] == ["completed", "completed"]
    for search in searches:
        assert len(board.trials("concrete", search_id=search.search_id, direction=Direction.MIN)) == 4
    with sqlite3.connect(tmp_path / "leaderboard.db") as db:
        assert db.execute("PRAGMA integrity_check").fetchone()[0] == "ok"


def test_a_full_disk_is_refused_before_the_search_and_stores_nothing(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import shutil

    board = Leaderboard(tmp_path / "leaderboard.db")
    before = (tmp_path / "leaderboard.db").read_bytes()
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda path: usage._replace(free=10 * 2**20))
    exp = load_experiment("concrete").with_overrides(cv=1, trials=1, max_epochs=1)
    with pytest.raises(UserError, match=r"only 10 MiB free under .*pass another --runs-dir"):
        run_search(exp, runs_dir=tmp_path)
    assert (tmp_path / "leaderboard.db").read_bytes() == before
    assert board.searches() == []


def test_a_read_only_runs_directory_is_refused_before_thesearch_process() -> None:
    exp = load_experiment("concrete").with_overrides(cv=1, trials=1, max_epochs=1)
    # procfs is read-only even for root, who can write to a chmod 555 directory.
    with pytest.raises(UserError, match=r"cannot write to the runs directory /proc/akl-runs"):
        run_search(exp, runs_dir=Path("/proc/akl-runs"))


LOOPBACK = {"0100007F", "0000000000000000FFFF00000100007F", "00000000000000000000000001000000"}


def _this_process_and_its_descendants() -> set[int]:
    """This process and every process under it: the Ray runtime this session started
    (its GCS and raylet are our children, its workers the raylet's), and not another
    runtime on the machine, such as a cluster that `ray start` put up for another test
    running beside this one."""
    parent = parent_pids()
    ours = {os.getpid()}
    while grown := {pid for pid, ppid in parent.items() if ppid in ours} - ours:
        ours |= grown
    return ours


def _listening_sockets_of_ray() -> list[tuple[str, str]]:
    """(process, local address) of every listening TCP socket of this process and of
    the Ray processes it started, from /proc (no extra tools)."""
    listening = {}
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            if fields[3] == "0A":  # LISTEN
                listening[fields[9]] = fields[1].split(":")[0]
    found = []
    for pid in _this_process_and_its_descendants():
        proc = Path("/proc") / str(pid)
        try:
            command = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode()
            if "ray" not in command and pid != os.getpid():
                continue
            for fd in (proc / "fd").iterdir():
                target = os.readlink(fd)
                if target.startswith("socket:[") and target[8:-1] in listening:
                    found.append((command[:60], listening[target[8:-1]]))
        except OSError:
            continue  # gone, or not ours to read
    return found


@pytest.mark.slow
@pytest.mark.skipif(not Path("/proc/net/tcp").exists(), reason="needs Linux /proc")
def test_the_local_ray_runtime_listens_on_loopback_only(ray_session) -> None:
    sockets = _listening_sockets_of_ray()
    assert len(sockets) >= 3  # GCS, raylet, workers...
    exposed = [(command, address) for command, address in sockets if address not in LOOPBACK]
    assert not exposed
