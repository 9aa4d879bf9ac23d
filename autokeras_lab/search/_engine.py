"""The engine: one search run through Ray Tune, then finished.

Data flow (one way): the run's setup (data split, space) -> the Tuner (trainable with
the arrays in the object store once, scheduler, Optuna sampler) -> every finished
trial goes to the leaderboard from the driver (:mod:`._hooks`) -> the top trials are
evaluated on the held-out test split and the best one is exported (:mod:`._finish`).
"""

from __future__ import annotations

import time
import traceback

from autokeras_lab._env import environ, quiet_optuna
from autokeras_lab.errors import AutoKerasLabError, FatalSearchError, one_line
from autokeras_lab.progress import Progress
from autokeras_lab.search import _hooks as hooks
from autokeras_lab.search._finish import finish
from autokeras_lab.search._interrupt import INTERRUPTED, interruptible
from autokeras_lab.search._run import SearchResult, SearchRun
from autokeras_lab.search._tuner import build_tuner, tune_environment
from autokeras_lab.types import SearchStatus


def execute(run: SearchRun) -> SearchResult:
    """Tune, then evaluate the top trials on the test split and export the best.

    Raises:
        FatalSearchError: the search had to stop (too many failures in a row, no
            trial produced a model, or an error of this package, whose traceback is
            then kept in the search's directory).
    """
    started = time.perf_counter()
    status = SearchStatus.FAILED
    try:
        status = _tune(run)
    except KeyboardInterrupt:
        status = SearchStatus.INTERRUPTED
        raise
    except (AutoKerasLabError, MemoryError):
        raise
    except Exception as exc:  # a bug of ours (or Ray's) on the driver: keep its traceback
        error_file = run.layout.error_file(run.experiment_name, run.search_id)
        error_file.parent.mkdir(parents=True, exist_ok=True)
        error_file.write_text("".join(traceback.format_exception(exc)), encoding="utf-8")
        raise FatalSearchError(
            f"an error in autokeras_lab itself stopped the search ({one_line(exc, 200)}); its "
            f"traceback is in {error_file}: please report it"
        ) from exc
    finally:
        if status is SearchStatus.FAILED:
            run.board.finish_search(run.search_id, status=status)
    return finish(run, status, started)


def _tune(run: SearchRun) -> SearchStatus:
    """Run Ray Tune (a new Tuner, or the search's restored one); returns the status."""
    experiment = run.setup.experiment
    done = run.trials()  # recorded before a crash, on resume
    progress = Progress(run.out, direction=run.direction, dashboard=run.dashboard)
    for trial in done:
        progress.finished(trial.status)
    hooks.LIVE[run.search_id] = hooks.Live(
        run.board, run.experiment_name, progress, experiment.budget.max_consecutive_failures,
        snapshots=run.layout.tune_snapshots(run.experiment_name, run.search_id),
        error_file=run.layout.error_file(run.experiment_name, run.search_id),
        recorded=frozenset(trial.trial_id for trial in done), tracker=run.tracker,
    )
    try:
        with quiet_optuna():
            tuner = build_tuner(run, done)
            with environ(tune_environment(run)), interruptible(run.out, run.resume_command):
                results = tuner.fit()
        live = hooks.LIVE[run.search_id]
        # Tune has saved its final state: every trial it ran is in it.
        hooks.snapshot(live, [])
        hooks.flush(live, final=True)
        hooks.prune_checkpoints(results, {t.checkpoint_path for t in run.trials()
                                          if t.checkpoint_path})
    finally:
        progress.close()
        live = hooks.LIVE.pop(run.search_id)
    if live.abort_reason:
        raise FatalSearchError(live.abort_reason)
    return SearchStatus.INTERRUPTED if INTERRUPTED.is_set() else SearchStatus.COMPLETED
