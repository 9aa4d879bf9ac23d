"""Does a reused worker's memory grow from trial to trial? One worker trains 50 short
concrete trials in a row (Ray reuses its actor), then one more; each trial records the
worker's resident memory as it starts, before it builds anything, which is what the
trials before it left behind. We print it after trial 5 and after trial 50.

    python scripts/benchmark_memory.py               # 50 trials of up to 20 epochs
    python scripts/benchmark_memory.py --quick       # 20 trials of up to 10 epochs
    python scripts/benchmark_memory.py --trials 150  # does the growth level off?
    python scripts/benchmark_memory.py --onednn off  # without oneDNN's kernel cache

A leak shows as growth that keeps going at the same pace with the trial count;
growth that slows as trials meet layer shapes already seen (oneDNN's per-shape
kernel cache) is not one. The means per block of 25 trials show which it is.
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
from pathlib import Path

from autokeras_lab import load_experiment, run_search
from autokeras_lab.cluster import start_ray


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="20 trials of up to 10 epochs")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials to measure (default 50, 20 with --quick)")
    parser.add_argument("--epochs", type=int, default=None,
                        help="most epochs per trial (default 20, 10 with --quick)")
    parser.add_argument("--onednn", choices=("on", "off"), default="on",
                        help="TensorFlow's oneDNN kernels (off: TF_ENABLE_ONEDNN_OPTS=0)")
    args = parser.parse_args()
    trials, epochs = (20, 10) if args.quick else (50, 20)
    if args.trials is not None:
        if args.trials < 6:
            parser.error("--trials must be 6 or more")
        trials = args.trials
    epochs = args.epochs or epochs
    if args.onednn == "off":
        os.environ["TF_ENABLE_ONEDNN_OPTS"] = "0"  # local workers inherit it
    start_ray(num_cpus=1)  # one worker, reused for every trial
    experiment = load_experiment("concrete").with_overrides(  # one model per trial
        trials=trials + 1, max_epochs=epochs, concurrency=1, time_budget_s=3600, seed=0,
        space="mlp", cv=1, ensemble_size=0, refit=False,
    )
    with tempfile.TemporaryDirectory() as runs:
        result = run_search(experiment, runs_dir=Path(runs))
    done = sorted(result.trials, key=lambda t: t.number)
    # after[k - 1]: the worker's memory after trial k, read as trial k + 1 started.
    after = [t.worker.rss_start_mb for t in done[1:]]
    pids = {t.worker.pid for t in done}
    early = min(5, len(after))
    print(f"{len(after)} trials of up to {epochs} epochs on {len(pids)} worker process(es), "
          f"oneDNN {args.onednn}")
    print(f"worker resident memory after trial {early}: {after[early - 1]:8.1f} MiB")
    print(f"worker resident memory after trial {len(after)}: {after[-1]:8.1f} MiB")
    growth = after[-1] - after[early - 1]
    per_trial = growth / max(1, len(after) - early)
    print(f"growth: {growth:+.1f} MiB ({per_trial:+.2f} MiB per trial, "
          f"ratio {after[-1] / after[early - 1]:.3f})")
    blocks = [after[start:start + BLOCK] for start in range(0, len(after), BLOCK)]
    print(f"mean per block of {BLOCK} trials: " + ", ".join(
        f"{statistics.fmean(block):.0f}" for block in blocks) + " MiB")
    if len(after) >= 2 * BLOCK:
        tail = after[-2 * BLOCK:]
        print(f"over the last {len(tail)} trials: "
              f"{(statistics.fmean(tail[BLOCK:]) - statistics.fmean(tail[:BLOCK])) / BLOCK:+.2f}"
              " MiB per trial (difference of the last two block means)")
    print("after each trial: " + " ".join(f"{value:.0f}" for value in after))


BLOCK = 25


if __name__ == "__main__":
    main()
