"""Packed training (autokeras_lab.packing): K models as one graph call an epoch give
what K models trained one after another give, and models that cannot be packed fall
back with a reason."""

from __future__ import annotations

import numpy as np
import pytest

from autokeras_lab.packing import train_together
from autokeras_lab.spaces import Task, load_space
from autokeras_lab.types import OutputKind
from tests.conftest import REPO

KINDS = {
    OutputKind.REGRESSION: Task(kind=OutputKind.REGRESSION, n_features=5),
    OutputKind.BINARY: Task(kind=OutputKind.BINARY, n_features=5),
    OutputKind.MULTICLASS: Task(kind=OutputKind.MULTICLASS, n_features=5, n_outputs=3),
}


def fold_data(task: Task, rows: int, seed: int) -> dict:
    """A fold's training and validation rows; row weights for the classifiers."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(rows, task.n_features)).astype(np.float32)
    signal = x[:, 0] - 0.5 * x[:, 1] ** 2
    if task.kind is OutputKind.REGRESSION:
        y = signal.astype(np.float32)
        w = None
    else:
        y = np.digitize(signal, [-0.5, 0.3][: task.n_outputs - 1 or 1]).astype(np.float32)
        w = rng.uniform(0.5, 2.0, size=rows).astype(np.float32)  # class weights
    cut = rows * 3 // 4
    return {"x_train": x[:cut], "y_train": y[:cut], "w_train": None if w is None else w[:cut],
            "x_val": x[cut:], "y_val": y[cut:]}


def packed_as_alone(space, task: Task, values: dict, datas: list[dict], *, batch: int,
                    epochs: int = 3) -> tuple:
    """Two models of ``space`` trained packed and one after another, from the same
    seeds on the same rows: the same losses and outputs every epoch. The packed
    training and its last outputs."""
    packed = train_together(models_of(space, task, values, [1, 2]), datas, batch,
                            order_seeds=[7, 8])
    alone = train_together(models_of(space, task, values, [1, 2]), datas, batch,
                           order_seeds=[7, 8], pack=False)
    assert packed.packed
    for _ in range(epochs):
        packed_losses, packed_outputs = packed.run_epoch()
        alone_losses, alone_outputs = alone.run_epoch()
        np.testing.assert_allclose(packed_losses, alone_losses, rtol=1e-4)
        for p, a in zip(packed_outputs, alone_outputs, strict=True):
            np.testing.assert_allclose(p, a, rtol=1e-4, atol=1e-5)
    return packed, packed_outputs


def models_of(space, task: Task, values: dict, seeds: list[int]) -> list:
    import keras

    derived = space.derive(task)
    built = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = space.build(derived.defaults() | values, task, derived)
        model.optimizer.build(model.trainable_variables)
        built.append(model)
    return built


@pytest.mark.parametrize("kind", [  # the fast tier packs a regression head; the rest: slow
    pytest.param(OutputKind.REGRESSION, id="regression"),
    pytest.param(OutputKind.BINARY, id="binary", marks=pytest.mark.slow),
    pytest.param(OutputKind.MULTICLASS, id="multiclass", marks=pytest.mark.slow)])
def test_packed_training_gives_the_weights_of_one_after_another(kind) -> None:
    """K = 3 models with folds of unequal size (the last batch of an epoch differs by a
    row), dropout off, the same initial weights and data order: after a few epochs
    every model's weights, losses and validation outputs match the unpacked run's."""
    task = KINDS[kind]
    space = load_space("mlp")
    values = {"num_layers": 2, "units_0": 16, "units_1": 8, "dropout": 0.0, "l2": 1e-3,
              "batch_size": 16}
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate((91, 90, 90))]
    packed = train_together(models_of(space, task, values, [1, 2, 3]), datas, 16,
                            order_seeds=[7, 8, 9])
    alone = train_together(models_of(space, task, values, [1, 2, 3]), datas, 16,
                           order_seeds=[7, 8, 9], pack=False)
    assert packed.packed and not alone.packed
    for _ in range(4):
        packed_losses, packed_outputs = packed.run_epoch()
        alone_losses, alone_outputs = alone.run_epoch()
        np.testing.assert_allclose(packed_losses, alone_losses, rtol=1e-4)
        for p, a in zip(packed_outputs, alone_outputs, strict=True):
            assert p.shape == a.shape
            np.testing.assert_allclose(p, a, rtol=1e-4, atol=1e-5)
    for p_weights, a_weights in zip(packed.weights(), alone.weights(), strict=True):
        for p, a in zip(p_weights, a_weights, strict=True):
            np.testing.assert_allclose(p, a, rtol=1e-4, atol=1e-5)
    # The models moved, each its own way (not one model copied K times).
    first, second = (w[0] for w in packed.weights()[:2])
    assert not np.allclose(first, second)
    # The Keras models take the packed weights and optimizer state (export, checkpoints).
    packed.sync()
    for model, (weights, slots) in zip(packed.models, alone.states(), strict=True):
        for p, a in zip(model.get_weights(), weights, strict=True):
            np.testing.assert_allclose(p, a, rtol=1e-4, atol=1e-5)
        for p, a in zip(model.optimizer.variables, slots, strict=True):
            np.testing.assert_allclose(p.numpy(), a, rtol=1e-3, atol=1e-6)


def test_packed_dropout_draws_each_models_own_masks() -> None:
    """With dropout on, packed models still train (finite, falling losses) and differ
    from each other although they start from the same weights on the same rows."""
    task = KINDS[OutputKind.REGRESSION]
    space = load_space("mlp")
    values = {"num_layers": 2, "units_0": 32, "units_1": 16, "dropout": 0.3,
              "batch_size": 16}
    models = models_of(space, task, values, [5, 5, 5])  # identical starts
    data = fold_data(task, 120, 0)
    packed = train_together(models, [data] * 3, 16, order_seeds=[1, 1, 1])
    assert packed.packed
    first, _ = packed.run_epoch()
    for _ in range(5):
        losses, _ = packed.run_epoch()
    assert all(np.isfinite(losses)) and np.mean(losses) < np.mean(first)
    kernels = [w[0] for w in packed.weights()]
    assert not np.allclose(kernels[0], kernels[1])  # different masks moved them apart


def test_an_unpackable_model_falls_back_and_says_why(capfd) -> None:
    """An optimizer that clips by the gradients' norm would clip all K models by one
    norm: the models train one after another instead, and the line says why."""
    import keras

    task = KINDS[OutputKind.REGRESSION]
    models = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((task.n_features,)), keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.Adam(1e-3, global_clipnorm=1.0), loss="mse")
        model.optimizer.build(model.trainable_variables)
        models.append(model)
    training = train_together(models, [fold_data(task, 40, 0)] * 2, 8, order_seeds=[0, 1])
    assert not training.packed
    [line] = [x for x in capfd.readouterr().err.splitlines() if "not packed" in x]
    assert "one after another" in line and "global_clipnorm" in line
    losses, outputs = training.run_epoch()
    assert len(losses) == len(outputs) == 2


@pytest.fixture(scope="module")
def concrete_folds():
    from autokeras_lab.data import load_dataset, prepare

    return prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2,
                   split_seed=42, cv=3)


def fold_trial(space_name: str, values: dict, data, *, pack: bool, epochs: int = 4):
    """A ``--cv 3`` trial through the trainable a search runs; its last report and
    checkpointed state."""
    from autokeras_lab.trainable import TrialSettings, train_trial
    from autokeras_lab.types import Direction

    task = Task(n_features=data.x_train.shape[1])
    space = load_space(space_name)
    derived = space.derive(task)
    settings = TrialSettings(
        space=space_name, space_config=derived.to_config(), task=task, metric="rmse",
        direction=Direction.MIN, max_epochs=epochs, patience=50, search_seed=3, pack=pack)
    states = []
    last = train_trial(derived.defaults() | values, data.search_arrays(), settings,
                       lambda report, state: states.append(state))
    return last, states[-1]


@pytest.mark.slow
def test_a_cv_trial_reports_the_same_values_packed_or_not(concrete_folds) -> None:
    """What the leaderboard stores of a ``--cv 3`` trial (best value, its spread over
    the folds, the best epoch, the out-of-fold outputs and every fold model's weights)
    does not change with packing (dropout off: it is the one thing drawn differently)."""
    values = {"num_layers": 2, "units_0": 32, "units_1": 16, "dropout": 0.0, "batch_size": 32}
    packed, packed_state = fold_trial("mlp", values, concrete_folds, pack=True)
    alone, alone_state = fold_trial("mlp", values, concrete_folds, pack=False)
    assert packed.best_epoch == alone.best_epoch
    for name, value in alone.best_metrics.items():
        assert packed.best_metrics[name] == pytest.approx(value, rel=1e-4)
        assert packed.best_metrics_std[name] == pytest.approx(alone.best_metrics_std[name],
                                                              rel=1e-3, abs=1e-6)
    np.testing.assert_allclose(packed_state.best_outputs, alone_state.best_outputs,
                               rtol=1e-4, atol=1e-5)
    assert len(packed_state.best_weights) == 3  # the bag: every fold's model
    for p_model, a_model in zip(packed_state.best_weights, alone_state.best_weights,
                                strict=True):
        for p, a in zip(p_model, a_model, strict=True):
            np.testing.assert_allclose(p, a, rtol=1e-4, atol=1e-5)


@pytest.mark.slow
def test_a_module_with_an_unpackable_layer_trains_its_folds_one_after_another(
    concrete_folds, capfd
) -> None:
    last, state = fold_trial(str(REPO / "tests" / "spaces" / "unpackable.py"), {},
                             concrete_folds, pack=True, epochs=3)
    err = capfd.readouterr().err
    assert "training 3 models one after another, not packed" in err
    assert "no vectorized form of op PyFunc" in err
    assert last.epoch == 3 and np.isfinite(last.best_val_metric)
    assert len(state.best_weights) == 3


@pytest.mark.slow
def test_a_cv_search_stores_the_same_leaderboard_values_packed_or_not(ray_session,
                                                                       tmp_path) -> None:
    """Two ``--cv 3`` searches with the same seed, one with ``--no-pack``: every trial's
    stored validation values, spread and best epoch agree (a space without dropout)."""
    from autokeras_lab import load_experiment, run_search

    def search(pack: bool) -> dict:
        exp = load_experiment("concrete").with_overrides(
            trials=3, max_epochs=4, cv=3, ensemble_size=0, refit=False, concurrency=1, pack=pack,
            space=str(REPO / "tests" / "spaces" / "dense.py"), input_transforms=("standard",))
        result = run_search(exp, runs_dir=tmp_path / str(pack))
        return {repr(sorted(t.config.items())): t for t in result.trials}

    packed, alone = search(True), search(False)
    assert packed.keys() == alone.keys() and len(packed) == 3  # the same proposals
    assert all(t.worker.packed for t in packed.values())
    assert not any(t.worker.packed for t in alone.values())
    for key, trial in alone.items():
        other = packed[key]
        assert other.best_val == pytest.approx(trial.best_val, rel=1e-4)
        assert other.best_epoch == trial.best_epoch
        for name, std in trial.metrics["val_std"].items():
            assert other.metrics["val_std"][name] == pytest.approx(std, rel=1e-3, abs=1e-6)


def test_a_model_built_on_first_use_trains_one_after_another(capfd) -> None:
    """A Sequential model without ``keras.Input`` has no weights to stack until it
    first runs: it trains unpacked, and the line says how to pack it."""
    import keras

    task = KINDS[OutputKind.REGRESSION]
    models = []
    for seed in (1, 2):
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.layers.Dense(8, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer="adam", loss="mse")
        models.append(model)
    training = train_together(models, [fold_data(task, 40, 0)] * 2, 8, order_seeds=[0, 1])
    assert not training.packed
    assert "begin it with keras.Input" in capfd.readouterr().err
    losses, _ = training.run_epoch()
    assert all(np.isfinite(losses))



def averaging_models(task: Task, seeds: list[int]) -> list:
    """Small regressors whose optimizer keeps a moving average of their weights."""
    import keras

    models = []
    for seed in seeds:
        keras.utils.set_random_seed(seed)
        model = keras.Sequential([keras.Input((task.n_features,)),
                                  keras.layers.Dense(16, activation="relu"),
                                  keras.layers.Dense(1)])
        model.compile(optimizer=keras.optimizers.AdamW(3e-3, use_ema=True, ema_momentum=0.8),
                      loss="mse")
        model.optimizer.build(model.trainable_variables)
        models.append(model)
    return models


@pytest.mark.parametrize("pack", [True, False], ids=["packed", "alone"])
def test_a_model_with_averaged_weights_is_judged_and_handed_over_on_the_average(
    pack: bool,
) -> None:
    """A space whose optimizer keeps a moving average of the weights (Keras'
    ``use_ema``) gets what ``model.fit`` gives it: each epoch's validation outputs are
    the averaged model's, the weights a trial keeps and a refit hands over (after
    ``sync``) are the average, and the checkpointed state holds the raw weights that
    training goes on from."""
    import keras

    task = KINDS[OutputKind.REGRESSION]
    models = averaging_models(task, [1, 2])
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate((91, 90))]
    training = train_together(models, datas, 16, order_seeds=[7, 8], pack=pack)
    assert training.packed is pack
    for _ in range(3):
        _, outputs = training.run_epoch()
    averaged = training.weights()
    raw = [weights for weights, _ in training.states()]
    for k, data in enumerate(datas):
        assert not np.allclose(averaged[k][0], raw[k][0])  # an average, not the weights
        judge = keras.models.clone_model(models[k])
        judge.set_weights(averaged[k])
        np.testing.assert_allclose(outputs[k], judge.predict(data["x_val"], verbose=0),
                                   rtol=1e-4, atol=1e-5)
    training.sync()
    for model, weights in zip(models, averaged, strict=True):
        for held, expected in zip(model.get_weights(), weights, strict=True):
            np.testing.assert_allclose(held, expected, rtol=1e-5, atol=1e-6)


def test_a_resumed_model_goes_on_with_its_raw_weights_and_its_average() -> None:
    """The checkpointed state of an averaging model (raw weights, optimizer variables
    with the average among them) resumes to what training straight on gives."""
    task = KINDS[OutputKind.REGRESSION]
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate((91, 90))]
    straight = train_together(averaging_models(task, [1, 2]), datas, 16, order_seeds=[7, 8])
    for _ in range(2):
        straight.run_epoch()
    saved = straight.states()
    resumed_models = averaging_models(task, [5, 6])  # other starting weights
    for model, (weights, slots) in zip(resumed_models, saved, strict=True):
        model.set_weights(weights)
        for variable, value in zip(model.optimizer.variables, slots, strict=True):
            variable.assign(value)
    resumed = train_together(resumed_models, datas, 16, order_seeds=[7, 8], first_epoch=3)
    _, straight_outputs = straight.run_epoch()
    _, resumed_outputs = resumed.run_epoch()
    for a, b in zip(straight_outputs, resumed_outputs, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    for a, b in zip(straight.weights(), resumed.weights(), strict=True):
        for x, y in zip(a, b, strict=True):
            np.testing.assert_allclose(x, y, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("kind", [  # the fast tier: regression; the other heads: slow
    pytest.param(OutputKind.REGRESSION, id="regression"),
    pytest.param(OutputKind.BINARY, id="binary", marks=pytest.mark.slow),
    pytest.param(OutputKind.MULTICLASS, id="multiclass", marks=pytest.mark.slow)])
def test_tabm_members_train_packed_each_on_its_own_loss_and_predict_their_mean(kind) -> None:
    """A TabM model (32 members in one network) packs like any other: K fold models
    packed give the weights and losses of one after another; it is judged on the
    members' mean, which is what the model predicts once trained."""
    task = KINDS[kind]
    space = load_space("tabm")
    values = {"num_layers": 1, "width": 64, "dropout": 0.0, "embedding": False,
              "batch_size": 16}
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate((91, 90))]
    packed, packed_outputs = packed_as_alone(space, task, values, datas, batch=16)
    packed.sync()
    for model, data, output in zip(packed.models, datas, packed_outputs, strict=True):
        assert output.shape == (len(data["x_val"]), task.n_outputs)
        np.testing.assert_allclose(model.predict(data["x_val"], verbose=0), output,
                                   rtol=1e-4, atol=1e-5)
        members = np.asarray(model(data["x_val"], training=True))
        assert members.shape == (len(data["x_val"]), 32, task.n_outputs)
        np.testing.assert_allclose(members.mean(axis=1), output, rtol=1e-4, atol=1e-5)
        assert members.std(axis=1).mean() > 1e-3  # 32 members, not one copied


@pytest.mark.parametrize("loss", ["mse", "binary_crossentropy",
                                  "sparse_categorical_crossentropy"])
def test_the_member_loss_is_each_members_loss_averaged_not_the_loss_of_the_mean(loss) -> None:
    import keras

    from autokeras_lab.layers import MemberLoss

    rng = np.random.default_rng(0)
    units = 3 if loss.startswith("sparse") else 1
    members = rng.uniform(0.05, 0.95, size=(6, 4, units)).astype(np.float32)
    if units > 1:
        members /= members.sum(axis=-1, keepdims=True)
    y = rng.integers(0, max(units, 2), size=6).astype(np.float32)
    base = keras.losses.get(loss)
    one_by_one = np.stack([np.asarray(base(y if units > 1 else y[:, None], members[:, m]))
                           for m in range(4)], axis=1).mean(axis=1)
    per_row = np.asarray(MemberLoss(loss).call(y, members))
    np.testing.assert_allclose(per_row, one_by_one, rtol=1e-5)
    of_the_mean = np.asarray(MemberLoss(loss).call(y if units > 1 else y[:, None],
                                                   members.mean(axis=1)))
    assert not np.allclose(per_row, of_the_mean)  # the ensemble's own loss differs


def keras_applied(optimizer_class):
    """A subclass of ``optimizer_class`` that :func:`fused_adam` leaves alone: its
    updates are Keras' own ``apply``."""
    return type(f"Keras{optimizer_class.__name__}", (optimizer_class,), {})


@pytest.mark.parametrize("name", ["Adam", "AdamW"])
def test_the_fused_adam_update_is_keras_own(name) -> None:
    """Fused, Adam and AdamW update variables and optimizer slots as Keras' ``apply``
    does: a cosine-decayed rate, weight decay with one variable kept from it, a step
    where one variable has no gradient."""
    import keras
    import tensorflow as tf

    from autokeras_lab.packing import fused_adam

    rng = np.random.default_rng(0)
    shapes = [(3, 4), (4,), (2, 3, 5)]
    start = [rng.normal(size=s).astype(np.float32) for s in shapes]
    steps = [[rng.normal(size=s).astype(np.float32) for s in shapes] for _ in range(6)]

    def trained(optimizer_class) -> list[np.ndarray]:
        variables = [keras.Variable(v, name=f"w{i}") for i, v in enumerate(start)]
        schedule = keras.optimizers.schedules.CosineDecay(0.05, decay_steps=8, alpha=0.05)
        optimizer = optimizer_class(schedule, weight_decay=0.1)
        optimizer.exclude_from_weight_decay(var_list=variables[1:2])
        optimizer.build(variables)
        apply = fused_adam(optimizer) or optimizer.apply
        step = tf.function(lambda g0, g1, g2: apply([g0, g1, g2], variables))
        skipped = tf.function(lambda g0, g2: apply([g0, None, g2], variables))
        for i, grads in enumerate(steps):
            if i == 3:
                skipped(grads[0], grads[2])
            else:
                step(*grads)
        return [v.numpy() for v in variables + list(optimizer.variables)]

    plain = getattr(keras.optimizers, name)
    own, fused = trained(keras_applied(plain)), trained(plain)
    for f, k in zip(fused, own, strict=True):
        np.testing.assert_allclose(f, k, rtol=1e-5, atol=1e-6)
    assert not np.allclose(fused[0], start[0])  # it trained


@pytest.mark.parametrize("optimizer", [
    pytest.param(lambda k: k.optimizers.Adam(amsgrad=True), id="amsgrad"),
    pytest.param(lambda k: k.optimizers.AdamW(clipvalue=1.0), id="clipvalue"),
    pytest.param(lambda k: k.optimizers.AdamW(use_ema=True), id="ema"),
    pytest.param(lambda k: k.optimizers.SGD(), id="sgd"),
    pytest.param(lambda k: keras_applied(k.optimizers.AdamW)(), id="subclass"),
])
def test_other_optimizers_keep_keras_apply(optimizer) -> None:
    import keras

    from autokeras_lab.packing import fused_adam

    built = optimizer(keras)
    built.build([keras.Variable(np.ones((2, 2), np.float32))])
    assert fused_adam(built) is None


def test_packed_adamw_fused_trains_as_keras_apply_does() -> None:
    """The default space's networks (AdamW, a cosine-decayed rate, weight decay),
    packed: the fused update gives the weights that Keras' ``apply`` gives."""
    import keras

    task = Task(kind=OutputKind.REGRESSION, n_features=5, train_rows=68, max_epochs=10)
    space = load_space("plr_mlp")
    values = {"num_layers": 2, "width": 16, "dropout": 0.0, "weight_decay": 0.01,
              "learning_rate": 0.01, "batch_size": 16, "embedding": True}
    datas = [fold_data(task, rows, seed) for seed, rows in enumerate((91, 90))]
    runs = []
    for applied in (False, True):
        models = models_of(space, task, values, [1, 2])
        if applied:
            for model in models:
                config = model.optimizer.get_config()
                model.compile(optimizer=keras_applied(keras.optimizers.AdamW).from_config(
                    config), loss=model.loss)
                model.optimizer.build(model.trainable_variables)
        training = train_together(models, datas, 16, order_seeds=[7, 8])
        assert training.packed
        for _ in range(4):
            training.run_epoch()
        runs.append(training.weights())
    for fused, own in zip(*runs, strict=True):
        for f, k in zip(fused, own, strict=True):
            np.testing.assert_allclose(f, k, rtol=1e-4, atol=1e-5)
