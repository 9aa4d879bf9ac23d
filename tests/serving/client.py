"""A serving client as a user writes one, run in a fresh process where autokeras_lab
cannot be imported: raw CSV rows in, the exported artifact's outputs out.

    python client.py ROWS.csv ARTIFACT_DIR FORMAT OUT.npz [ARTIFACT_DIR FORMAT OUT.npz ...]
"""

import json
import sys
from pathlib import Path

import numpy as np
import pandas as pd


def feeds(frame: pd.DataFrame, manifest: dict) -> dict[str, np.ndarray]:
    """One 1-D array per input: numbers as float64 (NaN if missing), the rest as text
    ("" if missing)."""
    out = {}
    for item in manifest["inputs"]:
        column = frame[item["column"]]
        if item["dtype"] == "float64":
            out[item["name"]] = pd.to_numeric(column, errors="coerce").to_numpy(np.float64)
        else:
            out[item["name"]] = column.astype(object).where(column.notna(), "").astype(str).to_numpy(object)
    return out


def main(rows: str, *artifacts: str) -> None:
    sys.modules["autokeras_lab"] = None  # type: ignore[assignment]  (import fails from here)
    try:
        import autokeras_lab  # noqa: F401
    except ImportError:
        pass
    else:
        raise SystemExit("autokeras_lab is importable here")
    frame = pd.read_csv(rows)
    for i in range(0, len(artifacts), 3):
        predict(frame, *artifacts[i : i + 3])


def predict(frame: pd.DataFrame, directory: str, fmt: str, result: str) -> None:
    root = Path(directory)
    if fmt == "saved_model":
        import tensorflow as tf

        manifest = json.loads((root / "assets.extra" / "serving.json").read_text())
        serve = tf.saved_model.load(str(root)).signatures["serving_default"]
        outputs = serve(**{k: tf.constant(v) for k, v in feeds(frame, manifest).items()})
        outputs = {k: v.numpy() for k, v in outputs.items()}
    else:
        import onnxruntime as ort

        manifest = json.loads((root / "serving.json").read_text())
        session = ort.InferenceSession(str(root / "model.onnx"), providers=["CPUExecutionProvider"])
        names = [o.name for o in session.get_outputs()]
        outputs = dict(zip(names, session.run(names, feeds(frame, manifest)), strict=True))
    if "label" in outputs:
        outputs["label"] = np.array([v.decode() if isinstance(v, bytes) else str(v)
                                     for v in outputs["label"]])
    np.savez(result, **outputs)


if __name__ == "__main__":
    main(*sys.argv[1:])
