"""One search run as a frozen object, and what a finished one returns."""

from __future__ import annotations

import os
import shlex
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from autokeras_lab.cluster import ClusterOptions
from autokeras_lab.layout import RunsLayout
from autokeras_lab.leaderboard import DriverRecord, EnsembleRecord, Leaderboard, TrialRecord
from autokeras_lab.search._setup import Setup
from autokeras_lab.tracking import Tracker
from autokeras_lab.types import Direction, SearchStatus
from autokeras_lab.warmstart import WarmStart


@dataclass(frozen=True, kw_only=True)
class SearchResult:
    """What a finished search left behind (plain data, for the CLI and for tests)."""

    search_id: str
    experiment: str
    metric: str
    direction: Direction
    status: SearchStatus
    wall_seconds: float
    trials: list[TrialRecord]
    leaderboard_path: Path
    export_dir: Path | None
    best_trial_id: str | None
    ensemble: EnsembleRecord | None = None
    #: The handed-over model's metrics as its card says them (``val_rmse``, ...): an
    #: ensemble's, or the best trial's (a classifier's calibrated); before any refit.
    model_metrics: dict[str, float] = field(default_factory=dict)
    report: Path | None = None
    mlflow_run: str | None = None
    mlflow_model: str | None = None

    @property
    def ensembles(self) -> list[EnsembleRecord]:
        """The selected ensemble as the leaderboard lists it: none, or one."""
        return [self.ensemble] if self.ensemble else []

    def leaderboard_frame(self) -> pd.DataFrame:
        """The search's leaderboard as a DataFrame, the ensemble's row first."""
        from autokeras_lab.report import leaderboard_rows

        return pd.DataFrame(leaderboard_rows(self.trials, metric=self.metric,
                                             ensembles=self.ensembles))


@dataclass(frozen=True, kw_only=True)
class SearchRun:
    """Everything one run of a search works with, new or resumed.

    Attributes:
        setup: The experiment made ready (data, task, space).
        search_id: The search's id on the leaderboard.
        layout: The runs directory.
        board: The leaderboard the trials go to.
        cluster: Where the trials run (checkpoint storage, GPU share).
        out: Where the progress view goes (``None``: nowhere).
        dashboard: The Ray dashboard's URL, if there is one.
        plan: What a warm start learnt from earlier searches.
        resume: Continue the search's saved Ray Tune state instead of starting one.
        sampler: An Optuna sampler instance to use instead of the experiment's named one.
        tracker: Where the trials are copied to MLflow (``None``: they are not).
    """

    setup: Setup
    search_id: str
    layout: RunsLayout
    board: Leaderboard
    cluster: ClusterOptions
    out: TextIO | None
    dashboard: str | None = None
    plan: WarmStart | None = None
    resume: bool = False
    sampler: Any = None
    tracker: Tracker | None = None

    @property
    def experiment_name(self) -> str:
        return self.setup.experiment.name

    @property
    def direction(self) -> Direction:
        return self.setup.direction

    @property
    def storage_root(self) -> str:
        return self.layout.storage_root(self.experiment_name, storage=self.cluster.storage)

    @property
    def tune_dir(self) -> str:
        return self.layout.tune_dir(self.experiment_name, self.search_id,
                                    storage=self.cluster.storage)

    @property
    def resume_command(self) -> str:
        return resume_command(self.search_id, self.layout.root)

    def say(self, line: str) -> None:
        """One line on the search's output (where it has one)."""
        if self.out is not None:
            self.out.write(line + "\n")
            self.out.flush()

    def trials(self) -> list[TrialRecord]:
        """The search's trials on the leaderboard, best first."""
        return self.board.trials(self.experiment_name, search_id=self.search_id,
                                 direction=self.direction)


def resume_command(search_id: str, runs_dir: Path) -> str:
    """The command that resumes a search."""
    return shlex.join(["python", "-m", "autokeras_lab", "search", "--resume", search_id,
                       "--runs-dir", str(runs_dir)])


def driver_info() -> DriverRecord:
    """This process, as the search's driver (so a resume can tell it still runs)."""
    return DriverRecord(pid=os.getpid(), host=socket.gethostname())


def driver_alive(driver: DriverRecord) -> bool:
    """Whether another process of this host, ``driver``, still runs."""
    if driver.host != socket.gethostname() or driver.pid == os.getpid():
        return False
    try:
        os.kill(driver.pid, 0)
    except OSError:
        return False
    return True
