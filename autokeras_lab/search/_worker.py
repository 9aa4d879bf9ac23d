"""A trial on a Ray worker: the Ray Tune trainable around :func:`train_trial`, and
which of a trial's errors are its own.

The data comes from the object store once per trial, the worker's TensorFlow is
pinned to the trial's CPUs and sees only its GPU share, checkpoints go through
``tune.report``. A trial that fails by itself (NaN loss, an error in the search-space
module, out of memory) ends with a failure report instead of an exception, so Ray's
retries are spent only on dead workers; an error of this package ends with its
traceback, which stops the search (see :mod:`._hooks`).
"""

from __future__ import annotations

import functools
import gc
import os
import re
import sys
import tempfile
from pathlib import Path
from typing import Any

from autokeras_lab.data import Arrays
from autokeras_lab.errors import SpaceError, TrialFailedError, one_line
from autokeras_lab.layout import CHECKPOINT_STATE
from autokeras_lab.spaces import SPACES_PACKAGE
from autokeras_lab.trainable import (
    TrialSettings,
    TrialState,
    configure_threads,
    train_trial,
)
from autokeras_lab.types import TrialReport


@functools.cache
def freeze_start_up() -> None:
    """Once per worker, after the imports: move what exists into the collector's
    permanent generation, so the collection at each trial's start scans only the
    trials' own objects (5 ms instead of 170 ms with TensorFlow and Keras loaded)."""
    import keras  # noqa: F401
    import keras_tuner  # noqa: F401

    gc.collect()
    gc.freeze()



def ray_trainable(config: dict[str, Any], *, data: Arrays, settings: TrialSettings) -> None:
    """The Ray Tune function trainable.

    Used as ``tune.with_parameters(ray_trainable, data=..., settings=...)`` so the
    arrays travel once through the object store. A trial restarted by Ray (its worker
    died, or the search resumes after a crash) continues from its last checkpoint. A
    trial that fails by itself (NaN loss, an error in the search-space module, out of
    memory) ends with a ``failure`` result instead of an exception, so Ray's retries
    are spent only on dead workers.
    """
    import ray
    from ray import tune

    from autokeras_lab.cluster import configure_devices

    recorded = settings.recorded.get(tune.get_context().get_trial_id())
    if recorded is not None:  # finished before the driver died; its row stands
        tune.report(recorded.to_result())
        return
    configure_devices(ray.get_gpu_ids())  # before TensorFlow sees the devices
    cpus = int(tune.get_context().get_trial_resources().required_resources.get("CPU", 1) or 1)
    configure_threads(max(1, cpus))
    freeze_start_up()

    def report(result: TrialReport, state: TrialState | None) -> None:
        if state is None:
            tune.report(result.to_result())
            return
        with tempfile.TemporaryDirectory(prefix="akl-ckpt-") as tmp:
            state.save(Path(tmp))
            tune.report(result.to_result(), checkpoint=tune.Checkpoint.from_directory(tmp))

    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    checkpoint = tune.get_checkpoint()
    resume = None
    if checkpoint is not None:
        with checkpoint.as_directory() as directory:
            if (Path(directory) / CHECKPOINT_STATE).is_file():
                resume = TrialState.load(Path(directory))
    try:
        train_trial(config, data, settings, report, resume=resume)
    except Exception as exc:  # recorded or, if it is ours, stops the search
        tune.report(trial_failure(settings, exc, resume).to_result())


def trial_failure(
    settings: TrialSettings, exc: BaseException, state: TrialState | None
) -> TrialReport:
    """The last report of a trial that raised ``exc``.

    The trial's own failures (a NaN loss, an error in or raised through the search-space
    module, TensorFlow running the model out of memory or into an invalid operation)
    are recorded as the trial's failure, with the worst value of the metric so the
    searcher learns to avoid the region. Any other exception is a bug of this package:
    the report carries its traceback, and the driver stops the search with it.
    """
    import traceback

    epoch = state.epoch if state else 0
    if not _trials_own(exc, _space_file(settings)):
        return TrialReport(epoch=epoch, best_val_metric=settings.direction.worst,
                           finished=True,
                           internal_error="".join(traceback.format_exception(exc)))
    reason = one_line(exc)
    oom = re.search(r"OOM when allocating tensor with shape ?\[([\d,]*)\]", str(exc))
    if oom:
        reason = (f"out of memory: the model needs a tensor of shape [{oom.group(1)}]; "
                  "narrow the width and depth ranges of the search space")
    return TrialReport.failed(epoch=epoch, reason=reason, direction=settings.direction)


def _space_file(settings: TrialSettings) -> str | None:
    """The file of the search space's own code (a user's model function's, too)."""
    if settings.space_object is not None:
        return getattr(settings.space_object.module, "__file__", None)
    if settings.space.endswith(".py"):
        return settings.space
    return getattr(sys.modules.get(f"{SPACES_PACKAGE}.{settings.space}"), "__file__", None)


def _trials_own(exc: BaseException, space_file: str | None) -> bool:
    """Whether ``exc`` is the trial's own failure rather than a bug of this package."""
    if isinstance(exc, TrialFailedError | SpaceError | MemoryError):
        return True
    tf = sys.modules.get("tensorflow")
    if tf is not None and isinstance(exc, tf.errors.OpError):
        return True  # raised by TensorFlow running the model the space built
    # anything raised through the search-space module's own code is the space's
    return space_file is not None and space_file in traceback_files(exc)


def traceback_files(exc: BaseException) -> list[str]:
    """The files of every frame ``exc`` passed through (its causes' too)."""
    import traceback

    files: list[str] = []
    seen: BaseException | None = exc
    while seen is not None:
        files.extend(frame.filename for frame in traceback.extract_tb(seen.__traceback__))
        seen = seen.__cause__ or seen.__context__
    return files
