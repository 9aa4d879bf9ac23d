"""``export MODEL_DIR --format saved_model|onnx --out DIR``: the exported model as a
TensorFlow SavedModel (TensorFlow Serving, ``tf.saved_model.load``) or an ONNX file
(ONNX Runtime) that takes raw rows, the preprocessing folded into the graph."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from autokeras_lab.cli._types import add_unsafe


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "export", help="export a model for serving (SavedModel or ONNX)",
        description="Write an exported model as a TensorFlow SavedModel or an ONNX file "
                    "that takes raw rows, one named input per column, and needs no "
                    "autokeras_lab to run.",
    )
    parser.add_argument("model_dir", type=Path, help="an exported model, e.g. runs/concrete/best")
    parser.add_argument("--format", choices=("saved_model", "onnx"), default="saved_model",
                        help="saved_model (TensorFlow Serving) or onnx (ONNX Runtime; needs "
                             "the onnx extra); default: saved_model")
    parser.add_argument("--out", type=Path, required=True,
                        help="a new or empty directory (an earlier export there is replaced)")
    add_unsafe(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autokeras_lab.serving import export_serving

    print(f"exporting {args.model_dir} as {args.format} ...", file=sys.stderr)
    done = export_serving(args.model_dir, args.format, args.out, unsafe=args.unsafe)
    width = max(len(i.name) for i in done.inputs)
    print(f"wrote {done.artifact}")
    print("inputs (one value per row; missing: NaN for numbers, \"\" for text):")
    for item in done.inputs:
        renamed = f"  (column {item.column!r})" if item.name != item.column else ""
        print(f"  {item.name:<{width}}  {item.dtype}{renamed}")
    print(f"outputs: {', '.join(done.outputs)}")
    print(f"manifest: {done.manifest}")
    return 0
