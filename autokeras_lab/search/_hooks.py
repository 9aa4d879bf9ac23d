"""The Ray Tune hooks of a search, run on the driver: the callback that records
trials on the leaderboard, the stopper that ends a search gone wrong, and the
clean-up of checkpoints a finished run no longer needs.

The leaderboard and the Tune state a search resumes from must agree after a crash.
The callback keeps consistent copies of Tune's state (:mod:`._state`)
and writes a finished trial to the leaderboard only once the newest copy lists it
(:func:`flush`); a resumed search tells the trials that copy lists as running but the
leaderboard holds as finished to report their recorded result again
(:func:`recorded_results`). Tune deletes no checkpoint while a search runs, since its
saved state may still name an older one; :func:`prune_checkpoints` removes the
superseded ones once the run has ended and its final state is saved.

They are module-level classes so that Ray pickles them by reference: a search
resumed after a crash unpickles them from its experiment directory, and they must
then reach this process's live state in :data:`LIVE`, not a copy taken at pickling.
"""

from __future__ import annotations

import math
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ray import tune

from autokeras_lab import _ray_internals as ray_internals
from autokeras_lab.errors import one_line
from autokeras_lab.leaderboard import Leaderboard, TrialRecord
from autokeras_lab.progress import Progress
from autokeras_lab.search._interrupt import INTERRUPTED
from autokeras_lab.search._state import take_snapshot
from autokeras_lab.tracking import Tracker
from autokeras_lab.types import Direction, TrialReport, TrialStatus

__all__ = [
    "LIVE", "AbortStopper", "Live", "Recorder", "flush", "prune_checkpoints",
    "recorded_results", "snapshot", "trial_dirname",
]


@dataclass
class Live:
    """What the Tune callbacks of a running search reach on the driver.

    Attributes:
        snapshots: Where the copies of Tune's state go (see :mod:`._state`).
        error_file: Where the traceback of an error of ours inside a trial goes.
        recorded: Trials whose rows stand and are not written again: those the
            leaderboard held when this run started (a resumed search), and those
            this run has recorded (pending or written).
        pending: Finished trials waiting for the newest copy to list them.
        staging: Tune's staging directory on the driver, once a trial has shown it.
        stamp: What the newest copy was taken from; ``saved``: its experiment state.
        tracker: Where a trial goes once it is on the leaderboard (MLflow), if anywhere.
    """

    board: Leaderboard
    experiment: str
    progress: Progress
    max_consecutive_failures: int
    snapshots: Path
    error_file: Path
    recorded: frozenset[str] = frozenset()
    failures_in_a_row: int = 0
    abort_reason: str | None = None
    pending: list[TrialRecord] = field(default_factory=list)
    staging: Path | None = None
    stamp: tuple[int, int] | None = None
    saved: str = ""
    tracker: Tracker | None = None


LIVE: dict[str, Live] = {}


class AbortStopper(tune.Stopper):
    """Ends the whole search once too many trials in a row failed."""

    def __init__(self, search_id: str) -> None:
        self.search_id = search_id

    def __call__(self, trial_id: str, result: dict[str, Any]) -> bool:
        return False

    def stop_all(self) -> bool:
        live = LIVE.get(self.search_id)
        return live is not None and live.abort_reason is not None


class Recorder(tune.Callback):
    """On the driver: writes each finished trial to the leaderboard, drives the
    progress view and counts failures in a row. It holds only the search id, because
    Ray pickles it with the experiment; on resume the unpickled one finds this
    process's leaderboard and progress in :data:`LIVE`."""

    def __init__(self, search_id: str) -> None:
        self.search_id = search_id
        self.curves: dict[str, list[float]] = {}
        self.last: dict[str, TrialReport] = {}
        self.started: dict[str, float] = {}

    @property
    def live(self) -> Live:
        return LIVE[self.search_id]

    def on_trial_start(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self.started.setdefault(trial.trial_id, time.time())
        self.curves.setdefault(trial.trial_id, [])
        self.live.progress.update(trials)

    def on_trial_result(
        self, iteration: int, trials: list[Any], trial: Any, result: dict[str, Any], **info: Any
    ) -> None:
        # A report's new epochs end at its epoch; a trial restarted from a
        # checkpoint re-sends epochs, which replace the ones it had sent.
        report = TrialReport.from_result(result)
        curve = self.curves.setdefault(trial.trial_id, [])
        del curve[max(0, report.epoch - len(report.new_curve)):]
        curve.extend(report.new_curve)
        self.last[trial.trial_id] = report
        self.live.progress.result(report.best_val_metric)
        self.live.progress.update(trials)

    def on_trial_complete(
        self, iteration: int, trials: list[Any], trial: Any, **info: Any
    ) -> None:
        last = self.last.get(trial.trial_id)
        if last is not None and last.internal_error:
            self._stop_for_our_error(last.internal_error)
        elif last is not None and last.failure:
            self._record(trial, TrialStatus.FAILED, last.failure)
        else:
            self._record(trial, TrialStatus.COMPLETED if last is not None and last.finished
                         else TrialStatus.STOPPED_EARLY, None)
        self.live.progress.update(trials)

    def on_experiment_end(self, trials: list[Any], **info: Any) -> None:
        """Record the trials the time budget cut short. Ray ends the trials still
        running when the budget runs out without ``on_trial_complete``; each one that
        checkpointed its best epoch so far is a model the budget paid for, so it goes
        on the leaderboard as stopped early. An interrupted search leaves them to its
        resume, which continues them."""
        live = self.live
        if INTERRUPTED.is_set() or live.abort_reason is not None:
            return
        for trial in trials:
            if (trial.trial_id not in live.recorded and trial.trial_id in self.last
                    and trial.checkpoint is not None):
                self.on_trial_complete(0, trials, trial)

    def on_trial_error(self, iteration: int, trials: list[Any], trial: Any, **info: Any) -> None:
        self._record(trial, TrialStatus.FAILED, _failure_reason(trial))
        self.live.progress.update(trials)

    def on_step_end(self, iteration: int, trials: list[Any], **info: Any) -> None:
        live = self.live
        snapshot(live, trials)
        flush(live)
        live.progress.update(trials)

    def _stop_for_our_error(self, traceback_text: str) -> None:
        """An error of this package inside a trial: keep its traceback and stop the
        search (the trial is not blamed, so it is not recorded)."""
        live = self.live
        if live.abort_reason is None:
            live.error_file.parent.mkdir(parents=True, exist_ok=True)
            live.error_file.write_text(traceback_text, encoding="utf-8")
            live.abort_reason = (
                f"an error in autokeras_lab itself stopped the search "
                f"({one_line(traceback_text, 200)}); "
                f"its traceback is in {live.error_file}: please report it"
            )

    def _record(self, trial: Any, status: TrialStatus, reason: str | None) -> None:
        live = self.live
        if trial.trial_id in live.recorded:
            return  # recorded before (or before the driver died): its row stands
        last = self.last.get(trial.trial_id) or TrialReport(epoch=0, best_val_metric=math.nan)
        checkpoint = trial.checkpoint
        best_val = last.best_val_metric
        failed = status is TrialStatus.FAILED
        live.recorded |= {trial.trial_id}
        live.pending.append(
            TrialRecord(
                search_id=self.search_id,
                trial_id=trial.trial_id,
                experiment=live.experiment,
                number=ray_internals.trial_number(trial),
                config=_active(trial.config, last.active),
                status=status,
                epochs=last.epoch,
                curve=self.curves.get(trial.trial_id, []),
                failure_reason=reason,
                best_val=None if failed or not math.isfinite(best_val) else best_val,
                metrics=_trial_metrics(last),
                worker=last.worker,
                best_epoch=last.best_epoch,
                started_at=self.started.get(trial.trial_id),
                finished_at=time.time(),
                wall_seconds=last.trial_seconds,
                train_seconds=last.train_seconds,
                seed=last.seed,
                checkpoint_path=_location(checkpoint)
                if checkpoint is not None and not failed else None,
                retries=ray_internals.trial_failures(trial),
                rows_seen=last.rows_seen,
            )
        )
        snapshot(live, [trial])
        flush(live)
        live.progress.finished(status)
        live.failures_in_a_row = live.failures_in_a_row + 1 if failed else 0
        if live.failures_in_a_row >= live.max_consecutive_failures:
            live.abort_reason = (
                f"{live.failures_in_a_row} trials in a row failed, the last with "
                f"{reason!r}; fix the search space or narrow its ranges (e.g. a "
                "lower learning rate), or raise --max-consecutive-failures"
            )



def snapshot(live: Live, trials: list[Any]) -> None:
    """Copy Tune's staged state if it changed (from the controller's thread only)."""
    if live.staging is None:
        for trial in trials:
            staging = ray_internals.driver_staging_path(trial)
            if staging:
                live.staging = Path(staging)
                break
        else:
            return
    taken = take_snapshot(live.staging, live.snapshots, live.stamp)
    if taken is not None:
        live.stamp, live.saved = taken


def flush(live: Live, *, final: bool = False) -> None:
    """Write the pending trials that the newest copy of Tune's state lists
    (``final``: every one, once Tune has saved its final state).

    A trial written before that copy lists it would be unknown to a search resumed
    from it, which would then run a trial more than asked and give it the same
    number. One listed there, even as running, comes back on resume and reports its
    recorded result (see :func:`recorded_results`).
    """
    waiting = []
    for record in live.pending:
        if final or trial_dirname(record.number, record.trial_id) in live.saved:
            live.board.record_trial(record)
            if live.tracker is not None:
                live.tracker.trial(record)
        else:
            waiting.append(record)
    live.pending = waiting


def recorded_results(trials: Sequence[TrialRecord], direction: Direction
                     ) -> dict[str, TrialReport]:
    """The final report each recorded trial sends again when a resumed search
    meets it (see ``TrialSettings.recorded``): enough for the searcher, which
    learns its value, and for the scheduler, which sees it end."""
    return {
        trial.trial_id: TrialReport(
            epoch=trial.epochs,
            best_val_metric=direction.worst if trial.best_val is None else trial.best_val,
            finished=True,
            failure=trial.failure_reason,
        )
        for trial in trials
    }


def prune_checkpoints(results: Any, keep: set[str]) -> int:
    """Delete each trial's superseded checkpoints: all but its newest and those the
    leaderboard names (``keep``, as paths or URIs). Call it once a Tune run has
    ended, when Tune's saved state names only the newest. A trial with neither (Tune
    forgets the checkpoints of trials that ended before a resume) keeps them all.
    Returns how many went."""
    import pyarrow.fs as pafs

    named = {location.split("://", 1)[-1] for location in keep}
    removed = 0
    for result in results:
        fs = result.filesystem
        found = [
            info.path
            for info in fs.get_file_info(pafs.FileSelector(result.path, allow_not_found=True))
            if info.type == pafs.FileType.Directory and info.base_name.startswith("checkpoint_")
        ]
        kept = named.intersection(found)
        if result.checkpoint is not None:
            kept.add(result.checkpoint.path)
        if not kept:
            continue
        for path in found:
            if path not in kept:
                fs.delete_dir(path)
                removed += 1
    return removed


def _trial_metrics(last: TrialReport) -> dict[str, dict[str, float]]:
    metrics = {"val": last.best_metrics}
    if last.best_metrics_std:
        metrics["val_std"] = last.best_metrics_std
    return metrics


def trial_dirname(number: int, trial_id: str) -> str:
    """The name of a trial's directory, which Tune's saved state also holds."""
    return f"trial_{number:04d}_{trial_id}"


def _active(config: dict[str, Any], active: list[str] | None) -> dict[str, Any]:
    """The values the model really used, as JSON-able scalars (Optuna samples every
    hyperparameter, also ``units_3`` of a two-layer network; numpy types come back)."""
    keep = set(active) if active else set(config)
    return {
        key: value.item() if hasattr(value, "item") else value
        for key, value in config.items()
        if key in keep
    }


def _failure_reason(trial: Any) -> str:
    cause = ray_internals.trial_error(trial)
    if cause is None:
        return "unknown error (see the trial's error.txt under the runs directory)"
    return one_line(cause)


def _location(checkpoint: Any) -> str:
    """A checkpoint's local path, or its URI (``s3://...``) on cloud storage."""
    kind = getattr(getattr(checkpoint, "filesystem", None), "type_name", "local")
    return checkpoint.path if kind == "local" else f"{kind}://{checkpoint.path}"
