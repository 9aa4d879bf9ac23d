"""Every path under the runs directory, in one place.

::

    runs/
      leaderboard.db                       every trial of every search (SQLite)
      EXP/best/                            the experiment's best model so far
      EXP/report.html                      the latest search's report
      EXP/searches/ID/best/                each search's own best model
      EXP/searches/ID/tune-state/          the copy of Ray Tune's state a resume starts from
      EXP/searches/ID/error.txt            the traceback of a search our own code stopped
      EXP/ray/ID/                          Ray Tune's trial directories (or under --storage)
      EXP/retrained/ID/{single,ensemble}/  models retrain exported

No other module joins parts of these paths: they ask a :class:`RunsLayout`. The
files inside a model directory (``best/``) and a trial's checkpoint are named here
too (:class:`ModelDir`, the ``CHECKPOINT_*`` names), so the report can read what
export wrote without importing export.

Example:
    >>> from pathlib import Path
    >>> from autokeras_lab.layout import RunsLayout
    >>> layout = RunsLayout(Path("runs"))
    >>> layout.experiment_best("concrete")
    PosixPath('runs/concrete/best')
    >>> layout.tune_dir("concrete", "20261123-010203-abcd", storage="s3://bucket/akl")
    's3://bucket/akl/concrete/ray/20261123-010203-abcd'
"""

from __future__ import annotations

import secrets
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CHECKPOINT_ARRAYS",
    "CHECKPOINT_PREDICTIONS",
    "CHECKPOINT_STATE",
    "CHECKPOINT_WEIGHTS",
    "ModelDir",
    "RunsLayout",
    "run_id",
]


def run_id() -> str:
    """A new id for a search or a retraining run (``20261123-010203-abcd``): sortable by
    time, unique enough for one runs directory, and a safe directory name."""
    return time.strftime("%Y%m%d-%H%M%S-") + secrets.token_hex(2)

#: A trial checkpoint's best weights (fold ``k > 0``: ``best_weights_k.npz``).
CHECKPOINT_WEIGHTS = "best_weights.npz"
#: A trial checkpoint's validation predictions at its best epoch (ensemble selection).
CHECKPOINT_PREDICTIONS = "val_predictions.npy"
#: A trial checkpoint's resumable state: its bookkeeping and its arrays.
CHECKPOINT_STATE = "state.json"
CHECKPOINT_ARRAYS = "state.npz"


@dataclass(frozen=True)
class ModelDir:
    """The files of an exported model directory.

    Example:
        >>> ModelDir(Path("runs/concrete/best")).card
        PosixPath('runs/concrete/best/card.json')
    """

    path: Path

    @property
    def model(self) -> Path:
        return self.path / "model.keras"

    @property
    def preprocessing(self) -> Path:
        return self.path / "preprocessing.json"

    @property
    def card(self) -> Path:
        """The model card: task, target, metrics, members (JSON)."""
        return self.path / "card.json"

    @property
    def test_predictions(self) -> Path:
        """The model's predictions on the held-out test rows (CSV: actual, predicted)."""
        return self.path / "test_predictions.csv"

    @property
    def required(self) -> tuple[Path, ...]:
        """The files without which the directory is no model."""
        return (self.model, self.preprocessing, self.card)


@dataclass(frozen=True)
class RunsLayout:
    """The runs directory's layout (see the module's docstring)."""

    root: Path

    @property
    def leaderboard(self) -> Path:
        """The leaderboard file every search under the runs directory shares."""
        return self.root / "leaderboard.db"

    def experiment_dir(self, experiment: str) -> Path:
        return self.root / experiment

    def experiment_best(self, experiment: str) -> Path:
        """The experiment's best model so far (replaced only by a better one)."""
        return self.root / experiment / "best"

    def report(self, experiment: str) -> Path:
        return self.root / experiment / "report.html"

    def search_dir(self, experiment: str, search_id: str) -> Path:
        return self.root / experiment / "searches" / search_id

    def search_best(self, experiment: str, search_id: str) -> Path:
        """A search's own best model (never replaced by a later search)."""
        return self.search_dir(experiment, search_id) / "best"

    def tune_snapshots(self, experiment: str, search_id: str) -> Path:
        """The driver's copies of the search's Ray Tune state (on its own disk,
        whatever the checkpoint storage)."""
        return self.search_dir(experiment, search_id) / "tune-state"

    def error_file(self, experiment: str, search_id: str) -> Path:
        """Where the traceback of a search stopped by an error of ours is kept."""
        return self.search_dir(experiment, search_id) / "error.txt"

    def storage_root(self, experiment: str, *, storage: str | None) -> str:
        """Where Ray Tune keeps an experiment's searches: under the runs directory, or
        under ``storage`` (a shared path or a cloud URI) on a multi-node cluster."""
        root = storage.rstrip("/") if storage else str(self.root)
        return f"{root}/{experiment}/ray"

    def tune_dir(self, experiment: str, search_id: str, *, storage: str | None) -> str:
        """One search's Ray Tune experiment directory (a path or a URI)."""
        return f"{self.storage_root(experiment, storage=storage)}/{search_id}"

    def retrained(self, experiment: str, retrain_id: str) -> Path:
        return self.root / experiment / "retrained" / retrain_id
