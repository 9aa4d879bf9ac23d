"""autokeras_lab: hyperparameter search for tf.keras models on Ray Tune + Optuna.

Example:
    >>> from pathlib import Path
    >>> from autokeras_lab import load_experiment, run_search
    >>> exp = load_experiment("concrete").with_overrides(trials=4, max_epochs=5)
    >>> result = run_search(exp, runs_dir=Path("runs"))  # doctest: +SKIP
    >>> print(result.export_dir)  # doctest: +SKIP
    runs/concrete/best

The heavy parts (TensorFlow, Ray) load only when a search or a model needs them.
"""

from __future__ import annotations

from typing import Any

from autokeras_lab.config import Experiment, load_experiment
from autokeras_lab.errors import FatalSearchError, SpaceError, TrialFailedError, UserError

__all__ = [
    "Experiment",
    "FatalSearchError",
    "KerasClassifier",
    "KerasRegressor",
    "KerasSearchCV",
    "SearchClassifier",
    "SearchRegressor",
    "SpaceError",
    "TrialFailedError",
    "UserError",
    "load_experiment",
    "load_model_dir",
    "run_search",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    if name == "run_search":
        from autokeras_lab.search import run_search

        return run_search
    if name in ("KerasClassifier", "KerasRegressor", "KerasSearchCV", "SearchClassifier",
                "SearchRegressor"):
        from autokeras_lab import sklearn

        return getattr(sklearn, name)
    if name == "load_model_dir":
        from autokeras_lab.export import load_model_dir

        return load_model_dir
    raise AttributeError(f"module 'autokeras_lab' has no attribute {name!r}")
