from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from autokeras_lab.data._datasets import Dataset
from autokeras_lab.errors import UserError


@dataclass(frozen=True, kw_only=True)
class Preprocessor:
    """Standardisation fitted on the training split only, stored as plain JSON.

    JSON rather than a pickle: loading a model directory never executes code.

    Attributes:
        features: Predictor columns, in model input order.
        target: The target column.
        means, scales: Per-feature mean and standard deviation (train split).
        target_mean, target_scale: The target's mean and standard deviation, so the
            network learns a unit-variance target and predictions come back in units.
    """

    features: tuple[str, ...]
    target: str
    means: tuple[float, ...]
    scales: tuple[float, ...]
    target_mean: float
    target_scale: float

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, features: list[str], target: str) -> Preprocessor:
        x = frame[features].to_numpy(dtype=np.float64)
        y = frame[target].to_numpy(dtype=np.float64)
        scales = x.std(axis=0)
        scales[scales == 0] = 1.0
        return cls(
            features=tuple(features),
            target=target,
            means=tuple(float(v) for v in x.mean(axis=0)),
            scales=tuple(float(v) for v in scales),
            target_mean=float(y.mean()),
            target_scale=float(y.std() or 1.0),
        )

    def transform_x(self, frame: pd.DataFrame) -> np.ndarray:
        """Scale the predictors of ``frame`` (raises UserError on missing columns)."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise UserError(
                f"the table lacks column(s) {', '.join(missing)}; expected columns: "
                f"{', '.join(self.features)}"
            )
        try:
            x = frame[list(self.features)].to_numpy(dtype=np.float64)
        except (TypeError, ValueError):
            bad = [c for c in self.features if not pd.api.types.is_numeric_dtype(frame[c])]
            raise UserError(
                f"column(s) {', '.join(bad)} hold non-numeric values; expected numbers"
            ) from None
        if np.isnan(x).any():
            bad = [c for c, col in zip(self.features, x.T, strict=True) if np.isnan(col).any()]
            raise UserError(f"column(s) {', '.join(bad)} have missing values; fill them in")
        return ((x - np.asarray(self.means)) / np.asarray(self.scales)).astype(np.float32)

    def transform_y(self, values: np.ndarray | pd.Series) -> np.ndarray:
        y = np.asarray(values, dtype=np.float64)
        return ((y - self.target_mean) / self.target_scale).astype(np.float32)

    def inverse_y(self, values: np.ndarray) -> np.ndarray:
        y = np.asarray(values, dtype=np.float64).reshape(-1)
        return y * self.target_scale + self.target_mean

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    def save(self, path: Path) -> None:
        path.write_text(json.dumps(self.to_dict(), indent=2), encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Preprocessor:
        raw = json.loads(path.read_text(encoding="utf-8"))
        return cls(
            features=tuple(str(c) for c in raw["features"]),
            target=str(raw["target"]),
            means=tuple(float(v) for v in raw["means"]),
            scales=tuple(float(v) for v in raw["scales"]),
            target_mean=float(raw["target_mean"]),
            target_scale=float(raw["target_scale"]),
        )


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """The three splits as model-ready arrays, plus what made them.

    ``x_test``/``y_test`` are the held-out rows: the search never sees them; only the
    runner's final evaluation of ranked models does. ``*_index`` are the original row
    numbers, so a test can prove the splits are disjoint.
    """

    dataset: Dataset
    preprocessor: Preprocessor
    x_train: np.ndarray
    y_train: np.ndarray
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    train_index: np.ndarray
    val_index: np.ndarray
    test_index: np.ndarray

    def search_arrays(self) -> dict[str, Any]:
        """What a trial needs: train and validation arrays, never the test split."""
        return {
            "x_train": self.x_train,
            "y_train": self.y_train,
            "x_val": self.x_val,
            "y_val": self.y_val,
            "target_scale": self.preprocessor.target_scale,
        }

    def sizes(self) -> dict[str, int]:
        return {"train": len(self.x_train), "val": len(self.x_val), "test": len(self.x_test)}


def prepare(
    dataset: Dataset, *, test_fraction: float, val_fraction: float, split_seed: int
) -> Prepared:
    """Split into train / validation / held-out test and fit scaling on train only."""
    frame = dataset.frame.reset_index(drop=True)
    index = np.arange(len(frame))
    rest, test = train_test_split(index, test_size=test_fraction, random_state=split_seed)
    train, val = train_test_split(rest, test_size=val_fraction, random_state=split_seed)
    features = dataset.feature_columns
    pre = Preprocessor.fit(frame.iloc[train], features=features, target=dataset.target)

    def arrays(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        part = frame.iloc[rows]
        return pre.transform_x(part), pre.transform_y(part[dataset.target])

    x_train, y_train = arrays(train)
    x_val, y_val = arrays(val)
    x_test, y_test = arrays(test)
    return Prepared(
        dataset=dataset,
        preprocessor=pre,
        x_train=x_train,
        y_train=y_train,
        x_val=x_val,
        y_val=y_val,
        x_test=x_test,
        y_test=y_test,
        train_index=train,
        val_index=val,
        test_index=test,
    )
