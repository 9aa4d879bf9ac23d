"""Shared fixtures: one Ray session for every test that needs one, small data."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray runtime, started once for the whole test session, the way a
    search starts one."""
    import ray

    from autokeras_lab._env import quiet
    from autokeras_lab.cluster import start_ray

    quiet()
    start_ray(num_cpus=2)
    yield
    ray.shutdown()


@pytest.fixture(scope="session")
def concrete():
    from autokeras_lab.data import load_dataset, prepare

    return prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2, split_seed=42)
