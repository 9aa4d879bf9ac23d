"""The refit's queue of Ray tasks: one a worker, in the order queued, and what the
deadline leaves out said. Tasks here sleep instead of training, on the real runtime."""

from __future__ import annotations

import dataclasses
import time
from types import SimpleNamespace

import pytest

from tests.helpers import trial

pytestmark = pytest.mark.slow


def _sleep(name: str, seconds: float) -> str:
    started = time.time()
    time.sleep(seconds)
    return f"{name} {started} {time.time()}"


def _queue(deadline: float):
    import ray

    from autokeras_lab.search._refit import _Queue

    run = SimpleNamespace(cluster=SimpleNamespace(gpus_per_trial=0), out=None)
    queue = _Queue(run, deadline=deadline)  # type: ignore[arg-type]
    queue.task = ray.remote(_sleep).options(num_cpus=1)
    return queue


def _spans(*passes) -> dict[str, tuple[float, float]]:
    """What each sleeping task said (the pass keeps it as its reason), by name."""
    spans = {}
    for each in passes:
        for said in each.failures:
            name, started, ended = said.split(": ", 1)[1].split()
            spans[name] = (float(started), float(ended))
    return spans


def test_refits_start_first_one_a_worker_and_models_on_every_row_after_them(
        ray_session) -> None:
    from autokeras_lab.search._refit import _Job, _Pass

    queue = _queue(deadline=time.time() + 60)
    assert queue.workers == 2
    refits, every_row = _Pass(queue), _Pass(queue, what="training on every row")
    numbered = [dataclasses.replace(trial(name, 1.0), number=k) for k, name in
                enumerate("abce")]
    for record, seconds in zip(numbered[:3], (1.0, 0.2, 0.2), strict=True):
        queue.put(_Job(refits, record, (record.trial_id, seconds)))
    # queued while the refits wait: it must not take a worker from them
    queue.put(_Job(every_row, numbered[3], ("e", 0.1)))
    refits.finish()
    every_row.finish()
    spans = _spans(refits, every_row)
    assert set(spans) == {"a", "b", "c", "e"}
    assert spans["c"][0] >= spans["b"][1]  # b's worker, once b ended
    assert spans["e"][0] >= spans["c"][0]  # behind every refit
    starts = sorted(start for start, _ in spans.values())
    ends = sorted(end for _, end in spans.values())
    # never three at once on two workers: the third start comes after the first end
    assert starts[2] >= ends[0]


def test_what_the_deadline_leaves_out_is_said_and_stopped(ray_session, monkeypatch) -> None:
    from autokeras_lab.search import _refit
    from autokeras_lab.search._refit import _Job, _Pass

    monkeypatch.setattr(_refit, "LATE_SECONDS", 0.0)
    queue = _queue(deadline=time.time() + 1.0)
    refits = _Pass(queue)
    numbered = [dataclasses.replace(trial(name, 1.0), number=k) for k, name in
                enumerate("abc")]
    for record in numbered:
        queue.put(_Job(refits, record, (record.trial_id, 30.0)))
    started = time.time()
    assert refits.finish() == {}
    assert time.time() - started < 10  # stopped at the deadline, not after 30 s
    assert sorted(refits.failures) == ["trial 0: still training", "trial 1: still training",
                                       "trial 2: not started in the time left"]
    assert not queue.running and not queue.waiting
