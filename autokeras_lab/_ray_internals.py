"""Everything we read of Ray's private internals, in one room.

Ray's public API does not say which local runtime ``ray start`` left running, where
Tune stages its state on the driver, what its state files are called, or a trial's
creation number and failure count. We need each of those, so each is read here and
nowhere else, and ``tests/test_ray_internals.py`` checks every assumption against the
installed Ray. After a Ray upgrade that moves one, the search stops here with a
:class:`RayChangedError` that names what moved, instead of failing somewhere deep.

Written against ray 2.60.
"""

from __future__ import annotations

import fnmatch
import os
import sys
from collections.abc import Callable
from typing import Any, TypeVar

from autokeras_lab.errors import FatalSearchError

__all__ = [
    "STATE_GLOB",
    "TUNER_FILE",
    "RayChangedError",
    "bootstrap_address",
    "dashboard_url",
    "disable_cluster_mode",
    "driver_staging_path",
    "enable_token_auth_if_available",
    "gcs_addresses",
    "is_state_file",
    "joined_address",
    "trial_error",
    "trial_failures",
    "trial_number",
]

SUPPORTED_RAY = "2.60"
#: Tune's experiment state files on the driver's staging directory and in storage
#: (``TuneController.CKPT_FILE_TMPL``).
STATE_GLOB = "experiment_state-*.json"
#: The Tuner's own file, written once when a search starts (``tuner_internal._TUNER_PKL``).
TUNER_FILE = "tuner.pkl"

T = TypeVar("T")


class RayChangedError(FatalSearchError):
    """A part of Ray's internals this package reads is not where it was."""


def _read(what: str, read: Callable[[], T]) -> T:
    try:
        return read()
    except (AttributeError, ImportError, KeyError, TypeError) as exc:
        import ray

        raise RayChangedError(
            f"Ray {ray.__version__} moved {what} ({type(exc).__name__}: {exc}); "
            f"autokeras_lab reads it as in ray {SUPPORTED_RAY}: install "
            f'"ray[tune,default]=={SUPPORTED_RAY}.*" or report it'
        ) from exc


# -- the runtime ------------------------------------------------------------------


def bootstrap_address() -> str | None:
    """The address the last ``ray start`` on this machine recorded, if any."""

    def read() -> str | None:
        from ray._private.services import find_bootstrap_address

        found = find_bootstrap_address(None)
        return str(found) if found else None

    return _read("ray._private.services.find_bootstrap_address", read)


def gcs_addresses() -> list[str]:
    """The addresses of the Ray runtimes running on this machine."""

    def read() -> list[str]:
        from ray._private.services import find_gcs_addresses

        return sorted(str(a) for a in find_gcs_addresses())

    return _read("ray._private.services.find_gcs_addresses", read)


def enable_token_auth_if_available() -> None:
    """What ``ray.init()`` does for a runtime it finds by itself: use the token that
    ``ray start`` keeps in ``~/.ray/auth_token`` (an explicit address never does)."""

    def read() -> Any:
        from ray._private.authentication.authentication_token_setup import (
            maybe_enable_token_auth_if_token_available,
        )

        return maybe_enable_token_auth_if_token_available

    _read("ray._private.authentication.maybe_enable_token_auth_if_token_available",
          read)(warn_if_disabled=False)


def disable_cluster_mode() -> None:
    """Bind a new local runtime to 127.0.0.1 only: the environment variable is read
    when Ray is imported, the constant after that."""
    os.environ["RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER"] = "0"
    if "ray" in sys.modules:

        def read() -> Any:
            from ray._private import ray_constants

            assert hasattr(ray_constants, "ENABLE_RAY_CLUSTER")
            return ray_constants

        _read("ray._private.ray_constants.ENABLE_RAY_CLUSTER", read).ENABLE_RAY_CLUSTER = False


def _node() -> Any:
    import ray

    return _read("ray.get_runtime_context().worker.node",
                 lambda: ray.get_runtime_context().worker.node)


def joined_address() -> str | None:
    """The address of the runtime this process joined rather than started, if any."""
    import ray

    if not ray.is_initialized():
        return None
    node = _node()
    return None if getattr(node, "head", False) else str(node.gcs_address)


def dashboard_url() -> str | None:
    """The dashboard of the runtime this process is connected to, if it has one."""
    url = _read("node.address_info['webui_url']", lambda: _node().address_info.get("webui_url"))
    return f"http://{url}" if url else None


# -- Tune's trials and state ------------------------------------------------------


def driver_staging_path(trial: Any) -> str | None:
    """Where Tune stages its experiment state on the driver, as a trial's storage
    context says (``None`` before the trial has one)."""
    storage = getattr(trial, "storage", None)
    if storage is None:
        return None
    return _read("StorageContext.experiment_driver_staging_path",
                 lambda: storage.experiment_driver_staging_path)


def trial_number(trial: Any) -> int:
    """A trial's creation number, which Tune keeps at the head of its experiment tag
    (``3_learning_rate=...``); 0 when the tag has none."""
    tag = str(_read("Trial.experiment_tag", lambda: trial.experiment_tag))
    head = tag.split("_", 1)[0]
    return int(head) if head.isdigit() else 0


def trial_failures(trial: Any) -> int:
    """How often a trial's worker died and Tune restarted it."""
    return int(_read("Trial.run_metadata.num_failures",
                     lambda: trial.run_metadata.num_failures) or 0)


def trial_error(trial: Any) -> BaseException | None:
    """The error a failed trial raised (its cause, when Ray wrapped it), if Tune kept
    one."""
    read = _read("Trial.get_pickled_error", lambda: trial.get_pickled_error)
    try:
        error = read()
    except Exception:  # an error that cannot be unpickled on the driver
        return None
    return getattr(error, "cause", None) or error


def is_state_file(name: str) -> bool:
    """Whether a file in Tune's experiment directory is state a resume reads back: its
    experiment state and searcher/scheduler pickles, not the Tuner's own file."""
    return name != TUNER_FILE and (fnmatch.fnmatch(name, "*.json") or name.endswith(".pkl"))
