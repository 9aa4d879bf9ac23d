"""The project's exceptions, in the three tiers the CLI and the runner rely on.

* :class:`UserError` -- bad input from the person at the keyboard (a flag, a file, a
  config key). The CLI prints its one-line message and exits with code 2; nothing
  stored is touched.
* :class:`TrialFailedError` -- one trial failed by itself (NaN loss, a broken
  configuration). It is recorded on the leaderboard with its reason and the search
  goes on.
* :class:`FatalSearchError` -- the search cannot go on (too many failures in a row,
  no resources). One sentence says why and what to change.
"""

from __future__ import annotations

__all__ = ["AutoKerasLabError", "FatalSearchError", "SpaceError", "TrialFailedError", "UserError",
           "one_line"]

ONE_LINE_LIMIT = 500


def one_line(error: BaseException | str, limit: int = ONE_LINE_LIMIT) -> str:
    """An error in one line for a person or a leaderboard cell: ``Type: message``, the
    message's last line (where a long TensorFlow or Ray message, or a traceback's
    text, says what went wrong), cut at ``limit`` characters.

    Example:
        >>> one_line(ValueError("while training\nloss became nan"))
        'ValueError: loss became nan'
    """
    if isinstance(error, BaseException):
        lines = str(error).strip().splitlines()
        text = f"{type(error).__name__}: {lines[-1] if lines else ''}".rstrip(": ")
    else:
        lines = error.strip().splitlines()
        text = lines[-1] if lines else ""
    return text[:limit]


class AutoKerasLabError(Exception):
    """Base class of every error this package raises on purpose."""


class UserError(AutoKerasLabError):
    """Bad input: the message names what was received, what was expected and the fix."""


class SpaceError(UserError):
    """A search-space module breaks the protocol documented in :mod:`autokeras_lab.spaces`."""


class TrialFailedError(AutoKerasLabError):
    """A single trial failed; the search records it and goes on."""


class FatalSearchError(AutoKerasLabError):
    """The search has to stop; the message says why and what to change."""
