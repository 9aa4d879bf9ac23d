"""Every bundled experiment file loads, validates and builds a model for its data."""

from __future__ import annotations

import pytest

from autokeras_lab.config import available_experiments, load_experiment, load_experiment_data
from autokeras_lab.data import prepare
from autokeras_lab.errors import UserError
from autokeras_lab.search._setup import resolve_metric
from autokeras_lab.spaces import Task, load_space

EXPECTED = {"concrete", "car", "iris", "breast_cancer", "diabetes", "diamonds", "moons"}


def test_the_promised_experiments_ship() -> None:
    assert set(available_experiments()) >= EXPECTED


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_experiment_loads_validates_and_builds(name: str) -> None:
    exp = load_experiment(name)
    dataset = load_experiment_data(exp)
    exp = resolve_metric(exp, dataset.task)
    assert exp.direction in ("min", "max")
    prepared = prepare(dataset, test_fraction=exp.test_fraction, val_fraction=exp.val_fraction,
                       split_seed=exp.split_seed, class_weight=exp.class_weight)
    task = Task.for_data(dataset.task, prepared.preprocessor.n_inputs, len(dataset.classes))
    assert prepared.x_train.shape[1] == task.n_features
    space = load_space(exp.space)
    derived = space.derive(task)
    model = space.build(derived.defaults(), task, derived)
    assert model.predict_on_batch(prepared.x_val[:4]).shape == (4, task.n_outputs)


def test_a_metric_that_does_not_fit_the_task_is_refused() -> None:
    exp = load_experiment("iris")
    with pytest.raises(UserError, match=r"metric 'rmse' is for regression.*expected one of: log_loss, accuracy"):
        resolve_metric(exp.with_overrides(metric="rmse"), "classification")
