"""``predict MODEL_DIR CSV``: predictions of an exported model for new rows."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "predict", help="predict with an exported model",
        description="Predict the target for the rows of a CSV with the training columns.",
    )
    parser.add_argument("model_dir", type=Path, help="an exported model, e.g. runs/concrete/best")
    parser.add_argument("csv", type=Path, help="rows to predict (same columns as training)")
    parser.add_argument("--output", type=Path, default=None,
                        help="write a CSV (input rows + prediction) instead of printing")
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
    exported = load_model_dir(args.model_dir)
    predictions = exported.predict(frame)
    unit = exported.card.get("unit", "")
    column = f"predicted_{exported.target}"
    if args.output is not None:
        out = frame.copy()
        out[column] = predictions
        out.to_csv(args.output, index=False)
        print(f"wrote {len(out)} predictions to {args.output}", file=sys.stderr)
    else:
        print(f"{column}" + (f" ({unit})" if unit else ""))
        for value in predictions:
            print(f"{value:.3f}")
    return 0
