"""Where a search's trials run: a local Ray runtime or an existing cluster.

Everything that talks to Ray about the shape of the run lives here: starting or
joining the runtime (:func:`start_ray`), the dashboard, what a trial asks for (CPU
and GPU shares, :func:`trial_resources`), refusing a GPU request the cluster cannot
meet before Ray would queue it forever (:func:`check_gpus`), and making sure trial
checkpoints go where every node can write and the driver can read
(:func:`check_storage`). Inside a trial, :func:`configure_devices` shows TensorFlow
only the GPU Ray assigned and turns on memory growth so that packed trials share it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import secrets
import socket
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autokeras_lab import _ray_internals as ray_internals
from autokeras_lab._env import environ, worker_env
from autokeras_lab.errors import UserError

__all__ = [
    "ClusterOptions", "check_gpus", "check_storage", "configure_devices", "start_ray",
    "trial_resources",
]

_ADDRESS = re.compile(r"^(?:ray://)?(?P<host>\[[0-9a-fA-F:]+\]|[\w.-]+):(?P<port>\d{1,5})$")


@dataclass(frozen=True, kw_only=True)
class ClusterOptions:
    """How and where a search runs its trials.

    Args:
        address: ``None`` starts a local runtime; ``"auto"``, ``"HOST:PORT"`` (the
            head's GCS) or ``"ray://HOST:PORT"`` (Ray Client) joins a cluster.
        storage: Where Ray Tune writes trial checkpoints: a filesystem path every
            node can reach, or a URI such as ``s3://bucket/prefix``. ``None``: under
            the runs directory, which is fine on one machine.
        dashboard: Start the local runtime with the Ray dashboard on 127.0.0.1.
        gpus_per_trial: GPUs each trial asks for; fractions below 1 pack trials.
    """

    address: str | None = None
    storage: str | None = None
    dashboard: bool = False
    gpus_per_trial: float = 0.0

    def __post_init__(self) -> None:
        if self.address is not None:
            check_address(self.address)
        check_gpu_share(self.gpus_per_trial)
        if self.dashboard and self.address is not None:
            raise UserError(
                "--dashboard starts the dashboard of a local runtime; a cluster joined "
                "with --address has its own (its URL is printed): drop --dashboard"
            )


def check_address(address: str) -> str:
    if address != "auto" and not _ADDRESS.match(address):
        raise UserError(
            f"--address {address!r} is not a Ray address; expected auto, HOST:PORT "
            "(the head node's GCS port, 6379 by default) or ray://HOST:PORT (Ray Client)"
        )
    return address


def check_gpu_share(gpus: float) -> float:
    if gpus < 0 or (gpus > 1 and not float(gpus).is_integer()):
        raise UserError(
            f"--gpus-per-trial {gpus:g} is not a GPU share Ray can grant; expected a "
            "fraction between 0 and 1 (0.25 packs four trials per GPU) or a whole number"
        )
    return gpus


def trial_resources(gpus_per_trial: float) -> dict[str, float]:
    """What each trial asks Ray for: one CPU, and its GPU share if any."""
    check_gpu_share(gpus_per_trial)
    return {"cpu": 1, "gpu": gpus_per_trial} if gpus_per_trial else {"cpu": 1}


def start_ray(
    address: str | None = None, *, num_cpus: int | None = None, dashboard: bool = False
) -> str | None:
    """Join the Ray cluster at ``address``, or start a local runtime (``num_cpus``:
    its CPU count, default all) whose servers listen on the loopback interface only.
    Returns the dashboard's URL, if the runtime has one.

    Ray gives a local node the machine's outward address, and its servers listen on
    every interface; with cluster mode off it uses 127.0.0.1 and listens there alone.
    A local dashboard keeps Ray's token authentication on.
    """
    import ray

    if ray.is_initialized():
        return ray_internals.dashboard_url()
    if address is None:
        address = running_local_runtime()
        if address is not None:
            _token_auth_as_ray_start()
        ray_internals.disable_cluster_mode()
        if dashboard and address is None:
            _require_token_auth()
    else:
        address = resolve_auto() if address == "auto" else address
        _probe(address)
    # A local runtime's processes, and so its workers, inherit the environment of
    # this moment; a runtime_env would cost each new worker about a second.
    local_env = environ(worker_env()) if address is None else contextlib.nullcontext()
    try:
        with local_env:
            ray.init(
                address=address,
                num_cpus=num_cpus if address is None else None,
                include_dashboard=dashboard,
                dashboard_host="127.0.0.1",
                log_to_driver=False,
                logging_level=logging.ERROR,
                configure_logging=True,
                runtime_env={"env_vars": worker_env()} if address else None,
            )
    except ConnectionError as exc:
        raise UserError(
            f"could not join the Ray cluster at {address} ({str(exc).splitlines()[0]}); "
            "if it uses token authentication, export RAY_AUTH_MODE=token with the "
            "cluster's token in ~/.ray/auth_token or RAY_AUTH_TOKEN"
        ) from None
    return ray_internals.dashboard_url()


def running_local_runtime() -> str | None:
    """The address of a Ray runtime that ``ray start`` left running on this machine,
    if it listens on the loopback interface only: a search with no ``--address``
    joins it instead of starting its own (Ray's start-up, about 3 s, saved on every
    search). A runtime reachable from other machines is a cluster; a search joins
    one only when asked to (``--address auto``).

    Start one with ``RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER=0 ray start --head`` (cluster
    mode off: Ray binds to 127.0.0.1); stop it with ``ray stop``.
    """
    import ipaddress

    recorded = ray_internals.bootstrap_address()
    match = _ADDRESS.match(str(recorded or ""))
    if match is None or recorded not in ray_internals.gcs_addresses():  # none, or stale
        return None
    host = match["host"].strip("[]")
    try:
        loopback = host == "localhost" or ipaddress.ip_address(host).is_loopback
    except ValueError:  # a host name
        loopback = False
    return str(recorded) if loopback else None


def _token_auth_as_ray_start() -> None:
    """``ray start`` turns token authentication on by itself (Ray >= 2.52) and keeps
    the token in ``~/.ray/auth_token``; Ray's own ``ray.init()`` uses it when it finds
    the runtime itself, as joining a local runtime does (an explicit address never
    does, so tell Ray here, unless RAY_AUTH_MODE says otherwise)."""
    ray_internals.enable_token_auth_if_available()


def joined_runtime() -> str | None:
    """The address of the runtime this process joined rather than started, if any."""
    return ray_internals.joined_address()


def _require_token_auth() -> None:
    """A new local runtime turns token authentication on by itself (Ray >= 2.52),
    unless the environment turned it off."""
    mode = os.environ.get("RAY_AUTH_MODE", "token").lower()
    if mode != "token":
        raise UserError(
            f"RAY_AUTH_MODE={mode} would leave the dashboard open to every local user; "
            "unset it (token authentication is the default) to use --dashboard"
        )


def resolve_auto() -> str:
    """The cluster ``--address auto`` means: the one the last ``ray start`` on this
    machine recorded in Ray's temp directory, else the only one running here.

    Ray's own ``auto`` picks any running GCS process when the record is missing, so
    with two runtimes on the machine (say a cluster and a notebook's local one) it
    joins one at random, and may wait forever on one that listens on loopback only.

    Raises:
        UserError: no Ray cluster runs on this machine, or several do and none is
            recorded as the latest.
    """
    recorded = ray_internals.bootstrap_address()
    if recorded:
        return recorded
    running = ray_internals.gcs_addresses()
    if len(running) == 1:
        return str(running[0])
    if not running:
        raise UserError(
            "--address auto found no Ray cluster on this machine; start one with "
            "`ray start --head`, or pass the head's --address HOST:PORT"
        )
    raise UserError(
        f"--address auto found {len(running)} Ray runtimes on this machine "
        f"({', '.join(running)}) and no record of the latest `ray start`; pass the "
        "cluster's --address HOST:PORT"
    )


def _probe(address: str) -> None:
    """Fail in seconds, not minutes, when nothing listens at the address (Ray itself
    retries the connection for a long time)."""
    match = _ADDRESS.match(address)
    if match is None:
        return
    host, port = match["host"].strip("[]"), int(match["port"])
    try:
        with socket.create_connection((host, port), timeout=5):
            pass
    except OSError as exc:
        raise UserError(
            f"nothing answers at {address} ({exc.strerror or exc}); start the cluster "
            "(ray start --head) or check the address with `ray status --address HOST:PORT`"
        ) from None


def check_gpus(gpus_per_trial: float) -> None:
    """Refuse a GPU share no node of the connected cluster can grant: Ray would keep
    the trials pending forever."""
    if not gpus_per_trial:
        return
    most = max((float(node["Resources"].get("GPU", 0)) for node in alive_nodes()), default=0.0)
    if most == 0:
        raise UserError(
            f"--gpus-per-trial {gpus_per_trial:g} asks for a GPU, but no node of the Ray "
            "cluster has one; drop the flag to train on CPUs, or run on a machine or "
            "cluster with GPUs"
        )
    if most < gpus_per_trial:
        raise UserError(
            f"--gpus-per-trial {gpus_per_trial:g} is more than any node has "
            f"(at most {most:g} GPUs on one node); ask for {most:g} or less"
        )


def alive_nodes() -> list[dict[str, Any]]:
    import ray

    return [node for node in ray.nodes() if node.get("Alive")]


def check_storage(storage_path: str) -> None:
    """On a multi-node cluster, make sure every node sees the checkpoint storage.

    Ray Tune writes a trial's checkpoints from the node the trial runs on, and the
    driver reads them back to evaluate and export the best model; on a path that
    exists only on the driver they would land on each node's own disk. A cloud URI is
    left to Ray; a filesystem path is tested with a marker file each node must see.
    """
    nodes = alive_nodes()
    if len(nodes) < 2 or "://" in storage_path:
        return
    import ray
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    root = Path(storage_path)
    root.mkdir(parents=True, exist_ok=True)
    marker = root / f".akl-storage-check-{secrets.token_hex(4)}"
    marker.write_text("visible")
    try:
        sees = ray.remote(num_cpus=0)(os.path.exists)
        answers = ray.get([
            sees.options(
                scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False)
            ).remote(str(marker))
            for node in nodes
        ])
    finally:
        marker.unlink(missing_ok=True)
    blind = [node for node, seen in zip(nodes, answers, strict=True) if not seen]
    if blind:
        node = blind[0]
        raise UserError(
            f"trial checkpoints would go to {storage_path}, which {len(blind)} of the "
            f"cluster's {len(nodes)} nodes cannot see (node {node['NodeID'][:8]} at "
            f"{node['NodeManagerAddress']}); pass --storage with a shared filesystem "
            "path mounted on every node, or a cloud URI such as s3://bucket/prefix"
        )


def configure_devices(gpu_ids: list[Any]) -> None:
    """Inside a trial, before TensorFlow starts: show it only the GPUs Ray assigned
    (none for a CPU trial, so it does not take memory on a card it does not use) and
    let it grow its memory instead of grabbing the whole card."""
    os.environ["CUDA_VISIBLE_DEVICES"] = ",".join(str(gpu) for gpu in gpu_ids)
    os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] = "true"
    if "tensorflow" not in sys.modules:
        return
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        # Raises once TensorFlow has initialised the GPU: set on the first trial.
        with contextlib.suppress(RuntimeError):
            tf.config.experimental.set_memory_growth(gpu, True)
