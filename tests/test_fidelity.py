"""Large tables: epochs that sample the rows (multi-fidelity on rows), batch sizes that
fit the table, a capped validation split, and training that reads the table where it
lies instead of copying it."""

from __future__ import annotations

import dataclasses
import io
import tracemalloc

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.config import csv_experiment
from autokeras_lab.data import _datasets, _prepare, from_frame, prepare
from autokeras_lab.packing import RowStream, train_together
from autokeras_lab.search import _write_header
from autokeras_lab.search._setup import set_up
from autokeras_lab.spaces import Task, load_space
from autokeras_lab.trainable import TrialSettings, train_trial
from autokeras_lab.types import (
    EPOCH_ROWS,
    MAX_EPOCHS,
    SAMPLED_EPOCHS_ABOVE,
    TRIAL_ROWS,
    Budget,
    Direction,
)


def test_epochs_are_stretches_of_passes_over_the_rows_each_pass_in_its_own_order() -> None:
    stream = RowStream(10, seed=3, epoch_rows=4)
    epochs = [stream.epoch(k) for k in range(1, 6)]  # 20 rows: two passes
    assert all(len(e) == 4 for e in epochs)
    first, second = np.concatenate(epochs)[:10], np.concatenate(epochs)[10:]
    assert sorted(first) == sorted(second) == list(range(10))  # every row once a pass
    assert list(first) != list(second)  # each pass shuffled anew
    assert [stream.seen(k) for k in (1, 2, 3, 9)] == [4, 8, 10, 10]
    # stateless: a resumed trial (a fresh stream) gets the rows it would have had
    again = RowStream(10, seed=3, epoch_rows=4)
    assert list(again.epoch(3)) == list(epochs[2]) and list(again.epoch(1)) == list(epochs[0])
    assert list(RowStream(10, seed=4, epoch_rows=4).epoch(1)) != list(epochs[0])


def test_an_epoch_is_every_row_up_to_the_threshold_and_a_sample_above_it() -> None:
    budget = Budget()
    assert budget.rows_per_epoch(5_000) == 5_000
    assert budget.rows_per_epoch(38_800) == 38_800  # diamonds: not measured, unchanged
    assert budget.rows_per_epoch(SAMPLED_EPOCHS_ABOVE) == SAMPLED_EPOCHS_ABOVE
    assert budget.rows_per_epoch(SAMPLED_EPOCHS_ABOVE + 1) == EPOCH_ROWS
    assert Budget(epoch_rows=1_000).rows_per_epoch(5_000) == 1_000  # the user's choice
    assert Budget(epoch_rows=10_000).rows_per_epoch(5_000) == 5_000
    with pytest.raises(ValueError, match="epoch_rows must be a positive"):
        Budget(epoch_rows=0)
    small = Task(n_features=4, train_rows=5_000, data_rows=5_000)
    large = Task(n_features=4, train_rows=EPOCH_ROWS, data_rows=900_000)
    assert small.sampled_epoch == 0 and large.sampled_epoch == EPOCH_ROWS
    # batches grow with a large table, learning rates by the square root
    assert small.batch_sizes(16, 128) == [16, 128]
    assert large.batch_scale == 16 and large.batch_sizes(16, 128) == [256, 2048]
    assert large.learning_rate_scale == pytest.approx(4.0)


def test_batches_double_with_every_four_times_the_rows() -> None:
    def scale(rows: int) -> int:
        return Task(n_features=4, train_rows=rows, data_rows=rows).batch_scale

    # a bagged small table (concrete's folds, a fold of 8,000 rows) keeps the batches
    # its results were measured with; so does a model whose table is not known
    assert [scale(rows) for rows in (0, 740, 6_400, 8_000)] == [1, 1, 1, 1]
    assert [scale(rows) for rows in (10_000, 38_800, 100_000, 900_000)] == [2, 4, 4, 16]
    sizes = [Task(n_features=4, train_rows=r, data_rows=r).batch_sizes(16)[0]
             for r in (4_000, 16_000, 64_000, 256_000, 1_024_000)]
    assert sizes == [16, 32, 64, 128, 256]  # never shrinking as the table grows


def test_a_trial_trains_at_most_300_epochs_and_fewer_where_an_epoch_is_large() -> None:
    budget = Budget()
    # small and bagged tables keep the 300 epochs their results were measured with
    assert [budget.epochs_for(rows) for rows in (740, 6_400, 8_192)] == [300, 300, 300]
    # a larger epoch: no more rows in all than 300 epochs of 8,192 (diamonds' 71)
    assert budget.epochs_for(34_953) == 71 and budget.epochs_for(EPOCH_ROWS) == 150
    assert budget.epochs_for(10**6) == 3
    assert all(budget.epochs_for(rows) * rows < TRIAL_ROWS + rows
               for rows in (9_000, 34_953, EPOCH_ROWS, 10**6))
    # the user's (or the experiment's) epochs stand, whatever the table
    assert Budget(max_epochs=500).epochs_for(34_953) == 500
    assert Budget(max_epochs=20).epochs_for(100) == 20
    assert "up to 300 epochs" in budget.describe() and MAX_EPOCHS == 300


def test_a_search_on_a_larger_table_schedules_and_records_its_epochs(tmp_path) -> None:
    csv = tmp_path / "big.csv"
    _table(20_000).to_csv(csv, index=False)
    setup = set_up(csv_experiment(csv, target="y").with_overrides(time_budget_s=60))
    fit_rows = len(setup.prepared.x_train)  # one validation split above 5,000 rows
    expected = -(-TRIAL_ROWS // fit_rows)
    assert 100 < expected < MAX_EPOCHS
    # the scheduler, the learning-rate schedule and the search's record agree
    assert setup.max_epochs == setup.task.max_epochs == expected
    assert setup.experiment.settings()["budget"]["max_epochs"] == expected
    assert setup.task.batch_scale == 2  # 14,400 rows: batches twice the small table's
    header = io.StringIO()
    _write_header(header, setup, None)
    assert f"at most {expected} epochs a trial" in header.getvalue()
    assert "14,400 training rows: batches 2x" in header.getvalue()
    given = set_up(csv_experiment(csv, target="y").with_overrides(max_epochs=400))
    assert given.max_epochs == given.task.max_epochs == 400


def test_a_large_tables_space_offers_larger_batches_and_learning_rates() -> None:
    space = load_space("plr_mlp")
    small = space.derive(Task(n_features=4, train_rows=5_000))
    large = space.derive(Task(n_features=4, train_rows=EPOCH_ROWS, data_rows=900_000))

    def find(derived, name):
        [hp] = [h for h in derived.hyperparameters.space if h.name == name]
        return hp

    assert find(small, "batch_size").values == [16, 32, 64, 128]
    assert find(large, "batch_size").values == [256, 512, 1024, 2048]
    assert find(large, "learning_rate").max_value == pytest.approx(4 * find(small, "learning_rate").max_value)


def _table(rows: int, seed: int = 0) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, 3))
    return pd.DataFrame({"a": x[:, 0], "b": x[:, 1], "c": x[:, 2],
                         "y": x[:, 0] * 2 + np.sin(x[:, 1]) + rng.normal(0, 0.1, rows)})


def test_a_large_tables_validation_split_is_capped_and_the_rest_trains(monkeypatch) -> None:
    dataset = from_frame(_table(2_000), target="y", task="regression")
    kwargs = dict(test_fraction=0.1, val_fraction=0.2, split_seed=0)
    assert len(prepare(dataset, **kwargs).y_val) == 360  # 20 % of 1,800
    monkeypatch.setattr(_prepare, "MAX_VAL_ROWS", 100)
    capped = prepare(dataset, **kwargs)
    assert len(capped.y_val) == 100 and len(capped.y_train) == 1_700  # none lost
    assert len(capped.y_test) == 200
    assert not set(capped.val_index) & set(capped.train_index)


def test_a_large_tables_fingerprint_is_of_its_content_without_writing_it_as_text(
    monkeypatch,
) -> None:
    frame = _table(500)
    small = from_frame(frame, target="y", task="regression").fingerprint
    monkeypatch.setattr(_datasets, "CSV_FINGERPRINT_ROWS", 100)
    large = from_frame(frame, target="y", task="regression").fingerprint
    assert large != small  # another digest above the threshold, but as stable
    assert from_frame(frame.copy(), target="y", task="regression").fingerprint == large
    changed = frame.copy()
    changed.loc[321, "b"] += 1e-9
    assert from_frame(changed, target="y", task="regression").fingerprint != large
    renamed = frame.rename(columns={"c": "d"})
    assert from_frame(renamed, target="y", task="regression").fingerprint != large


@pytest.fixture(scope="module")
def big_arrays():
    """A table that a search would sample: 6,000 training rows in epochs of 1,000; its
    arrays read-only, as a trial gets them from Ray's object store."""
    dataset = from_frame(_table(8_000), target="y", task="regression")
    arrays = prepare(dataset, test_fraction=0.1, val_fraction=0.1, split_seed=0).search_arrays()
    for key in ("x_train", "y_train", "x_val", "y_val"):
        arrays[key].setflags(write=False)
    return arrays


def _settings(arrays, *, epoch_rows: int, max_epochs: int) -> TrialSettings:
    rows = len(arrays["x_train"])
    task = Task(n_features=arrays["x_train"].shape[1], train_rows=min(rows, epoch_rows),
                data_rows=rows, max_epochs=max_epochs)
    return TrialSettings(space="mlp", space_config=load_space("mlp").derive(task).to_config(),
                         task=task, metric="rmse", direction=Direction.MIN,
                         max_epochs=max_epochs, patience=50, search_seed=0,
                         report_epochs=(2,), report_every=1)


def test_a_trial_on_sampled_epochs_reports_the_rows_its_model_has_seen(big_arrays) -> None:
    settings = _settings(big_arrays, epoch_rows=1_000, max_epochs=8)
    values = {"num_layers": 1, "units_0": 16, "batch_size": 100, "learning_rate": 3e-3,
              "dropout": 0.0}
    reports = []
    train_trial(values, big_arrays, settings, lambda r, s: reports.append(r))
    rows = len(big_arrays["x_train"])
    assert [r.rows_seen for r in reports] == [min(rows, 1_000 * e) for e in range(1, 9)]
    assert reports[-1].rows_seen == rows  # by the 6th epoch, every row
    assert reports[-1].best_val_metric < 1.0  # it learns (the target's spread is ~2.2)
    # a table trained on every row each epoch reports no fidelity
    whole = dataclasses.replace(settings, task=dataclasses.replace(settings.task,
                                                                    train_rows=rows))
    assert train_trial(values, big_arrays, dataclasses.replace(whole, max_epochs=1),
                       lambda r, s: None).rows_seen is None


def test_training_reads_the_table_where_it_lies_and_copies_only_an_epochs_rows() -> None:
    """Nothing of the table is copied per trial: each epoch gathers its own rows from
    the arrays as given (read-only, as Ray's object store hands them over), so a
    trial's memory is bounded by the epoch, not by the table or the epoch count."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(50_000, 8)).astype(np.float32)
    y = x.sum(axis=1).astype(np.float32)
    for array in (x, y):
        array.setflags(write=False)
    data = {"x_train": x, "y_train": y, "w_train": None, "x_val": x[:200]}
    task = Task(n_features=8, train_rows=500, data_rows=len(x))
    space = load_space("mlp")
    values = {"num_layers": 1, "units_0": 8, "batch_size": 100, "learning_rate": 1e-3,
              "dropout": 0.0}
    models = [space.build(values, task, space.derive(task)) for _ in range(2)]
    for model in models:
        model.optimizer.build(model.trainable_variables)
    for pack in (True, False):  # packed folds and one model alone
        training = train_together(models, [data, data], 100, order_seeds=[0, 1],
                                  pack=pack, epoch_rows=500)
        training.run_epoch()  # traced
        tracemalloc.start()
        try:
            for _ in range(3):
                losses, outputs = training.run_epoch()
            _, peak = tracemalloc.get_traced_memory()
        finally:
            tracemalloc.stop()
        assert peak < x.nbytes / 10, f"{peak} bytes at once for a {x.nbytes}-byte table"
        assert all(np.isfinite(losses)) and [len(o) for o in outputs] == [200, 200]


def test_inputs_are_built_column_by_column_for_the_rows_asked(monkeypatch) -> None:
    frame = _table(300)
    frame["colour"] = np.where(frame["a"] > 0, "red", "blue")
    frame.loc[5, "b"] = np.nan
    dataset = from_frame(frame, target="y", task="regression")
    pre = prepare(dataset, test_fraction=0.1, val_fraction=0.2, split_seed=0).preprocessor
    both = pre.with_transforms("standard", "quantile")
    rows = np.array([7, 5, 120, 3])
    got = both.transform_x(dataset.frame, rows)
    assert got.dtype == np.float32 and got.shape == (4, 2 * pre.n_inputs)
    np.testing.assert_array_equal(got, both.transform_x(dataset.frame.iloc[rows]))


@pytest.mark.parametrize("cv", [1, 3])
def test_a_refits_rows_are_known_before_its_arrays_are_built(cv) -> None:
    """The refit plans on its row count and builds the arrays (each the table's size
    again) only for the trials it will train."""
    dataset = from_frame(_table(301), target="y", task="regression")
    prepared = prepare(dataset, test_fraction=0.1, val_fraction=0.2, split_seed=0, cv=cv)
    data, _ = prepared.refit_arrays("standard")
    assert prepared.refit_rows() == len((data.get("folds") or [data])[0]["y_train"])


def test_the_epoch_rows_flag_reaches_the_search(monkeypatch) -> None:
    import autokeras_lab.search
    from autokeras_lab.cli import main

    searched = []

    def capture(experiment, **_):
        searched.append(experiment)
        raise SystemExit(0)

    monkeypatch.setattr(autokeras_lab.search, "run_search", capture)
    with pytest.raises(SystemExit):
        main(["search", "concrete", "--epoch-rows", "128", "--runs-dir", "/tmp/unused"])
    [experiment] = searched
    assert experiment.budget.epoch_rows == 128
    assert experiment.budget.rows_per_epoch(700) == 128
