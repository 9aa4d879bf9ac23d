"""An experiment made ready to search: the runs directory checked, the data loaded and
split, the metric and its direction resolved, the search space derived."""

from __future__ import annotations

import dataclasses
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

from autokeras_lab._env import import_tensorflow_quietly
from autokeras_lab.config import AUTO_CV_ROWS, AUTO_FOLDS, Experiment, load_experiment_data
from autokeras_lab.data import INPUT_TRANSFORM, Dataset, Prepared, prepare
from autokeras_lab.errors import UserError
from autokeras_lab.metrics import METRICS, default_metric, direction_of
from autokeras_lab.spaces import (
    DerivedSpace,
    ModelBuilder,
    SearchSpace,
    Task,
    check_space_name,
    load_space,
)
from autokeras_lab.types import Direction, TaskKind

MIN_FREE_MB = 200


@dataclass(frozen=True)
class Setup:
    """An experiment made ready to search: its data split, task and space."""

    experiment: Experiment
    dataset: Dataset
    prepared: Prepared
    task: Task
    space: SearchSpace
    derived: DerivedSpace

    @property
    def builder(self) -> ModelBuilder:
        return ModelBuilder(self.space, self.derived, self.task)

    @property
    def direction(self) -> Direction:
        """The metric's direction (:func:`resolve_metric` has filled it in)."""
        assert self.experiment.direction is not None
        return self.experiment.direction

    @property
    def max_epochs(self) -> int:
        """The most epochs a trial trains (:func:`resolve_epochs` has filled it in)."""
        assert self.experiment.budget.max_epochs is not None
        return self.experiment.budget.max_epochs


def load(experiment: Experiment) -> tuple[Experiment, Dataset]:
    """The experiment's data, read and checked, and its metric and folds resolved: the
    quick part of the set-up, where the user's mistakes show (a missing or malformed
    CSV, a target that is not there, a metric of another task)."""
    dataset = experiment.data or load_experiment_data(experiment)
    if experiment.model_space is None:
        check_space_name(experiment.space)
    return resolve_folds(resolve_metric(experiment, dataset.task), dataset), dataset


def set_up(experiment: Experiment, dataset: Dataset | None = None) -> Setup:
    """The experiment made ready: :func:`load` (unless ``dataset`` says it was, with
    ``experiment`` resolved), then the data split and the space derived, which imports
    TensorFlow."""
    if dataset is None:
        experiment, dataset = load(experiment)
    prepared = prepare(
        dataset,
        test_fraction=experiment.test_fraction,
        val_fraction=experiment.val_fraction,
        split_seed=experiment.split_seed,
        class_weight=experiment.class_weight,
        cv=experiment.cv,
    ).with_transforms(experiment.input_transforms[0])
    fit_rows = len(prepared.folds[0]["x_train"]) if prepared.folds else len(prepared.x_train)
    epoch_rows = experiment.budget.rows_per_epoch(fit_rows)
    experiment = resolve_epochs(experiment, epoch_rows)
    task = Task.for_training(dataset.task, prepared.preprocessor, len(dataset.classes),
                             fit_rows=fit_rows, budget=experiment.budget)
    import_tensorflow_quietly()  # before the space module imports keras
    space = experiment.model_space or load_space(experiment.space)
    derived = space.derive(task)
    if len(experiment.input_transforms) > 1 and INPUT_TRANSFORM not in derived.names:
        derived = derived.with_choice(INPUT_TRANSFORM, experiment.input_transforms)
    return Setup(experiment, dataset, prepared, task, space, derived)


def resolve_epochs(experiment: Experiment, epoch_rows: int) -> Experiment:
    """Fill in the most epochs a trial trains where the budget leaves it to the table
    (:meth:`~autokeras_lab.types.Budget.epochs_for`), so that the scheduler, the
    trials' learning-rate schedules, the header and the search's record agree."""
    budget = experiment.budget
    return dataclasses.replace(experiment, budget=dataclasses.replace(
        budget, max_epochs=budget.epochs_for(epoch_rows)))


def resolve_metric(experiment: Experiment, task: TaskKind) -> Experiment:
    """Fill in the metric and direction the task implies; refuse a metric that does
    not fit the task."""
    metric = experiment.metric or default_metric(task)
    suits = METRICS[metric].task
    if suits != task:
        fitting = ", ".join(name for name, m in METRICS.items() if m.task == task)
        raise UserError(
            f"experiment {experiment.name!r}: metric {metric!r} is for {suits}, but the data "
            f"is a {task} task; expected one of: {fitting}"
        )
    direction = Direction(experiment.direction or direction_of(metric))
    return dataclasses.replace(experiment, metric=metric, direction=direction)


def resolve_folds(experiment: Experiment, dataset: Dataset) -> Experiment:
    """Fill in the fold count ``cv = 0`` stands for: a bag of ``AUTO_FOLDS`` fold models
    on a small table (every row trains and validates), one validation split on a large
    one or where validation rows were given."""
    if experiment.cv != 0:
        return experiment
    searched = len(dataset.frame) * (1 - experiment.test_fraction)
    small = searched <= AUTO_CV_ROWS and dataset.validation is None
    return dataclasses.replace(experiment, cv=AUTO_FOLDS if small else 1)


def check_runs_dir(runs_dir: Path) -> Path:
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
