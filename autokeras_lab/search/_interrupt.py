"""Ctrl-C during a search."""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any, TextIO

from autokeras_lab._env import environ

INTERRUPTED = threading.Event()


@contextmanager
def interruptible(out: TextIO | None, resume_command: str) -> Iterator[None]:
    """First Ctrl-C: stop the search the way Ray Tune stops on SIGUSR1 (the running
    trials stay resumable, the experiment state is saved), keep and export what
    finished, and print how to resume. Second Ctrl-C: abort at once."""
    INTERRUPTED.clear()
    if threading.current_thread() is not threading.main_thread():
        yield
        return

    def on_sigint(signum: int, frame: Any) -> None:
        if INTERRUPTED.is_set() or signal.getsignal(signal.SIGUSR1) in (
            signal.SIG_DFL, signal.SIG_IGN, None
        ):
            raise KeyboardInterrupt
        INTERRUPTED.set()
        if out is not None:
            out.write(
                "\ninterrupted: stopping the search (Ctrl-C again to abort now); "
                f"resume it with: {resume_command}\n"
            )
            out.flush()
        signal.raise_signal(signal.SIGUSR1)  # Ray Tune's own graceful stop

    previous = signal.signal(signal.SIGINT, on_sigint)
    try:
        with environ({"TUNE_DISABLE_SIGINT_HANDLER": "1"}):
            yield
    finally:
        signal.signal(signal.SIGINT, previous)
