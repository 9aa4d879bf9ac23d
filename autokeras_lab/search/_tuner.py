"""The Ray Tune ``Tuner`` of a search run: the trainable with its data and settings,
the scheduler and the Optuna sampler from their registries (:mod:`autokeras_lab.tuners`),
and the callbacks that record trials on the leaderboard."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autokeras_lab import _ray_internals as ray_internals
from autokeras_lab.cluster import trial_resources
from autokeras_lab.leaderboard import TrialRecord
from autokeras_lab.search import _hooks as hooks
from autokeras_lab.search._run import SearchRun
from autokeras_lab.search._setup import Setup
from autokeras_lab.spaces import SearchSpace
from autokeras_lab.trainable import TrialSettings
from autokeras_lab.tuners import build_sampler, build_scheduler
from autokeras_lab.types import Direction
from autokeras_lab.warmstart import WarmStart, build_study

CHECKPOINT_EVERY = 50
REPORT_EVERY = 10
METRIC = "best_val_metric"  # what the scheduler and the searcher compare


def trial_settings(setup: Setup, rungs: tuple[int, ...] = (),
                   done: Sequence[TrialRecord] = ()) -> TrialSettings:
    """What every trial of a search set up as ``setup`` needs besides its sampled
    values and the data (``rungs``: the scheduler's; ``done``: the trials a resumed
    search already holds)."""
    experiment = setup.experiment
    return TrialSettings(
        space=_space_ref(setup.space),
        space_source=setup.space.source,
        space_object=setup.space if experiment.model_space is not None else None,
        space_config=setup.derived.to_config(),
        task=setup.task,
        metric=experiment.metric,
        direction=setup.direction,
        max_epochs=setup.max_epochs,
        patience=experiment.budget.patience,
        search_seed=experiment.seed,
        report_epochs=rungs,
        report_every=REPORT_EVERY,
        checkpoint_every=CHECKPOINT_EVERY,
        recorded=hooks.recorded_results(done, setup.direction),
        pack=experiment.pack,
    )


def build_tuner(run: SearchRun, done: list[TrialRecord]) -> Any:
    """A new Tuner for the run, or, resuming, the search's restored one."""
    from ray import tune

    experiment = run.setup.experiment
    budget = experiment.budget
    built = build_scheduler(
        experiment.scheduler.name, grace_period=experiment.scheduler.grace_period,
        reduction_factor=experiment.scheduler.reduction_factor, max_epochs=run.setup.max_epochs,
    )
    from autokeras_lab.search._worker import ray_trainable

    data = run.setup.prepared.search_arrays(experiment.input_transforms)
    trainable = tune.with_resources(
        tune.with_parameters(ray_trainable, data=data,
                             settings=trial_settings(run.setup, built.rungs, done)),
        trial_resources(run.cluster.gpus_per_trial),
    )
    if run.resume:
        return tune.Tuner.restore(run.tune_dir, trainable, resume_unfinished=True,
                                  resume_errored=False)
    sampler = run.sampler or build_sampler(experiment.sampler.name, seed=experiment.seed)
    searcher = make_searcher(run.setup.derived.to_optuna(), direction=run.direction,
                             sampler=sampler, plan=run.plan, name=run.search_id)
    return tune.Tuner(
        trainable,
        tune_config=tune.TuneConfig(
            metric=METRIC,
            mode=run.direction.value,
            search_alg=searcher,
            scheduler=built.scheduler,
            num_samples=budget.trials if budget.trials is not None else -1,
            max_concurrent_trials=budget.concurrency,
            time_budget_s=experiment.trial_seconds,
            reuse_actors=True,
            trial_dirname_creator=_trial_dirname,
        ),
        run_config=tune.RunConfig(
            name=run.search_id,
            storage_path=run.storage_root,
            verbose=0,
            # Ray pickles these with the experiment; on resume they come back and
            # find this process's leaderboard and progress by search id.
            callbacks=[hooks.Recorder(run.search_id)],
            stop=hooks.AbortStopper(run.search_id),
            # Keep every checkpoint while the search runs: Tune would delete the one
            # its saved state still names, for up to a second, and a search resumed
            # from that state could not continue the trial. prune_checkpoints()
            # removes the superseded ones afterwards.
            checkpoint_config=tune.CheckpointConfig(num_to_keep=None),
            failure_config=tune.FailureConfig(max_failures=budget.worker_retries),
        ),
    )


def tune_environment(run: SearchRun) -> dict[str, str]:
    """Environment settings for the length of ``Tuner.fit`` (unless the user set them)."""
    return {
        # Snapshot Tune's experiment state (trials, sampler, scheduler) at least every
        # second, so a driver killed without warning loses at most a second of it.
        "TUNE_GLOBAL_CHECKPOINT_S": "1",
        # With a searcher, Tune starts one trial's worker at a time, each waiting for
        # the last to come up (about 1.5 s each); start as many as can run at once.
        "TUNE_MAX_PENDING_TRIALS_PG": str(
            parallel_trials(run.setup.experiment.budget.concurrency, run.cluster.gpus_per_trial)
        ),
        "RAY_AIR_NEW_OUTPUT": "0",  # verbose=0 means silent
    }


def parallel_trials(concurrency: int | None, gpus_per_trial: float) -> int:
    """How many trials the cluster can run at once: the concurrency limit, or as many
    as its CPUs (and GPUs, for a GPU share) allow."""
    import ray

    resources = ray.cluster_resources()  # type: ignore[no-untyped-call]
    fits = [int(resources.get("CPU", 1))]
    if gpus_per_trial:
        fits.append(int(resources.get("GPU", 0) / gpus_per_trial))
    return max(1, min(fits + ([concurrency] if concurrency else [])))


def make_searcher(
    distributions: dict[str, Any], *, direction: Direction, sampler: Any,
    plan: WarmStart | None, name: str,
) -> Any:
    """Ray Tune's ``OptunaSearch`` over our space; with a warm-start plan, on a study that
    already holds the earlier results and has their best configurations enqueued."""
    from ray.tune.search.optuna import OptunaSearch

    if plan is None or not plan.told:
        return OptunaSearch(space=distributions, metric=METRIC, mode=direction.value,
                            sampler=sampler)
    storage = build_study(plan, name=name, distributions=distributions, direction=direction,
                          sampler=sampler)
    return OptunaSearch(space=distributions, metric=METRIC, mode=direction.value,
                        sampler=sampler, storage=storage, study_name=name)


def _trial_dirname(trial: Any) -> str:
    return hooks.trial_dirname(ray_internals.trial_number(trial), trial.trial_id)


def _space_ref(space: SearchSpace) -> str:
    return str(Path(space.name).absolute()) if space.name.endswith(".py") else space.name
