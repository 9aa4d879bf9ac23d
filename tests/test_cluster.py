"""Running on an existing Ray cluster, watching in the dashboard, asking for GPUs.

The cluster is real: a head node and a second node started with ``ray start`` on
this machine, the second in its own mount namespace with a private directory the
rest of the cluster cannot see, the way a second machine's disk would be.
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from autokeras_lab.cluster import configure_devices, trial_resources
from autokeras_lab.errors import UserError
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.types import Direction
from tests.helpers import parent_pids

MLP = Path(__file__).resolve().parents[1] / "search_spaces" / "mlp.py"


def _env(token: str) -> dict[str, str]:
    """A child environment with the cluster's token, outside the test's own local
    runtime settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": token, "PYTHONUNBUFFERED": "1"}
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _kill_processes_under(marker: str) -> None:
    """SIGKILL every process whose command line names ``marker`` and their children
    (``ray stop`` would also stop the test session's own runtime)."""
    pids = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if marker in (entry / "cmdline").read_bytes().decode(errors="replace"):
                pids.add(int(entry.name))
        except OSError:
            continue
    children = {pid for pid, parent in parent_pids().items() if parent in pids}
    for pid in pids | children:
        with contextlib.suppress(OSError):
            os.kill(pid, signal.SIGKILL)


def _running(program: str, marker: str) -> bool:
    """Whether a process of ``program`` whose command line names ``marker`` runs."""
    for entry in Path("/proc").iterdir():
        try:
            cmdline = (entry / "cmdline").read_bytes().decode(errors="replace")
        except OSError:
            continue
        if program in cmdline and marker in cmdline:
            return True
    return False


def _ray(*args: str, env: dict[str, str], prefix: tuple[str, ...] = ()) -> None:
    ray = str(Path(sys.executable).with_name("ray"))
    command = [*prefix, ray, *args, "--disable-usage-stats"]
    done = subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)
    assert done.returncode == 0, done.stdout[-2000:] + done.stderr[-2000:]


def _in_own_mount_namespace(private: Path) -> tuple[str, ...]:
    """A command prefix: run in a new mount namespace where ``private`` is an empty
    tmpfs, invisible to every other process (root, or an unprivileged user namespace)."""
    unshare = ["unshare", "--mount", "--propagation", "private"]
    if os.geteuid() != 0:
        unshare.insert(1, "--map-root-user")
    probe = subprocess.run([*unshare, "true"], capture_output=True)
    if probe.returncode != 0:
        pytest.fail(f"cannot create a mount namespace for the second node: {probe.stderr!r}")
    return (*unshare, "sh", "-c", f'mount -t tmpfs tmpfs "{private}" && exec "$0" "$@"')


@pytest.fixture(scope="module")
def cluster() -> Iterator[tuple[str, Path, dict[str, str]]]:
    """(address, a directory only the head node's machine sees, child environment)."""
    temp = Path(tempfile.mkdtemp(prefix="akl-", dir="/tmp"))  # short: socket paths
    private = temp / "private"
    private.mkdir()
    # The head records its address in TEMP/ray/ray_current_cluster, which is where
    # --address auto looks with RAY_TMPDIR=TEMP (the test session's own local runtime
    # runs too, so a scan of running GCS processes would find two).
    env = _env(secrets.token_hex(32)) | {"RAY_TMPDIR": str(temp)}
    port = _free_port()
    address = f"127.0.0.1:{port}"
    try:
        _ray("start", "--head", "--node-ip-address", "127.0.0.1", "--port", str(port),
             "--num-cpus", "1", "--include-dashboard", "false", "--temp-dir",
             str(temp / "ray"), env=env)
        _ray("start", "--address", address, "--node-ip-address", "127.0.0.1",
             "--num-cpus", "1", env=env, prefix=_in_own_mount_namespace(private))
        yield address, private, env
    finally:
        _kill_processes_under(str(temp))
        shutil.rmtree(temp, ignore_errors=True)


def _search(*args: str, env: dict[str, str], timeout: int = 300) -> subprocess.CompletedProcess:
    try:
        return subprocess.run(
            [sys.executable, "-m", "autokeras_lab", "search", *args, "--no-report"],
            env=env, capture_output=True, text=True, timeout=timeout,
        )
    except subprocess.TimeoutExpired as exc:  # say where it stood
        tail = exc.stderr.decode(errors="replace")[-3000:] if exc.stderr else ""
        pytest.fail(f"search {' '.join(args)} ran past {timeout} s; its stderr:\n{tail}")


@pytest.mark.slow
def test_search_on_a_two_node_cluster_runs_trials_on_both_nodes(cluster, tmp_path):
    address, private, env = cluster
    # The experiment and its search-space module exist only on the driver's side of
    # the private directory; the second node must get the module through Ray.
    shutil.copy(MLP, private / "my_space.py")
    (private / "exp.toml").write_text(
        f'dataset = "concrete"\nspace = "{private / "my_space.py"}"\n'
        "cv = 1\n[budget]\ntrials = 4\nmax_epochs = 5\n"
    )
    runs = private / "runs"

    refused = _search(str(private / "exp.toml"), "--address", "auto", "--runs-dir",
                      str(runs), env=env)
    assert refused.returncode == 2, refused.stderr[-3000:]
    line = refused.stderr.strip().splitlines()[-1]
    assert "1 of the cluster's 2 nodes cannot see" in line and "--storage" in line
    assert not (runs / "leaderboard.db").exists()

    shared = tmp_path / "shared"
    done = _search(str(private / "exp.toml"), "--address", address, "--runs-dir", str(runs),
                   "--storage", str(shared), "--concurrency", "2", env=env)
    assert done.returncode == 0, done.stderr[-3000:]
    board = Leaderboard(runs / "leaderboard.db")
    trials = board.trials("exp", direction=Direction.MIN)
    assert len(trials) == 4 and all(t.status != "failed" for t in trials)
    nodes = {t.worker.node for t in trials}
    assert len(nodes) == 2, nodes
    # Checkpoints went to the shared storage, and the best model was exported from it.
    assert all(str(t.checkpoint_path).startswith(str(shared)) for t in trials if t.checkpoint_path)
    assert (runs / "exp" / "best" / "model.keras").is_file()
    # The refit's tasks ran on the cluster too (a refit that fails leaves the trials'
    # own models and says so: here every chosen trial was refitted).
    refit = json.loads((runs / "exp" / "best" / "card.json").read_text())["refit"]
    assert refit["trials_refitted"] == refit["trials_chosen"] >= 1, refit


@pytest.mark.slow
def test_an_unreachable_cluster_fails_fast(tmp_path):
    started = time.monotonic()
    done = _search("concrete", "--address", f"127.0.0.1:{_free_port()}", "--runs-dir",
                   str(tmp_path), env=_env("x" * 64), timeout=120)
    assert done.returncode == 2
    assert "nothing answers at 127.0.0.1:" in done.stderr.strip().splitlines()[-1]
    assert time.monotonic() - started < 60


def _get(url: str, token: str | None) -> tuple[int, str]:
    request = urllib.request.Request(url)
    if token is not None:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as err:
        return err.code, err.read().decode()


@pytest.mark.slow
def test_dashboard_shows_running_trials_to_token_holders_only(tmp_path):
    env = {k: v for k, v in _env(secrets.token_hex(32)).items() if k != "RAY_AUTH_MODE"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "autokeras_lab", "search", "concrete", "--dashboard", "--cv", "1",
         "--trials", "2", "--concurrency", "2", "--max-epochs", "600", "--runs-dir",
         str(tmp_path), "--no-report", "--no-refit"],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    try:
        url = None
        assert proc.stderr is not None
        for line in proc.stderr:
            if line.startswith("Ray dashboard: "):
                url = line.split()[2]
                break
        assert url and url.startswith("http://127.0.0.1:"), url
        token = subprocess.run(
            [str(Path(sys.executable).with_name("ray")), "get-auth-token"],
            env=env, capture_output=True, text=True, check=True,
        ).stdout.strip()
        api = f"{url}/api/v0/actors?detail=false&limit=100"
        alive: set[int] = set()
        deadline = time.monotonic() + 120
        while not alive and time.monotonic() < deadline and proc.poll() is None:
            status, body = _get(api, token)
            assert status == 200, body
            alive = {a["pid"] for a in json.loads(body)["data"]["result"]["result"]
                     if a["class_name"] == "ImplicitFunc" and a["state"] == "ALIVE"}
            time.sleep(0.3)
        assert alive, "no running trial seen in the dashboard"
        assert _get(api, None)[0] == 401
        assert _get(api, "not-the-token")[0] == 403
        rest = proc.communicate(timeout=300)[1]
        assert proc.returncode == 0, rest[-3000:]
        assert f"| dashboard {url}" in rest  # the progress view shows it too
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    workers = {t.worker.pid for t in Leaderboard(tmp_path / "leaderboard.db")
               .trials("concrete", direction=Direction.MIN)}
    assert alive <= workers  # the actors the dashboard showed are the trials' workers


def test_trials_ask_ray_for_their_gpu_share():
    assert trial_resources(0) == {"cpu": 1}
    assert trial_resources(0.25) == {"cpu": 1, "gpu": 0.25}
    assert trial_resources(2) == {"cpu": 1, "gpu": 2}
    with pytest.raises(UserError, match="not a GPU share"):
        trial_resources(1.5)  # Ray grants fractions below 1 or whole GPUs only


def test_a_clusters_workers_get_the_drivers_tensorflow_settings(monkeypatch):
    from autokeras_lab._env import worker_env

    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    assert "TF_ENABLE_ONEDNN_OPTS" not in worker_env()  # TensorFlow's own default
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    env = worker_env()
    assert env["TF_ENABLE_ONEDNN_OPTS"] == "0"
    assert env["TF_CPP_MIN_LOG_LEVEL"] == "3"  # and stay quiet


def test_a_trial_sees_only_its_gpu_and_grows_its_memory(monkeypatch):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "0,1,2,3")
    monkeypatch.delenv("TF_FORCE_GPU_ALLOW_GROWTH", raising=False)
    configure_devices([2])
    assert os.environ["CUDA_VISIBLE_DEVICES"] == "2"
    assert os.environ["TF_FORCE_GPU_ALLOW_GROWTH"] == "true"
    configure_devices([])  # a CPU trial must not take memory on any card
    assert os.environ["CUDA_VISIBLE_DEVICES"] == ""


@pytest.mark.slow
def test_asking_for_a_gpu_without_one_fails_fast(ray_session, tmp_path, capsys):
    import ray

    assert not ray.cluster_resources().get("GPU")  # the premise: no GPU here
    from autokeras_lab.cli import main

    started = time.monotonic()
    code = main(["search", "concrete", "--gpus-per-trial", "0.5", "--runs-dir", str(tmp_path),
                 "--quiet"])
    assert code == 2
    assert time.monotonic() - started < 60
    assert "asks for a GPU, but no node of the Ray cluster has one" in capsys.readouterr().err
    assert not (tmp_path / "leaderboard.db").exists()


def test_address_auto_never_picks_one_of_several_runtimes_at_random(monkeypatch) -> None:
    import ray._private.services as services

    from autokeras_lab.cluster import resolve_auto

    running = {"10.0.0.5:6379", "127.0.0.1:45727"}
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: running)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "10.0.0.5:6379")
    assert resolve_auto() == "10.0.0.5:6379"  # the latest `ray start` recorded it

    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    with pytest.raises(UserError, match=r"found 2 Ray runtimes .* pass the cluster's --address"):
        resolve_auto()
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: {"10.0.0.5:6379"})
    assert resolve_auto() == "10.0.0.5:6379"
    monkeypatch.setattr(services, "find_gcs_addresses", set)
    with pytest.raises(UserError, match="no Ray cluster on this machine"):
        resolve_auto()


def test_a_search_joins_only_a_loopback_runtime_that_ray_start_left_running(monkeypatch):
    import ray._private.services as services

    from autokeras_lab.cluster import running_local_runtime

    monkeypatch.setattr(services, "find_gcs_addresses", lambda: {"127.0.0.1:6379"})
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "127.0.0.1:6379")
    assert running_local_runtime() == "127.0.0.1:6379"
    # A runtime other machines can reach is a cluster: joined only with --address.
    monkeypatch.setattr(services, "find_gcs_addresses", lambda: {"10.0.0.5:6379"})
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "10.0.0.5:6379")
    assert running_local_runtime() is None
    # A record left by a runtime that has stopped since.
    monkeypatch.setattr(services, "find_gcs_addresses", set)
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: "127.0.0.1:6379")
    assert running_local_runtime() is None
    monkeypatch.setattr(services, "find_bootstrap_address", lambda temp_dir: None)
    assert running_local_runtime() is None


@pytest.mark.slow
def test_searches_reuse_a_local_runtime_started_once(tmp_path):
    """``ray start --head`` once (cluster mode off: loopback only), then searches with
    no flag join it, with its token authentication, and leave it running."""
    temp = Path(tempfile.mkdtemp(prefix="akl-", dir="/tmp"))  # short: socket paths
    # A user's shell: no Ray settings; HOME keeps the token `ray start` writes here.
    env = {k: v for k, v in os.environ.items() if not k.startswith("RAY_")}
    env |= {"RAY_TMPDIR": str(temp), "HOME": str(temp), "PYTHONUNBUFFERED": "1"}
    port = _free_port()
    try:
        # With a token in ~/.ray, `ray start` turns token authentication on.
        subprocess.run([str(Path(sys.executable).with_name("ray")), "get-auth-token",
                        "--generate"], env=env, capture_output=True, check=True, timeout=60)
        assert (temp / ".ray" / "auth_token").is_file()
        _ray("start", "--head", "--port", str(port), "--num-cpus", "2", "--include-dashboard",
             "false", "--temp-dir", str(temp / "ray"),
             env=env | {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"})
        for _ in range(2):
            done = _search("concrete", "--trials", "2", "--max-epochs", "2", "--cv", "1", "--no-refit",
                           "--runs-dir", str(tmp_path), env=env)
            assert done.returncode == 0, done.stderr[-3000:]
            assert f"joined the Ray runtime at 127.0.0.1:{port}" in done.stdout + done.stderr
        board = Leaderboard(tmp_path / "leaderboard.db")
        assert len(board.trials("concrete", direction=Direction.MIN)) == 4
        # The runtime outlives the searches that joined it.
        assert _running("gcs_server", str(temp)) and _running("raylet", str(temp))
    finally:
        _kill_processes_under(str(temp))
        shutil.rmtree(temp, ignore_errors=True)
