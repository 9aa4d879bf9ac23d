"""``predict MODEL_DIR CSV``: predictions of an exported model for new rows: the value
(regression) or the class label and the class probabilities (classification)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autokeras_lab.cli._types import add_unsafe


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "predict", help="predict with an exported model",
        description="Predict the target for the rows of a CSV with the training columns.",
    )
    parser.add_argument("model_dir", type=Path, help="an exported model, e.g. runs/concrete/best")
    parser.add_argument("csv", type=Path, help="rows to predict (same columns as training)")
    parser.add_argument("--output", type=Path, default=None,
                        help="write a CSV (input rows + predictions) instead of printing")
    add_unsafe(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    import pandas as pd

    from autokeras_lab.errors import UserError
    from autokeras_lab.export import load_model_dir

    if not args.csv.exists() or args.csv.is_dir():
        raise UserError(f"CSV file {args.csv} does not exist")
    try:
        frame = pd.read_csv(args.csv)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise UserError(f"cannot read {args.csv} as CSV: {str(exc).splitlines()[0]}") from None
    exported = load_model_dir(args.model_dir, unsafe=args.unsafe)
    try:
        predictions = exported.predict(frame)
    except UserError as exc:
        raise UserError(f"{args.csv} does not fit the model in {args.model_dir}: {exc}") from None
    if args.output is not None:
        pd.concat([frame, predictions], axis=1).to_csv(args.output, index=False)
        print(f"wrote {len(frame)} predictions to {args.output}", file=sys.stderr)
    else:
        unit = exported.card.get("unit", "")
        if unit:
            print(f"# {predictions.columns[0]} in {unit}", file=sys.stderr)
        print(predictions.to_csv(index=False, float_format="%.4g"), end="")
    return 0
