"""MLflow tracking of searches: a parent run per search, a nested run per trial, and
the handed-over model as an MLflow model that takes raw rows.

The leaderboard stays the record and MLflow gets a copy of it. A :class:`Tracker`
copies each trial once the leaderboard holds it (from the driver's recorder), on a
thread of its own, so a slow or absent server never holds a search up. If the
server goes away, the search goes on and says so once; the runs it missed are sent
when the server answers again (the next trial to finish tries), at the end of the
search, or by ``search --resume``. Runs are found again by their tags
(``autokeras_lab.search_id``, ``autokeras_lab.trial_id``), so a resumed search
continues its parent run and no trial gets a second run.

Ray Tune's ``MLflowLoggerCallback`` is not used: it keys runs by Tune's in-memory
trials, so a resumed search would log every trial a second time, and it calls the
server from Tune's control loop, where an outage stops the search. MLflow's own
``pyfunc`` flavour carries the model (see :mod:`._model`): the handed-over model is
preprocessing plus one Keras network or an ensemble of them, which the Keras flavour
alone cannot serve from raw rows.
"""

from __future__ import annotations

import math
import queue
import sys
import tempfile
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

import pandas as pd

from autokeras_lab._env import environ
from autokeras_lab.config import TrackingSettings
from autokeras_lab.errors import UserError, one_line
from autokeras_lab.leaderboard import SearchRecord, TrialRecord
from autokeras_lab.types import SearchStatus, TrialStatus

__all__ = ["CLIENT_ENV", "KIND_TAG", "SEARCH_TAG", "TRIAL_TAG", "Tracker", "check_server",
           "client_env"]

SEARCH_TAG = "autokeras_lab.search_id"
TRIAL_TAG = "autokeras_lab.trial_id"
PARENT_TAG = "mlflow.parentRunId"
KIND_TAG = "autokeras_lab.run"  # "search" (the parent run) or "trial" (a nested one)
#: MLflow's client during a search: it gives up on an absent server after one try, in
#: 10 s (it retries for minutes by default), and keeps its progress bars and run links
#: off the search's output (we print the run's link once); a user's own settings win
CLIENT_ENV = {"MLFLOW_HTTP_REQUEST_MAX_RETRIES": "0", "MLFLOW_HTTP_REQUEST_TIMEOUT": "10",
              "MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR": "false",
              "MLFLOW_SUPPRESS_PRINTING_URL_TO_STDOUT": "true"}
RUN_STATUS = {SearchStatus.COMPLETED: "FINISHED", SearchStatus.INTERRUPTED: "KILLED",
              SearchStatus.FAILED: "FAILED", SearchStatus.RUNNING: "RUNNING"}
WHY_STOPPED = {
    TrialStatus.COMPLETED: "trained to its epoch limit, or its patience ran out",
    TrialStatus.STOPPED_EARLY: "the scheduler stopped it, or the time budget ran out",
}
CLOSE_WAIT_S = 300.0  # the most a search's end waits for MLflow (the model's upload)


@contextmanager
def client_env() -> Iterator[None]:
    """MLflow's client set to fail fast, for a block (see :data:`CLIENT_ENV`)."""
    with environ(CLIENT_ENV):
        yield


def _client(uri: str) -> Any:
    try:
        from mlflow import MlflowClient
    except ImportError:
        raise UserError(
            "--mlflow needs MLflow, which is not installed here: "
            "pip install 'autokeras_lab[mlflow]'"
        ) from None
    return MlflowClient(tracking_uri=uri)


def check_server(settings: TrackingSettings) -> None:
    """Refuse, before anything trains, a tracking URI where no MLflow answers.

    Raises:
        UserError: MLflow is not installed, or the server does not answer.
    """
    if not settings.enabled:
        return
    client = _client(settings.mlflow)
    with client_env():
        try:
            client.search_experiments(max_results=1)
        except Exception as exc:
            raise UserError(
                f"--mlflow {settings.mlflow}: no MLflow tracking server answers there "
                f"({one_line(exc, 160)}); start one (`mlflow server --host 127.0.0.1 "
                "--port 5000`) or fix the URI"
            ) from None


@dataclass
class _Sent:
    """What the server already has of a search (filled from its runs on start)."""

    parent: str | None = None
    experiment: str | None = None  # the MLflow experiment's id
    trials: dict[str, str] = field(default_factory=dict)  # trial id -> run id
    tested: set[str] = field(default_factory=set)
    model: bool = False  # the search's model is logged
    registered: str | None = None  # models:/NAME/VERSION


class Tracker:
    """Copies one search to MLflow, off the search's thread.

    Every operation is queued and done in order on the tracker's thread; one that
    fails (the server went away) stays first in line and is tried again with the
    next one, and the search is told once.
    """

    def __init__(self, settings: TrackingSettings, search: SearchRecord,
                 out: TextIO | None = None) -> None:
        self.settings = settings
        self.search = search
        self.out = out
        self.client = _client(settings.mlflow)
        self.sent = _Sent()
        self.backlog: list[tuple[str, Callable[[], None]]] = []
        self.down = False  # the last operation failed: the server is away
        self.told = False
        self.queue: queue.Queue[tuple[str, Callable[[], None]] | None] = queue.Queue()
        self.thread = threading.Thread(target=self._work, name="mlflow-tracker", daemon=True)
        self.thread.start()
        self.submit("the search's run", self._open_parent)

    # --- what the search calls -----------------------------------------------------

    def trial(self, record: TrialRecord) -> None:
        """Log a trial the leaderboard now holds, as a nested run."""
        self.submit(f"trial {record.number}", lambda: self._log_trial(record))

    def close(self, status: SearchStatus, trials: Sequence[TrialRecord], *,
              summary: dict[str, float] | None = None, export_dir: Path | None = None,
              report: Path | None = None, leaderboard: pd.DataFrame | None = None,
              rows: pd.DataFrame | None = None) -> str | None:
        """Send what the server misses of ``trials``, then the search's results
        (``summary``: metrics of the search; the report, the leaderboard and the model
        of ``export_dir`` with a signature from raw ``rows``), and end its run with
        ``status``; wait for it (at most :data:`CLOSE_WAIT_S`). Returns the parent
        run's id, or None when the server could not be reached."""
        for record in trials:
            self.trial(record)
        self.submit("the test metrics", lambda: self._log_tests(trials))
        self.submit("the search's results", lambda: self._log_results(
            status, summary or {}, export_dir, report, leaderboard, rows))
        self.queue.put(None)
        self.thread.join(CLOSE_WAIT_S)
        if self.backlog or self.thread.is_alive():
            waiting = ", ".join(name for name, _ in self.backlog[:3]) or "the model's upload"
            self._say(f"MLflow at {self.settings.mlflow} did not take {waiting} before the "
                      "search ended; the leaderboard has everything, and `search --resume` "
                      "of an interrupted search sends what is missing", force=True)
            return None
        return self.sent.parent

    def model_uri(self) -> str | None:
        """Where MLflow loads the search's model from: its registered version, or its
        run's ``model`` artifact."""
        if self.sent.registered:
            return self.sent.registered
        return f"runs:/{self.sent.parent}/model" if self.sent.model else None

    def run_url(self) -> str | None:
        """The parent run's page on the tracking server, once it exists."""
        parent = self.sent.parent
        if parent is None:
            return None
        if not self.settings.mlflow.startswith(("http://", "https://")):
            return f"runs:/{parent}"
        return (f"{self.settings.mlflow.rstrip('/')}/#/experiments/{self.sent.experiment}"
                f"/runs/{parent}")

    # --- the tracker's thread ------------------------------------------------------

    def submit(self, name: str, operation: Callable[[], None]) -> None:
        self.queue.put((name, operation))

    def _work(self) -> None:
        while True:
            item = self.queue.get()
            if item is None:
                self._drain()
                return
            self.backlog.append(item)
            self._drain()

    def _drain(self) -> None:
        # (the search runs inside client_env(): the client fails fast, and os.environ
        # is not changed from this thread)
        while self.backlog:
            _, operation = self.backlog[0]
            try:
                operation()
            except Exception as exc:
                self.down = True
                self._say(f"MLflow at {self.settings.mlflow} is not answering "
                          f"({one_line(exc, 120)}); the search goes on, the leaderboard "
                          "keeps every trial, and the runs are sent once it answers")
                return
            self.backlog.pop(0)
            if self.down:
                self.down = False
                self._say(f"MLflow at {self.settings.mlflow} answers again: sending the "
                          "runs it missed", force=True)

    def _say(self, text: str, *, force: bool = False) -> None:
        if self.told and not force:
            return
        self.told = True
        out = self.out or sys.stderr
        out.write(f"\n{text}\n")
        out.flush()

    # --- the operations ------------------------------------------------------------

    def _experiment_id(self) -> str:
        name = self.settings.experiment or self.search.experiment
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            if found.lifecycle_stage == "deleted":
                self.client.restore_experiment(found.experiment_id)
            return str(found.experiment_id)
        return str(self.client.create_experiment(name))

    def _open_parent(self) -> None:
        experiment = self.sent.experiment = self._experiment_id()
        search = self.search
        found = self.client.search_runs(
            [experiment], filter_string=f"tags.`{SEARCH_TAG}` = '{search.search_id}' and "
            f"tags.`{KIND_TAG}` = 'search'", max_results=1)
        if found:  # a resumed search continues its run
            parent = found[0].info.run_id
            self.client.update_run(parent, status="RUNNING")
            children = self.client.search_runs(
                [experiment], filter_string=f"tags.`{PARENT_TAG}` = '{parent}'",
                max_results=50000)
            for child in children:
                trial = child.data.tags.get(TRIAL_TAG)
                if trial and child.info.status != "RUNNING":
                    self.sent.trials[trial] = child.info.run_id
                    if any(k.startswith("test_") for k in child.data.metrics):
                        self.sent.tested.add(trial)
                elif trial:  # half sent when the server went away: send it again
                    self.client.delete_run(child.info.run_id)
            self.sent.parent = parent
            return
        from mlflow.entities import Param

        run = self.client.create_run(
            experiment, start_time=int(search.started_at * 1000), run_name=search.search_id,
            tags={SEARCH_TAG: search.search_id, KIND_TAG: "search",
                  "autokeras_lab.command": search.command,
                  "autokeras_lab.dataset": search.dataset, "mlflow.note.content":
                  f"autokeras_lab search {search.search_id} of {search.experiment}"},
        )
        params = _flat({"dataset": search.dataset, "data_fingerprint": search.data_fingerprint,
                        "direction": str(search.direction), **search.settings})
        self.client.log_batch(run.info.run_id,
                              params=[Param(k, v) for k, v in params.items()])
        self.sent.parent = run.info.run_id

    def _log_trial(self, record: TrialRecord) -> None:
        from mlflow.entities import Metric, Param

        if record.trial_id in self.sent.trials:
            return
        assert self.sent.parent is not None and self.sent.experiment is not None  # in order
        experiment = self.sent.experiment
        started = record.started_at or record.finished_at or time.time()
        finished = record.finished_at or started
        tags = {PARENT_TAG: self.sent.parent, KIND_TAG: "trial", TRIAL_TAG: record.trial_id,
                SEARCH_TAG: record.search_id, "status": record.status.words,
                "why_stopped": record.failure_reason or WHY_STOPPED.get(record.status, "")}
        if record.worker is not None:
            tags["worker"] = f"{record.worker.node or 'local'} (pid {record.worker.pid})"
        run = self.client.create_run(experiment, start_time=int(started * 1000),
                                     run_name=f"trial {record.number}", tags=tags)
        metric = self.search.metric
        stamp = int(finished * 1000)
        points = [
            Metric(f"val_{metric}", float(value), int(1000 * (started + (finished - started)
                                                               * epoch / len(record.curve))),
                   epoch)
            for epoch, value in enumerate(record.curve, start=1) if math.isfinite(value)
        ]
        final = {"epochs": record.epochs, "best_epoch": record.best_epoch,
                 "wall_seconds": record.wall_seconds, "train_seconds": record.train_seconds,
                 f"best_val_{metric}": record.best_val}
        final |= {f"best_val_{k}": v for k, v in record.metrics.get("val", {}).items()
                  if k != metric}
        points += [Metric(k, float(v), stamp, record.epochs) for k, v in final.items()
                   if isinstance(v, int | float) and math.isfinite(v)]
        params = _flat(record.config)
        for start in range(0, max(len(points), 1), 900):  # MLflow takes 1000 a batch
            self.client.log_batch(
                run.info.run_id, metrics=points[start:start + 900],
                params=[Param(k, v) for k, v in params.items()] if start == 0 else [])
        self.client.set_terminated(
            run.info.run_id, status="FAILED" if record.status is TrialStatus.FAILED
            else "FINISHED", end_time=stamp)
        self.sent.trials[record.trial_id] = run.info.run_id

    def _log_tests(self, trials: Sequence[TrialRecord]) -> None:
        for record in trials:
            run = self.sent.trials.get(record.trial_id)
            if run is None or record.test_metric is None or record.trial_id in self.sent.tested:
                continue
            self.client.log_metric(run, f"test_{self.search.metric}", record.test_metric)
            self.sent.tested.add(record.trial_id)

    def _log_results(self, status: SearchStatus, summary: dict[str, float],
                     export_dir: Path | None, report: Path | None,
                     leaderboard: pd.DataFrame | None, rows: pd.DataFrame | None) -> None:
        from mlflow.entities import Metric

        parent = self.sent.parent
        assert parent is not None
        stamp = int(time.time() * 1000)
        self.client.log_batch(parent, metrics=[
            Metric(key, float(value), stamp, 0) for key, value in summary.items()
            if math.isfinite(value)])
        with tempfile.TemporaryDirectory(prefix="akl-mlflow-") as scratch:
            if leaderboard is not None:
                table = Path(scratch) / "leaderboard.csv"
                leaderboard.to_csv(table, index=False)
                self.client.log_artifact(parent, str(table))
            if report is not None and report.is_file():
                self.client.log_artifact(parent, str(report))
            if export_dir is not None and rows is not None:
                from autokeras_lab.tracking._model import save_served_model

                model = Path(scratch) / "model"
                save_served_model(export_dir, model, rows)
                self.client.log_artifacts(parent, str(model), "model")
                self.client.set_tag(parent, "autokeras_lab.model", f"runs:/{parent}/model")
                self.sent.model = True
                if self.settings.register:
                    self._register(parent)
        self.client.set_terminated(parent, status=RUN_STATUS[status])

    def _register(self, parent: str) -> None:
        from mlflow.exceptions import MlflowException

        name = self.settings.register
        try:
            self.client.create_registered_model(name)
        except MlflowException as exc:
            if exc.error_code != "RESOURCE_ALREADY_EXISTS":
                raise
        version = self.client.create_model_version(
            name, source=f"runs:/{parent}/model", run_id=parent)
        self.sent.registered = f"models:/{name}/{version.version}"
        self.client.set_tag(parent, "autokeras_lab.registered", self.sent.registered)


def _flat(values: dict[str, Any], prefix: str = "") -> dict[str, str]:
    """Nested settings as MLflow parameters: ``budget.max_epochs`` -> ``"300"``."""
    flat: dict[str, str] = {}
    for key, value in values.items():
        if isinstance(value, dict):
            flat |= _flat(value, f"{prefix}{key}.")
        else:
            flat[f"{prefix}{key}"] = str(value)[:6000]
    return flat
