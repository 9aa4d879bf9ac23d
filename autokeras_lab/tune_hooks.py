"""The Ray Tune hooks of a search, run on the driver: the callback that records
trials on the leaderboard and the stopper that ends a search gone wrong.

They are module-level classes so that Ray pickles them by reference: a search
resumed after a crash unpickles them from its experiment directory, and they must
then reach this process's live state in :data:`LIVE`, not a copy taken at pickling.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from typing import Any

from ray import tune

from autokeras_lab.leaderboard import Leaderboard, TrialRecord
from autokeras_lab.progress import Progress

__all__ = ["LIVE", "AbortStopper", "Live", "Recorder", "trial_number"]


@dataclass
class Live:
    """What the Tune callbacks of a running search reach on the driver."""

    board: Leaderboard
    experiment: str
    progress: Progress
    max_consecutive_failures: int
    failures_in_a_row: int = 0
    abort_reason: str | None = None


LIVE: dict[str, Live] = {}


class AbortStopper(tune.Stopper):
    """Ends the whole search once too many trials in a row failed."""

    def __init__(self, search_id: str) -> None:
        self.search_id = search_id

    def __call__(self, trial_id: str, result: dict) -> bool:
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
        self.last: dict[str, dict[str, Any]] = {}
        self.started: dict[str, float] = {}

    @property
    def live(self) -> Live:
        return LIVE[self.search_id]

    def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self.started.setdefault(trial.trial_id, time.time())
        self.curves.setdefault(trial.trial_id, [])
        self.live.progress.update(trials)

    def on_trial_result(
        self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
    ) -> None:
        # A report's new epochs end at its epoch; a trial restarted from a
        # checkpoint re-sends epochs, which replace the ones it had sent.
        new = result.get("new_curve") or []
        curve = self.curves.setdefault(trial.trial_id, [])
        first = int(result.get("epoch", 0)) - len(new)
        del curve[max(0, first):]
        curve.extend(new)
        self.last[trial.trial_id] = result
        self.live.progress.result(result.get("best_val_metric"))
        self.live.progress.update(trials)

    def on_trial_complete(
        self, iteration: int, trials: list, trial: Any, **info: Any
    ) -> None:
        last = self.last.get(trial.trial_id, {})
        if last.get("failure"):
            self._record(trial, "failed", last["failure"])
        else:
            self._record(trial, "completed" if last.get("finished") else "stopped_early",
                         None)
        self.live.progress.update(trials)

    def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
        self._record(trial, "failed", _failure_reason(trial))
        self.live.progress.update(trials)

    def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
        self.live.progress.update(trials)

    def _record(self, trial: Any, status: str, reason: str | None) -> None:
        live = self.live
        last = self.last.get(trial.trial_id, {})
        checkpoint = trial.checkpoint
        best_val = last.get("best_val_metric")
        failed = status == "failed"
        live.board.record_trial(
            TrialRecord(
                search_id=self.search_id,
                trial_id=trial.trial_id,
                experiment=live.experiment,
                number=trial_number(trial),
                config=_active(trial.config, last.get("active_hyperparameters")),
                status=status,
                epochs=int(last.get("epoch", 0)),
                curve=self.curves.get(trial.trial_id, []),
                failure_reason=reason,
                best_val=None if failed or best_val is None
                or not math.isfinite(best_val) else best_val,
                metrics=_trial_metrics(last),
                best_epoch=last.get("best_epoch"),
                started_at=self.started.get(trial.trial_id),
                finished_at=time.time(),
                wall_seconds=last.get("trial_seconds"),
                train_seconds=last.get("train_seconds"),
                seed=last.get("trial_seed"),
                checkpoint_path=_location(checkpoint)
                if checkpoint is not None and not failed else None,
                retries=int(getattr(trial.run_metadata, "num_failures", 0) or 0),
            )
        )
        live.progress.finished(status)
        live.failures_in_a_row = live.failures_in_a_row + 1 if failed else 0
        if live.failures_in_a_row >= live.max_consecutive_failures:
            live.abort_reason = (
                f"{live.failures_in_a_row} trials in a row failed, the last with "
                f"{reason!r}; fix the search space or narrow its ranges (e.g. a "
                "lower learning rate), or raise --max-consecutive-failures"
            )



def _trial_metrics(last: dict[str, Any]) -> dict[str, Any]:
    metrics: dict[str, Any] = {"val": last.get("best_metrics") or {}}
    if last.get("best_metrics_std"):
        metrics["val_std"] = last["best_metrics_std"]
    if last.get("worker"):
        metrics["worker"] = last["worker"]
    return metrics


def trial_number(trial: Any) -> int:
    """The trial's creation number, which Ray keeps at the head of its experiment tag."""
    head = str(getattr(trial, "experiment_tag", "")).split("_", 1)[0]
    return int(head) if head.isdigit() else 0


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
    error: BaseException | None = None
    try:
        error = trial.get_pickled_error()
    except Exception:
        error = None
    cause = getattr(error, "cause", None) or error
    if cause is None:
        return "unknown error (see the trial's error.txt under the runs directory)"
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}"[:500]


def _location(checkpoint: Any) -> str:
    """A checkpoint's local path, or its URI (``s3://...``) on cloud storage."""
    kind = getattr(getattr(checkpoint, "filesystem", None), "type_name", "local")
    return checkpoint.path if kind == "local" else f"{kind}://{checkpoint.path}"
