"""Any CSV: type inference, encoding fitted on train only, and every bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.data import from_frame, infer_task, load_csv, load_dataset, prepare
from autokeras_lab.errors import UserError
from tests.helpers import mixed_frame


def write(tmp_path: Path, frame: pd.DataFrame, name: str = "table.csv") -> Path:
    path = tmp_path / name
    frame.to_csv(path, index=False)
    return path


def test_column_types_are_inferred_and_encoded(tmp_path: Path) -> None:
    ds = load_csv(write(tmp_path, mixed_frame()), target="price")
    assert (ds.name, ds.task) == ("table", "regression")
    prepared = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=0)
    kinds = {c.name: c.kind for c in prepared.preprocessor.columns}
    assert kinds == {"size": "numeric", "colour": "categorical", "organic": "boolean"}
    colour = next(c for c in prepared.preprocessor.columns if c.name == "colour")
    assert set(colour.categories) == {"blue", "green", "red", "__missing__"}
    assert prepared.x_train.shape[1] == 1 + 4 + 1 and np.isfinite(prepared.x_train).all()


def test_unseen_category_at_predict_time_encodes_as_all_zeros(tmp_path: Path) -> None:
    ds = load_csv(write(tmp_path, mixed_frame()), target="price")
    pre = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=0).preprocessor
    row = pd.DataFrame({"size": [90.0], "colour": ["purple"], "organic": ["no"]})
    x = pre.transform_x(row)
    assert x[0, 1:5].tolist() == [0, 0, 0, 0]


def test_categories_come_from_the_training_split_only(tmp_path: Path) -> None:
    frame = mixed_frame(200)
    frame.loc[frame.index[-40:], "colour"] = "violet"  # may land in any split
    ds = load_csv(write(tmp_path, frame), target="price")
    prepared = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=0)
    colour = next(c for c in prepared.preprocessor.columns if c.name == "colour")
    train_colours = set(ds.frame.iloc[prepared.train_index]["colour"].dropna())
    assert set(colour.categories) - {"__missing__"} == train_colours


@pytest.mark.parametrize(
    ("values", "task"),
    [
        (["a", "b", "a"], "classification"),
        ([True, False, True], "classification"),
        ([0, 1, 2, 1], "classification"),
        ([0.5, 1.7, 2.25], "regression"),
        (list(range(50)), "regression"),
    ],
    ids=["text", "bool", "few-integers", "floats", "many-integers"],
)
def test_task_is_inferred_from_the_target(values: list, task: str) -> None:
    assert infer_task(pd.Series(values)) == task


def test_classification_splits_are_stratified_and_weights_balance_classes() -> None:
    ds = load_dataset("car")
    prepared = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=0,
                       class_weight="balanced")
    shares = [np.bincount(y.astype(int), minlength=4) / len(y)
              for y in (prepared.y_train, prepared.y_val, prepared.y_test)]
    assert np.allclose(shares[0], shares[1], atol=0.02) and np.allclose(shares[0], shares[2], atol=0.03)
    assert prepared.w_train is not None
    per_class = [prepared.w_train[prepared.y_train == k].sum() for k in range(4)]
    assert np.allclose(per_class, per_class[0], rtol=1e-4)  # each class weighs the same


BAD = {
    "missing-file": (None, {}, r"CSV file .*nothing\.csv does not exist"),
    "empty-file": (b"", {}, r"is empty; expected a header line and rows"),
    "no-header": (b"1,2,3\n4,5,6\n", {"target": "3"}, r"has no header line \(its first line is data: 1, 2, 3"),
    "target-absent": (b"a,b\n1,2\n", {"target": "price"}, r"has no column 'price'; columns: a, b \(pass one"),
    "target-all-missing": (b"a,price\n1,\n2,\n", {}, r"the target column 'price' is missing in every row"),
    "single-class": (b"a,price\n" + b"".join(b"%d,x\n" % i for i in range(40)), {"task": "classification"}, r"has a single class \('x'\)"),
    "constant-target": (b"a,price\n" + b"".join(b"%d,1.5\n" % i for i in range(40)), {}, r"the target 'price' is 1.5 in every row: a constant target cannot be learned"),
    "constant-target-as-regression": (b"a,price\n" + b"".join(b"%d,1.0\n" % i for i in range(40)), {"task": "regression"}, r"the target 'price' is 1.0 in every row"),
    "too-few-rows": (b"a,price\n1,2.5\n2,3.5\n", {}, r"has 2 rows with a target; expected at least 30"),
    "text-regression-target": (b"a,price\n" + b"".join(b"%d,cheap\n" % i for i in range(40)), {"task": "regression"}, r"regression needs a numeric target, but 'price' holds text"),
    "duplicated-columns": (b"a,a,price\n1,2,3\n", {}, r"duplicated column names: a; rename them"),
    "bad-encoding": (b"a,price\n\xff\xfe1,2\n", {}, r"is not UTF-8 text .*re-save it as UTF-8"),
}


@pytest.mark.parametrize("case", list(BAD), ids=list(BAD))
def test_bad_csv_input_gets_one_clear_line(tmp_path: Path, case: str) -> None:
    content, kwargs, match = BAD[case]
    path = tmp_path / ("nothing.csv" if content is None else "bad.csv")
    if content is not None:
        path.write_bytes(content)
    with pytest.raises(UserError, match=match) as info:
        load_csv(path, **({"target": "price"} | kwargs))
    assert "\n" not in str(info.value)


def test_cross_validation_folds_cover_the_non_test_rows_and_never_the_test_split() -> None:
    ds = load_dataset("iris")
    prepared = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=0, cv=3)
    folds = prepared.search_arrays()["folds"]
    assert len(folds) == 3
    rest = len(ds.frame) - len(prepared.test_index)
    assert sum(len(f["x_val"]) for f in folds) == rest  # each row validates exactly once
    assert all(len(f["x_train"]) + len(f["x_val"]) == rest for f in folds)
    test_rows = {tuple(row) for row in prepared.x_test.round(5)}
    for fold in folds:
        for part in (fold["x_train"], fold["x_val"]):
            assert not test_rows & {tuple(row) for row in part.round(5)}
        assert sorted(set(fold["y_val"].astype(int))) == [0, 1, 2]  # stratified


@pytest.mark.parametrize("cv", [1, 4])
def test_refit_folds_add_every_test_row_once_and_keep_the_search_folds(cv: int) -> None:
    frame = mixed_frame(rows=200).assign(row=np.arange(200.0))[["row", "size", "price"]]
    ds = from_frame(frame, target="price")
    prepared = prepare(ds, test_fraction=0.1, val_fraction=0.2, split_seed=0, cv=cv)
    refit, own = prepared.refit_arrays("standard")

    def ids(x: np.ndarray) -> list[float]:  # the row column, scaled but one-to-one
        return sorted(np.round(x[:, 0], 6).tolist())

    test = ids(prepared.x_test)
    if cv == 1:
        assert ids(refit["x_train"]) == sorted(ids(prepared.x_train) + test)
        assert ids(refit["x_val"]) == ids(prepared.x_val) and own == [len(prepared.y_val)]
        return
    searched = prepared.search_arrays()["folds"]
    added: list[float] = []
    for fold, before, n_own in zip(refit["folds"], searched, own, strict=True):
        assert n_own == len(before["y_val"])
        np.testing.assert_array_equal(fold["x_val"][:n_own], before["x_val"])  # first, as was
        share = ids(fold["x_val"][n_own:])
        added += share
        assert ids(fold["x_train"]) == sorted(ids(before["x_train"]) + sorted(set(test) - set(share)))
        assert len(fold["y_train"]) == len(fold["x_train"])
    assert sorted(added) == test  # each test row validates exactly one refitted fold model
