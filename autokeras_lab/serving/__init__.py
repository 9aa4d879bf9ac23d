"""Serving artifacts: an exported model directory as a TensorFlow SavedModel or an
ONNX file that takes raw rows, one named input per column, with the preprocessing
folded into the graph. Neither needs this package to load: TensorFlow Serving or
``tf.saved_model.load`` serve the first, ONNX Runtime the second.

Example:
    >>> from autokeras_lab.serving import export_serving
    >>> export_serving("runs/concrete/best", "onnx", "serving/concrete")  # doctest: +SKIP
"""

from __future__ import annotations

import dataclasses
import json
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from autokeras_lab.errors import UserError
from autokeras_lab.serving._graph import ServingInput, serving_inputs, serving_module

__all__ = ["FORMATS", "ServingExport", "ServingInput", "export_serving", "serving_inputs",
           "serving_module"]

SAVED_MODEL, ONNX = "saved_model", "onnx"
FORMATS = (SAVED_MODEL, ONNX)
MANIFEST = "serving.json"
ONNX_FILE = "model.onnx"
ONNX_OPSET = 18  # the newest tf2onnx writes


@dataclass(frozen=True)
class ServingExport:
    """What :func:`export_serving` wrote: the artifact (the SavedModel directory or the
    ``.onnx`` file), its manifest, and the signature's inputs and outputs."""

    format: str
    artifact: Path
    manifest: Path
    inputs: list[ServingInput]
    outputs: list[str]


def export_serving(model_dir: str | Path, format: str, out: str | Path, *,
                   unsafe: bool = False) -> ServingExport:
    """Write the model of ``model_dir`` (see :mod:`autokeras_lab.export`) to ``out`` in
    ``format``, with ``serving.json`` beside it: the inputs (column, input name, type),
    the outputs, the classes and how missing values are written.

    ``out`` must be new, empty, or an earlier serving export (which is replaced only
    once the new one is whole).

    Raises:
        UserError: an unknown format, an ``out`` holding other files, a model that is
            not an export, or a graph the ONNX converter cannot handle (naming the ops).
    """
    from autokeras_lab.export import load_model_dir

    if format not in FORMATS:
        raise UserError(f"unknown serving format {format!r}; choose one of {', '.join(FORMATS)}")
    target = Path(out)
    _check_target(target)
    exported = load_model_dir(model_dir, unsafe=unsafe)
    pre = exported.preprocessor
    import tensorflow as tf

    module = serving_module(exported.model, pre)
    outputs = ["label", "probabilities"] if pre.classes else ["prediction"]
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".serving-", dir=target.parent))
    try:
        saved = staging if format == SAVED_MODEL else staging / ".saved_model"
        tf.saved_model.save(module, str(saved), signatures={"serving_default": module.serve})
        if format == SAVED_MODEL:
            manifest = saved / "assets.extra" / MANIFEST
        else:
            from autokeras_lab.serving._onnx import saved_model_to_onnx

            saved_model_to_onnx(saved, staging / ONNX_FILE, opset=ONNX_OPSET)
            shutil.rmtree(saved)
            manifest = staging / MANIFEST
        manifest.parent.mkdir(exist_ok=True)
        inputs = serving_inputs(pre)
        manifest.write_text(json.dumps(_manifest(format, exported.card, pre, inputs, outputs),
                                       indent=2), encoding="utf-8")
        staging.chmod(0o755)
        if target.exists():
            shutil.rmtree(target)
        staging.rename(target)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    artifact = target if format == SAVED_MODEL else target / ONNX_FILE
    manifest = (target / "assets.extra" / MANIFEST if format == SAVED_MODEL
                else target / MANIFEST)
    return ServingExport(format, artifact, manifest, inputs, outputs)


def _check_target(target: Path) -> None:
    if target.exists() and not target.is_dir():
        raise UserError(f"--out {target} is a file; give a directory to write the export to")
    if not target.is_dir() or not any(target.iterdir()):
        return
    earlier = target / MANIFEST, target / "assets.extra" / MANIFEST
    if not any(m.is_file() for m in earlier):
        raise UserError(f"--out {target} holds other files; give a new or empty directory "
                        "(an earlier serving export there is replaced)")


def _manifest(format: str, card: dict[str, Any], pre: Any, inputs: list[ServingInput],
              outputs: list[str]) -> dict[str, Any]:
    return {
        "format": format,
        "signature": "serving_default" if format == SAVED_MODEL else None,
        "task": card.get("task"),
        "target": pre.target,
        "unit": card.get("unit", ""),
        "classes": list(pre.classes),
        "inputs": [dataclasses.asdict(i) for i in inputs],
        "outputs": outputs,
        "missing": "numbers: NaN; text: the empty string",
        "rows": "each input is a 1-D tensor, one value per row",
        "source": {"experiment": card.get("experiment"), "search_id": card.get("search_id"),
                   "kind": card.get("kind"), "metrics": card.get("metrics", {})},
    }
