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

__all__ = ["AutoKerasLabError", "FatalSearchError", "SpaceError", "TrialFailedError", "UserError"]


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
