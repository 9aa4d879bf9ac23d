"""Trials a warm-started search needs to reach a validation RMSE on concrete, versus a
cold start, over several seeds, side by side in one run.

For each seed: an earlier search (its own seed) fills a runs directory; then a cold
search and a warm-started one (same seed, same budget) run, and we count the trials,
in the order they finished, until each first reaches the target validation RMSE.

    python scripts/benchmark_warmstart.py            # 3 seeds, 20-trial searches
    python scripts/benchmark_warmstart.py --quick    # 2 seeds, 10-trial searches
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
from pathlib import Path

from autokeras_lab import load_experiment, run_search
from autokeras_lab.leaderboard import TrialRecord


def trials_to_reach(trials: list[TrialRecord], target: float) -> int | None:
    done = sorted((t for t in trials if t.best_val is not None), key=lambda t: t.finished_at or 0)
    for count, trial in enumerate(done, start=1):
        if trial.best_val is not None and trial.best_val <= target:
            return count
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--target", type=float, default=4.6, help="validation RMSE to reach")
    parser.add_argument("--seeds", type=int, default=None, help="seeds (3, 2 with --quick)")
    parser.add_argument("--trials", type=int, default=None,
                        help="trials per search (20, 10 with --quick)")
    parser.add_argument("--max-epochs", type=int, default=200)
    args = parser.parse_args()
    seeds = list(range(1, 1 + (args.seeds or (2 if args.quick else 3))))
    trials = args.trials or (10 if args.quick else 20)
    base = load_experiment("concrete").with_overrides(  # as measured in docs/: mlp, one split
        trials=trials, max_epochs=args.max_epochs, space="mlp", cv=1, ensemble_size=0,
        refit=False)
    rows = []
    for seed in seeds:
        with tempfile.TemporaryDirectory() as tmp:
            history, cold_dir = Path(tmp) / "history", Path(tmp) / "cold"
            run_search(base.with_overrides(seed=1000 + seed), runs_dir=history)
            cold = run_search(base.with_overrides(seed=seed), runs_dir=cold_dir)
            warm = run_search(base.with_overrides(seed=seed), runs_dir=history, warm_start=True)
        rows.append((seed, trials_to_reach(cold.trials, args.target),
                     trials_to_reach(warm.trials, args.target)))
        _, cold_n, warm_n = rows[-1]
        print(f"seed {seed}: cold {cold_n or '-'}, warm {warm_n or '-'} trials", flush=True)
    print(f"\ntrials to reach validation RMSE <= {args.target} MPa ({trials}-trial budget; "
          "'-' = not reached, counted as budget + 1)")
    print(f"{'seed':>4}  {'cold':>5}  {'warm':>5}")
    penalty = trials + 1
    for seed, cold_n, warm_n in rows:
        print(f"{seed:>4}  {cold_n or '-':>5}  {warm_n or '-':>5}")
    cold_median = statistics.median(c or penalty for _, c, _ in rows)
    warm_median = statistics.median(w or penalty for _, _, w in rows)
    print(f"median: cold {cold_median}, warm {warm_median}, "
          f"ratio cold/warm {cold_median / warm_median:.2f}x")


if __name__ == "__main__":
    main()
