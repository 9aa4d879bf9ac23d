"""A SavedModel's serving signature converted to ONNX with tf2onnx (the ``onnx`` extra:
``pip install "autokeras_lab[onnx]"``).

tf2onnx runs as its own command (``python -m tf2onnx.convert``, its documented
interface), so its TensorFlow graph and its logging stay out of ours; what it cannot
convert comes back as one line naming the ops.
"""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

from autokeras_lab.errors import UserError


def saved_model_to_onnx(saved_model: Path, output: Path, *, opset: int) -> None:
    """Convert ``saved_model``'s ``serving_default`` signature to ``output``.

    Raises:
        UserError: tf2onnx or onnx are not installed, or the graph holds ops tf2onnx
            cannot convert.
    """
    missing = [m for m in ("tf2onnx", "onnx") if importlib.util.find_spec(m) is None]
    if missing:
        raise UserError(f"ONNX export needs {' and '.join(missing)}: pip install "
                        "'autokeras_lab[onnx]'")
    command = [sys.executable, "-m", "tf2onnx.convert", "--saved-model", str(saved_model),
               "--signature_def", "serving_default", "--output", str(output),
               "--opset", str(opset)]
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    # tf2onnx writes a file even when ops had no ONNX form (they stay as TF ops, and
    # ONNX Runtime refuses the file): its log says which
    if done.returncode != 0 or not output.is_file() or "Unsupported ops" in done.stderr:
        output.unlink(missing_ok=True)
        raise UserError(f"the ONNX converter cannot convert this model: {_reason(done.stderr)}")


def _reason(log: str) -> str:
    """The converter's complaint in one line: the ops it lacks, else its last error."""
    unsupported = re.search(r"Unsupported ops: (Counter\(.*?\))", log)
    if unsupported:
        return (f"tf2onnx has no ONNX form for {unsupported.group(1)}; export --format "
                "saved_model instead, or use a search space without those layers")
    errors = [line.strip() for line in log.splitlines() if "Error" in line or "error" in line]
    return errors[-1] if errors else "tf2onnx failed without saying why"
