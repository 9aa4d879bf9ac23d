"""MLflow tracking as a team would use it: a real ``mlflow server`` (SQLite backend, on
loopback) that the tests start and stop; a search shows up there as one parent run
with a nested run per trial and a model that loads in a fresh process, a resumed
search continues its run, and an outage costs the search nothing."""

from __future__ import annotations

import io
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.cli import main
from autokeras_lab.config import TrackingSettings, check_tracking_uri, load_experiment
from autokeras_lab.errors import UserError
from autokeras_lab.export import load_model_dir
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.tracking import (
    KIND_TAG,
    SEARCH_TAG,
    TRIAL_TAG,
    Tracker,
    check_server,
    client_env,
)
from autokeras_lab.types import SearchStatus
from tests.helpers import (
    assert_complete_and_unique,
    leaderboard_rows,
    search,
    search_process,
    trial,
    wait_for_trials,
)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# --- refused before anything trains (fast) ----------------------------------------------


@pytest.mark.parametrize("uri", ["http://127.0.0.1:5000", "https://mlflow.example.com",
                                 "file:///tmp/mlruns", "sqlite:///mlflow.db",
                                 "postgresql://user@db/mlflow", "databricks"])
def test_tracking_uris_mlflow_takes_are_accepted(uri: str) -> None:
    check_tracking_uri(uri)


@pytest.mark.parametrize("uri", ["localhost:5000", "http://", "http://host:notaport",
                                 "ftp://host/x", "mlruns"])
def test_a_malformed_tracking_uri_names_the_forms_it_may_take(uri: str) -> None:
    with pytest.raises(ValueError, match=r"is not a tracking URI: give http://HOST:PORT"):
        check_tracking_uri(uri)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--mlflow", "localhost:5000"], "mlflow 'localhost:5000' is not a tracking URI"),
        (["--register", "best"], "register needs mlflow"),
        (["--mlflow", "http://127.0.0.1:{port}"], "no MLflow tracking server answers there"),
    ],
    ids=["malformed", "register-alone", "unreachable"],
)
def test_bad_tracking_flags_get_one_line_and_exit_2_before_anything_is_stored(
    argv: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = [a.format(port=_free_port()) for a in argv]
    with pytest.raises(SystemExit) as info:
        raise SystemExit(main(["search", "concrete", "--runs-dir", str(tmp_path), *argv]))
    assert info.value.code == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1
    assert not (tmp_path / "leaderboard.db").exists()


def test_an_experiment_file_tracks_with_a_tracking_table(tmp_path: Path) -> None:
    path = tmp_path / "tracked.toml"
    path.write_text('dataset = "concrete"\nname = "tracked"\n'
                    '[tracking]\nmlflow = "http://127.0.0.1:5000"\nregister = "concrete"\n')
    experiment = load_experiment(path)
    assert experiment.tracking == TrackingSettings(mlflow="http://127.0.0.1:5000",
                                                   register="concrete")
    assert experiment.settings()["tracking"]["mlflow"] == "http://127.0.0.1:5000"  # resumes
    path.write_text('dataset = "concrete"\n[tracking]\nserver = "x"\n')
    with pytest.raises(UserError, match=r"unknown key 'tracking.server'; allowed keys: "
                                        r"tracking.mlflow, tracking.register"):
        load_experiment(path)


# --- a real server (slow) ---------------------------------------------------------------


class MlflowServer:
    """``mlflow server`` with a SQLite backend and its own artifact folder, on a free
    loopback port; it can be stopped and started again on the same port and files."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.port = _free_port()
        self.uri = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "mlflow", "server", "--host", "127.0.0.1",
             "--port", str(self.port), "--workers", "1",
             "--backend-store-uri", f"sqlite:///{self.root / 'mlflow.db'}",
             "--artifacts-destination", str(self.root / "artifacts")],
            stdout=subprocess.DEVNULL, stderr=(self.root / "server.log").open("ab"),
            start_new_session=True,
        )
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            try:
                with urllib.request.urlopen(f"{self.uri}/health", timeout=2):
                    return
            except OSError:
                assert self.process.poll() is None, (self.root / "server.log").read_text()
                time.sleep(0.3)
        raise AssertionError("mlflow server did not start in 120 s")

    def stop(self) -> None:
        assert self.process is not None
        self.process.terminate()
        self.process.wait(30)

    def client(self):
        from mlflow import MlflowClient

        return MlflowClient(tracking_uri=self.uri)

    def runs_of(self, search_id: str) -> tuple[object, list[object]]:
        """The search's parent run and its nested runs."""
        client = self.client()
        experiments = [e.experiment_id for e in client.search_experiments()]
        [parent] = client.search_runs(experiments,
                                      filter_string=f"tags.`{SEARCH_TAG}` = '{search_id}'"
                                      f" and tags.`{KIND_TAG}` = 'search'")
        children = client.search_runs(
            experiments, filter_string=f"tags.`mlflow.parentRunId` = '{parent.info.run_id}'")
        everything = client.search_runs(experiments,
                                        filter_string=f"tags.`{SEARCH_TAG}` = '{search_id}'")
        assert len(everything) == len(children) + 1  # no run outside the parent's tree
        return parent, children


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MlflowServer]:
    server = MlflowServer(tmp_path_factory.mktemp("mlflow"))
    server.start()
    yield server
    server.stop()


def _predict_in_a_fresh_process(uri: str, models: list[str], rows: Path, out: Path) -> None:
    """Load each MLflow model in a new Python, as a serving process would, and write
    its predictions for ``rows`` to ``out/NUMBER.csv``."""
    code = (
        "import sys, mlflow, pandas as pd\n"
        f"mlflow.set_tracking_uri({uri!r})\n"
        f"rows = pd.read_csv({str(rows)!r})\n"
        f"for i, model in enumerate({models!r}):\n"
        f"    mlflow.pyfunc.load_model(model).predict(rows).to_csv(f'{out}/{{i}}.csv', index=False)\n"
        f"open({str(out / 'served_from.txt')!r}, 'w').write(sys.modules['autokeras_lab'].__file__)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    # The code that served is the copy inside the MLflow model, not this checkout.
    served_from = Path((out / "served_from.txt").read_text())
    assert served_from.parts[-3:-1] == ("code", "autokeras_lab"), served_from
    assert not served_from.is_relative_to(Path(__file__).resolve().parents[1])


def _predict_command(model_dir: Path, rows: Path, out: Path) -> pd.DataFrame:
    done = subprocess.run([sys.executable, "-m", "autokeras_lab", "predict", str(model_dir),
                           str(rows), "--output", str(out)], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    return pd.read_csv(out).drop(columns=pd.read_csv(rows).columns)


@pytest.mark.slow
def test_a_search_stopped_with_ctrl_c_resumes_as_one_parent_run_with_a_run_per_trial(
    mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    """Ctrl-C after two trials: the search stops cleanly, says how to resume, and the
    printed command finishes it without rerunning or losing a trial (and refits, as
    a default search does); in MLflow it is one parent run, continued, with one run
    per trial and the model that the search handed over, registered."""
    command = ["concrete", "--trials", "4", "--max-epochs", "30", "--seed", "3",
               "--concurrency", "2", "--mlflow", mlflow_server.uri, "--register",
               "concrete-best"]
    proc = search_process(tmp_path, *command)
    wait_for_trials(tmp_path, 2, proc)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=300)
    assert proc.returncode == 130, err[-3000:]
    assert "Traceback" not in err
    [record] = Leaderboard(tmp_path / "leaderboard.db").searches("concrete")
    assert record.status == "interrupted"
    printed = err.strip().splitlines()[-1].split()  # the command that resumes it
    assert printed[:5] == ["python", "-m", "autokeras_lab", "search", "--resume"]
    parent, children = mlflow_server.runs_of(record.search_id)
    assert parent.info.status == "KILLED"
    before = {c.data.tags[TRIAL_TAG]: c.info.run_id for c in children}
    rows_before = leaderboard_rows(tmp_path)
    assert len(before) >= 2 and len(rows_before) >= 2

    done = search_process(tmp_path, *printed[4:6])
    out, err = done.communicate(timeout=600)
    assert done.returncode == 0, err[-3000:]
    assert "resuming search" in err
    assert "Traceback" not in err and "MLflow run:  http://127.0.0.1" in out
    assert "MLflow model: models:/concrete-best/" in out
    assert_complete_and_unique(tmp_path, 4, err)
    rows_after = leaderboard_rows(tmp_path)
    for trial_id, row in rows_before.items():
        assert rows_after[trial_id] == row  # finished before Ctrl-C: kept, not trained again

    board = Leaderboard(tmp_path / "leaderboard.db")
    trials = {t.trial_id: t for t in board.trials("concrete", search_id=record.search_id,
                                                       direction=record.direction)}
    parent_again, children = mlflow_server.runs_of(record.search_id)
    assert parent_again.info.run_id == parent.info.run_id  # the same run, continued
    assert parent_again.info.status == "FINISHED", (out, err[-3000:])
    by_trial = {c.data.tags[TRIAL_TAG]: c for c in children}
    assert len(children) == len(by_trial) == len(trials) == 4  # no trial logged twice
    assert {k: v.info.run_id for k, v in by_trial.items() if k in before} == before
    client = mlflow_server.client()
    for trial_id, run in by_trial.items():
        stored = trials[trial_id]
        assert run.data.params == {k: str(v) for k, v in stored.config.items()}
        history = client.get_metric_history(run.info.run_id, "val_rmse")
        assert [m.value for m in sorted(history, key=lambda m: m.step)] == pytest.approx(
            stored.curve)
        assert run.data.tags["status"] == stored.status.words
        assert run.data.tags["why_stopped"]
    assert parent_again.data.params["budget.trials"] == "4"
    assert "--mlflow" in parent_again.data.tags["autokeras_lab.command"]
    assert {a.path for a in client.list_artifacts(parent.info.run_id)} >= {
        "leaderboard.csv", "report.html", "model"}
    sizes = {a.path: a.file_size for a in client.list_artifacts(parent.info.run_id, "model")}
    assert sizes["model/python_model.pkl"] < 100_000  # the network travels as the artifact
    latest = max(client.search_model_versions("name = 'concrete-best'"),
                 key=lambda v: int(v.version))
    assert latest.run_id == parent.info.run_id

    from autokeras_lab.data import load_dataset

    rows = tmp_path / "rows.csv"
    load_dataset("concrete").frame.drop(columns="strength").sample(
        25, random_state=1).to_csv(rows, index=False)
    _predict_in_a_fresh_process(mlflow_server.uri, [f"models:/concrete-best/{latest.version}"],
                                rows, tmp_path)
    expected = _predict_command(tmp_path / "concrete" / "best", rows, tmp_path / "cli.csv")
    served = pd.read_csv(tmp_path / "0.csv")
    assert list(served.columns) == list(expected.columns) == ["predicted_strength"]
    np.testing.assert_allclose(served.to_numpy(), expected.to_numpy(), atol=1e-5)


@pytest.mark.slow
def test_a_classifier_fitted_from_python_logs_a_model_that_serves_probabilities(
    ray_session, mlflow_server: MlflowServer, tmp_path: Path
) -> None:
    from autokeras_lab import SearchClassifier
    from autokeras_lab.data import load_dataset

    frame = load_dataset("breast_cancer").frame
    target = load_dataset("breast_cancer").target
    x, y = frame.drop(columns=target), frame[target]
    model = SearchClassifier(n_trials=2, time_budget=None, max_epochs=3, cv=None, refit=False,
                             runs_dir=str(tmp_path), mlflow_uri=mlflow_server.uri,
                             name="cancer").fit(x, y)
    assert model.mlflow_model_.startswith("runs:/")
    parent, children = mlflow_server.runs_of(model.search_id_)
    assert len(children) == 2 and parent.info.status == "FINISHED"
    # the run's figures are the model it logs (a lone trial's calibrated, as its card)
    card = load_model_dir(model.export_dir_).card
    for key in ("val_log_loss", "test_log_loss"):
        assert parent.data.metrics[key] == pytest.approx(card["metrics"][key], rel=1e-6)

    rows = tmp_path / "rows.csv"
    x.sample(30, random_state=2).to_csv(rows, index=False)
    _predict_in_a_fresh_process(mlflow_server.uri, [model.mlflow_model_], rows, tmp_path)
    served = pd.read_csv(tmp_path / "0.csv")
    expected = _predict_command(model.export_dir_, rows, tmp_path / "cli.csv")
    assert list(served.columns) == list(expected.columns)
    assert [c for c in served.columns if c.startswith("probability_")]
    probabilities = [c for c in served.columns if c.startswith("probability_")]
    np.testing.assert_allclose(served[probabilities].to_numpy(),
                               expected[probabilities].to_numpy(), atol=1e-5)
    label = f"predicted_{target}"
    assert (served[label].astype(str) == expected[label].astype(str)).all()


@pytest.mark.slow
def test_an_outage_is_told_once_and_the_missed_runs_are_sent_when_the_server_is_back(
    mlflow_server: MlflowServer,
) -> None:
    said = io.StringIO()
    record = search("outage-1")
    settings = TrackingSettings(mlflow=mlflow_server.uri, experiment="team-runs")
    trials = [trial(f"t{i}", 5.0 + i, search_id="outage-1", started_at=10.0 + i,
                    finished_at=12.0 + i) for i in range(4)]
    with client_env():
        mlflow_server.stop()
        try:
            with pytest.raises(UserError, match="no MLflow tracking server answers there"):
                check_server(TrackingSettings(mlflow=mlflow_server.uri))
            tracker = Tracker(settings, record, said)
            tracker.trial(trials[0])
            tracker.trial(trials[1])
            deadline = time.monotonic() + 60
            while len(tracker.backlog) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)  # each tried and kept, in order
            assert len(tracker.backlog) == 3
        finally:
            mlflow_server.start()
        assert said.getvalue().count("is not answering") == 1
        assert "the search goes on" in said.getvalue()
        assert tracker.close(SearchStatus.INTERRUPTED, trials[:3]) is not None
        assert "answers again: sending the runs it missed" in said.getvalue()
        parent, children = mlflow_server.runs_of("outage-1")
        assert parent.info.status == "KILLED"
        assert sorted(c.data.tags[TRIAL_TAG] for c in children) == ["t0", "t1", "t2"]

        # Resumed: the same parent run; the trials it has are not sent again.
        resumed = Tracker(settings, record, said)
        assert resumed.close(SearchStatus.COMPLETED, trials) == parent.info.run_id
    parent, children = mlflow_server.runs_of("outage-1")
    assert parent.info.status == "FINISHED"
    assert sorted(c.data.tags[TRIAL_TAG] for c in children) == ["t0", "t1", "t2", "t3"]
    assert parent.data.params["a"] == "1"  # the search's settings
    experiment = mlflow_server.client().get_experiment(parent.info.experiment_id)
    assert experiment.name == "team-runs"  # [tracking] experiment = "team-runs"
