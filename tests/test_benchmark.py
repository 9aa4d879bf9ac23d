"""The side-by-side benchmark script: its arithmetic, and a tiny run end to end."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import pytest

from tests.helpers import load_script

benchmark = load_script("benchmark")


def _run(tool: str, seed: int, wall: float, epochs: int, test: float, history: list,
         test_at: float | None = None) -> dict:
    return {"tool": tool, "seed": seed, "wall_s": wall, "trials": 4, "epochs": epochs,
            "epochs_per_s": epochs / wall, "best_val": min(v for _, v in history),
            "test": test, "history": history, "test_at": test_at}


def test_time_to_reach_is_when_the_best_so_far_first_gets_there():
    history = [[3.0, 9.0], [1.0, 12.0], [5.0, 4.0], [7.0, 3.0]]
    assert benchmark.time_to_reach(history, 9.0) == 3.0
    assert benchmark.time_to_reach(history, 4.5) == 5.0
    assert benchmark.time_to_reach(history, 1.0) is None


def test_the_model_chosen_at_a_time_is_the_best_of_the_trials_finished_by_then():
    finished = [(30.0, 6.0, "a"), (10.0, 7.0, "b"), (50.0, 4.0, "c"), (20.0, math.nan, "d")]
    assert benchmark.chosen_at(finished, 25.0) == "b"
    assert benchmark.chosen_at(finished, 30.0) == "a"
    assert benchmark.chosen_at(finished, 60.0) == "c"
    assert benchmark.chosen_at(finished, 5.0) is None
    assert benchmark.chosen_at(finished, None) is None


def test_summary_gives_medians_spreads_and_ratios_against_ours():
    runs = []
    for seed, grid_wall in ((0, 100.0), (1, 140.0)):
        runs.append(_run("grid", seed, grid_wall, 500, 6.0, [[50.0, 7.0], [grid_wall, 6.5]]))
        runs.append(_run("ray-tune", seed, 60.0, 300, 5.5, [[30.0, 6.0]],
                         test_at=7.0 + seed))
        runs.append(_run("autokeras_lab", seed, 20.0, 400, 5.0, [[5.0, 8.0], [10.0, 6.0]],
                         test_at=5.0))
    table = benchmark.summarise(runs)
    ours = next(line for line in table.splitlines() if line.startswith("autokeras_lab "))
    assert ours.split()[1] == "20.00" and ours.split()[-3:] == ["±0.00", "5.00", "±0.00"]
    grid = next(line for line in table.splitlines() if line.startswith("grid "))
    assert grid.endswith("none yet")  # no model before its refit
    ray_tune = next(line for line in table.splitlines() if line.startswith("ray-tune "))
    assert ray_tune.endswith("7.50 ±0.50")
    assert "ray-tune      trial-epochs/s: ours 4.0x | wall time: theirs / ours 3.00" in table
    assert "test RMSE: theirs / ours 1.20 | at our wall time: no model yet" in table  # grid
    assert "theirs / ours 1.10 | at our wall time: 1.50" in table  # ray-tune: 7.5 / 5.0
    # 10 s of the grid's 100 s and of its 140 s: median 0.0857, half-range 0.0143
    assert "after 0.086 ±0.014 of the grid's wall time" in table


def test_report_combines_runs_saved_separately_into_one_table_and_plot(tmp_path):
    for seed in (0, 1):
        runs = [_run("ray-tune", seed, 60.0, 300, 5.5, [[30.0, 6.0]], test_at=7.0),
                _run("autokeras_lab", seed, 20.0, 400, 5.0, [[10.0, 6.0]], test_at=5.0)]
        (tmp_path / f"seed{seed}.json").write_text(json.dumps(runs))
    out = tmp_path / "combined"
    assert benchmark.main(["--report", str(tmp_path / "seed0.json"),
                           str(tmp_path / "seed1.json"), "--out", str(out)]) == 0
    assert "seeds [0, 1]" in (out / "table.txt").read_text()
    assert len(json.loads((out / "results.json").read_text())) == 4
    assert (out / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.slow
def test_a_tiny_benchmark_runs_side_by_side_and_draws_its_plot(tmp_path):
    done = subprocess.run(
        [sys.executable, benchmark.__file__, "--tools", "kt-random", "keras-search-cv", "autokeras_lab",
         "--trials", "2",
         "--max-epochs", "2", "--seeds", "0", "--out", str(tmp_path)],
        capture_output=True, text=True, timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ratios against autokeras_lab" in done.stdout
    assert "kt-random     trial-epochs/s: ours" in done.stdout
    runs = json.loads((tmp_path / "results.json").read_text())
    assert [r["tool"] for r in runs] == ["autokeras_lab", "kt-random", "keras-search-cv"]
    # kt-random's model at our wall time: one it had finished by then, or none yet
    assert runs[1]["test_at"] is None or 0 < runs[1]["test_at"] < 60
    for run in runs:
        assert run["trials"] == 2 and 1 <= run["epochs"] <= 4
        assert 0 < run["test"] < 60 and 0 < run["best_val"] < 60  # MPa
        assert run["history"] and all(t > 0 for t, _ in run["history"])
    assert (tmp_path / "benchmark.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
