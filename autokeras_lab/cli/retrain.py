"""``retrain EXPERIMENT``: retrain the best configurations on train + validation with
several seeds and export the best single model and an ensemble; ``retrain --from
MODEL_DIR --csv NEW.csv``: fine-tune an exported model on new rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autokeras_lab.cli._types import add_runs_dir, add_unsafe, positive_int


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "retrain", help="retrain the best configurations, or fine-tune a model on new rows",
        description=(
            "Retrain the K best configurations of an experiment on train + validation with "
            "S seeds, rank them on the held-out test split and export the best single model "
            "and an ensemble of the top K. With --from and --csv: fine-tune an exported "
            "model on new rows and export it as a new version."
        ),
    )
    parser.add_argument("experiment", nargs="?", help="experiment name (omit with --from)")
    parser.add_argument("--top", type=positive_int, default=3, help="configurations (default 3)")
    parser.add_argument("--seeds", type=positive_int, default=3, help="seeds each (default 3)")
    parser.add_argument("--epochs", type=positive_int, default=None,
                        help="epochs per run (default: the search's best epoch; 20 to fine-tune)")
    parser.add_argument("--from", dest="model_dir", type=Path, default=None,
                        help="an exported model to fine-tune (with --csv)")
    parser.add_argument("--csv", type=Path, default=None, help="new rows to fine-tune on")
    parser.add_argument("--refit-preprocessing", action="store_true",
                        help="with --from: refit the scaling/encoding on the new rows")
    add_unsafe(parser)
    add_runs_dir(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autokeras_lab.errors import UserError

    if args.model_dir is not None or args.csv is not None:
        if args.model_dir is None or args.csv is None or args.experiment is not None:
            raise UserError("fine-tuning takes --from MODEL_DIR --csv NEW.csv and no experiment")
        from autokeras_lab.retrain import finetune

        done = finetune(args.model_dir, args.csv, epochs=args.epochs or 20,
                        refit_preprocessing=args.refit_preprocessing, runs_dir=args.runs_dir,
                        unsafe=args.unsafe)
        print(f"fine-tuned on {done.rows} rows for {done.epochs} epochs "
              f"(last training loss {done.loss:.4g})")
        print(f"new model: {done.model_dir}")
        return 0
    if args.experiment is None:
        raise UserError(
            "say what to retrain: an experiment name, or --from MODEL_DIR --csv NEW.csv"
        )
    from autokeras_lab.retrain import retrain_top

    result = retrain_top(args.runs_dir, args.experiment, top=args.top, seeds=args.seeds,
                         epochs=args.epochs, out=sys.stderr)
    metric = result.metric
    print(f"\nRetrained on train + validation (retrain {result.retrain_id}); "
          f"held-out test {metric}, mean ± std over {args.seeds} seed(s):")
    for rank, item in enumerate(result.ranked, start=1):
        print(f"  {rank}. trial {item.trial.number} of {item.trial.search_id}: "
              f"{item.mean(metric):.4g} ± {item.std(metric):.3g}  ({item.epochs} epochs)")
    print(f"\nbest single model: test {metric} {result.single_metrics[metric]:.4g}  "
          f"{result.single_dir}")
    print(f"ensemble of {len(result.ranked)}:    test {metric} "
          f"{result.ensemble_metrics[metric]:.4g}  {result.ensemble_dir}")
    return 0
