"""Test helpers shared by several test modules: stored records, data frames and the
scripts under scripts/ loaded as modules."""

from __future__ import annotations

import importlib.util
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import ModuleType

import numpy as np
import pandas as pd

from autokeras_lab.leaderboard import SearchRecord, TrialRecord
from autokeras_lab.types import Direction, SearchStatus, SplitSizes, TrialStatus

SIZES = SplitSizes(train=1, val=1, test=1)
SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"


def load_script(name: str) -> ModuleType:
    """``scripts/NAME.py`` as a module, its folder on ``sys.path`` while it loads (a
    script imports its siblings by name, as it does when run from there)."""
    spec = importlib.util.spec_from_file_location(name, SCRIPTS / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.path.insert(0, str(SCRIPTS))
    try:
        spec.loader.exec_module(module)
    finally:
        sys.path.remove(str(SCRIPTS))
    return module


def search(search_id: str = "s1", experiment: str = "concrete") -> SearchRecord:
    return SearchRecord(
        search_id=search_id, experiment=experiment, dataset="concrete", data_fingerprint="f",
        space="mlp", metric="rmse", direction=Direction.MIN, seed=0,
        status=SearchStatus.RUNNING, started_at=1.0,
        command="python -m autokeras_lab search concrete", settings={"a": 1},
        space_config={"space": []}, split_sizes=SIZES,
    )


def trial(trial_id: str, best: float | None, status: TrialStatus = TrialStatus.COMPLETED,
          **kw) -> TrialRecord:
    return TrialRecord(
        search_id=kw.pop("search_id", "s1"), trial_id=trial_id, experiment="concrete", number=1,
        config={"units_0": 16, "learning_rate": 0.01}, status=status, epochs=3,
        curve=[9.0, 7.5, best or 9.0], best_val=best, **kw,
    )


def search_process(runs: Path, *args: str) -> subprocess.Popen[str]:
    """A search from the command line, as a user starts it (one validation split,
    no report), in a process of its own."""
    return subprocess.Popen(
        [sys.executable, "-m", "autokeras_lab", "search", *args, "--runs-dir", str(runs),
         "--no-report", "--cv", "1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )


def leaderboard_rows(runs: Path) -> dict[str, tuple]:
    """Every stored trial's identity, status, epochs, curve and finishing time, by id:
    what a resumed search must leave as it was for a trial finished before the fault."""
    with sqlite3.connect(runs / "leaderboard.db") as db:
        rows = db.execute("SELECT trial_id, number, status, epochs, curve, finished_at FROM trials")
        return {row[0]: row for row in rows}


def assert_complete_and_unique(runs: Path, trials: int, log: str = "") -> None:
    """After a resumed concrete search: completed, trials numbered 1 to ``trials`` with
    no gap and no twin, each with its whole curve and a checkpoint, and a model
    exported."""
    from autokeras_lab.leaderboard import Leaderboard

    board = Leaderboard(runs / "leaderboard.db")
    [search] = board.searches("concrete")
    assert search.status == "completed", log[-3000:]
    records = board.trials("concrete", direction=Direction.MIN)
    numbers = sorted(t.number for t in records)
    assert numbers == list(range(1, trials + 1)), log[-3000:]  # no gaps, no twins
    for record in records:
        assert record.status in ("completed", "stopped_early")
        assert len(record.curve) == record.epochs  # a resumed trial's curve has no hole
        checkpoint = Path(record.checkpoint_path)
        assert checkpoint.is_dir()  # what export and retrain read
        # Superseded checkpoints are gone (one more may stay: the one a resume
        # re-ran the recorded result from).
        assert len(list(checkpoint.parent.glob("checkpoint_*"))) <= 2
    assert (runs / "concrete" / "best" / "model.keras").is_file()


def wait_for_trials(runs: Path, count: int, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and proc.poll() is None:
        # Poll often: a kill right after a trial is recorded lands where the
        # leaderboard is ahead of Ray Tune's saved state, the case to survive.
        time.sleep(0.05)
        try:
            with sqlite3.connect(runs / "leaderboard.db") as db:
                if db.execute("SELECT COUNT(*) FROM trials").fetchone()[0] >= count:
                    return
        except sqlite3.Error:
            pass  # not created yet
    raise AssertionError(f"fewer than {count} trials finished: {proc.poll()=}")


def mixed_frame(rows: int = 120, seed: int = 0) -> pd.DataFrame:
    """Numbers, categories, booleans and gaps, with a target that depends on them."""
    rng = np.random.default_rng(seed)
    size = rng.normal(100, 20, rows)
    colour = rng.choice(["red", "green", "blue"], rows)
    organic = rng.choice(["yes", "no"], rows)
    price = size * 2 + (colour == "red") * 30 + (organic == "yes") * 10 + rng.normal(0, 5, rows)
    frame = pd.DataFrame({"size": size, "colour": colour, "organic": organic, "price": price})
    frame.loc[::7, "size"] = np.nan
    frame.loc[::11, "colour"] = None
    return frame


def parent_pids() -> dict[int, int]:
    """Each running process's parent, from /proc (Linux; no extra tools)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        try:  # the parent is the second field after the command's closing parenthesis
            parents[int(entry.name)] = int((entry / "stat").read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # not a process, or gone
    return parents
