"""A compact live progress view for a running search.

On a terminal it redraws one line in place; into a file or a pipe it writes a line
when something changed, at most every few seconds, so CI logs stay short.
"""

from __future__ import annotations

import math
import time
from typing import Any, TextIO

from autokeras_lab.types import Direction, TrialStatus

__all__ = ["Progress"]


class Progress:
    """Counts trials by state and keeps the best metric so far.

    Args:
        out: The stream to write to, or ``None`` for no output at all.
        direction: Which way "best" goes.
        interval: Seconds between two redraws.
        dashboard: The Ray dashboard's URL, shown on every line.
    """

    def __init__(
        self,
        out: TextIO | None,
        *,
        direction: Direction,
        interval: float | None = None,
        dashboard: str | None = None,
    ):
        self.out = out
        self.dashboard = dashboard
        self.direction = direction
        self.tty = bool(out is not None and getattr(out, "isatty", lambda: False)())
        self.interval = interval if interval is not None else (0.5 if self.tty else 10.0)
        self.started = time.perf_counter()
        self.counts = dict.fromkeys(TrialStatus, 0)
        self.running = 0
        self.pending = 0
        self.best = direction.worst
        self._last_draw = 0.0
        self._last_line = ""

    def result(self, value: float | None) -> None:
        if value is None or not math.isfinite(value):
            return
        if self.direction.better(value, self.best):
            self.best = value

    def finished(self, status: TrialStatus) -> None:
        self.counts[status] += 1

    def update(self, trials: list[Any], *, force: bool = False) -> None:
        self.running = sum(1 for t in trials if getattr(t, "status", "") == "RUNNING")
        self.pending = sum(1 for t in trials if getattr(t, "status", "") == "PENDING")
        now = time.perf_counter()
        if self.out is None or (not force and now - self._last_draw < self.interval):
            return
        line = self.line()
        if not self.tty and line == self._last_line:
            return
        self._last_draw, self._last_line = now, line
        if self.tty:
            self.out.write("\r\033[K" + line)
        else:
            self.out.write(line + "\n")
        self.out.flush()

    def line(self) -> str:
        done = sum(self.counts.values())
        best = f"{self.best:.3f}" if math.isfinite(self.best) else "-"
        elapsed = time.perf_counter() - self.started
        return (
            f"trials: {done} done ({self.counts[TrialStatus.COMPLETED]} completed, "
            f"{self.counts[TrialStatus.STOPPED_EARLY]} stopped early, "
            f"{self.counts[TrialStatus.FAILED]} failed), "
            f"{self.running} running | best val: {best} | {_clock(elapsed)}"
            + (f" | dashboard {self.dashboard}" if self.dashboard else "")
        )

    def close(self) -> None:
        if self.out is None:
            return
        self._last_line = ""
        self.update([], force=True)
        if self.tty:
            self.out.write("\n")
        self.out.flush()


def _clock(seconds: float) -> str:
    minutes, secs = divmod(int(seconds), 60)
    return f"{minutes:d}:{secs:02d} elapsed"
