from __future__ import annotations

import dataclasses
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, TypedDict, cast

import numpy as np
import pandas as pd
from sklearn.model_selection import train_test_split

from autokeras_lab.data._datasets import Dataset
from autokeras_lab.errors import UserError
from autokeras_lab.types import INPUT_TRANSFORMS, InputTransform, SplitSizes, TaskKind

MAX_CATEGORIES = 50
MAX_VAL_ROWS = 16_384  # the most validation rows of a split (see prepare)
MISSING = "__missing__"
OTHER = "__other__"
_TRUE = {"true", "yes", "y", "t"}
_FALSE = {"false", "no", "n", "f"}
STANDARD, QUANTILE = InputTransform.STANDARD.value, InputTransform.QUANTILE.value
INPUT_TRANSFORM = "input_transform"  # the hyperparameter that picks one
MAX_QUANTILES = 1000


@dataclass(frozen=True, kw_only=True)
class ColumnSpec:
    """How one input column becomes model inputs (fitted on the training rows).

    ``numeric``: missing values get the median, then standardisation or, with the
    ``quantile`` transform, scikit-learn's ``QuantileTransformer`` to a normal
    distribution (robust to skewed columns; its fitted ``quantiles`` are kept here as
    plain numbers). ``boolean``:
    true/false (or yes/no) become 1/0, missing ones the most common value.
    ``categorical``: one-hot over the training categories; missing is a category of its
    own; above ``MAX_CATEGORIES`` the rarest share one ``__other__`` column; a value
    never seen in training gets all zeros.
    """

    name: str
    kind: str
    fill: float = 0.0
    mean: float = 0.0
    scale: float = 1.0
    categories: tuple[str, ...] = ()
    quantiles: tuple[float, ...] = ()

    @property
    def width(self) -> int:
        return len(self.categories) if self.kind == "categorical" else 1

    @classmethod
    def fit(cls, column: pd.Series) -> ColumnSpec:
        name = str(column.name)
        if _is_boolean(column):
            bits = _to_bits(column, name)
            mode = float(np.nanmedian(bits)) if np.isfinite(bits).any() else 0.0
            return cls(name=name, kind="boolean", fill=round(mode))
        if pd.api.types.is_numeric_dtype(column):
            values = column.to_numpy(dtype=np.float64)
            finite = values[np.isfinite(values)]
            if finite.size == 0:
                return cls(name=name, kind="numeric")
            fill = float(np.median(finite))
            filled = np.where(np.isfinite(values), values, fill)
            scale = float(filled.std()) or 1.0
            return cls(name=name, kind="numeric", fill=fill, mean=float(filled.mean()),
                       scale=scale, quantiles=_fit_quantiles(filled))
        counts = _as_text(column).value_counts()
        categories = [str(c) for c in counts.index[:MAX_CATEGORIES]]
        if len(counts) > MAX_CATEGORIES:
            categories.append(OTHER)
        return cls(name=name, kind="categorical", categories=tuple(sorted(categories)))

    def transform(self, column: pd.Series, numeric: str = STANDARD) -> np.ndarray:
        if self.kind == "numeric":
            values = pd.to_numeric(column, errors="coerce").to_numpy(dtype=np.float64)
            bad = column.notna().to_numpy() & np.isnan(values)
            if bad.any():
                example = column[bad].iloc[0]
                raise UserError(
                    f"column {self.name!r} holds non-numeric values such as {example!r}; "
                    "expected numbers"
                )
            values = np.where(np.isfinite(values), values, self.fill)
            if numeric == QUANTILE and self.quantiles:
                return _quantile_transformer(self.quantiles).transform(values[:, None])
            return ((values - self.mean) / self.scale)[:, None]
        if self.kind == "boolean":
            bits = _to_bits(column, self.name)
            return np.where(np.isfinite(bits), bits, self.fill)[:, None]
        text = _as_text(column)
        if OTHER in self.categories:
            text = text.where(text.isin(self.categories), OTHER)
        index = {c: i for i, c in enumerate(self.categories)}
        positions = text.map(index).to_numpy(dtype=np.float64)
        out = np.zeros((len(text), len(self.categories)))
        rows = np.flatnonzero(np.isfinite(positions))
        out[rows, positions[rows].astype(int)] = 1.0
        return out


def _fit_quantiles(values: np.ndarray) -> tuple[float, ...]:
    from sklearn.preprocessing import QuantileTransformer

    # A little noise first breaks ties (as in Gorishniy et al.'s recipes): otherwise
    # every row at a column's minimum (concrete's 45 % of zero slag) maps to -5.2.
    noise = 1e-3 / max(float(values.std()), 1e-3)
    jittered = values + noise * np.random.default_rng(0).standard_normal(len(values))
    n_quantiles = max(2, min(MAX_QUANTILES, len(values)))
    fitted = QuantileTransformer(n_quantiles=n_quantiles, output_distribution="normal",
                                 subsample=None).fit(jittered[:, None])
    return tuple(float(q) for q in fitted.quantiles_[:, 0])


def _quantile_transformer(quantiles: tuple[float, ...]) -> Any:
    """scikit-learn's transformer put back together from its fitted quantiles (data,
    not a pickle): the same numbers ``fit`` found, so the same outputs."""
    from sklearn.preprocessing import QuantileTransformer

    transformer = QuantileTransformer(n_quantiles=len(quantiles), output_distribution="normal")
    transformer.quantiles_ = np.asarray(quantiles, dtype=np.float64)[:, None]
    transformer.references_ = np.linspace(0, 1, len(quantiles), endpoint=True)
    transformer.n_features_in_ = 1
    return transformer


def _as_text(column: pd.Series) -> pd.Series:
    return column.astype("object").where(column.notna(), MISSING).astype(str)


def _is_boolean(column: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(column):
        return True
    if pd.api.types.is_numeric_dtype(column):
        return False
    values = {str(v).strip().lower() for v in column.dropna().unique()}
    return bool(values) and values <= (_TRUE | _FALSE)


def _to_bits(column: pd.Series, name: str) -> np.ndarray:
    def bit(value: Any) -> float:
        if value is None or (isinstance(value, float) and np.isnan(value)):
            return np.nan
        text = str(value).strip().lower()
        if text in _TRUE or text == "1" or text == "1.0":
            return 1.0
        if text in _FALSE or text == "0" or text == "0.0":
            return 0.0
        raise UserError(f"column {name!r} holds {value!r}; expected true/false (or yes/no)")

    return np.array([bit(v) for v in column], dtype=np.float64)


@dataclass(frozen=True, kw_only=True)
class Preprocessor:
    """Everything that turns raw rows into model inputs, fitted on the training split
    only and stored as plain JSON (loading a model directory never executes code).

    Attributes:
        columns: One :class:`ColumnSpec` per input column, in input order.
        target: The target column.
        task: What the target is (a :class:`~autokeras_lab.types.TaskKind`).
        target_mean, target_scale: Regression: the target is standardised for training
            and predictions come back in the target's units.
        classes: Classification: the class labels; the model predicts their indices.
        transforms: How numeric columns are scaled (``standard`` or ``quantile``); with
            several, the model input is one block of all columns per transform, side by
            side (an ensemble whose members were trained on different transforms).
    """

    columns: tuple[ColumnSpec, ...]
    target: str
    task: TaskKind
    target_mean: float = 0.0
    target_scale: float = 1.0
    classes: tuple[str, ...] = ()
    transforms: tuple[str, ...] = (STANDARD,)

    def __post_init__(self) -> None:
        object.__setattr__(self, "task", TaskKind(self.task))

    @property
    def features(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def n_inputs(self) -> int:
        """The width of one block of inputs: what a model of the search space takes."""
        return sum(c.width for c in self.columns)

    @property
    def numeric_inputs(self) -> tuple[int, ...]:
        """The positions in one block of inputs that hold numeric columns (one each);
        the others are one-hot categories and booleans."""
        starts = np.cumsum([0] + [c.width for c in self.columns])[:-1]  # each column's first
        return tuple(int(start) for start, c in zip(starts, self.columns, strict=True)
                     if c.kind == "numeric")

    def with_transforms(self, *transforms: str) -> Preprocessor:
        unknown = [t for t in transforms if t not in INPUT_TRANSFORMS]
        if unknown or not transforms:
            raise ValueError(f"input transforms must be among {INPUT_TRANSFORMS}, got "
                             f"{transforms!r}")
        return dataclasses.replace(self, transforms=tuple(transforms))

    @classmethod
    def fit(cls, frame: pd.DataFrame, *, features: list[str], target: str, task: TaskKind,
            classes: list[str] | None = None, rows: np.ndarray | None = None) -> Preprocessor:
        """Fit on ``frame``'s rows at positions ``rows`` (default: all), a column at a
        time (no copy of the table)."""
        def column(name: str) -> pd.Series:
            return frame[name] if rows is None else frame[name].iloc[rows]

        columns = tuple(ColumnSpec.fit(column(name)) for name in features)
        if TaskKind(task) is TaskKind.CLASSIFICATION:
            return cls(columns=columns, target=target, task=task, classes=tuple(classes or ()))
        y = column(target).to_numpy(dtype=np.float64)
        return cls(columns=columns, target=target, task=task, target_mean=float(y.mean()),
                   target_scale=float(y.std() or 1.0))

    def transform_x(self, frame: pd.DataFrame, rows: np.ndarray | None = None) -> np.ndarray:
        """Model inputs for raw rows (``rows``: those of ``frame`` at these positions;
        default all), raises UserError on missing or bad columns.

        Column by column into one float32 array: a large table costs its inputs and
        one column's float64 working copy, not a float64 copy of the whole table."""
        missing = [c for c in self.features if c not in frame.columns]
        if missing:
            raise UserError(
                f"the table lacks column(s) {', '.join(missing)}; expected columns: "
                f"{', '.join(self.features)}"
            )
        n = len(frame) if rows is None else len(rows)
        out = np.empty((n, self.n_inputs * len(self.transforms)), dtype=np.float32)
        start = 0
        for numeric in self.transforms:
            for spec in self.columns:
                column = frame[spec.name]
                part = spec.transform(column if rows is None else column.iloc[rows], numeric)
                out[:, start:start + spec.width] = part
                start += spec.width
        return out

    def transform_y(self, values: np.ndarray | pd.Series) -> np.ndarray:
        if self.task is TaskKind.CLASSIFICATION:
            index = {c: i for i, c in enumerate(self.classes)}
            return np.array([index[str(v)] for v in values], dtype=np.float32)
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
        columns = tuple(
            ColumnSpec(
                name=str(c["name"]), kind=str(c["kind"]), fill=float(c["fill"]),
                mean=float(c["mean"]), scale=float(c["scale"]),
                categories=tuple(str(v) for v in c["categories"]),
                quantiles=tuple(float(q) for q in c.get("quantiles", ())),
            )
            for c in raw["columns"]
        )
        return cls(
            columns=columns,
            target=str(raw["target"]),
            task=TaskKind(raw["task"]),
            target_mean=float(raw["target_mean"]),
            target_scale=float(raw["target_scale"]),
            classes=tuple(str(c) for c in raw["classes"]),
            transforms=tuple(str(t) for t in raw.get("transforms", (STANDARD,))),
        )


class Arrays(TypedDict, total=False):
    """The arrays a model trains on, as a trial gets them.

    ``x_train``, ``y_train`` and ``w_train`` (row weights, or ``None``) to fit on;
    ``x_val`` and ``y_val`` to validate on (``x_val`` ``None``: no validation);
    ``target_scale``, the target's standard deviation, to give regression errors in
    the target's units; with cross-validation, ``folds``: one such set per fold;
    ``inputs``: the same inputs under another transform (``x_train``, ``x_val`` and
    their ``folds``), by transform name (the hyperparameter ``input_transform``);
    beside ``inputs``, ``transform`` names the one that scales ``x_train`` and ``x_val``.
    """

    x_train: np.ndarray
    y_train: np.ndarray
    w_train: np.ndarray | None
    x_val: np.ndarray | None
    y_val: np.ndarray
    target_scale: float
    folds: list[Arrays]
    transform: str
    inputs: dict[str, Arrays]


@dataclass(frozen=True, kw_only=True)
class Prepared:
    """The three splits as model-ready arrays, plus what made them.

    ``x_test``/``y_test`` are the held-out rows: the search never sees them; only the
    runner's final evaluation of ranked models does. ``*_index`` are the original row
    numbers of each split, in array order, so a test can prove the splits are disjoint.
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
    w_train: np.ndarray | None = None
    folds: tuple[Arrays, ...] = ()
    fold_rows: tuple[tuple[np.ndarray, np.ndarray], ...] = ()
    _scaled: dict[tuple[str, ...], Prepared] = field(default_factory=dict, init=False,
                                                     repr=False, compare=False)

    def with_transforms(self, *transforms: str) -> Prepared:
        """The same rows with the numeric columns scaled by ``transforms`` (with
        several, one block of inputs per transform side by side). Computed once per
        ``transforms`` and kept: on a large table each is the table's size again,
        and the end of a search asks for the same ones many times."""
        pre = self.preprocessor.with_transforms(*transforms)
        if pre == self.preprocessor:
            return self
        if transforms not in self._scaled:  # one store for the whole family
            self._scaled.setdefault(self.preprocessor.transforms, self)
            scaled = self._scale(pre)
            object.__setattr__(scaled, "_scaled", self._scaled)
            self._scaled[transforms] = scaled
        return self._scaled[transforms]

    def _scale(self, pre: Preprocessor) -> Prepared:
        frame = self.dataset.frame.reset_index(drop=True)

        def x(rows: np.ndarray) -> np.ndarray:
            return pre.transform_x(frame, rows)

        validation = self.dataset.validation
        folds = tuple(
            cast(Arrays, {**fold, "x_train": x(fit), "x_val": x(val)})
            for fold, (fit, val) in zip(self.folds, self.fold_rows, strict=True)
        )
        return dataclasses.replace(
            self, preprocessor=pre, x_train=x(self.train_index),
            x_val=pre.transform_x(validation) if validation is not None else x(self.val_index),
            x_test=x(self.test_index), folds=folds,
        )

    def selection_targets(self) -> np.ndarray:
        """The targets of the rows trials are validated on, in the order of their
        validation outputs (with folds: out-of-fold, fold after fold)."""
        if self.folds:
            return np.concatenate([fold["y_val"] for fold in self.folds])
        return self.y_val

    def search_arrays(self, transforms: tuple[str, ...] = (STANDARD,)) -> Arrays:
        """What a trial needs: train and validation arrays (or, with cross-validation,
        one such set per fold), never the test split. The inputs are scaled by the
        first of ``transforms``; the others go under ``inputs``."""
        base = self.with_transforms(transforms[0])
        arrays: Arrays = {
            "x_train": base.x_train,
            "y_train": self.y_train,
            "w_train": self.w_train,
            "x_val": base.x_val,
            "y_val": self.y_val,
            "target_scale": self.preprocessor.target_scale,
            "transform": transforms[0],
            "inputs": {name: self.with_transforms(name).input_arrays()
                       for name in transforms[1:]},
        }
        if self.folds:
            arrays["folds"] = list(base.folds)
        return arrays

    def refit_arrays(self, transform: str) -> tuple[Arrays, list[int]]:
        """The search's own rows and the held-out test rows together, to train a chosen
        trial's models again on every row (see :mod:`autokeras_lab.search._refit`).

        The folds stay the search's folds, with the test rows dealt among them: fold
        k's model trains on the other folds and the other folds' test rows, and
        validates on fold k and its test rows. Without folds, the test rows join the
        training rows and the validation rows stay. Inputs are scaled by ``transform``.

        Returns:
            The arrays, and for each fold how many of its validation rows are the
            search's own: they come first, so the refitted models' outputs on them
            line up with :meth:`selection_targets`.
        """
        data = self.with_transforms(transform)
        balanced = self.w_train is not None
        n_classes = len(self.preprocessor.classes)

        def weights(y: np.ndarray) -> np.ndarray | None:
            return _balanced(y, n_classes) if balanced else None

        base: Arrays = {"target_scale": self.preprocessor.target_scale}
        if not data.folds:
            x_fit = np.concatenate([data.x_train, data.x_test])
            y_fit = np.concatenate([self.y_train, self.y_test])
            return {**base, "x_train": x_fit, "y_train": y_fit, "w_train": weights(y_fit),
                    "x_val": data.x_val, "y_val": self.y_val}, [len(self.y_val)]
        shares = self._test_shares()
        folds: list[Arrays] = []
        for k, fold in enumerate(data.folds):
            others = np.concatenate([s for j, s in enumerate(shares) if j != k])
            y_fit = np.concatenate([fold["y_train"], self.y_test[others]])
            folds.append({
                "x_train": np.concatenate([fold["x_train"], data.x_test[others]]),
                "y_train": y_fit,
                "w_train": weights(y_fit),
                "x_val": np.concatenate([fold["x_val"], data.x_test[shares[k]]]),
                "y_val": np.concatenate([fold["y_val"], self.y_test[shares[k]]]),
            })
        first = folds[0]
        return ({**base, **first, "folds": folds},
                [len(fold["y_val"]) for fold in data.folds])

    def refit_rows(self) -> int:
        """The rows a refitted model trains on (fold 1's, with folds), without building
        :meth:`refit_arrays`."""
        if not self.folds:
            return len(self.y_train) + len(self.y_test)
        return len(self.folds[0]["y_train"]) + len(self.y_test) - len(self._test_shares()[0])

    def _test_shares(self) -> list[np.ndarray]:
        """The test rows dealt among the folds for a refit, fold after fold."""
        order = np.random.default_rng(0).permutation(len(self.y_test))
        return np.array_split(order, len(self.folds))

    def input_arrays(self) -> Arrays:
        """The model inputs alone: ``x_train``, ``x_val`` and their folds'."""
        arrays: Arrays = {"x_train": self.x_train, "x_val": self.x_val}
        if self.folds:
            arrays["folds"] = [{"x_train": f["x_train"], "x_val": f["x_val"]} for f in self.folds]
        return arrays

    def sizes(self) -> SplitSizes:
        return SplitSizes(train=len(self.x_train), val=len(self.x_val), test=len(self.x_test),
                          folds=len(self.folds) or 1)

    def fold_bounds(self) -> list[tuple[int, int]]:
        """Where each fold's rows lie in :meth:`selection_targets` (one span without
        folds), so a metric can be taken fold by fold, as the trials take it."""
        sizes = [len(fold["y_val"]) for fold in self.folds] or [len(self.y_val)]
        ends = np.cumsum(sizes).tolist()
        return list(zip([0, *ends[:-1]], ends, strict=True))


def prepare(
    dataset: Dataset,
    *,
    test_fraction: float,
    val_fraction: float,
    split_seed: int,
    class_weight: str = "none",
    cv: int = 1,
) -> Prepared:
    """Split into train / validation / held-out test (stratified for classification)
    and fit the preprocessing on the training rows only. The validation split is
    ``val_fraction`` of the rows outside the test split, but at most ``MAX_VAL_ROWS``
    rows: they rank the trials well enough (a metric's standard error over 16,384
    rows is well under 1 %), every trial computes its outputs on them each epoch,
    and the rest train.

    Args:
        class_weight: ``"balanced"`` weighs each training row inversely to its class's
            frequency (for imbalanced classes); ``"none"`` weighs all rows alike.
        cv: With 2 or more, the rows outside the test split are also cut into ``cv``
            folds (stratified for classification) for k-fold cross-validation per
            trial; the preprocessing is then fitted on all of those rows (still never
            on the test split).
    """
    frame = dataset.frame.reset_index(drop=True)
    index = np.arange(len(frame))
    classify = dataset.task is TaskKind.CLASSIFICATION
    labels = frame[dataset.target].astype(str).to_numpy() if classify else None
    if dataset.validation is not None and cv >= 2:
        raise UserError("validation data and cross-validation exclude each other: give "
                        "validation_data or cv, not both")
    try:
        rest, test = train_test_split(
            index, test_size=test_fraction, random_state=split_seed, stratify=labels
        )
        train, val = rest, np.arange(0)  # given validation rows replace a share of rest
        if dataset.validation is None:
            # a large table validates on MAX_VAL_ROWS rows and trains on the others
            val_size = val_fraction if val_fraction * len(rest) <= MAX_VAL_ROWS else MAX_VAL_ROWS
            train, val = train_test_split(
                rest, test_size=val_size, random_state=split_seed,
                stratify=labels[rest] if labels is not None else None,
            )
    except ValueError as exc:
        raise UserError(
            f"cannot split {dataset.name} into train, validation and test: {exc}"
        ) from None
    pre = Preprocessor.fit(
        frame, rows=train if cv < 2 else rest, features=dataset.feature_columns,
        target=dataset.target, task=dataset.task, classes=dataset.classes,
    )

    def arrays(rows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return pre.transform_x(frame, rows), pre.transform_y(frame[dataset.target].iloc[rows])

    x_train, y_train = arrays(train)
    x_val, y_val = arrays(val)
    if dataset.validation is not None:
        x_val = pre.transform_x(dataset.validation)
        y_val = pre.transform_y(dataset.validation[dataset.target])
    x_test, y_test = arrays(test)
    balanced = classify and class_weight == "balanced"
    weights = _balanced(y_train, len(pre.classes)) if balanced else None
    folds: list[Arrays] = []
    fold_rows: list[tuple[np.ndarray, np.ndarray]] = []
    if cv >= 2:
        folds, fold_rows = _folds(rest, arrays, cv=cv, split_seed=split_seed, labels=labels,
                                  n_classes=len(pre.classes) if balanced else 0)
    return Prepared(
        dataset=dataset, preprocessor=pre, x_train=x_train, y_train=y_train, x_val=x_val,
        y_val=y_val, x_test=x_test, y_test=y_test, train_index=train, val_index=val,
        test_index=test, w_train=weights, folds=tuple(folds), fold_rows=tuple(fold_rows),
    )


def choose_inputs(data: Arrays, transform: str | None) -> Arrays:
    """``data`` with its inputs scaled by ``transform`` (see :class:`Arrays`; ``None``:
    as they are)."""
    other = data.get("inputs", {}).get(transform) if transform is not None else None
    if other is None:
        if transform in (None, data.get("transform")) or not data.get("inputs"):
            return data
        raise ValueError(f"no inputs for transform {transform!r}; have {list(data['inputs'])}")
    chosen: Arrays = {**data, "x_train": other["x_train"], "x_val": other["x_val"]}
    if data.get("folds"):
        chosen["folds"] = [
            {**fold, **alt} for fold, alt in zip(data["folds"], other["folds"], strict=True)
        ]
    return chosen


def _balanced(y: np.ndarray, n_classes: int) -> np.ndarray:
    """Row weights inversely proportional to each class's frequency in ``y``."""
    counts = np.bincount(y.astype(int), minlength=n_classes).astype(np.float64)
    per_class = len(y) / (n_classes * np.maximum(counts, 1.0))
    return per_class[y.astype(int)].astype(np.float32)


def _folds(
    rest: np.ndarray, arrays: Any, *, cv: int, split_seed: int,
    labels: np.ndarray | None, n_classes: int,
) -> tuple[list[Arrays], list[tuple[np.ndarray, np.ndarray]]]:
    """The folds' arrays, and each fold's training and validation rows."""
    from sklearn.model_selection import KFold, StratifiedKFold

    splitter = (StratifiedKFold if labels is not None else KFold)(
        n_splits=cv, shuffle=True, random_state=split_seed
    )
    try:
        cuts = list(splitter.split(rest, labels[rest] if labels is not None else None))
    except ValueError as exc:
        raise UserError(f"cannot cut {len(rest)} rows into {cv} folds: {exc}; lower --cv") from None
    folds: list[Arrays] = []
    for fold_train, fold_val in cuts:
        x_fit, y_fit = arrays(rest[fold_train])
        x_val, y_val = arrays(rest[fold_val])
        folds.append({
            "x_train": x_fit, "y_train": y_fit, "x_val": x_val, "y_val": y_val,
            "w_train": _balanced(y_fit, n_classes) if n_classes else None,
        })
    return folds, [(rest[fit], rest[val]) for fit, val in cuts]
