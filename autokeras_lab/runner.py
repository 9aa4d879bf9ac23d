"""The search engine behind :func:`autokeras_lab.run_search`.

Data flow (one way): prepare data -> derive the space -> start or join Ray, put the
arrays in the object store once -> ``Tuner(OptunaSearch + ASHA)`` -> every finished
trial goes to the leaderboard from the driver -> the top trials are evaluated on the
held-out test split -> the best one is exported.
"""

from __future__ import annotations

import dataclasses
import math
import os
import secrets
import shlex
import shutil
import signal
import socket
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from autokeras_lab._env import import_tensorflow_quietly, quiet
from autokeras_lab.cluster import (
    ClusterOptions,
    check_gpus,
    check_storage,
    start_ray,
    trial_resources,
)
from autokeras_lab.config import Experiment, experiment_from_settings
from autokeras_lab.data import Dataset, Prepared, load_csv, load_dataset, prepare
from autokeras_lab.errors import FatalSearchError, UserError
from autokeras_lab.leaderboard import Leaderboard, SearchRecord, TrialRecord, leaderboard_path
from autokeras_lab.metrics import METRICS, default_metric, direction_of
from autokeras_lab.progress import Progress
from autokeras_lab.spaces import DerivedSpace, SearchSpace, Task, load_space
from autokeras_lab.types import Direction
from autokeras_lab.warmstart import WarmStart, build_study, plan_warm_start

__all__ = [
    "SearchResult", "asha_rungs", "leaderboard_path", "resume_search", "run_search", "start_ray",
]

TEST_EVALUATED_TOP = 5


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """What a finished search left behind (plain data, for the CLI and for tests)."""

    search_id: str
    experiment: str
    metric: str
    direction: Direction
    status: str
    wall_seconds: float
    trials: list[TrialRecord]
    leaderboard_path: Path
    export_dir: Path | None
    best_trial_id: str | None


def asha_rungs(grace_period: int, reduction_factor: int, max_t: int) -> tuple[int, ...]:
    """The epochs at which ASHA compares trials (same formula as Ray's bracket)."""
    if grace_period >= max_t:
        return ()
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return tuple(grace_period * reduction_factor**k for k in range(count))


@dataclass(frozen=True)
class _Setup:
    """An experiment made ready to search: its data split, task and space."""

    experiment: Experiment
    dataset: Dataset
    prepared: Prepared
    task: Task
    space: SearchSpace
    derived: DerivedSpace

    @property
    def direction(self) -> Direction:
        """The metric's direction (:func:`resolve_metric` has filled it in)."""
        assert self.experiment.direction is not None
        return self.experiment.direction


def _set_up(experiment: Experiment) -> _Setup:
    dataset = load_experiment_data(experiment)
    experiment = resolve_metric(experiment, dataset.task)
    prepared = prepare(
        dataset,
        test_fraction=experiment.test_fraction,
        val_fraction=experiment.val_fraction,
        split_seed=experiment.split_seed,
        class_weight=experiment.class_weight,
        cv=experiment.cv,
    )
    task = Task.for_data(dataset.task, prepared.preprocessor.n_inputs, len(dataset.classes))
    import_tensorflow_quietly()  # before the space module imports keras
    space = load_space(experiment.space)
    return _Setup(experiment, dataset, prepared, task, space, space.derive(task))


def run_search(
    experiment: Experiment,
    *,
    runs_dir: Path,
    cluster: ClusterOptions | None = None,
    out: TextIO | None = None,
    command: str | None = None,
    warm_start: bool = False,
    warm_start_from: str | None = None,
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
        warm_start: Seed the search with earlier searches of the experiment on the
            same data and space (see :mod:`autokeras_lab.warmstart`).
        warm_start_from: Warm-start from this earlier search only.

    Example:
        >>> from pathlib import Path
        >>> from autokeras_lab import load_experiment, run_search
        >>> exp = load_experiment("concrete").with_overrides(trials=2, max_epochs=3)
        >>> result = run_search(exp, runs_dir=Path("runs"))  # doctest: +SKIP
        >>> result.trials[0].best_val  # doctest: +SKIP
        6.1
    """
    quiet()
    runs_dir = _check_runs_dir(Path(runs_dir).absolute())
    cluster = cluster or ClusterOptions()
    setup = _set_up(experiment)
    experiment, dataset = setup.experiment, setup.dataset
    dashboard = _connect(cluster, _storage_root(runs_dir, cluster.storage, experiment.name))
    _write_header(out, setup, dashboard)
    board = Leaderboard(leaderboard_path(runs_dir))
    search_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    plan = None
    if warm_start or warm_start_from:
        plan = plan_warm_start(
            board, experiment.name, fingerprint=dataset.fingerprint, space=experiment.space,
            metric=experiment.metric, distributions=setup.derived.to_optuna(),
            defaults=setup.derived.defaults(), direction=setup.direction,
            search_id=warm_start_from,
        )
        if out is not None:
            out.write("".join(f"{note}\n" for note in plan.notes))
    board.start_search(
        SearchRecord(
            search_id=search_id,
            experiment=experiment.name,
            dataset=dataset.name,
            data_fingerprint=dataset.fingerprint,
            space=experiment.space,
            metric=experiment.metric,
            direction=setup.direction,
            seed=experiment.seed,
            status="running",
            started_at=time.time(),
            command=command or shlex.join(["python", "-m", "autokeras_lab", *sys.argv[1:]]),
            settings=asdict(experiment)
            | {"warm_start": plan.summary() if plan else None, "driver": _driver(),
               "cluster": {"storage": cluster.storage,
                           "gpus_per_trial": cluster.gpus_per_trial}},
            space_config=setup.derived.to_config(),
            split_sizes=setup.prepared.sizes(),
        )
    )
    return _execute(setup, board, search_id, runs_dir, cluster, out, plan=plan, dashboard=dashboard)


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
    quiet()
    runs_dir = _check_runs_dir(Path(runs_dir).absolute())
    board, record = find_resumable(runs_dir, experiment, search_id)
    _restore_tune_state(runs_dir, record)
    recorded = record.settings.get("cluster") or {}
    cluster = dataclasses.replace(
        cluster or ClusterOptions(), storage=recorded.get("storage"),
        gpus_per_trial=float(recorded.get("gpus_per_trial") or 0),
    )
    setup = _set_up(experiment_from_settings(record.settings))
    if setup.dataset.fingerprint != record.data_fingerprint:
        raise UserError(
            f"the data of experiment {record.experiment!r} changed since search "
            f"{record.search_id} started, so it cannot be resumed; start a new search"
        )
    if out is not None:
        done = len(board.trials(record.experiment, search_id=record.search_id,
                                direction=record.direction))
        out.write(f"resuming search {record.search_id} ({done} trials already done)\n")
    dashboard = _connect(cluster, _storage_root(runs_dir, cluster.storage, record.experiment))
    _write_header(out, setup, dashboard)
    board.reopen_search(record.search_id, driver=_driver())
    return _execute(setup, board, record.search_id, runs_dir, cluster, out, resume=True,
                    dashboard=dashboard)


def _execute(
    setup: _Setup,
    board: Leaderboard,
    search_id: str,
    runs_dir: Path,
    cluster: ClusterOptions,
    out: TextIO | None,
    *,
    plan: WarmStart | None = None,
    resume: bool = False,
    dashboard: str | None = None,
) -> SearchResult:
    """Tune, then evaluate the top trials on the test split and export the best."""
    experiment = setup.experiment
    started = time.perf_counter()
    status = "failed"
    try:
        status = _tune(setup, board, search_id, runs_dir, cluster, out, plan=plan,
                       resume=resume, dashboard=dashboard)
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if status not in ("completed", "interrupted"):
            board.finish_search(search_id, status=status)
    trials = board.trials(experiment.name, search_id=search_id, direction=setup.direction)
    ranked = [t for t in trials if t.checkpoint_path and t.best_val is not None]
    if not ranked:
        board.finish_search(search_id, status="failed")
        reasons = {t.failure_reason for t in trials if t.failure_reason}
        raise FatalSearchError(
            f"no trial of search {search_id} produced a model"
            + (f" (failures: {'; '.join(sorted(reasons))[:300]})" if reasons else "")
            + "; raise --max-epochs or --time-budget, or check the search space"
        )
    from autokeras_lab.export import evaluate_on_test, export_best

    for trial in ranked[:TEST_EVALUATED_TOP]:
        if trial.test_metric is None:  # a resumed search keeps earlier evaluations
            test = evaluate_on_test(trial, setup.prepared, setup.space, setup.derived,
                                    setup.task)
            board.set_test_metrics(search_id, trial.trial_id, test, main=experiment.metric)
    trials = board.trials(experiment.name, search_id=search_id, direction=setup.direction)
    best = next(t for t in trials if t.trial_id == ranked[0].trial_id)
    export_dir = export_best(
        best,
        prepared=setup.prepared,
        space=setup.space,
        derived=setup.derived,
        task=setup.task,
        experiment=experiment,
        direction=setup.direction,
        runs_dir=runs_dir,
    )
    board.finish_search(
        search_id, status=status, best_trial_id=best.trial_id, export_dir=str(export_dir)
    )
    return SearchResult(
        search_id=search_id,
        experiment=experiment.name,
        metric=experiment.metric,
        direction=setup.direction,
        status=status,
        wall_seconds=time.perf_counter() - started,
        trials=trials,
        leaderboard_path=board.path,
        export_dir=export_dir,
        best_trial_id=best.trial_id,
    )


def _connect(cluster: ClusterOptions, storage_root: str) -> str | None:
    """Start or join Ray and refuse, before anything is stored, what the cluster
    cannot do: a GPU share no node has, checkpoint storage some node cannot see.
    Returns the dashboard's URL, if there is one."""
    dashboard = start_ray(cluster.address, dashboard=cluster.dashboard)
    check_gpus(cluster.gpus_per_trial)
    check_storage(storage_root)
    return dashboard


def _write_header(out: TextIO | None, setup: _Setup, dashboard: str | None) -> None:
    if out is None:
        return
    experiment, sizes = setup.experiment, setup.prepared.sizes()
    out.write(
        f"searching {experiment.name} ({setup.dataset.task}, {sizes['train']}/{sizes['val']}/"
        f"{sizes['test']} rows train/val/test): space {experiment.space}, metric "
        f"{experiment.metric} ({experiment.direction}), {_budget_text(experiment)}, "
        f"seed {experiment.seed}\n"
    )
    if dashboard:
        out.write(
            f"Ray dashboard: {dashboard} (token authentication: paste the token that "
            "`ray get-auth-token` prints when the page asks)\n"
        )


def _driver() -> dict[str, Any]:
    return {"pid": os.getpid(), "host": socket.gethostname()}


def _driver_alive(driver: dict[str, Any] | None) -> bool:
    if not driver or driver.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(driver["pid"]), 0)
    except (OSError, ValueError, KeyError):
        return False
    return int(driver["pid"]) != os.getpid()


RESUMABLE = ("running", "interrupted")


def find_resumable(
    runs_dir: Path, experiment: str | None, search_id: str | None
) -> tuple[Leaderboard, SearchRecord]:
    """The search to resume: the one named, or the experiment's latest unfinished one.

    Raises:
        UserError: no such search, it finished, or its driver still runs.
    """
    path = leaderboard_path(runs_dir)
    if not path.is_file():
        raise UserError(f"no leaderboard at {path}, so nothing to resume; check --runs-dir")
    board = Leaderboard(path)
    searches = board.searches(experiment)
    if search_id is not None:
        found = [s for s in searches if s.search_id == search_id]
        if not found:
            raise UserError(
                f"no search {search_id!r} in {path}"
                + (f" for experiment {experiment!r}" if experiment else "")
                + "; `python -m autokeras_lab leaderboard EXPERIMENT` lists them"
            )
        record = found[0]
    else:
        unfinished = [s for s in searches if s.status in RESUMABLE]
        if not unfinished:
            raise UserError(
                f"no interrupted search of experiment {experiment!r} in {path} to resume; "
                "start a new search without --resume"
            )
        record = unfinished[-1]
    if record.status not in RESUMABLE:
        raise UserError(
            f"search {record.search_id} is {record.status}, not interrupted, so there is "
            "nothing to resume; start a new search (--warm-start reuses its results)"
        )
    if _driver_alive(record.settings.get("driver")):
        raise UserError(
            f"search {record.search_id} is still running (process "
            f"{record.settings['driver']['pid']}); stop it first or wait for it"
        )
    return board, record


def _restore_tune_state(runs_dir: Path, record: SearchRecord) -> None:
    """Put the driver's whole copy of the search's Ray Tune state in place."""
    from ray import tune

    from autokeras_lab.tune_state import restore_snapshot

    storage = (record.settings.get("cluster") or {}).get("storage")
    tune_dir = _tune_dir(_storage_root(runs_dir, storage, record.experiment), record.search_id)
    # Tune's own copy may be half written (a kill during its background copy); ours
    # is whole (see autokeras_lab.tune_state).
    restore_snapshot(_snapshot_root(runs_dir, record.experiment, record.search_id), tune_dir)
    if not tune.Tuner.can_restore(tune_dir):
        raise UserError(
            f"search {record.search_id} left no Ray Tune state under {tune_dir} to "
            "resume from; "
            "start a new search (--warm-start reuses its results)"
        )


def _storage_root(runs_dir: Path, storage: str | None, experiment: str) -> str:
    """Where Ray Tune keeps an experiment's searches: under the runs directory, or
    under ``--storage`` (a shared path or a cloud URI) on a multi-node cluster."""
    root = storage.rstrip("/") if storage else str(runs_dir)
    return f"{root}/{experiment}/ray"


def _tune_dir(storage_root: str, search_id: str) -> str:
    return f"{storage_root}/{search_id}"


def _snapshot_root(runs_dir: Path, experiment: str, search_id: str) -> Path:
    """Where the driver keeps its copies of the search's Tune state (on its own disk,
    whatever the checkpoint storage)."""
    return runs_dir / experiment / "searches" / search_id / "tune-state"


def _budget_text(experiment: Experiment) -> str:
    budget = experiment.budget
    parts = [f"{budget.trials} trials"] if budget.trials is not None else []
    parts.append(f"{budget.max_epochs} epochs max")
    if budget.time_budget_s is not None:
        parts.append(f"{budget.time_budget_s:.0f} s budget")
    return ", ".join(parts)


def load_experiment_data(experiment: Experiment) -> Dataset:
    """The experiment's table: a built-in data set or its CSV, checked."""
    if experiment.csv:
        return load_csv(
            experiment.csv, target=experiment.target, task=experiment.task, name=experiment.name
        )
    dataset = load_dataset(experiment.dataset)
    if experiment.task not in ("auto", dataset.task):
        raise UserError(
            f"experiment {experiment.name!r} says task {experiment.task!r}, but data set "
            f"{dataset.name!r} is a {dataset.task} data set; remove the task key"
        )
    return dataset


def resolve_metric(experiment: Experiment, task: str) -> Experiment:
    """Fill in the metric and direction the task implies; refuse a metric that does
    not fit the task."""
    metric = experiment.metric or default_metric(task)
    suits = METRICS[metric][0]
    if suits != task:
        fitting = ", ".join(m for m, (t, _) in METRICS.items() if t == task)
        raise UserError(
            f"experiment {experiment.name!r}: metric {metric!r} is for {suits}, but the data "
            f"is a {task} task; expected one of: {fitting}"
        )
    direction = Direction(experiment.direction or direction_of(metric))
    return dataclasses.replace(experiment, metric=metric, direction=direction)


MIN_FREE_MB = 200


def _check_runs_dir(runs_dir: Path) -> Path:
    """Fail before the search, not an hour into it: the runs directory must be
    writable and have room for checkpoints and exports."""
    try:
        runs_dir.mkdir(parents=True, exist_ok=True)
        probe = runs_dir / f".write-test-{os.getpid()}"
        probe.write_bytes(b"ok")
        probe.unlink()
    except OSError as exc:
        raise UserError(
            f"cannot write to the runs directory {runs_dir} ({exc.strerror}); "
            "pass a writable one with --runs-dir"
        ) from None
    free_mb = shutil.disk_usage(runs_dir).free / 2**20
    if free_mb < MIN_FREE_MB:
        raise UserError(
            f"only {free_mb:.0f} MiB free under {runs_dir}; a search needs at least "
            f"{MIN_FREE_MB} MiB for checkpoints and models: free some space or pass "
            "another --runs-dir"
        )
    return runs_dir


def _tune(
    setup: _Setup,
    board: Leaderboard,
    search_id: str,
    runs_dir: Path,
    cluster: ClusterOptions,
    out: TextIO | None,
    *,
    plan: WarmStart | None,
    resume: bool,
    dashboard: str | None,
) -> str:
    """Run Ray Tune (a new Tuner, or the search's restored one) and return the status."""
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from autokeras_lab import tune_hooks as hooks
    from autokeras_lab.trainable import TrialSettings, ray_trainable
    from autokeras_lab.tune_hooks import LIVE, AbortStopper, Live, Recorder

    experiment = setup.experiment
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    budget, sched = experiment.budget, experiment.scheduler
    rungs: tuple[int, ...] = ()
    scheduler: Any
    if sched.name == "asha":
        # A grace period as long as the whole budget would never stop anything: on
        # short budgets ASHA gets a quarter of the epochs instead.
        grace = min(sched.grace_period, max(1, budget.max_epochs // 4))
        rungs = asha_rungs(grace, sched.reduction_factor, budget.max_epochs)
        scheduler = ASHAScheduler(
            time_attr="epoch",
            max_t=budget.max_epochs,
            grace_period=grace,
            reduction_factor=sched.reduction_factor,
        )
    else:
        scheduler = FIFOScheduler()
    direction = setup.direction
    done = board.trials(experiment.name, search_id=search_id,  # before a crash
                        direction=direction)
    settings = TrialSettings(
        space=_space_ref(setup.space),
        space_source=setup.space.source,
        space_config=setup.derived.to_config(),
        task=setup.task,
        metric=experiment.metric,
        direction=direction,
        max_epochs=budget.max_epochs,
        patience=budget.patience,
        search_seed=experiment.seed,
        report_epochs=rungs,
        report_every=10,
        checkpoint_every=CHECKPOINT_EVERY,
        recorded=hooks.recorded_results(done, direction),
    )
    progress = Progress(out, direction=direction, dashboard=dashboard)
    for trial in done:
        progress.finished(trial.status)
    storage_root = _storage_root(runs_dir, cluster.storage, experiment.name)
    tune_dir = _tune_dir(storage_root, search_id)
    LIVE[search_id] = Live(
        board, experiment.name, progress, budget.max_consecutive_failures,
        snapshots=_snapshot_root(runs_dir, experiment.name, search_id),
        recorded=frozenset(trial.trial_id for trial in done),
    )
    trainable = tune.with_resources(
        tune.with_parameters(ray_trainable, data=setup.prepared.search_arrays(),
                             settings=settings),
        trial_resources(cluster.gpus_per_trial),
    )
    if resume:
        tuner = tune.Tuner.restore(
            tune_dir, trainable, resume_unfinished=True, resume_errored=False
        )
    else:
        sampler = optuna.samplers.TPESampler(
            seed=experiment.seed, multivariate=True, constant_liar=True
        )
        searcher = make_searcher(setup.derived.to_optuna(), direction=direction,
                                 sampler=sampler, plan=plan, name=search_id)
        tuner = tune.Tuner(
            trainable,
            tune_config=tune.TuneConfig(
                metric="best_val_metric",
                mode=direction.value,
                search_alg=searcher,
                scheduler=scheduler,
                num_samples=budget.trials if budget.trials is not None else -1,
                max_concurrent_trials=budget.concurrency,
                time_budget_s=budget.time_budget_s,
                reuse_actors=True,
                trial_dirname_creator=_trial_dirname,
            ),
            run_config=tune.RunConfig(
                name=search_id,
                storage_path=storage_root,
                verbose=0,
                # Ray pickles these with the experiment; on resume they come back
                # and find this process's leaderboard and progress by search id.
                callbacks=[Recorder(search_id)],
                stop=AbortStopper(search_id),
                # Keep every checkpoint while the search runs: Tune would delete the
                # one its saved state still names, for up to a second, and a search
                # resumed from that state could not continue the trial.
                # prune_checkpoints() removes the superseded ones afterwards.
                checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
                failure_config=tune.FailureConfig(max_failures=budget.worker_retries),
            ),
        )
    tune_env = {
        # Snapshot Tune's experiment state (trials, sampler, scheduler) at least every
        # second, so a driver killed without warning loses at most a second of it.
        "TUNE_GLOBAL_CHECKPOINT_S": "1",
        # With a searcher, Tune starts one trial's worker at a time, each waiting for
        # the last to come up (about 1.5 s each); start as many as can run at once.
        "TUNE_MAX_PENDING_TRIALS_PG": str(_parallel_trials(budget.concurrency, cluster)),
    }
    try:
        with _environ(tune_env), _interruptible(out, resume_command(search_id, runs_dir)):
            results = tuner.fit()
        # Tune has saved its final state: every trial it ran is in it.
        hooks.snapshot(LIVE[search_id], [])
        hooks.flush(LIVE[search_id], final=True)
        hooks.prune_checkpoints(results, {
            t.checkpoint_path
            for t in board.trials(experiment.name, search_id=search_id, direction=direction)
            if t.checkpoint_path
        })
    finally:
        progress.close()
        live = LIVE.pop(search_id)
    if live.abort_reason:
        raise FatalSearchError(live.abort_reason)
    return "interrupted" if _INTERRUPTED.is_set() else "completed"


CHECKPOINT_EVERY = 50


def _parallel_trials(concurrency: int | None, cluster: ClusterOptions) -> int:
    """How many trials the cluster can run at once: the concurrency limit, or as many
    as its CPUs (and GPUs, for a GPU share) allow."""
    import ray

    resources = ray.cluster_resources()
    fits = [int(resources.get("CPU", 1))]
    if cluster.gpus_per_trial:
        fits.append(int(resources.get("GPU", 0) / cluster.gpus_per_trial))
    return max(1, min(fits + ([concurrency] if concurrency else [])))


@contextmanager
def _environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables the user has not set, for the block only."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def resume_command(search_id: str, runs_dir: Path) -> str:
    """The command that resumes a search."""
    return shlex.join(["python", "-m", "autokeras_lab", "search", "--resume", search_id,
                       "--runs-dir", str(runs_dir)])


_INTERRUPTED = threading.Event()


@contextmanager
def _interruptible(out: TextIO | None, resume_command: str) -> Iterator[None]:
    """First Ctrl-C: stop the search the way Ray Tune stops on SIGUSR1 (the running
    trials stay resumable, the experiment state is saved), keep and export what
    finished, and print how to resume. Second Ctrl-C: abort at once."""
    _INTERRUPTED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if _INTERRUPTED.is_set() or signal.getsignal(signal.SIGUSR1) in (
            signal.SIG_DFL, signal.SIG_IGN, None
        ):
            raise KeyboardInterrupt
        _INTERRUPTED.set()
        if out is not None:
            out.write(
                "\ninterrupted: stopping the search (Ctrl-C again to abort now); "
                f"resume it with: {resume_command}\n"
            )
            out.flush()
        signal.raise_signal(signal.SIGUSR1)  # Ray Tune's own graceful stop

    previous_env = os.environ.get("TUNE_DISABLE_SIGINT_HANDLER")
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"
    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
        if previous_env is None:
            os.environ.pop("TUNE_DISABLE_SIGINT_HANDLER", None)
        else:
            os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = previous_env


def make_searcher(
    distributions: dict[str, Any], *, direction: Direction, sampler: Any,
    plan: WarmStart | None, name: str,
) -> Any:
    """Ray Tune's ``OptunaSearch`` over our space; with a warm-start plan, on a study that
    already holds the earlier results and has their best configurations enqueued."""
    from ray.tune.search.optuna import OptunaSearch

    if plan is None or not plan.told:
        return OptunaSearch(
            space=distributions, metric="best_val_metric", mode=direction.value,
            sampler=sampler,
        )
    storage = build_study(
        plan, name=name, distributions=distributions, direction=direction, sampler=sampler
    )
    return OptunaSearch(
        space=distributions, metric="best_val_metric", mode=direction.value, sampler=sampler,
        storage=storage, study_name=name,
    )


def _trial_dirname(trial: Any) -> str:
    from autokeras_lab.tune_hooks import trial_dirname, trial_number

    return trial_dirname(trial_number(trial), trial.trial_id)


def _space_ref(space: SearchSpace) -> str:
    return str(Path(space.name).absolute()) if space.name.endswith(".py") else space.name


