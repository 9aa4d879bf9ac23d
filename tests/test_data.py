from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.data import Preprocessor, available_datasets, load_dataset
from autokeras_lab.errors import UserError


def test_concrete_ships_inside_the_package() -> None:
    ds = load_dataset("concrete")
    assert ds.frame.shape == (1030, 9)
    assert ds.target == "strength" and ds.unit == "MPa"
    assert len(ds.feature_columns) == 8
    assert ds.fingerprint == load_dataset("concrete").fingerprint
    assert "concrete" in available_datasets()


def test_unknown_dataset_lists_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown data set 'wine'.*concrete"):
        load_dataset("wine")


def test_splits_are_disjoint_cover_every_row_and_hold_out_ten_percent(concrete) -> None:
    train, val, test = concrete.train_index, concrete.val_index, concrete.test_index
    assert not set(train) & set(test)
    assert not set(val) & set(test)
    assert not set(train) & set(val)
    assert len(train) + len(val) + len(test) == 1030
    assert len(test) == 103
    # the arrays a trial receives carry no test rows at all
    arrays = concrete.search_arrays()
    assert not any("test" in key for key in arrays)
    assert len(arrays["x_train"]) + len(arrays["x_val"]) == 1030 - 103


def test_a_trial_gets_its_inputs_under_the_transform_it_names(concrete) -> None:
    """A search's arrays are scaled by its first transform (here not ``standard``, as
    ``input_transforms = ["quantile", "standard"]`` in an experiment file asks), the
    others kept beside them; a configuration gets the inputs it names, and one that
    names none gets the first."""
    from autokeras_lab.data import choose_inputs

    arrays = concrete.search_arrays(("quantile", "standard"))
    assert arrays["transform"] == "quantile"
    quantile = concrete.with_transforms("quantile").x_train
    standard = concrete.with_transforms("standard").x_train
    assert not np.allclose(quantile, standard)
    for name, expected in (("quantile", quantile), (None, quantile), ("standard", standard)):
        np.testing.assert_array_equal(choose_inputs(arrays, name)["x_train"], expected)
    with pytest.raises(ValueError, match="no inputs for transform 'robust'"):
        choose_inputs(arrays, "robust")


def test_scalers_are_fitted_on_the_training_rows_only(concrete) -> None:
    frame = concrete.dataset.frame
    train_rows = frame.iloc[concrete.train_index]
    pre = concrete.preprocessor
    assert np.allclose([c.mean for c in pre.columns], train_rows[list(pre.features)].mean())
    assert pre.target_mean == pytest.approx(train_rows["strength"].mean())
    assert abs(concrete.x_train.mean()) < 1e-4
    # the held-out rows were scaled with the training statistics, not their own
    test_rows = frame.iloc[concrete.test_index]
    assert np.allclose(concrete.x_test, pre.transform_x(test_rows))


def test_preprocessor_round_trips_through_json(concrete, tmp_path: Path) -> None:
    path = tmp_path / "pre.json"
    concrete.preprocessor.save(path)
    loaded = Preprocessor.load(path)
    assert loaded == concrete.preprocessor
    y = np.array([10.0, 50.0])
    assert np.allclose(loaded.inverse_y(loaded.transform_y(y)), y)


def test_missing_and_non_numeric_columns_are_named(concrete) -> None:
    frame = concrete.dataset.frame.drop(columns=["cement", "age"])
    with pytest.raises(UserError, match="lacks column\\(s\\) cement, age"):
        concrete.preprocessor.transform_x(frame)
    bad = concrete.dataset.frame.head(3).copy()
    bad["water"] = ["a", "b", "c"]
    with pytest.raises(UserError, match="column 'water' holds non-numeric values such as 'a'"):
        concrete.preprocessor.transform_x(bad)


def test_missing_numbers_are_imputed_with_the_training_median(concrete) -> None:
    rows = concrete.dataset.frame.head(3).copy()
    rows.loc[1, "slag"] = np.nan
    x = concrete.preprocessor.transform_x(rows)
    slag = next(c for c in concrete.preprocessor.columns if c.name == "slag")
    assert np.isfinite(x).all()
    assert x[1, 1] == pytest.approx((slag.fill - slag.mean) / slag.scale)
    assert isinstance(rows, pd.DataFrame)
