from __future__ import annotations

import csv
import hashlib
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import pandas as pd

from autokeras_lab.errors import UserError
from autokeras_lab.types import AUTO_TASK, TASK_CHOICES, TaskKind

MIN_ROWS = 30
CSV_FINGERPRINT_ROWS = 100_000  # up to this many rows, the digest is of the CSV text
MIN_ROWS_PER_CLASS = 2


@dataclass(frozen=True)
class Dataset:
    """A table with a named target.

    Attributes:
        name: The data set's name.
        frame: All rows, predictors and target (rows without a target dropped).
        target: The target column.
        task: What the target is (a :class:`~autokeras_lab.types.TaskKind`).
        unit: The target's unit, for humans ("MPa"), or "".
        fingerprint: SHA-256 prefix of the table's content, so results from different
            data never mix on the leaderboard.
        validation: Rows given to validate every trial on (the same columns), instead
            of a share of ``frame``.
    """

    name: str
    frame: pd.DataFrame
    target: str
    task: TaskKind
    unit: str = ""
    fingerprint: str = ""
    validation: pd.DataFrame | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", TaskKind(self.task))

    @property
    def feature_columns(self) -> list[str]:
        return [c for c in self.frame.columns if c != self.target]

    @property
    def classes(self) -> list[str]:
        """Class labels (as text, sorted) of a classification target."""
        if self.task is not TaskKind.CLASSIFICATION:
            return []
        return sorted({str(v) for v in self.frame[self.target]})


def _fingerprint(frame: pd.DataFrame) -> str:
    """A digest of the table's content: of its CSV text up to ``CSV_FINGERPRINT_ROWS``
    rows (as every leaderboard before large tables has it), and above, of its column
    names, types and pandas' row hashes, which take a second where writing a million
    rows as text takes about ten and twice the table's memory."""
    if len(frame) <= CSV_FINGERPRINT_ROWS:
        digest = hashlib.sha256(frame.to_csv(index=False).encode("utf-8"))
    else:
        digest = hashlib.sha256(repr([(str(c), str(t)) for c, t in frame.dtypes.items()])
                                .encode("utf-8"))
        digest.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    return digest.hexdigest()[:16]


def _make(name: str, frame: pd.DataFrame, target: str, task: TaskKind, unit: str = ""
          ) -> Dataset:
    frame = frame.reset_index(drop=True)
    return Dataset(name, frame, target, task, unit, _fingerprint(frame))


def _bundled_csv(filename: str) -> pd.DataFrame:
    with resources.files("autokeras_lab.data").joinpath(filename).open("rb") as handle:
        return pd.read_csv(handle, compression="gzip" if filename.endswith(".gz") else None)


def _sklearn(loader: str, target: str, labels: bool) -> pd.DataFrame:
    import sklearn.datasets

    bunch = getattr(sklearn.datasets, loader)(as_frame=True)
    frame = bunch.frame.rename(columns={"target": target})
    if labels:
        frame[target] = [str(bunch.target_names[i]) for i in bunch.target]
    return frame


def _moons() -> pd.DataFrame:
    from sklearn.datasets import make_moons

    x, y = make_moons(n_samples=1000, noise=0.25, random_state=0)
    return pd.DataFrame({"x1": x[:, 0], "x2": x[:, 1], "moon": y.astype(int)})


_BUILTIN: dict[str, tuple[Callable[[], Dataset], str]] = {
    "concrete": (
        lambda: _make("concrete", _bundled_csv("concrete.csv"), "strength",
                      TaskKind.REGRESSION, "MPa"),
        "UCI Concrete Compressive Strength: 1030 mixes, 8 inputs, strength in MPa (regression)",
    ),
    "car": (
        lambda: _make("car", _bundled_csv("car.csv"), "class", TaskKind.CLASSIFICATION),
        "UCI Car Evaluation: 1728 cars, 6 categorical inputs, 4 classes (classification)",
    ),
    "iris": (
        lambda: _make("iris", _sklearn("load_iris", "species", True), "species",
                      TaskKind.CLASSIFICATION),
        "Fisher's iris (scikit-learn): 150 flowers, 4 inputs, 3 species (classification)",
    ),
    "breast_cancer": (
        lambda: _make(
            "breast_cancer",
            _sklearn("load_breast_cancer", "diagnosis", True),
            "diagnosis",
            TaskKind.CLASSIFICATION,
        ),
        "Wisconsin breast cancer (scikit-learn): 569 tumours, 30 inputs, binary",
    ),
    "diabetes": (
        lambda: _make(
            "diabetes", _sklearn("load_diabetes", "progression", False), "progression",
            TaskKind.REGRESSION,
        ),
        "Diabetes progression (scikit-learn): 442 patients, 10 inputs (regression)",
    ),
    "diamonds": (
        lambda: _make("diamonds", _bundled_csv("diamonds.csv.gz"), "price",
                      TaskKind.REGRESSION, "USD"),
        "ggplot2's diamonds: 53940 diamonds, 9 inputs (3 categorical), price in USD "
        "(regression)",
    ),
    "moons": (
        lambda: _make("moons", _moons(), "moon", TaskKind.CLASSIFICATION),
        "Two interleaving half-moons (scikit-learn, seeded): 1000 points, binary",
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
            f"unknown data set {name!r}; expected one of: {', '.join(_BUILTIN)} "
            "(or use --csv FILE --target COLUMN)"
        )
    return _BUILTIN[name][0]()


def load_csv(
    path: str | Path, *, target: str, task: str = AUTO_TASK, name: str | None = None
) -> Dataset:
    """Load a user's CSV, check it, and say which task it is.

    Rows whose target is missing are dropped; everything else is checked so that a bad
    file fails here, in one line, rather than an hour into a search.

    Raises:
        UserError: a missing, empty, undecodable or header-less file, duplicated column
            names, an absent or all-missing target, a single class, a constant or
            non-numeric regression target, or too few rows.
    """
    path = Path(path)
    if not path.is_file():
        raise UserError(f"CSV file {path} does not exist")
    # parsed from the file itself: no copy of its bytes or text beside the frame
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            header = next(csv.reader(handle), [])
            blank = not "".join(header).strip() and not handle.read(1 << 16).strip()
        if blank:
            raise UserError(f"{path} is empty; expected a header line and rows")
        _check_header(path, header)
        frame = pd.read_csv(path, encoding="utf-8-sig", skipinitialspace=True)
    except UnicodeDecodeError:
        raise _not_utf8(path) from None
    except (pd.errors.ParserError, ValueError) as exc:
        raise UserError(f"{path} is not a readable CSV: {str(exc).splitlines()[0]}") from None
    if target not in frame.columns:
        raise UserError(
            f"{path} has no column {target!r}; columns: {', '.join(map(str, frame.columns))}"
            " (pass one of them with --target)"
        )
    frame = frame[frame[target].notna()]
    if frame.empty:
        raise UserError(f"{path}: the target column {target!r} is missing in every row")
    return _checked(frame, target=target, task=task, name=name or path.stem, source=str(path))


def _not_utf8(path: Path) -> UserError:
    """The error for a file that is not UTF-8, naming the first bad byte."""
    raw = path.read_bytes()
    try:
        raw.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        return UserError(
            f"{path} is not UTF-8 text (byte {exc.start}: {raw[exc.start:exc.start + 1]!r}); "
            "re-save it as UTF-8 CSV"
        )
    return UserError(f"{path} is not UTF-8 text; re-save it as UTF-8 CSV")


def from_frame(
    frame: pd.DataFrame, *, target: str, task: str = AUTO_TASK, name: str = "data",
    validation: pd.DataFrame | None = None,
) -> Dataset:
    """A data set from a DataFrame in memory, checked like a CSV.

    Args:
        validation: Rows to validate every trial on, with the same columns.

    Raises:
        UserError: what :func:`load_csv` refuses, or validation rows whose columns
            differ from the frame's.
    """
    if target not in frame.columns:
        raise UserError(f"the data has no column {target!r}; columns: "
                        f"{', '.join(map(str, frame.columns))}")
    dataset = _checked(frame[frame[target].notna()], target=target, task=task, name=name,
                       source="the data")
    if validation is None:
        return dataset
    if list(validation.columns) != list(frame.columns):
        raise UserError("the validation data's columns differ from the training data's: "
                        f"{list(validation.columns)} against {list(frame.columns)}")
    validation = validation.reset_index(drop=True)
    both = pd.concat([dataset.frame, validation], keys=["fit", "validation"])
    return Dataset(dataset.name, dataset.frame, target, dataset.task, "",
                   _fingerprint(both.reset_index()), validation)


def frame_of(X: object, y: object = None, *, target: str | None = None
             ) -> tuple[pd.DataFrame, str]:
    """``X`` and ``y`` (or a DataFrame with its ``target`` column) as one DataFrame, and
    the target's column name: array columns are named ``x0``, ``x1``..., the target
    keeps a Series' name or is ``y``.

    Raises:
        UserError: neither ``y`` nor ``target`` given, or shapes that do not fit.
    """
    import numpy as np

    if y is None:
        if target is None or not isinstance(X, pd.DataFrame):
            raise UserError("give a DataFrame and its target column (target=...), or X and y")
        return X.reset_index(drop=True), target
    frame = feature_frame(X)
    column = target or str(getattr(y, "name", None) or "y")
    while column in frame.columns:
        column += "_"
    values = np.asarray(y)
    if values.ndim != 1 or len(values) != len(frame):
        raise UserError(f"y must be one column of {len(frame)} values; received shape "
                        f"{values.shape}")
    frame[column] = values
    return frame, column


def feature_frame(X: object, columns: list[str] | None = None) -> pd.DataFrame:
    """``X`` as a DataFrame of predictors: a DataFrame's own columns (as text), or a
    2-d array's named ``columns`` (default ``x0``, ``x1``...).

    Raises:
        UserError: ``X`` is not 2-d.
    """
    import numpy as np

    if isinstance(X, pd.DataFrame):
        frame = X.reset_index(drop=True).copy()
        frame.columns = [str(c) for c in frame.columns]
        return frame
    array = np.asarray(X)
    if array.ndim != 2:
        raise UserError(f"X must be a 2-d array or a DataFrame; received shape {array.shape}")
    names = columns if columns is not None and len(columns) == array.shape[1] else [
        f"x{i}" for i in range(array.shape[1])]
    return pd.DataFrame(array, columns=names)


def _checked(frame: pd.DataFrame, *, target: str, task: str, name: str, source: str
             ) -> Dataset:
    if task not in TASK_CHOICES:
        raise UserError(f"unknown task {task!r}; expected one of {', '.join(TASK_CHOICES)}")
    kind = infer_task(frame[target]) if task == AUTO_TASK else TaskKind(task)
    if kind is TaskKind.REGRESSION and not pd.api.types.is_numeric_dtype(frame[target]):
        sample = frame[target].astype(str).head(3).tolist()
        raise UserError(
            f"{source}: regression needs a numeric target, but {target!r} holds text such "
            f"as {sample}; use --task classification or another --target"
        )
    _check_rows(Path(source), frame, target, kind)
    return _make(name, frame, target, kind)


def infer_task(target: pd.Series) -> TaskKind:
    """Classification for text, booleans and small sets of whole numbers; else regression."""
    if not pd.api.types.is_numeric_dtype(target) or pd.api.types.is_bool_dtype(target):
        return TaskKind.CLASSIFICATION
    values = target.dropna()
    whole = bool((values == values.round()).all())
    return TaskKind.CLASSIFICATION if whole and values.nunique() <= 10 else TaskKind.REGRESSION


def _check_header(path: Path, header: list[str]) -> None:
    names = [h.strip() for h in header]
    if all(_is_number(n) for n in names if n):
        raise UserError(
            f"{path} has no header line (its first line is data: {', '.join(names[:4])}...); "
            "add a line of column names"
        )
    dupes = sorted(n for n, count in Counter(names).items() if count > 1)
    if dupes:
        raise UserError(f"{path} has duplicated column names: {', '.join(dupes)}; rename them")


def _check_rows(path: Path, frame: pd.DataFrame, target: str, task: TaskKind) -> None:
    if len(frame) < MIN_ROWS:
        raise UserError(
            f"{path} has {len(frame)} rows with a target; expected at least {MIN_ROWS} "
            "to split into train, validation and test"
        )
    if task is TaskKind.REGRESSION and frame[target].nunique() == 1:
        raise UserError(
            f"{path}: the target {target!r} is {frame[target].iloc[0]} in every row: a "
            "constant target cannot be learned; pass another --target"
        )
    if task is TaskKind.CLASSIFICATION:
        counts = frame[target].astype(str).value_counts()
        if len(counts) < 2:
            raise UserError(
                f"{path}: the target {target!r} has a single class ({counts.index[0]!r}); "
                "classification needs at least two"
            )
        rare = counts[counts < MIN_ROWS_PER_CLASS * 3]
        if len(rare):
            raise UserError(
                f"{path}: class(es) {', '.join(map(repr, rare.index[:5]))} have fewer than "
                f"{MIN_ROWS_PER_CLASS * 3} rows, too few for stratified train/validation/test "
                "splits; merge or drop them"
            )
    if not [c for c in frame.columns if c != target]:
        raise UserError(f"{path} has no columns besides the target {target!r}")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True
