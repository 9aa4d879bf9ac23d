"""The search engine behind :func:`autokeras_lab.run_search`.

A thin public face over private rooms: :mod:`._setup` (runs directory, data, metric,
space), :mod:`._run` (the frozen object one search run works with), :mod:`._tuner`
(the Ray Tune ``Tuner``: trainable, scheduler and sampler registries, callbacks),
:mod:`._hooks` and :mod:`._state` (recording trials, consistent copies of Tune's
state), :mod:`._interrupt` (Ctrl-C), :mod:`._resume` (finding and restoring an
interrupted search), :mod:`._engine` (tune, then :mod:`._finish`: test evaluation and
export).

Library calls leave the process as they found it: no warning filters or log levels
change (the command line does that), and the command recorded is the one given.
"""

from __future__ import annotations

import dataclasses
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, TextIO

from autokeras_lab.cluster import (
    ClusterOptions,
    check_gpus,
    check_storage,
    joined_runtime,
    start_ray,
)
from autokeras_lab.config import Experiment, SamplerSettings, experiment_from_settings
from autokeras_lab.errors import UserError
from autokeras_lab.layout import RunsLayout, run_id
from autokeras_lab.leaderboard import ClusterRecord, Leaderboard, SearchKey, SearchRecord
from autokeras_lab.report import write_report
from autokeras_lab.search._engine import execute
from autokeras_lab.search._resume import find_resumable, restore_tune_state
from autokeras_lab.search._run import SearchResult, SearchRun, driver_info, resume_command
from autokeras_lab.search._setup import Setup, check_runs_dir, load, set_up
from autokeras_lab.tracking import Tracker, check_server, client_env
from autokeras_lab.tuners import CUSTOM_SAMPLER
from autokeras_lab.types import SearchStatus
from autokeras_lab.warmstart import plan_warm_start

if TYPE_CHECKING:
    import optuna

__all__ = ["SearchResult", "find_resumable", "resume_command", "resume_search", "run_search"]

PYTHON_COMMAND = "(started from Python: autokeras_lab.run_search)"


def run_search(
    experiment: Experiment,
    *,
    runs_dir: Path,
    cluster: ClusterOptions | None = None,
    out: TextIO | None = None,
    command: str | None = None,
    warm_start: bool | str = False,
    sampler: str | optuna.samplers.BaseSampler | None = None,
) -> SearchResult:
    """Run one search and return what it left on the leaderboard.

    Args:
        experiment: The experiment (see :func:`autokeras_lab.config.load_experiment`).
        runs_dir: Where the leaderboard, Ray's trial storage and exports live.
        cluster: Where the trials run: a local Ray runtime by default (or the one
            this process has), or a cluster to join; checkpoint storage, dashboard
            and GPU share (see :class:`autokeras_lab.cluster.ClusterOptions`).
        out: Where the progress view goes (``None``: no progress view).
        command: The command line to record so the search can be reproduced.
        warm_start: ``True`` seeds the search with every earlier search of the
            experiment on the same data, space and metric; a search id seeds it with
            that one (see :mod:`autokeras_lab.warmstart`).
        sampler: The Optuna sampler that proposes the configurations: a registered
            name (``"tpe"``, ``"random"``, ...; see :mod:`autokeras_lab.tuners`) or an
            instance, as ``optuna.create_study(sampler=...)`` takes (recorded as
            ``custom`` with its class; a resumed search gets it back from Ray Tune's
            state). Default: the experiment's.

    Example:
        >>> from pathlib import Path
        >>> from autokeras_lab import load_experiment, run_search
        >>> exp = load_experiment("concrete").with_overrides(trials=2, max_epochs=3)
        >>> result = run_search(exp, runs_dir=Path("runs"))  # doctest: +SKIP
        >>> result.trials[0].best_val  # doctest: +SKIP
        6.1
    """
    layout = RunsLayout(check_runs_dir(Path(runs_dir).absolute()))
    cluster = cluster or ClusterOptions()
    instance = None
    if isinstance(sampler, str):
        experiment = experiment.with_overrides(sampler=sampler)
    elif sampler is not None:
        instance = sampler
        experiment = dataclasses.replace(experiment, sampler=SamplerSettings(
            name=CUSTOM_SAMPLER, custom=type(sampler).__name__))
    # Bad input is refused before Ray starts; then Ray starts (and its workers import
    # TensorFlow) while the data are split and the space derived: the fixed cost of a
    # small search.
    experiment, dataset = load(experiment)
    check_server(experiment.tracking)
    with ThreadPoolExecutor(1, thread_name_prefix="set-up") as pool:
        preparing = pool.submit(set_up, experiment, dataset)
        try:
            dashboard = _connect(cluster, layout.storage_root(experiment.name,
                                                              storage=cluster.storage))
        except BaseException:
            preparing.result()  # the data's error first: it is the user's to fix
            raise
        setup = preparing.result()
    experiment, dataset = setup.experiment, setup.dataset
    _write_header(out, setup, dashboard)
    board = Leaderboard(layout.leaderboard)
    plan = None
    if warm_start:
        key = SearchKey(experiment=experiment.name, fingerprint=dataset.fingerprint,
                        space=experiment.space, metric=experiment.metric)
        plan = plan_warm_start(
            board, key, setup.derived, direction=setup.direction,
            search_id=warm_start if isinstance(warm_start, str) else None,
        )
        if out is not None:
            out.write("".join(f"{note}\n" for note in plan.notes))
    run = SearchRun(setup=setup, search_id=run_id(),
                    layout=layout, board=board, cluster=cluster, out=out, dashboard=dashboard,
                    plan=plan, sampler=instance)
    record = SearchRecord(
        search_id=run.search_id,
        experiment=experiment.name,
        dataset=dataset.name,
        data_fingerprint=dataset.fingerprint,
        space=experiment.space,
        metric=experiment.metric,
        direction=setup.direction,
        seed=experiment.seed,
        status=SearchStatus.RUNNING,
        started_at=time.time(),
        command=command or PYTHON_COMMAND,
        settings=experiment.settings(),
        driver=driver_info(),
        cluster=ClusterRecord(storage=cluster.storage, gpus_per_trial=cluster.gpus_per_trial),
        warm_start=plan.summary() if plan else None,
        space_config=setup.derived.to_config(),
        split_sizes=setup.prepared.sizes(),
    )
    board.start_search(record)
    return _execute(run, record)


def resume_search(
    *,
    runs_dir: Path,
    experiment: str | None = None,
    search_id: str | None = None,
    cluster: ClusterOptions | None = None,
    out: TextIO | None = None,
) -> SearchResult:
    """Continue a search that was interrupted (Ctrl-C) or whose driver died.

    Finished trials stay as they are on the leaderboard and are not trained again;
    trials that were running continue from their last checkpoint; the search then
    goes on to its trial count. The Ray Tune experiment, the Optuna sampler's state
    and the scheduler's come back from the search's directory under ``runs_dir``.

    Args:
        experiment: Resume this experiment's latest unfinished search...
        search_id: ...or this search (the id the interrupted search printed).
        cluster: Where to run the rest (its address and dashboard); the checkpoint
            storage and GPU share are the search's own.
    """
    layout = RunsLayout(check_runs_dir(Path(runs_dir).absolute()))
    board, record = find_resumable(layout.root, experiment, search_id)
    restore_tune_state(layout, record)
    cluster = dataclasses.replace(
        cluster or ClusterOptions(), storage=record.cluster.storage,
        gpus_per_trial=record.cluster.gpus_per_trial,
    )
    stored = experiment_from_settings(record.settings)
    check_server(stored.tracking)
    setup = set_up(stored)
    if setup.dataset.fingerprint != record.data_fingerprint:
        raise UserError(
            f"the data of experiment {record.experiment!r} changed since search "
            f"{record.search_id} started, so it cannot be resumed; start a new search"
        )
    run = SearchRun(setup=setup, search_id=record.search_id, layout=layout, board=board,
                    cluster=cluster, out=out, resume=True)
    if out is not None:
        out.write(f"resuming search {record.search_id} ({len(run.trials())} trials already "
                  "done)\n")
    dashboard = _connect(cluster, run.storage_root)
    _write_header(out, setup, dashboard)
    board.reopen_search(record.search_id, driver=driver_info())
    return _execute(dataclasses.replace(run, dashboard=dashboard), record)


def _execute(run: SearchRun, record: SearchRecord) -> SearchResult:
    """Run the search, copied to MLflow when its experiment says so: the trials as
    they finish, then the report, the leaderboard and the model (see
    :mod:`autokeras_lab.tracking`)."""
    tracking = run.setup.experiment.tracking
    if not tracking.enabled:
        return execute(run)
    with client_env():
        run = dataclasses.replace(run, tracker=Tracker(tracking, record, run.out))
        assert run.tracker is not None
        try:
            result = execute(run)
        except BaseException as exc:
            status = (SearchStatus.INTERRUPTED if isinstance(exc, KeyboardInterrupt)
                      else SearchStatus.FAILED)
            run.tracker.close(status, run.trials())
            raise
        report = write_report(run.layout.root, result.experiment, search_id=result.search_id)
        dataset = run.setup.dataset
        sent = run.tracker.close(
            result.status, result.trials, summary=_summary(result), export_dir=result.export_dir,
            report=report, leaderboard=result.leaderboard_frame(),
            rows=dataset.frame.drop(columns=[dataset.target]))
        if sent is None:
            return dataclasses.replace(result, report=report)
        return dataclasses.replace(result, report=report, mlflow_run=run.tracker.run_url(),
                                   mlflow_model=run.tracker.model_uri())


def _summary(result: SearchResult) -> dict[str, float]:
    """The search's figures for its MLflow run: its trials, the best trial's validation
    and test values as it trained, and the handed-over model's (the ensemble's when it
    was exported; a classifier's calibrated), as its card says them."""
    metric = result.metric
    summary = {"trials": float(len(result.trials))}
    best = next((t for t in result.trials if t.trial_id == result.best_trial_id), None)
    if best is not None:
        trial = {"val": best.best_val, "test": best.test_metric}
        summary |= {f"best_trial_{split}_{metric}": value for split, value in trial.items()
                    if value is not None}
        summary |= {f"{split}_{metric}": float(value) for split in trial
                    if (value := result.model_metrics.get(f"{split}_{metric}")) is not None}
    return summary


def _connect(cluster: ClusterOptions, storage_root: str) -> str | None:
    """Start or join Ray and refuse, before anything is stored, what the cluster
    cannot do: a GPU share no node has, checkpoint storage some node cannot see.
    Returns the dashboard's URL, if there is one."""
    dashboard = start_ray(cluster.address, dashboard=cluster.dashboard)
    check_gpus(cluster.gpus_per_trial)
    check_storage(storage_root)
    return dashboard


def _write_header(out: TextIO | None, setup: Setup, dashboard: str | None) -> None:
    if out is None:
        return
    experiment = setup.experiment
    out.write(
        f"searching {experiment.name} ({setup.dataset.task}: "
        f"{setup.prepared.sizes().describe()}): space {experiment.space}, metric "
        f"{experiment.metric} ({experiment.direction}), {experiment.budget.describe()}, "
        f"scheduler {experiment.scheduler.name}, sampler {experiment.sampler.label}, "
        f"seed {experiment.seed}\n"
    )
    task = setup.task
    if task.sampled_epoch:
        out.write(
            f"an epoch trains on {task.train_rows:,} of the {task.data_rows:,} training rows: "
            "the first rungs judge models on a sample of the table, and only the trials "
            f"that go on see it all; batches {task.batch_scale}x the small-table sizes "
            "(--epoch-rows sets the epoch's rows)\n"
        )
    elif task.batch_scale > 1:
        out.write(
            f"{task.data_rows:,} training rows: batches {task.batch_scale}x the small-table "
            f"sizes, at most {setup.max_epochs} epochs a trial (--max-epochs sets them)\n"
        )
    joined = joined_runtime()
    if joined:
        out.write(f"joined the Ray runtime at {joined}\n")
    if dashboard:
        out.write(
            f"Ray dashboard: {dashboard} (token authentication: paste the token that "
            "`ray get-auth-token` prints when the page asks)\n"
        )
