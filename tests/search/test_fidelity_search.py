"""A search whose epochs sample the rows: ASHA's first rung judges models on a part
of the table, the leaderboard says which part each result comes from, and the trials
read the table from Ray's object store without copying it."""

from __future__ import annotations

import tracemalloc

import numpy as np
import pytest

from autokeras_lab import load_experiment, run_search
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.report import leaderboard_rows
from autokeras_lab.search._setup import set_up

EPOCH_ROWS = 100


@pytest.fixture(scope="module")
def sampled(ray_session, tmp_path_factory: pytest.TempPathFactory):
    runs = tmp_path_factory.mktemp("runs")
    experiment = load_experiment("concrete").with_overrides(
        trials=6, max_epochs=9, cv=1, seed=1, concurrency=2, refit=False,
        epoch_rows=EPOCH_ROWS, space="mlp",
    )
    return experiment, runs, run_search(experiment, runs_dir=runs)


@pytest.mark.slow
def test_each_result_says_how_many_rows_its_model_had_seen(sampled) -> None:
    experiment, runs, result = sampled
    rows = len(set_up(experiment).prepared.y_train)  # about 740
    assert set_up(experiment).task.train_rows == EPOCH_ROWS
    board = Leaderboard(runs / "leaderboard.db")
    trials = board.trials(experiment.name, search_id=result.search_id,
                          direction=experiment.direction)
    assert len(trials) == 6
    for trial in trials:  # the fidelity of each stored result
        assert trial.rows_seen == min(rows, EPOCH_ROWS * trial.epochs)
    # the first rung (2 epochs) judged models that had seen 200 of the rows
    assert min(t.rows_seen for t in trials) < rows
    assert any(t.rows_seen == rows for t in trials)  # the survivors saw them all
    shown = leaderboard_rows(trials, metric="rmse")
    assert all(row["rows_seen"] == t.rows_seen for row, t in zip(shown, trials, strict=True))
    [search] = [s for s in board.searches() if s.search_id == result.search_id]
    assert search.settings["budget"]["epoch_rows"] == EPOCH_ROWS  # kept for a resume


@pytest.mark.slow
def test_a_trial_reads_the_table_from_the_object_store_without_copying_it(
    ray_session,
) -> None:
    """As ``tune.with_parameters`` hands the arrays to the trials: put once, then read
    in place (read-only) by each worker; an epoch copies its own rows only."""
    import ray

    rng = np.random.default_rng(0)
    x = rng.normal(size=(50_000, 8)).astype(np.float32)
    data = {"x_train": x, "y_train": x.sum(axis=1), "w_train": None, "x_val": x[:100]}
    ref = ray.put(data)

    @ray.remote(num_cpus=1)
    def train_in_place(arrays):
        from autokeras_lab.packing import train_together
        from autokeras_lab.spaces import Task, load_space

        task = Task(n_features=8, train_rows=500, data_rows=len(arrays["x_train"]))
        values = {"num_layers": 1, "units_0": 8, "batch_size": 100, "dropout": 0.0}
        model = load_space("mlp").build(values, task, load_space("mlp").derive(task))
        model.optimizer.build(model.trainable_variables)
        training = train_together([model], [arrays], 100, order_seeds=[0], epoch_rows=500)
        training.run_epoch()
        tracemalloc.start()
        for _ in range(3):
            training.run_epoch()
        peak = tracemalloc.get_traced_memory()[1]
        tracemalloc.stop()
        return arrays["x_train"].flags.writeable, arrays["x_train"].flags.owndata, peak

    for writeable, owns, peak in ray.get([train_in_place.remote(ref) for _ in range(2)]):
        assert not writeable and not owns  # a view on the object store's shared memory
        assert peak < x.nbytes / 10
