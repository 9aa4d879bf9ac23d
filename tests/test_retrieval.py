"""The retrieval space (``nca``): a model that holds the rows it trains on and predicts
from the nearest of them in a learned space, trained, packed, exported and searched
like any other."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from autokeras_lab.packing import train_together
from autokeras_lab.spaces import Task, load_space
from autokeras_lab.types import OutputKind
from tests.test_packing import fold_data, models_of, packed_as_alone

ROWS = (200, 204)  # two folds: 150 and 153 training rows
TRAIN_ROWS = 150  # the first fold's training rows: what the search's task says
KINDS = {kind: Task(kind=kind, n_features=5, n_outputs=3 if kind is OutputKind.MULTICLASS else 1,
                    data_rows=TRAIN_ROWS, train_rows=TRAIN_ROWS)
         for kind in OutputKind}
QUICK = {"blocks": 1, "width": 64, "dropout": 0.0, "embedding": False, "batch_size": 32,
         "learning_rate": 3e-3}


def _memory(model):
    from autokeras_lab.layers import memories

    [memory] = memories(model)
    return memory


def test_the_vote_weighs_nearer_rows_more_and_leaves_a_training_row_out_of_its_own() -> None:
    """Rows at 0, 1 and 5 with targets 10, 20, 30, embedded as themselves: a query at 0
    takes the softmax of minus the distances as weights; in training, the row equal
    to the query has no vote (nor does a slot not in use)."""
    from autokeras_lab.layers import NeighbourVote

    rows = np.array([[0.0], [1.0], [5.0], [0.0]], np.float32)
    targets = np.array([[10.0], [20.0], [30.0], [99.0]], np.float32)
    in_use = np.array([1.0, 1.0, 1.0, 0.0], np.float32)
    query = np.array([[0.0], [2.0]], np.float32)
    vote = NeighbourVote()

    def expected(distances, values):
        weights = np.exp(-np.asarray(distances))
        return float(weights @ values / weights.sum())

    served = np.asarray(vote([query, rows, targets, in_use, query, rows], training=False))
    assert served[0, 0] == pytest.approx(expected([0, 1, 5], [10, 20, 30]), rel=1e-4)
    assert served[1, 0] == pytest.approx(expected([2, 1, 3], [10, 20, 30]), rel=1e-4)
    trained = np.asarray(vote([query, rows, targets, in_use, query, rows], training=True))
    assert trained[0, 0] == pytest.approx(expected([1, 5], [20, 30]), rel=1e-4)
    assert trained[1, 0] == pytest.approx(served[1, 0], rel=1e-4)  # not a training row


def test_a_memory_holds_every_row_that_fits_and_a_sample_of_real_rows_beyond() -> None:
    import keras

    from autokeras_lab.layers import CandidateMemory

    rng = np.random.default_rng(0)
    memory = CandidateMemory(10, 3, one_hot=True)
    memory(keras.KerasTensor((None, 2)))
    x = rng.normal(size=(25, 2)).astype(np.float32)
    y = rng.integers(0, 3, size=25)

    assert memory.remember(x, y, seed=1) == 10
    rows, targets = np.asarray(memory.rows), np.asarray(memory.targets)
    matches = [int(np.flatnonzero((x == row).all(axis=1))[0]) for row in rows]
    assert len(set(matches)) == 10  # ten different rows of x, none made up
    np.testing.assert_array_equal(targets, np.eye(3)[y[matches]])  # their classes, one-hot
    assert np.asarray(memory.in_use).sum() == 10

    assert memory.remember(x[:4], y[:4]) == 4
    np.testing.assert_array_equal(np.asarray(memory.rows)[:4], x[:4])
    np.testing.assert_array_equal(np.asarray(memory.in_use), [1] * 4 + [0] * 6)


def test_a_training_step_draws_a_share_of_the_rows_and_inference_takes_all() -> None:
    """With ``sample_rate`` 0.3 of 10 slots, each training step gets 3 different held
    rows with their own targets and slot flags, drawn afresh (so a step encodes 3 rows,
    not 10); inference gets all 10 in order."""
    import keras

    from autokeras_lab.layers import CandidateMemory

    memory = CandidateMemory(10, 1, sample_rate=0.3, seed=0)
    query = keras.ops.zeros((2, 1))
    memory(query)
    x = np.arange(1, 11, dtype=np.float32)[:, None]
    memory.remember(x, 10 * x)
    draws = set()
    for _ in range(20):
        rows, targets, in_use = (np.asarray(v) for v in memory(query, training=True))
        assert rows.shape == (3, 1) and len(set(rows[:, 0])) == 3
        np.testing.assert_array_equal(targets, 10 * rows)
        np.testing.assert_array_equal(in_use, 1)
        draws.add(tuple(sorted(rows[:, 0])))
    assert len(draws) > 5
    rows, _, in_use = (np.asarray(v) for v in memory(query, training=False))
    np.testing.assert_array_equal(rows, x)
    assert in_use.sum() == 10


@pytest.mark.parametrize("kind", [  # the fast tier: regression; the other heads: slow
    pytest.param(OutputKind.REGRESSION, id="regression"),
    pytest.param(OutputKind.BINARY, id="binary", marks=pytest.mark.slow),
    pytest.param(OutputKind.MULTICLASS, id="multiclass", marks=pytest.mark.slow)])
def test_each_fold_model_learns_from_its_own_rows_and_beats_the_constant(kind) -> None:
    """Two fold models trained packed: each holds its own fold's training rows (the
    larger fold's 3 rows past the memory's 150 left out by draw) and predicts its
    validation rows better than the training rows' mean or class shares do."""
    task = KINDS[kind]
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate(ROWS)]
    training = train_together(models_of(load_space("nca"), task, QUICK, [1, 2]), datas, 32,
                              order_seeds=[7, 8])
    assert training.packed
    for _ in range(25):
        _, outputs = training.run_epoch()
    training.sync()
    for model, data, output in zip(training.models, datas, outputs, strict=True):
        memory = _memory(model)
        held = int(np.asarray(memory.in_use).sum())
        assert held == TRAIN_ROWS == memory.capacity
        rows = np.asarray(memory.rows)
        assert all((data["x_train"] == row).all(axis=1).any() for row in rows)
        y, y_train = data["y_val"], data["y_train"]
        if kind is OutputKind.REGRESSION:
            assert np.mean((output[:, 0] - y) ** 2) < 0.6 * np.mean((y - y_train.mean()) ** 2)
            continue
        labels = y.astype(int)
        probs = output if kind is OutputKind.MULTICLASS else np.hstack([1 - output, output])
        shares = np.bincount(y_train.astype(int), minlength=probs.shape[1]) / len(y_train)
        assert -np.mean(np.log(probs[np.arange(len(y)), labels])) < \
            -np.mean(np.log(shares[labels]))


def test_packed_retrieval_models_train_as_they_would_one_after_another() -> None:
    """Each packed model votes among its own rows (the memories are stacked like any
    other non-trainable weights): the same losses and outputs as unpacked."""
    task = KINDS[OutputKind.REGRESSION]
    values = QUICK | {"candidate_rate": 1.0}  # no random draws, which packing shares
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate(ROWS)]
    packed_as_alone(load_space("nca"), task, values, datas, batch=32)


@pytest.mark.slow
@pytest.mark.parametrize(("experiment", "metric", "better"), [
    ("concrete", "rmse", "below the target's spread"),
    ("moons", "accuracy", "above the commonest class"),
    ("iris", "log_loss", "below the class shares' log loss"),
], ids=["regression", "binary", "multiclass"])
def test_a_search_of_the_retrieval_space_hands_over_models_that_hold_their_rows(
    ray_session, tmp_path: Path, experiment: str, metric: str, better: str,
) -> None:
    """``search --space nca`` as a user runs it, on every task kind: the handed-over
    model (refitted members included) holds full memories, loads in safe mode and
    scores better than a constant on the test rows."""
    from autokeras_lab.cli import main
    from autokeras_lab.data import load_dataset
    from autokeras_lab.export import load_model_dir

    assert main(["search", experiment, "--space", "nca", "--metric", metric, "--trials", "3",
                 "--max-epochs", "4", "--seed", "0", "--cv", "3", "--runs-dir",
                 str(tmp_path), "--no-report", "--quiet"]) == 0
    model_dir = tmp_path / experiment / "best"
    model = load_model_dir(model_dir)
    from autokeras_lab.layers import memories

    held = list(memories(model.model))
    assert held, "the handed-over model has no memory of its rows"
    for memory in held:
        assert np.asarray(memory.in_use).sum() == memory.capacity > 50
    card = json.loads((model_dir / "card.json").read_text())
    if card["refit"]["trials_on_every_row"] == len(card.get("members", [None])):
        # every model went out trained on every row (the regression case, here):
        # each holds them all, not a refit fold's share
        assert {memory.capacity for memory in held} == {card["refit"]["rows"]}
    test = card["metrics"][f"test_{metric}"]
    frame = load_dataset(experiment).frame
    target = load_dataset(experiment).target
    if metric == "rmse":
        assert test < 0.8 * frame[target].std(), better
    elif metric == "accuracy":
        assert test > frame[target].value_counts(normalize=True).max() + 0.05, better
    else:
        shares = frame[target].value_counts(normalize=True)
        assert test < -(shares * np.log(shares)).sum() * 0.8, better


def test_the_two_family_space_builds_each_family_with_its_own_settings_active() -> None:
    """``plr_nca``: each trial is an MLP or a retrieval model; the settings only the
    other family has are inactive (not read), and a table larger than a retrieval
    model's memory gets MLPs only."""
    from autokeras_lab.layers import memories

    space = load_space("plr_nca")
    task = KINDS[OutputKind.REGRESSION]
    derived = space.derive(task)
    assert {"family", "num_layers", "activation", "blocks", "candidate_rate"} <= set(
        derived.names)
    for family, own, other in (("nca", "candidate_rate", "activation"),
                               ("plr_mlp", "activation", "candidate_rate")):
        model, active = space.build_tracked(derived.defaults() | {"family": family}, task,
                                            derived)
        assert own in active and other not in active
        assert bool(list(memories(model))) == (family == "nca")
    large = Task(n_features=5, data_rows=100_000, train_rows=100_000)
    assert space.derive(large).to_optuna()["family"].choices == ("plr_mlp",)


def test_fine_tuning_keeps_the_rows_a_model_holds_and_tunes_its_encoder() -> None:
    """``finetune`` trains an exported model further on new rows (of an ensemble's
    inputs, which are not a member's): a retrieval model votes among the rows it was
    searched on, as before, with its encoder trained on the new ones."""
    from autokeras_lab.layers import remember
    from autokeras_lab.trainable import fit_epochs

    task = KINDS[OutputKind.REGRESSION]
    [model] = models_of(load_space("nca"), task, QUICK, [1])
    old, new = fold_data(task, 200, 0), fold_data(task, 200, 1)
    remember(model, old["x_train"], old["y_train"])
    before = [np.asarray(w) for w in model.trainable_weights]
    fit_epochs(model, new, batch=32, epochs=2)
    np.testing.assert_array_equal(np.asarray(_memory(model).rows), old["x_train"])
    assert any(not np.allclose(b, np.asarray(w)) for b, w in zip(before, model.trainable_weights,
                                                                   strict=True))


def test_retraining_a_configuration_hands_each_seed_the_rows_it_trains_on() -> None:
    """``retrain`` trains a configuration's seeds with ``fit_together``: each seed's
    memory holds the rows it was given (train and validation rows together), all of
    them where they fit."""
    from autokeras_lab.trainable import fit_together

    task = KINDS[OutputKind.REGRESSION]
    data = fold_data(task, 200, 0)
    models = models_of(load_space("nca"), task, QUICK, [1, 2])
    fit_together(models, data, batch=32, epochs=1)
    for model in models:
        memory = _memory(model)
        assert int(np.asarray(memory.in_use).sum()) == len(data["x_train"]) == memory.capacity
        np.testing.assert_array_equal(np.asarray(memory.rows), data["x_train"])
