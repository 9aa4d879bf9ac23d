"""The handed-over model as an MLflow model: a ``pyfunc`` that takes raw rows.

The exported model directory (the Keras model, its preprocessing and its card, see
:mod:`autokeras_lab.export`) travels as the MLflow model's artifact, and the package's
Python code travels with it (``code_paths``), so a process that has MLflow and the
libraries of ``requirements()`` loads it with ``mlflow.pyfunc.load_model(uri)``
whether or not it has this package installed. ``predict`` takes a DataFrame with the
training columns, as ``python -m autokeras_lab predict`` takes a CSV, and returns the
same columns: ``predicted_TARGET`` and, for classification, ``probability_CLASS``.
"""

from __future__ import annotations

import shutil
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow.pyfunc
import pandas as pd
from mlflow.pyfunc import PythonModel

#: the artifact name of the exported model directory inside the MLflow model
MODEL_DIR = "model_dir"
#: what loading and predicting import (the search's own libraries are not needed)
SERVING_PACKAGES = ("tensorflow", "keras", "scikit-learn", "pandas", "numpy", "mlflow")


class ServedModel(PythonModel):  # type: ignore[misc]
    """An exported model directory behind MLflow's ``pyfunc`` interface."""

    def __getstate__(self) -> dict[str, Any]:
        # Pickled without a loaded model: MLflow loads one to check the input example,
        # and the model travels as the artifact, not inside the pickle.
        return {}

    def load_context(self, context: Any) -> None:
        from autokeras_lab.export import load_model_dir

        self.exported = load_model_dir(context.artifacts[MODEL_DIR])

    def predict(self, context: Any, model_input: pd.DataFrame,
                params: dict[str, Any] | None = None) -> pd.DataFrame:
        return self.exported.predict(pd.DataFrame(model_input)).reset_index(drop=True)


def requirements() -> list[str]:
    """The pinned libraries a serving environment needs."""
    pins = []
    for package in SERVING_PACKAGES:
        try:
            pins.append(f"{package}=={metadata.version(package)}")
        except metadata.PackageNotFoundError:
            continue
    return pins


def save_served_model(export_dir: Path, target: Path, rows: pd.DataFrame) -> None:
    """Write the MLflow model of ``export_dir`` to ``target`` (a new folder), with five
    of ``rows`` (raw rows of the training columns) as its input example: MLflow loads
    the model once to predict them, which checks it and gives its signature."""
    package = target.parent / "code" / "autokeras_lab"
    shutil.copytree(Path(__file__).resolve().parents[1], package,
                    ignore=shutil.ignore_patterns("__pycache__", "*.csv", "*.csv.gz", "*.md"))
    mlflow.pyfunc.save_model(
        path=str(target), python_model=ServedModel(),
        artifacts={MODEL_DIR: str(export_dir)}, code_paths=[str(package)],
        pip_requirements=requirements(), input_example=rows.head(5).reset_index(drop=True),
    )
