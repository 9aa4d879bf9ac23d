"""Data sets, CSV loading, splits and preprocessing.

Example:
    >>> from autokeras_lab.data import load_dataset, prepare
    >>> ds = load_dataset("concrete")
    >>> prepared = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=42)
    >>> prepared.x_train.shape[1]
    8
"""

from autokeras_lab.data._datasets import (
    MIN_ROWS,
    Dataset,
    available_datasets,
    feature_frame,
    frame_of,
    from_frame,
    infer_task,
    load_csv,
    load_dataset,
)
from autokeras_lab.data._prepare import (
    INPUT_TRANSFORM,
    INPUT_TRANSFORMS,
    STANDARD,
    Arrays,
    ColumnSpec,
    Prepared,
    Preprocessor,
    choose_inputs,
    prepare,
)

__all__ = [
    "INPUT_TRANSFORM",
    "INPUT_TRANSFORMS",
    "MIN_ROWS",
    "STANDARD",
    "Arrays",
    "ColumnSpec",
    "Dataset",
    "Prepared",
    "Preprocessor",
    "available_datasets",
    "choose_inputs",
    "feature_frame",
    "frame_of",
    "from_frame",
    "infer_task",
    "load_csv",
    "load_dataset",
    "prepare",
]
