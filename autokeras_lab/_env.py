"""Keeping TensorFlow's, Ray's and Optuna's chatter off the user's terminal: for the
length of a block where a library call does it, for good only from the command line."""

from __future__ import annotations

import logging
import os
import sys
import warnings
from collections.abc import Iterator
from contextlib import contextmanager

QUIET_ENV = {
    "TF_CPP_MIN_LOG_LEVEL": "3",
    "PYTHONWARNINGS": "ignore",
    "RAY_AIR_NEW_OUTPUT": "0",
    "RAY_DEDUP_LOGS": "0",
}


# The user's settings that change how a worker's TensorFlow runs; a local runtime's
# workers inherit them, a cluster's get them with the job. TF_ENABLE_ONEDNN_OPTS=0
# trades oneDNN's per-shape kernel cache for flatter memory on long searches (see the
# README's "When things go wrong").
FORWARDED_ENV = ("TF_ENABLE_ONEDNN_OPTS",)


def worker_env() -> dict[str, str]:
    """The environment variables a cluster's trial workers get from this driver."""
    forwarded = {key: os.environ[key] for key in FORWARDED_ENV if key in os.environ}
    return dict(QUIET_ENV) | forwarded


@contextmanager
def environ(values: dict[str, str]) -> Iterator[None]:
    """Set environment variables the user has not set, for the block only."""
    added = {key: value for key, value in values.items() if key not in os.environ}
    os.environ.update(added)
    try:
        yield
    finally:
        for key in added:
            os.environ.pop(key, None)


def quiet() -> None:
    """Turn down the log levels of the libraries a search drives, and silence Python
    warnings: for the command line only (a library call leaves the process's
    settings alone)."""
    for key, value in QUIET_ENV.items():
        os.environ.setdefault(key, value)
    for name in ("ray", "ray.tune", "ray.train", "tensorflow", "absl", "optuna", "mlflow"):
        logging.getLogger(name).setLevel(logging.ERROR)
    warnings.filterwarnings("ignore")


def import_tensorflow_quietly() -> None:
    """Import TensorFlow with its C++ start-up notes (CUDA probing, oneDNN) kept off
    the terminal: TF 2.21 prints them before any log level applies."""
    if "tensorflow" in sys.modules:
        return
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "w") as devnull, environ({"TF_CPP_MIN_LOG_LEVEL": "3"}):
            os.dup2(devnull.fileno(), 2)
            import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)


@contextmanager
def quiet_optuna() -> Iterator[None]:
    """Optuna's per-trial log lines off for the block (the progress view and the
    leaderboard say it better), its verbosity as it was afterwards."""
    import optuna

    before = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        yield
    finally:
        optuna.logging.set_verbosity(before)
