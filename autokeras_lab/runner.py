"""The search engine behind :func:`autokeras_lab.run_search`.

Data flow (one way): prepare data -> derive the space -> start or join Ray, put the
arrays in the object store once -> ``Tuner(OptunaSearch + ASHA)`` -> every finished
trial goes to the leaderboard from the driver -> the top trials are evaluated on the
held-out test split -> the best one is exported.
"""

from __future__ import annotations

import dataclasses
import logging
import math
import os
import secrets
import shlex
import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, TextIO

from autokeras_lab._env import QUIET_ENV, import_tensorflow_quietly, quiet
from autokeras_lab.config import Experiment
from autokeras_lab.data import Dataset, Prepared, load_csv, load_dataset, prepare
from autokeras_lab.errors import FatalSearchError, UserError
from autokeras_lab.leaderboard import Leaderboard, SearchRecord, TrialRecord, leaderboard_path
from autokeras_lab.metrics import METRICS, default_metric, direction_of
from autokeras_lab.progress import Progress
from autokeras_lab.spaces import DerivedSpace, SearchSpace, Task, load_space
from autokeras_lab.warmstart import WarmStart, build_study, plan_warm_start

__all__ = ["SearchResult", "asha_rungs", "leaderboard_path", "run_search"]

TEST_EVALUATED_TOP = 5


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """What a finished search left behind (plain data, for the CLI and for tests)."""

    search_id: str
    experiment: str
    metric: str
    direction: str
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


def _ensure_ray(address: str | None) -> None:
    import ray

    if ray.is_initialized():
        return
    ray.init(
        address=address,
        include_dashboard=False,
        log_to_driver=False,
        logging_level=logging.ERROR,
        configure_logging=True,
        runtime_env={"env_vars": dict(QUIET_ENV)},
    )


def run_search(
    experiment: Experiment,
    *,
    runs_dir: Path,
    address: str | None = None,
    out: TextIO | None = None,
    command: str | None = None,
    warm_start: bool = False,
    warm_start_from: str | None = None,
) -> SearchResult:
    """Run one search and return what it left on the leaderboard.

    Args:
        experiment: The experiment (see :func:`autokeras_lab.config.load_experiment`).
        runs_dir: Where the leaderboard, Ray's trial storage and exports live.
        address: ``None`` starts a local Ray runtime (or reuses the one this process
            has); otherwise the address of a cluster to join.
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
    derived = space.derive(task)
    if out is not None:
        sizes = prepared.sizes()
        out.write(
            f"searching {experiment.name} ({dataset.task}, {sizes['train']}/{sizes['val']}/"
            f"{sizes['test']} rows train/val/test): space {experiment.space}, metric "
            f"{experiment.metric} ({experiment.direction}), {_budget_text(experiment)}, "
            f"seed {experiment.seed}\n"
        )
    board = Leaderboard(leaderboard_path(runs_dir))
    search_id = time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)
    plan = None
    if warm_start or warm_start_from:
        plan = plan_warm_start(
            board, experiment.name, fingerprint=dataset.fingerprint, space=experiment.space,
            distributions=derived.to_optuna(), defaults=derived.defaults(),
            direction=experiment.direction, search_id=warm_start_from,
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
            direction=experiment.direction,
            seed=experiment.seed,
            status="running",
            started_at=time.time(),
            command=command or shlex.join(["python", "-m", "autokeras_lab", *sys.argv[1:]]),
            settings=asdict(experiment) | {"warm_start": plan.summary() if plan else None},
            space_config=derived.to_config(),
            split_sizes=prepared.sizes(),
        )
    )
    started = time.perf_counter()
    status = "failed"
    try:
        status = _tune(
            experiment, prepared, task, space, derived, search_id, board, runs_dir, address, out,
            plan,
        )
    except KeyboardInterrupt:
        status = "interrupted"
        raise
    finally:
        if status not in ("completed", "interrupted"):
            board.finish_search(search_id, status=status)
    trials = board.trials(experiment.name, search_id=search_id)
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
        test = evaluate_on_test(trial, prepared, space, derived, task)
        board.set_test_metrics(search_id, trial.trial_id, test, main=experiment.metric)
    trials = board.trials(experiment.name, search_id=search_id)
    best = next(t for t in trials if t.trial_id == ranked[0].trial_id)
    export_dir = export_best(
        best,
        prepared=prepared,
        space=space,
        derived=derived,
        task=task,
        experiment=experiment,
        runs_dir=runs_dir,
    )
    board.finish_search(
        search_id, status=status, best_trial_id=best.trial_id, export_dir=str(export_dir)
    )
    return SearchResult(
        search_id=search_id,
        experiment=experiment.name,
        metric=experiment.metric,
        direction=experiment.direction,
        status=status,
        wall_seconds=time.perf_counter() - started,
        trials=trials,
        leaderboard_path=board.path,
        export_dir=export_dir,
        best_trial_id=best.trial_id,
    )


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
    direction = experiment.direction or direction_of(metric)
    return dataclasses.replace(experiment, metric=metric, direction=direction)


def _check_runs_dir(runs_dir: Path) -> Path:
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
    return runs_dir


def _tune(
    experiment: Experiment,
    prepared: Prepared,
    task: Task,
    space: SearchSpace,
    derived: DerivedSpace,
    search_id: str,
    board: Leaderboard,
    runs_dir: Path,
    address: str | None,
    out: TextIO | None,
    plan: WarmStart | None = None,
) -> str:
    import optuna
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler, FIFOScheduler

    from autokeras_lab.trainable import TrialSettings, ray_trainable

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    _ensure_ray(address)
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
    settings = TrialSettings(
        space=_space_ref(space),
        space_config=derived.to_config(),
        task=task,
        metric=experiment.metric,
        direction=experiment.direction,
        max_epochs=budget.max_epochs,
        patience=budget.patience,
        search_seed=experiment.seed,
        report_epochs=rungs,
        report_every=10,
    )
    sampler = optuna.samplers.TPESampler(
        seed=experiment.seed, multivariate=True, constant_liar=True
    )
    mode = "min" if experiment.direction == "min" else "max"
    searcher = make_searcher(derived.to_optuna(), mode=mode, sampler=sampler, plan=plan,
                             name=search_id)
    recorder = _Recorder(board, search_id, experiment.name, Progress(out, mode=mode))
    trainable = tune.with_resources(
        tune.with_parameters(ray_trainable, data=prepared.search_arrays(), settings=settings),
        {"cpu": 1},
    )
    tuner = tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric="best_val_metric",
            mode=mode,
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
            storage_path=str(runs_dir / experiment.name / "ray"),
            verbose=0,
            callbacks=[recorder],
            stop=_InterruptStopper(),
            checkpoint_config=tune.CheckpointConfig(num_to_keep=1),
            failure_config=tune.FailureConfig(max_failures=0),
        ),
    )
    with _interruptible(out):
        try:
            tuner.fit()
        finally:
            recorder.progress.close()
    return "interrupted" if _INTERRUPTED.is_set() else "completed"


_INTERRUPTED = threading.Event()


def _is_interrupted() -> bool:
    return _INTERRUPTED.is_set()


class _InterruptStopper:
    """A Ray Tune stopper that ends the whole search once Ctrl-C was pressed (built
    lazily as a ``tune.Stopper`` so this module does not import Ray)."""

    def __new__(cls) -> Any:
        from ray import tune

        class InterruptStopper(tune.Stopper):
            def __call__(self, trial_id: str, result: dict) -> bool:
                return False

            def stop_all(self) -> bool:
                return _is_interrupted()  # by reference: an Event does not pickle

        return InterruptStopper()


@contextmanager
def _interruptible(out: TextIO | None) -> Iterator[None]:
    """First Ctrl-C: stop the search cleanly (running trials end, what finished is
    kept and exported). Second Ctrl-C: abort at once. We take the signal from Ray Tune
    so that we know the search was interrupted rather than finished."""
    _INTERRUPTED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        _INTERRUPTED.set()
        signal.signal(signal.SIGINT, signal.default_int_handler)
        if out is not None:
            out.write("\ninterrupted: stopping the search (Ctrl-C again to abort now)\n")
            out.flush()

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
    distributions: dict[str, Any], *, mode: str, sampler: Any, plan: WarmStart | None, name: str
) -> Any:
    """Ray Tune's ``OptunaSearch`` over our space; with a warm-start plan, on a study that
    already holds the earlier results and has their best configurations enqueued."""
    from ray.tune.search.optuna import OptunaSearch

    if plan is None or not plan.told:
        return OptunaSearch(
            space=distributions, metric="best_val_metric", mode=mode, sampler=sampler
        )
    storage = build_study(
        plan, name=name, distributions=distributions, direction=mode, sampler=sampler
    )
    return OptunaSearch(
        space=distributions, metric="best_val_metric", mode=mode, sampler=sampler,
        storage=storage, study_name=name,
    )


def _trial_dirname(trial: Any) -> str:
    return f"trial_{_trial_number(trial):04d}_{trial.trial_id}"


def _space_ref(space: SearchSpace) -> str:
    return str(Path(space.name).absolute()) if space.name.endswith(".py") else space.name


class _Recorder:
    """A Ray Tune callback on the driver: writes each finished trial to the leaderboard
    and drives the progress view. Built lazily as a subclass of ``tune.Callback`` so
    that importing this module does not import Ray."""

    def __new__(cls, *args: Any, **kwargs: Any) -> Any:
        from ray import tune

        class Recorder(tune.Callback):
            def __init__(
                self, board: Leaderboard, search_id: str, experiment: str, progress: Progress
            ) -> None:
                self.board, self.search_id, self.experiment = board, search_id, experiment
                self.progress = progress
                self.curves: dict[str, list[float]] = {}
                self.last: dict[str, dict[str, Any]] = {}
                self.started: dict[str, float] = {}

            def on_trial_start(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                self.started.setdefault(trial.trial_id, time.time())
                self.curves.setdefault(trial.trial_id, [])
                self.progress.update(trials)

            def on_trial_result(
                self, iteration: int, trials: list, trial: Any, result: dict, **info: Any
            ) -> None:
                self.curves.setdefault(trial.trial_id, []).extend(result.get("new_curve", []))
                self.last[trial.trial_id] = result
                self.progress.result(result.get("best_val_metric"))
                self.progress.update(trials)

            def on_trial_complete(
                self, iteration: int, trials: list, trial: Any, **info: Any
            ) -> None:
                last = self.last.get(trial.trial_id, {})
                status = "completed" if last.get("finished") else "stopped_early"
                self._record(trial, status, None)
                self.progress.finished(status)
                self.progress.update(trials)

            def on_trial_error(self, iteration: int, trials: list, trial: Any, **info: Any) -> None:
                self._record(trial, "failed", _failure_reason(trial))
                self.progress.finished("failed")
                self.progress.update(trials)

            def on_step_end(self, iteration: int, trials: list, **info: Any) -> None:
                self.progress.update(trials)

            def _record(self, trial: Any, status: str, reason: str | None) -> None:
                last = self.last.get(trial.trial_id, {})
                checkpoint = trial.checkpoint
                self.board.record_trial(
                    TrialRecord(
                        search_id=self.search_id,
                        trial_id=trial.trial_id,
                        experiment=self.experiment,
                        number=_trial_number(trial),
                        config=_active(trial.config, last.get("active_hyperparameters")),
                        status=status,
                        epochs=int(last.get("epoch", 0)),
                        curve=self.curves.get(trial.trial_id, []),
                        failure_reason=reason,
                        best_val=last.get("best_val_metric"),
                        metrics={"val": last.get("best_metrics") or {}}
                        | ({"val_std": last["best_metrics_std"]}
                           if last.get("best_metrics_std") else {}),
                        best_epoch=last.get("best_epoch"),
                        started_at=self.started.get(trial.trial_id),
                        finished_at=time.time(),
                        wall_seconds=last.get("trial_seconds"),
                        train_seconds=last.get("train_seconds"),
                        seed=last.get("trial_seed"),
                        checkpoint_path=checkpoint.path if checkpoint is not None else None,
                    )
                )

        return Recorder(*args, **kwargs)


def _trial_number(trial: Any) -> int:
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
