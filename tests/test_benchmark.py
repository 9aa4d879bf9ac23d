"""The side-by-side benchmark script: its arithmetic, and a tiny run end to end."""

from __future__ import annotations

import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark.py"
spec = importlib.util.spec_from_file_location("benchmark", SCRIPT)
assert spec is not None and spec.loader is not None
benchmark = importlib.util.module_from_spec(spec)
spec.loader.exec_module(benchmark)


def _run(tool: str, seed: int, wall: float, epochs: int, test: float, history: list) -> dict:
    return {"tool": tool, "seed": seed, "wall_s": wall, "trials": 4, "epochs": epochs,
            "epochs_per_s": epochs / wall, "best_val": min(v for _, v in history),
            "test": test, "history": history}


def test_time_to_reach_is_when_the_best_so_far_first_gets_there():
    history = [[3.0, 9.0], [1.0, 12.0], [5.0, 4.0], [7.0, 3.0]]
    assert benchmark.time_to_reach(history, 9.0) == 3.0
    assert benchmark.time_to_reach(history, 4.5) == 5.0
    assert benchmark.time_to_reach(history, 1.0) is None


def test_summary_gives_medians_spreads_and_ratios_against_ours():
    runs = []
    for seed, grid_wall in ((0, 100.0), (1, 140.0)):
        runs.append(_run("grid", seed, grid_wall, 500, 6.0, [[50.0, 7.0], [grid_wall, 6.5]]))
        runs.append(_run("ray-tune", seed, 60.0, 300, 5.5, [[30.0, 6.0]]))
        runs.append(_run("autokeras_lab", seed, 20.0, 400, 5.0, [[5.0, 8.0], [10.0, 6.0]]))
    table = benchmark.summarise(runs)
    ours = next(line for line in table.splitlines() if line.startswith("autokeras_lab "))
    assert ours.split()[1] == "20.00" and ours.endswith("10.00 ±0.00")  # reached 6.5 at 10 s
    assert "ray-tune      trial-epochs/s: ours 4.0x | wall time: theirs / ours 3.00" in table
    assert "test RMSE: theirs / ours 1.20" in table  # grid's 6.0 against our 5.0
    # 10 s of the grid's 100 s and of its 140 s: median 0.0857, half-range 0.0143
    assert "after 0.086 ±0.014 of the grid's wall time" in table


@pytest.mark.slow
def test_a_tiny_benchmark_runs_side_by_side_and_draws_its_plot(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "--tools", "kt-random", "autokeras_lab", "--trials", "2",
         "--max-epochs", "2", "--seeds", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ratios against autokeras_lab" in done.stdout
    assert "kt-random     trial-epochs/s: ours" in done.stdout
    runs = json.loads((tmp_path / "results.json").read_text())
    assert [r["tool"] for r in runs] == ["kt-random", "autokeras_lab"]
    for run in runs:
        assert run["trials"] == 2 and 2 <= run["epochs"] <= 4
        assert 0 < run["test"] < 60 and 0 < run["best_val"] < 60  # MPa
        assert run["history"] and all(t > 0 for t, _ in run["history"])
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
