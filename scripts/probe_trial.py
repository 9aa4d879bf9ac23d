"""One configuration trained as a search trains a trial, on one of
``benchmark_quality.py``'s splits, over several seeds, in one or more search spaces side
by side: the screen for a change to the network before a search is run with it.

Each space is a package space (``plr_mlp``) or a module of your own (a ``.py`` path:
the package space with the change). Every run is what a default search's trial is: the
search's own rows of split K (the 90 % a search gets, less its held-out tenth), its
folds, its epoch limit, patience and learning-rate schedule, one thread; the seed is
the search seed the trial's own seed derives from, so with ``plr_mlp`` and seed 0 a
configuration taken from a seed-0 search's leaderboard gives that trial's value again.
It prints each run's out-of-fold value, epochs and seconds, then every space after the
first against the first, paired by seed (mean and standard error of the differences).

    python scripts/probe_trial.py --config '{"num_layers": 2, "width": 47}' \\
        --spaces plr_mlp,my_change.py --seeds 0,1,2 [--dataset concrete --split 1]

``--config`` is JSON or a JSON file (a leaderboard's ``config`` column as it is);
values it leaves out take the space's defaults. What a probe cannot say is what the
change does to a search's ensemble: a network better on its own can leave the
ensemble level or worse (docs/benchmarks.md, Lever 49), so a change that passes this
screen still needs search runs.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from benchmark_quality import mean_se, splits

from autokeras_lab.config import csv_experiment
from autokeras_lab.data import Arrays, load_dataset
from autokeras_lab.errors import UserError
from autokeras_lab.search._setup import Setup, set_up
from autokeras_lab.search._tuner import trial_settings
from autokeras_lab.trainable import configure_threads, train_trial
from autokeras_lab.types import Direction


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", required=True, help="the configuration: JSON or a file")
    parser.add_argument("--spaces", default="plr_mlp",
                        help="comma-separated spaces: package names or .py paths (plr_mlp)")
    parser.add_argument("--seeds", default="0,1,2", help="search seeds (0,1,2)")
    parser.add_argument("--dataset", default="concrete", help="a built-in data set (concrete)")
    parser.add_argument("--split", type=int, default=1, help="benchmark_quality's split K (1)")
    parser.add_argument("--max-epochs", type=int, default=None,
                        help="fewer epochs than a search's trial has (for a quick look)")
    args = parser.parse_args(argv)
    try:
        values = read_config(args.config)
        seeds = [int(s) for s in args.seeds.split(",")]
        spaces = [s.strip() for s in args.spaces.split(",") if s.strip()]
        if len(set(spaces)) < len(spaces):
            raise UserError(f"--spaces {args.spaces}: a space named twice")
        setups = split_setups(args.dataset, args.split, spaces)
        for space, setup in setups.items():
            unknown = sorted(set(values) - set(setup.derived.names))
            if unknown:
                raise UserError(f"{space} has no hyperparameters {', '.join(unknown)}; "
                                f"it has {', '.join(setup.derived.names)}")
    except (UserError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    configure_threads(1)  # as a trial on one CPU
    arrays = {space: setup.prepared.search_arrays(setup.experiment.input_transforms)
              for space, setup in setups.items()}
    results: dict[str, list[float]] = {space: [] for space in spaces}
    metric = setups[spaces[0]].experiment.metric
    print(f"{args.dataset}, split {args.split}: the trial's out-of-fold {metric}")
    print(f"{'space':<24} {'seed':>4} {'value':>8} {'epochs':>6} {'seconds':>7}")
    for seed in seeds:
        for space in spaces:
            value, epochs, seconds = probe(setups[space], arrays[space], values, seed,
                                           args.max_epochs)
            results[space].append(value)
            print(f"{Path(space).stem:<24} {seed:>4} {value:>8.4f} {epochs:>6} {seconds:>7.1f}",
                  flush=True)
    print()
    print(summary(results, spaces, lower_is_better=setups[spaces[0]].direction is Direction.MIN))
    return 0


def read_config(text: str) -> dict[str, Any]:
    """The configuration from JSON text or a JSON file."""
    path = Path(text)
    raw = path.read_text() if not text.lstrip().startswith("{") and path.is_file() else text
    try:
        values = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise UserError(f"--config is neither JSON nor a JSON file: {exc}") from None
    if not isinstance(values, dict):
        raise UserError("--config must be a JSON object of hyperparameter values")
    return values


def split_setups(dataset: str, split: int, spaces: list[str]) -> dict[str, Setup]:
    """A default search's set-up on split ``split`` of ``dataset`` in each of
    ``spaces``: the split cut and its training rows written once, set up per space."""
    if split < 1:
        raise UserError(f"--split {split}: splits count from 1")
    data = load_dataset(dataset)
    classify = data.task == "classification"
    train, _ = splits(data.frame, data.target, classify=classify, n=split)[split - 1]
    with tempfile.TemporaryDirectory() as work:
        csv = Path(work) / "train.csv"
        train.to_csv(csv, index=False)
        experiment = csv_experiment(csv, target=data.target, name="bench",
                                    task="classification" if classify else "regression")
        return {space: set_up(dataclasses.replace(experiment, space=space))
                for space in spaces}


def probe(setup: Setup, data: Arrays, values: dict[str, Any], seed: int,
          max_epochs: int | None) -> tuple[float, int, float]:
    """Train ``values`` on the search's arrays ``data`` as the search's trial would:
    its best value, epochs, seconds."""
    settings = dataclasses.replace(trial_settings(setup), search_seed=seed,
                                   max_epochs=max_epochs or setup.max_epochs)
    started = time.perf_counter()
    report = train_trial(setup.derived.defaults() | values, data, settings,
                         lambda _report, _state: None)
    return report.best_val_metric, report.epoch, time.perf_counter() - started


def summary(results: dict[str, list[float]], spaces: list[str], *,
            lower_is_better: bool = True) -> str:
    """Each space's mean, and each after the first against the first, paired by seed
    (``better``: the seeds on which it beat the first)."""
    first = results[spaces[0]]
    lines = [f"{'space':<24} {'mean':>8} {'- ' + Path(spaces[0]).stem:>18} {'better':>7}"]
    for space in spaces:
        mean = statistics.fmean(results[space])
        if space == spaces[0]:
            lines.append(f"{Path(space).stem:<24} {mean:>8.4f}")
            continue
        diffs = [b - a for a, b in zip(first, results[space], strict=True)]
        diff, se = mean_se(diffs)
        better = sum((d < 0) if lower_is_better else (d > 0) for d in diffs)
        lines.append(f"{Path(space).stem:<24} {mean:>8.4f} "
                     f"{diff:>+9.4f} ± {se:.4f} {better:>4}/{len(diffs)}")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
