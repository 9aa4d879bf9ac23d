"""A trial's own failures are recorded as its failure; a bug of ours is not blamed on
the trial but carries its traceback to the driver."""

from __future__ import annotations

import math
from pathlib import Path

import pytest

from autokeras_lab.errors import TrialFailedError
from autokeras_lab.search._worker import trial_failure
from autokeras_lab.spaces import Task, load_space
from autokeras_lab.trainable import TrialSettings
from autokeras_lab.types import Direction

TASK = Task(n_features=8)
SPACES = Path(__file__).parents[1] / "spaces"


@pytest.fixture(scope="module")
def derived():
    return load_space("mlp").derive(TASK)


def settings(derived, **changes) -> TrialSettings:
    base = dict(space="mlp", space_config=derived.to_config(), task=TASK, metric="rmse",
                direction=Direction.MIN, max_epochs=6, patience=50, search_seed=0)
    return TrialSettings(**(base | changes))


def test_a_bug_of_ours_inside_a_trial_is_not_blamed_on_the_trial(derived) -> None:
    try:
        {}["target_scale"]  # the kind of slip our own code could make
    except KeyError as exc:
        report = trial_failure(settings(derived), exc, None)
    assert report.failure is None and report.finished
    assert "KeyError: 'target_scale'" in report.internal_error
    assert "test_worker.py" in report.internal_error  # the whole traceback


def test_the_trials_own_errors_are_recorded_as_its_failure(derived) -> None:
    import keras_tuner as kt

    faulty = load_space(str(SPACES / "faulty.py"))
    hp = kt.HyperParameters()
    hp.values["fault"] = "exception"
    try:
        faulty.module.build_model(hp, TASK)  # raises in the module's own code
    except RuntimeError as exc:
        from_space = trial_failure(settings(derived, space=faulty.name), exc, None)
    assert from_space.failure == "RuntimeError: bug in the search-space module"
    assert from_space.internal_error is None
    nan = trial_failure(settings(derived), TrialFailedError("loss became nan"), None)
    assert nan.failure == "TrialFailedError: loss became nan" and nan.best_val_metric == math.inf
    assert trial_failure(settings(derived, direction=Direction.MAX),
                         TrialFailedError("x"), None).best_val_metric == -math.inf
