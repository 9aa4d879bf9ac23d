"""Shared fixtures: one Ray session for every test that needs one, small data.

Two tiers: ``python -m pytest -m "not slow"`` answers in under two minutes (unit
tests, small in-process training); the tests marked ``slow`` start Ray, run real
searches or drive a browser. A test that asks for the Ray session must be marked
slow, so the fast tier never waits for Ray to start.

With ``-n 2`` (the README's commands) pytest-xdist runs the tests in two processes,
each with its own session: one Ray runtime each, started once, and each test file
whole in one of them (``--dist loadfile``), so a module's shared search runs once.
A slow test spends much of its time waiting on Ray and on processes that start up;
two processes keep both cores busy meanwhile.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
REPO = Path(__file__).resolve().parents[1]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Refuse a test that would start Ray (directly or through a fixture) unmarked."""
    unmarked = [item.nodeid for item in items
                if "ray_session" in getattr(item, "fixturenames", ())
                and item.get_closest_marker("slow") is None]
    if unmarked:
        raise pytest.UsageError(
            f"these tests start Ray but are not marked slow: {', '.join(unmarked)}; "
            "add @pytest.mark.slow")


@pytest.fixture(scope="session")
def ray_session() -> Iterator[None]:
    """A real local Ray runtime, started once for the whole test session (for each
    pytest-xdist process), the way a search starts one (for tests marked slow only)."""
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
