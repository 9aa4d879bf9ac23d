"""Every script under scripts/ runs at a tiny size, so none can rot unnoticed (the
epoch benchmark once failed for months on a changed return value)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPTS = Path(__file__).resolve().parents[1] / "scripts"

# script: (tiny arguments, a line its output must hold)
SMOKE = {
    "benchmark_epoch.py": (["--epochs", "2", "--batches", "32", "--packs", "1,3",
                            "--pack-batches", "64"], "packed/one"),
    "benchmark_memory.py": (["--trials", "6", "--epochs", "2"], "growth:"),
    "benchmark_warmstart.py": (["--seeds", "1", "--trials", "2", "--max-epochs", "2",
                                "--target", "100"], "median: cold"),
    # the budget is a ceiling here (the trial count ends the search), with room for a
    # slow machine's workers to start and train before it
    "benchmark_scale.py": (["--rows", "1000", "--time-budget", "90", "--search-args",
                            "--trials 2 --max-epochs 2 --cv 1"], "ours / LightGBM"),
    "probe_trial.py": (["--config", '{"num_layers": 1, "width": 64, "batch_size": 64}',
                        "--spaces", "plr_mlp,tabm", "--seeds", "0,1", "--max-epochs", "2"],
                       "- plr_mlp"),  # the paired comparison's header
    "benchmark_quality.py": (["--datasets", "concrete", "--splits", "1", "--time-budget",
                              "120", "--grid-epochs", "1", "--search-args",
                              "--trials 3 --max-epochs 2 --cv 2"], "| concrete | rmse | grid |"),
}
COVERED_ELSEWHERE = {"benchmark.py": "tests/test_benchmark.py"}


def test_every_script_has_a_smoke_test() -> None:
    scripts = {path.name for path in SCRIPTS.glob("*.py")}
    assert scripts == set(SMOKE) | set(COVERED_ELSEWHERE)


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(SMOKE))
def test_the_script_runs_at_a_tiny_size(script: str) -> None:
    args, expected = SMOKE[script]
    done = subprocess.run([sys.executable, str(SCRIPTS / script), *args], capture_output=True,
                          text=True, timeout=600, cwd=SCRIPTS.parent)
    assert done.returncode == 0, done.stderr[-3000:]
    assert expected in done.stdout, done.stdout[-3000:]
