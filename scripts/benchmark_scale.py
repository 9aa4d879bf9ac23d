"""How a search scales with the table's rows, beside LightGBM's defaults on the same rows.

The table is synthetic, with a known structure: scikit-learn's ``make_friedman1``
(Friedman 1991), 20 uniform columns of which the first 5 carry the signal,
``y = 10 sin(pi x0 x1) + 20 (x2 - 0.5)^2 + 10 x3 + 5 x4`` plus Gaussian noise of
standard deviation 1 (so no model's test RMSE can go below about 1.0). No large real
table can be shipped or fetched here (PyPI is the only network CI reaches).

For each size: a seeded 90/10 cut; the 90 % as a CSV, searched from the command line
as a user runs it (``search --csv train.csv --target y --time-budget B``); the exported
model and LightGBM (trained on the same CSV) scored on the same 10 %. Measured:

* seconds from the command to the first finished trial (on the leaderboard);
* trials finished or stopped early within the budget;
* the driver's peak resident memory (VmHWM) against the table's size in float32, and
  above the smallest size's peak (the driver's fixed cost: TensorFlow and Ray);
* the largest resident memory a worker reported at the end of a trial;
* the test RMSE of ours and of LightGBM, and their ratio.

    python scripts/benchmark_scale.py                               # 1e4, 1e5, 1e6 rows, 600 s
    python scripts/benchmark_scale.py --rows 10000,100000 --time-budget 300
    python scripts/benchmark_scale.py --json scale.json             # keep every figure
    python scripts/benchmark_scale.py --rows 1000000 \
        --search-args "--address HOST:PORT --storage DIR"             # on a Ray cluster
"""

from __future__ import annotations

import argparse
import json
import shlex
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from benchmark_quality import run_lightgbm, score

SIZES = (10_000, 100_000, 1_000_000)
COLUMNS = 20
BUDGET = 600.0
POLL_S = 0.25


def friedman_table(rows: int, *, seed: int = 0) -> pd.DataFrame:
    """``rows`` rows of Friedman #1 (see the module's docstring), float32 columns."""
    from sklearn.datasets import make_friedman1

    x, y = make_friedman1(n_samples=rows, n_features=COLUMNS, noise=1.0, random_state=seed)
    frame = pd.DataFrame(x.astype(np.float32), columns=[f"x{i}" for i in range(COLUMNS)])
    frame["y"] = y.astype(np.float32)
    return frame


def _peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident memory (Linux's VmHWM), MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def _first_finished(db: Path) -> float | None:
    """When the first trial finished (Unix time), or ``None`` before any did."""
    try:
        with sqlite3.connect(db) as connection:
            row = connection.execute("SELECT MIN(finished_at) FROM trials").fetchone()
    except sqlite3.Error:  # not created yet
        return None
    return row[0] if row else None


def search(train_csv: Path, runs: Path, *, budget: float, search_args: list[str]
           ) -> dict[str, Any]:
    """Run the search from the command line, watching its driver and its leaderboard."""
    command = [sys.executable, "-m", "autokeras_lab", "search", "--csv", str(train_csv),
               "--target", "y", "--task", "regression", "--name", "scale", "--runs-dir",
               str(runs), "--no-report", "--quiet", "--time-budget", str(budget),
               *search_args]
    log = runs.with_suffix(".log")  # a file, not a pipe: a full pipe would stall it
    started = time.time()
    with log.open("w") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT)
        peak, first = 0.0, None
        while process.poll() is None:
            peak = max(peak, _peak_rss_mb(process.pid) or 0.0)
            if first is None:
                first = _first_finished(runs / "leaderboard.db")
            time.sleep(POLL_S)
    # a search that hands over no model (no trial finished an epoch in the budget)
    # is a result too: its line is kept, its figures stay
    lines = log.read_text().strip().splitlines()
    error = (lines[-1] if lines else "no output") if process.returncode != 0 else None
    first = first or _first_finished(runs / "leaderboard.db")
    with sqlite3.connect(runs / "leaderboard.db") as connection:
        rows = connection.execute("SELECT status, worker FROM trials").fetchall()
    workers = [json.loads(worker) for _, worker in rows if worker]
    nodes = Counter(str(worker.get("node")) for worker in workers)
    return {
        "error": error,
        "seconds": time.time() - started,
        "first_trial_s": None if first is None else first - started,
        "trials": sum(status in ("completed", "stopped_early") for status, _ in rows),
        "driver_peak_mb": peak,
        "worker_peak_mb": max((w["rss_mb"] for w in workers), default=None),
        "trials_per_node": sorted(nodes.values(), reverse=True),  # on a cluster: each node's
    }


def run_size(rows: int, *, budget: float, search_args: list[str], work: Path, seed: int = 0
             ) -> dict[str, Any]:
    from sklearn.model_selection import train_test_split

    from autokeras_lab.export import load_model_dir

    frame = friedman_table(rows, seed=seed)  # another seed: other rows, another cut
    train, test = train_test_split(frame, test_size=0.1, random_state=seed)
    csv = work / f"train-{rows}.csv"
    train.to_csv(csv, index=False)
    float32_mb = train.shape[0] * train.shape[1] * 4 / 2**20
    ours = search(csv, work / f"runs-{rows}", budget=budget, search_args=search_args)
    rmse, kind = None, None
    if ours["error"] is None:
        model = load_model_dir(work / f"runs-{rows}" / "scale" / "best")
        predicted = model.predict(test.drop(columns=["y"]))["predicted_y"].to_numpy()
        rmse, kind = score(test["y"], predicted, classes=None)["rmse"], model.card.get("kind")
    started = time.perf_counter()
    lightgbm = run_lightgbm(train, test, "y", classes=None)
    return {
        "rows": rows, "seed": seed, "budget": budget, "csv_mb": csv.stat().st_size / 2**20,
        "float32_mb": float32_mb, **ours,
        "rmse": rmse, "kind": kind,
        "lightgbm_rmse": lightgbm["scores"]["rmse"],
        "lightgbm_s": time.perf_counter() - started,
    }


def summarise(records: list[dict[str, Any]]) -> str:
    def number(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    # the driver's fixed cost (TensorFlow, Ray) as the smallest table shows it
    fixed = min(records, key=lambda r: r["rows"])["driver_peak_mb"]
    lines = [
        "| rows | first trial (s) | trials in budget | driver peak MiB (x float32 table) "
        "| above the smallest's (x table) | worker peak MiB | ours RMSE | LightGBM RMSE (s) "
        "| ours / LightGBM |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for r in records:
        above = r["driver_peak_mb"] - fixed
        lines.append(
            f"| {r['rows']:,} | {number(r['first_trial_s'], '.0f')} | {r['trials']} "
            f"| {r['driver_peak_mb']:.0f} ({r['driver_peak_mb'] / r['float32_mb']:.1f}x) "
            f"| {above:+.0f} ({above / r['float32_mb']:.1f}x) "
            f"| {number(r['worker_peak_mb'], '.0f')} | {number(r['rmse'], '.3f')} "
            f"| {r['lightgbm_rmse']:.3f} ({r['lightgbm_s']:.1f}) "
            f"| {number(r['rmse'] and r['rmse'] / r['lightgbm_rmse'], '.2f')} |"
        )
    failed = [f"{r['rows']:,} rows: {r['error']}" for r in records if r["error"]]
    spread = [f"{r['rows']:,} rows: trials on {len(r['trials_per_node'])} nodes "
              f"({' + '.join(map(str, r['trials_per_node']))})"
              for r in records if len(r.get("trials_per_node", [])) > 1]
    return "\n".join(lines + (["", *failed] if failed else []) + (["", *spread] if spread else []))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rows", default=",".join(str(n) for n in SIZES),
                        help="comma-separated table sizes (default 10000,100000,1000000)")
    parser.add_argument("--time-budget", type=float, default=BUDGET,
                        help=f"each search's --time-budget in seconds ({BUDGET:.0f})")
    parser.add_argument("--search-args", default="",
                        help='more flags for the search, e.g. "--cv 1 --max-epochs 50"')
    parser.add_argument("--seed", type=int, default=0,
                        help="the table's and the cut's seed (default 0), for more splits")
    parser.add_argument("--json", type=Path, help="also write every figure here")
    args = parser.parse_args(argv)
    try:
        sizes = [int(n) for n in args.rows.split(",") if n]
    except ValueError:
        parser.error(f"--rows: expected whole numbers, got {args.rows!r}")
    if not sizes or min(sizes) < 100:
        parser.error("--rows: each size must be at least 100")
    records = []
    with tempfile.TemporaryDirectory() as work:
        for rows in sizes:
            print(f"{rows:,} rows: searching for {args.time_budget:.0f} s ...", flush=True)
            records.append(run_size(rows, budget=args.time_budget, seed=args.seed,
                                    search_args=shlex.split(args.search_args), work=Path(work)))
            if args.json:
                args.json.write_text(json.dumps(records, indent=2))
    print(f"\nFriedman #1, {COLUMNS} columns, 90/10 split; each search "
          f"{args.time_budget:.0f} s{'; flags: ' + args.search_args if args.search_args else ''}\n")
    print(summarise(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
