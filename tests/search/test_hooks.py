"""The leaderboard and Ray Tune's saved experiment state stay in step, so that a
search resumed after a crash neither runs a finished trial again nor numbers a new
one like an old one; a run's superseded checkpoints go once it has ended."""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from types import SimpleNamespace

import pyarrow.fs as pafs

from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.progress import Progress
from autokeras_lab.search._hooks import (
    LIVE,
    Live,
    Recorder,
    flush,
    prune_checkpoints,
    recorded_results,
    snapshot,
)
from autokeras_lab.search._state import newest_snapshot, restore_snapshot, take_snapshot
from autokeras_lab.types import Direction
from tests.helpers import search
from tests.helpers import trial as _trial


def trial(trial_id: str, best: float | None, *, number: int = 1, epochs: int = 3, **kw):
    return dataclasses.replace(_trial(trial_id, best, **kw), number=number, epochs=epochs)


def _live(tmp_path: Path, recorded: frozenset[str] = frozenset()) -> Live:
    board = Leaderboard(tmp_path / "leaderboard.db")
    board.start_search(search())
    return Live(board, "concrete", Progress(None, direction=Direction.MIN), 5,
                snapshots=tmp_path / "snapshots", error_file=tmp_path / "error.txt",
                recorded=recorded)


def _stage_tune_state(tmp_path: Path, stamp: str, *dirnames: str) -> Path:
    """Tune's staged state as it lists its trials: by their directories."""
    staging = tmp_path / "staging"
    staging.mkdir(exist_ok=True)
    trials = ", ".join(f'"{{\\"relative_logdir\\": \\"{name}\\"}}"' for name in dirnames)
    (staging / f"experiment_state-{stamp}.json").write_text(f'{{"trial_data": [{trials}]}}')
    (staging / f"search_gen_state-{stamp}.json").write_text(f'{{"counter": {len(dirnames)}}}')
    return staging


def _a_trial_of(staging: Path) -> SimpleNamespace:
    return SimpleNamespace(storage=SimpleNamespace(experiment_driver_staging_path=str(staging)))


def test_a_finished_trial_waits_for_the_saved_tune_state_to_list_it(tmp_path: Path) -> None:
    live = _live(tmp_path)
    live.pending = [trial("aaaa1111", 5.0, number=1), trial("bbbb2222", 6.0, number=2)]
    flush(live)  # no copy of Tune's state yet: a resume would know neither trial
    assert live.board.trials("concrete", direction=Direction.MIN) == []

    staging = _stage_tune_state(tmp_path, "2026-11-21_10-00-00", "trial_0001_aaaa1111")
    snapshot(live, [_a_trial_of(staging)])
    flush(live)
    assert [t.trial_id for t in live.board.trials("concrete", direction=Direction.MIN)] == ["aaaa1111"]
    assert [t.trial_id for t in live.pending] == ["bbbb2222"]

    # A resumed run stages a newer state file; the newest one counts.
    _stage_tune_state(tmp_path, "2026-11-21_10-05-00", "trial_0001_aaaa1111",
                      "trial_0002_bbbb2222")
    snapshot(live, [])
    flush(live)
    assert sorted(t.trial_id for t in live.board.trials("concrete", direction=Direction.MIN)) == ["aaaa1111", "bbbb2222"]
    assert live.pending == []


def test_the_end_of_a_run_writes_every_trial_still_waiting(tmp_path: Path) -> None:
    live = _live(tmp_path)
    live.pending = [trial("cccc3333", 4.0, number=3)]
    flush(live, final=True)  # Tune has saved its final state by then
    assert [t.trial_id for t in live.board.trials("concrete", direction=Direction.MIN)] == ["cccc3333"]


def test_a_trial_recorded_before_a_crash_keeps_its_row_when_it_ends_again(
    tmp_path: Path,
) -> None:
    live = _live(tmp_path, recorded=frozenset({"dddd4444"}))
    before = trial("dddd4444", 4.5, number=4, finished_at=100.0)
    live.board.record_trial(before)
    live.staging = _stage_tune_state(tmp_path, "2026-11-21_10-00-00", "trial_0004_dddd4444")
    LIVE[before.search_id] = live
    try:
        recorder = Recorder(before.search_id)
        again = SimpleNamespace(
            trial_id="dddd4444", experiment_tag="4_units_0=16", config={"units_0": 16},
            checkpoint=None, run_metadata=SimpleNamespace(num_failures=0),
        )
        recorder.on_trial_result(0, [], again, {"epoch": 3, "best_val_metric": 9.9,
                                                "new_curve": [], "finished": True})
        recorder.on_trial_complete(0, [], again)
    finally:
        del LIVE[before.search_id]
    assert live.pending == []
    [row] = live.board.trials("concrete", direction=Direction.MIN)
    assert (row.best_val, row.finished_at, row.curve) == (4.5, 100.0, before.curve)


def test_recorded_results_give_the_searcher_each_trials_value_and_failures_the_worst() -> None:
    done = [trial("a", 5.0, epochs=30), trial("b", None, status="failed",
                                              failure_reason="NaN loss")]
    results = recorded_results(done, Direction.MIN)
    assert results["a"].best_val_metric == 5.0 and results["a"].epoch == 30
    assert results["b"].best_val_metric == math.inf
    assert results["b"].failure == "NaN loss"
    assert all(r.finished for r in results.values())
    assert recorded_results(done, Direction.MAX)["b"].best_val_metric == -math.inf


def _trial_dir(root: Path, name: str, checkpoints: int) -> Path:
    path = root / name
    path.mkdir()
    for index in range(checkpoints):
        (path / f"checkpoint_{index:06d}").mkdir()
        (path / f"checkpoint_{index:06d}" / "state.json").write_text("{}")
    (path / "result.json").write_text("{}")
    return path


def test_a_finished_run_keeps_each_trials_newest_checkpoint_and_the_leaderboards(
    tmp_path: Path,
) -> None:
    fs = pafs.LocalFileSystem()
    one = _trial_dir(tmp_path, "trial_0001_a", 4)
    two = _trial_dir(tmp_path, "trial_0002_b", 2)
    never = _trial_dir(tmp_path, "trial_0003_c", 0)
    earlier = _trial_dir(tmp_path, "trial_0004_d", 3)  # ended before a resume
    unknown = _trial_dir(tmp_path, "trial_0005_e", 2)
    results = [
        SimpleNamespace(path=str(one), filesystem=fs,
                        checkpoint=SimpleNamespace(path=str(one / "checkpoint_000003"))),
        SimpleNamespace(path=str(two), filesystem=fs,
                        checkpoint=SimpleNamespace(path=str(two / "checkpoint_000001"))),
        SimpleNamespace(path=str(never), filesystem=fs, checkpoint=None),
        # Tune forgets the checkpoints of trials that ended before a resume.
        SimpleNamespace(path=str(earlier), filesystem=fs, checkpoint=None),
        SimpleNamespace(path=str(unknown), filesystem=fs, checkpoint=None),
    ]
    # The leaderboard names trial 1's checkpoint 1 (Tune re-ran its recorded result
    # from an older one after a crash) and trial 4's newest: they stay.
    removed = prune_checkpoints(
        results, {str(one / "checkpoint_000001"), str(earlier / "checkpoint_000002")}
    )
    assert removed == 5
    assert sorted(p.name for p in one.iterdir()) == [
        "checkpoint_000001", "checkpoint_000003", "result.json"]
    assert sorted(p.name for p in two.iterdir()) == ["checkpoint_000001", "result.json"]
    assert [p.name for p in never.iterdir()] == ["result.json"]
    assert sorted(p.name for p in earlier.iterdir()) == ["checkpoint_000002", "result.json"]
    assert len(list(unknown.glob("checkpoint_*"))) == 2  # nothing says which is needed


def test_tunes_state_is_copied_whole_and_only_when_it_changed(tmp_path: Path) -> None:
    staging = _stage_tune_state(tmp_path, "2026-11-21_10-00-00", "trial_0001_a")
    (staging / "trial_0001_a").mkdir()  # trial directories are not state
    root = tmp_path / "snapshots"
    stamp, text = take_snapshot(staging, root, None)
    assert "trial_0001_a" in text
    first = newest_snapshot(root)
    assert sorted(p.name for p in first.iterdir()) == [
        "experiment_state-2026-11-21_10-00-00.json", "search_gen_state-2026-11-21_10-00-00.json"]
    assert take_snapshot(staging, root, stamp) is None  # unchanged: no new copy

    _stage_tune_state(tmp_path, "2026-11-21_10-00-00", "trial_0001_a", "trial_0002_b")
    _, text = take_snapshot(staging, root, stamp)
    assert "trial_0002_b" in text
    assert newest_snapshot(root) != first and not first.exists()  # one copy is kept
    assert [p.name for p in root.iterdir()] == [newest_snapshot(root).name]


def test_a_resume_puts_the_whole_copy_in_place_of_a_half_written_state(tmp_path: Path) -> None:
    staging = _stage_tune_state(tmp_path, "2026-11-21_10-00-00", "trial_0001_a", "trial_0002_b")
    root = tmp_path / "snapshots"
    take_snapshot(staging, root, None)
    tune_dir = tmp_path / "tune"
    (tune_dir / "trial_0001_a").mkdir(parents=True)
    whole = (staging / "experiment_state-2026-11-21_10-00-00.json").read_text()
    # The driver died while Tune copied its state: a truncated file, and a newer
    # session's file from a resume that died early.
    (tune_dir / "experiment_state-2026-11-21_10-00-00.json").write_text(whole[:20])
    (tune_dir / "experiment_state-2026-11-21_11-00-00.json").write_text("{")
    (tune_dir / "tuner.pkl").write_bytes(b"the Tuner")
    assert restore_snapshot(root, str(tune_dir))
    assert sorted(p.name for p in tune_dir.iterdir()) == [
        "experiment_state-2026-11-21_10-00-00.json", "search_gen_state-2026-11-21_10-00-00.json",
        "trial_0001_a", "tuner.pkl"]
    assert (tune_dir / "experiment_state-2026-11-21_10-00-00.json").read_text() == whole
    assert (tune_dir / "tuner.pkl").read_bytes() == b"the Tuner"
    assert not restore_snapshot(tmp_path / "none", str(tune_dir))  # no copy: Tune's stays


def test_a_bug_of_ours_in_a_trial_stops_the_search_with_its_traceback(tmp_path: Path) -> None:
    live = _live(tmp_path)
    recorder = Recorder("s1")
    LIVE["s1"] = live
    try:
        running = SimpleNamespace(trial_id="eeee5555", experiment_tag="5_units_0=16",
                                  config={"units_0": 16}, checkpoint=None,
                                  run_metadata=SimpleNamespace(num_failures=0))
        recorder.on_trial_result(0, [], running, {
            "epoch": 2, "best_val_metric": math.inf, "finished": True,
            "internal_error": "Traceback (most recent call last):\n  ...\nKeyError: 'x'\n"})
        recorder.on_trial_complete(0, [], running)
    finally:
        del LIVE["s1"]
    assert "KeyError: 'x'" in (tmp_path / "error.txt").read_text()
    assert live.abort_reason is not None
    assert "an error in autokeras_lab itself" in live.abort_reason
    assert str(tmp_path / "error.txt") in live.abort_reason
    assert live.pending == [] and live.failures_in_a_row == 0  # the trial is not blamed
