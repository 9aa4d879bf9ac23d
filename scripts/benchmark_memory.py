"""Does a reused worker's memory grow from trial to trial? One worker trains 50 short
concrete trials in a row (Ray reuses its actor); each trial reports the worker's
resident memory when it ends, and we print it after trial 5 and after trial 50.

    python scripts/benchmark_memory.py            # 50 trials of up to 20 epochs
    python scripts/benchmark_memory.py --quick    # 20 trials of up to 10 epochs

A leak shows as growth that keeps going with the trial count; a flat line after the
first few trials (TensorFlow's caches warming up) is what we want.
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path

from autokeras_lab import load_experiment, run_search
from autokeras_lab.runner import start_ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 trials of up to 10 epochs")
    args = parser.parse_args()
    trials, epochs = (20, 10) if args.quick else (50, 20)
    start_ray(num_cpus=1)  # one worker, reused for every trial
    experiment = load_experiment("concrete").with_overrides(
        trials=trials, max_epochs=epochs, concurrency=1, time_budget_s=3600, seed=0
    )
    with tempfile.TemporaryDirectory() as runs:
        result = run_search(experiment, runs_dir=Path(runs))
    done = sorted(result.trials, key=lambda t: t.number)
    rss = [t.metrics["worker"]["rss_mb"] for t in done]
    pids = {t.metrics["worker"]["pid"] for t in done}
    early = min(5, len(rss))
    print(f"{len(done)} trials of up to {epochs} epochs on {len(pids)} worker process(es)")
    print(f"worker resident memory after trial {early}: {rss[early - 1]:8.1f} MiB")
    print(f"worker resident memory after trial {len(rss)}: {rss[-1]:8.1f} MiB")
    growth = rss[-1] - rss[early - 1]
    per_trial = growth / max(1, len(rss) - early)
    print(f"growth: {growth:+.1f} MiB ({per_trial:+.2f} MiB per trial, "
          f"ratio {rss[-1] / rss[early - 1]:.3f})")
    print("by trial: " + " ".join(f"{value:.0f}" for value in rss))


if __name__ == "__main__":
    main()
