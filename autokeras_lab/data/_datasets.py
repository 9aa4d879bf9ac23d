from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources

import pandas as pd

from autokeras_lab.errors import UserError


@dataclass(frozen=True)
class Dataset:
    """A table with a named target.

    Attributes:
        name: The data set's name.
        frame: All rows, predictors and target.
        target: The target column.
        task: ``"regression"`` (classification comes with the CSV work).
        unit: The target's unit, for humans ("MPa").
        fingerprint: SHA-256 of the table's content, so results from different data
            never mix on the leaderboard.
    """

    name: str
    frame: pd.DataFrame
    target: str
    task: str
    unit: str = ""
    fingerprint: str = ""

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.target]


def _fingerprint(frame: pd.DataFrame) -> str:
    digest = hashlib.sha256(frame.to_csv(index=False).encode("utf-8"))
    return digest.hexdigest()[:16]


def _bundled_csv(filename: str) -> pd.DataFrame:
    with resources.files("autokeras_lab.data").joinpath(filename).open("rb") as handle:
        return pd.read_csv(handle)


def _concrete() -> Dataset:
    frame = _bundled_csv("concrete.csv")
    return Dataset("concrete", frame, "strength", "regression", "MPa", _fingerprint(frame))


_BUILTIN: dict[str, tuple[Callable[[], Dataset], str]] = {
    "concrete": (
        _concrete,
        "UCI Concrete Compressive Strength: 1030 mixes, 8 inputs, strength in MPa (regression)",
    ),
}


def available_datasets() -> dict[str, str]:
    """Built-in data set names mapped to a one-line description."""
    return {name: description for name, (_, description) in _BUILTIN.items()}


def load_dataset(name: str) -> Dataset:
    """Load a built-in data set by name.

    Raises:
        UserError: the name is unknown; the message lists the known ones.
    """
    if name not in _BUILTIN:
        raise UserError(
            f"unknown data set {name!r}; expected one of: {', '.join(_BUILTIN)}"
        )
    return _BUILTIN[name][0]()
