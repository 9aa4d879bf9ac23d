"""How a search sets up Ray Tune around the user's own settings."""

from __future__ import annotations

import os

import pytest
import ray

from autokeras_lab._env import environ
from autokeras_lab.search._tuner import parallel_trials
from autokeras_lab.tuners import SAMPLERS, SCHEDULERS, build_sampler, build_scheduler


def test_tune_settings_leave_the_users_own_environment_alone(monkeypatch) -> None:
    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "7")
    monkeypatch.delenv("TUNE_GLOBAL_CHECKPOINT_S", raising=False)
    with environ({"TUNE_MAX_PENDING_TRIALS_PG": "2", "TUNE_GLOBAL_CHECKPOINT_S": "1"}):
        assert os.environ["TUNE_MAX_PENDING_TRIALS_PG"] == "7"  # the user's wins
        assert os.environ["TUNE_GLOBAL_CHECKPOINT_S"] == "1"
    assert "TUNE_GLOBAL_CHECKPOINT_S" not in os.environ  # ours ends with the search
    assert os.environ["TUNE_MAX_PENDING_TRIALS_PG"] == "7"


@pytest.mark.parametrize(
    ("concurrency", "gpus_per_trial", "expected"),
    [(None, 0.0, 16), (3, 0.0, 3), (None, 0.5, 4), (2, 0.5, 2)],
)
def test_as_many_trial_workers_start_at_once_as_can_run(
    monkeypatch, concurrency, gpus_per_trial, expected
) -> None:
    monkeypatch.setattr(ray, "cluster_resources", lambda: {"CPU": 16.0, "GPU": 2.0})
    assert parallel_trials(concurrency, gpus_per_trial) == expected


@pytest.mark.parametrize("name", list(SCHEDULERS), ids=str)
def test_every_scheduler_builds_and_compares_trials_where_results_arrive(name: str) -> None:
    built = build_scheduler(name, grace_period=5, reduction_factor=3, max_epochs=100)
    assert type(built.scheduler).__name__ == {
        "asha": "AsyncHyperBandScheduler", "hyperband": "AsyncHyperBandScheduler",
        "median": "MedianStoppingRule", "fifo": "FIFOScheduler"}[name]
    expected = {"asha": (5, 15, 45), "hyperband": (5, 15, 45), "median": (), "fifo": ()}[name]
    assert built.rungs == expected
    if name == "hyperband":
        assert len(built.scheduler._brackets) == 3


@pytest.mark.parametrize("name", [n for n in SAMPLERS if n != "gp"], ids=str)
def test_every_sampler_is_seeded_the_same_way(name: str) -> None:
    import optuna

    def proposals() -> list[float]:
        study = optuna.create_study(sampler=build_sampler(name, seed=3))
        study.optimize(lambda t: t.suggest_float("x", 0, 1) + t.suggest_float("y", 0, 1),
                       n_trials=4)
        return [t.params["x"] for t in study.trials]

    assert proposals() == proposals()


def test_the_gp_sampler_runs_with_pytorch_and_says_how_to_get_it_without() -> None:
    import importlib.util

    from autokeras_lab.errors import UserError

    if importlib.util.find_spec("torch") is None:
        with pytest.raises(UserError, match=r'needs the torch package.*autokeras_lab\[gp\]'):
            build_sampler("gp", seed=0)
    else:
        assert type(build_sampler("gp", seed=0)).__name__ == "GPSampler"
