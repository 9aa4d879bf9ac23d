"""How a search sets up Ray Tune around the user's own settings."""

from __future__ import annotations

import os

import pytest
import ray

from autokeras_lab.cluster import ClusterOptions
from autokeras_lab.runner import _environ, _parallel_trials


def test_tune_settings_leave_the_users_own_environment_alone(monkeypatch) -> None:
    monkeypatch.setenv("TUNE_MAX_PENDING_TRIALS_PG", "7")
    monkeypatch.delenv("TUNE_GLOBAL_CHECKPOINT_S", raising=False)
    with _environ({"TUNE_MAX_PENDING_TRIALS_PG": "2", "TUNE_GLOBAL_CHECKPOINT_S": "1"}):
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
    cluster = ClusterOptions(gpus_per_trial=gpus_per_trial)
    assert _parallel_trials(concurrency, cluster) == expected
