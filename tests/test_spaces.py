from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from autokeras_lab.errors import SpaceError, UserError
from autokeras_lab.spaces import Task, available_spaces, load_space
from autokeras_lab.types import OutputKind

TASK = Task(n_features=8)


@pytest.fixture(scope="module")
def mlp_space():
    space = load_space("mlp")
    return space, space.derive(TASK)


def test_mlp_space_is_derived_from_the_module_itself(mlp_space) -> None:
    _, derived = mlp_space
    # the conditional widths of the deeper layers are found, not declared twice
    assert set(derived.names) == {
        "num_layers", "activation", "dropout", "l2", "learning_rate", "batch_size",
        "units_0", "units_1", "units_2", "units_3",
    }


def test_keras_tuner_types_become_matching_optuna_distributions(mlp_space) -> None:
    import optuna.distributions as od

    dists = mlp_space[1].to_optuna()
    assert dists["num_layers"] == od.IntDistribution(1, 4)
    assert dists["learning_rate"] == od.FloatDistribution(1e-4, 3e-2, log=True)
    assert dists["units_2"] == od.IntDistribution(16, 512, log=True)
    assert dists["dropout"] == od.FloatDistribution(0.0, 0.4, step=0.05)
    assert dists["activation"] == od.CategoricalDistribution(["relu", "elu", "gelu"])
    assert dists["batch_size"] == od.CategoricalDistribution([16, 32, 64, 128])


def test_model_is_rebuilt_from_sampled_values_with_active_names(mlp_space) -> None:
    import keras

    space, derived = mlp_space
    values = derived.defaults() | {"num_layers": 3, "units_0": 40, "units_1": 30, "units_2": 20}
    model, active = space.build_tracked(values, TASK, derived)
    dense = [layer for layer in model.layers if isinstance(layer, keras.layers.Dense)]
    assert [layer.units for layer in dense] == [40, 30, 20, 1]
    assert "units_2" in active and "units_3" not in active


def test_spaces_are_listed_with_descriptions() -> None:
    spaces = available_spaces()
    assert "mlp" in spaces and "perceptron" in spaces["mlp"].lower()


def test_unknown_space_lists_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown search space 'cnn'.*mlp"):
        load_space("cnn")


BROKEN = {
    "no-builder": ("DESCRIPTION = 'x'\n", r"expected a function build_model\(hp, task\), received nothing"),
    "one-argument": ("def build_model(hp):\n    pass\n", r"expected build_model\(hp, task\).*received build_model\(hp\)"),
    "returns-none": ("def build_model(hp, task):\n    hp.Int('a', 1, 2)\n", r"expected build_model to return a keras.Model, received NoneType"),
    "uncompiled": (
        """
        import keras
        def build_model(hp, task):
            hp.Int('units', 1, 4)
            return keras.Sequential([keras.Input((task.n_features,)), keras.layers.Dense(1)])
        """,
        r"expected a compiled model",
    ),
    "wrong-outputs": (
        """
        import keras
        def build_model(hp, task):
            m = keras.Sequential([keras.Input((task.n_features,)), keras.layers.Dense(hp.Int('o', 3, 3))])
            m.compile(optimizer='adam', loss='mse')
            return m
        """,
        r"expected 1 output unit\(s\) for a regression task, received 3",
    ),
    "raises": ("def build_model(hp, task):\n    raise KeyError('oops')\n", r"build_model raised KeyError"),
    "no-hyperparameters": (
        """
        import keras
        def build_model(hp, task):
            m = keras.Sequential([keras.Input((task.n_features,)), keras.layers.Dense(1)])
            m.compile(optimizer='adam', loss='mse')
            return m
        """,
        r"expected build_model to declare at least one hyperparameter.*received none",
    ),
    "import-error": ("import not_a_module_anywhere\n", r"importing it raised ModuleNotFoundError"),
}


@pytest.mark.parametrize("case", list(BROKEN), ids=list(BROKEN))
def test_broken_modules_get_an_expected_received_error_naming_the_module(
    tmp_path: Path, case: str
) -> None:
    source, match = BROKEN[case]
    path = tmp_path / f"{case.replace('-', '_')}.py"
    path.write_text(textwrap.dedent(source))
    with pytest.raises(SpaceError, match=match) as info:
        load_space(str(path)).derive(TASK)
    assert path.name in str(info.value)


@pytest.mark.parametrize("name", sorted(available_spaces()))
@pytest.mark.parametrize(
    "task",
    # the fast tier builds every space for regression; the other heads are slow
    [pytest.param(Task(n_features=8), id="regression"),
     pytest.param(Task(kind=OutputKind.BINARY, n_features=5), id="binary",
                  marks=pytest.mark.slow),
     pytest.param(Task(kind=OutputKind.MULTICLASS, n_features=21, n_outputs=4),
                  id="multiclass", marks=pytest.mark.slow)],
)
def test_every_space_builds_valid_models_across_its_space(name: str, task: Task) -> None:
    """Several sampled configurations (plus the extremes) build and take a training step."""
    import keras
    import numpy as np
    import optuna

    space = load_space(name)
    derived = space.derive(task)
    dists = derived.to_optuna()
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    samples = [study.ask(dists).params for _ in range(3)]
    extremes = {
        hp.name: (hp.max_value if hasattr(hp, "max_value") else derived.defaults()[hp.name])
        for hp in derived.hyperparameters.space
    }
    rng = np.random.default_rng(0)
    x = rng.normal(size=(32, task.n_features)).astype("float32")
    y = (rng.integers(0, task.n_outputs if task.kind == "multiclass" else 2, size=(32, 1))
         .astype("float32"))
    for values in [*samples, extremes]:
        keras.backend.clear_session()
        model = space.build(values, task, derived)
        assert model.outputs[0].shape[-1] == task.n_outputs
        model.run_eagerly = True  # one step: tracing a graph would cost more than it
        loss = model.train_on_batch(x, y)
        assert np.isfinite(loss)
        out = model.predict_on_batch(x)
        if task.kind != "regression":
            assert (out >= 0).all() and (out <= 1).all()


def test_the_cosine_decay_spans_the_runs_steps_and_is_the_rate_where_the_run_is_unknown(
) -> None:
    import keras

    schedule = Task(n_features=3, train_rows=100, max_epochs=10).cosine_decay(0.01, 32)
    assert isinstance(schedule, keras.optimizers.schedules.CosineDecay)
    assert schedule.decay_steps == 10 * 4  # ceil(100 / 32) steps an epoch
    assert float(schedule(0)) == pytest.approx(0.01)
    assert float(schedule(40)) == pytest.approx(0.01 * 0.05)  # 5 % at the end
    assert Task(n_features=3).cosine_decay(0.01, 32) == 0.01


def test_the_scaling_layer_scales_each_input_and_learns_as_many_times_as_fast(
        tmp_path) -> None:
    """RealMLP's scaling layer starts as the identity; one Adam step moves each input's
    scale ``rate_factor`` times as far as it moves a plain weight (Adam's step is about
    the learning rate whatever the gradient), and the layer saves and loads in safe
    mode with the rest of an exported model."""
    import keras
    import numpy as np

    from autokeras_lab.layers import FeatureScale

    x = np.array([[1.0, -2.0, 3.0]], dtype="float32")
    inputs = keras.Input(shape=(3,))
    scaled = FeatureScale(rate_factor=6.0)(inputs)
    model = keras.Model(inputs, keras.layers.Dense(1, use_bias=False,
                                                   kernel_initializer="ones")(scaled))
    np.testing.assert_allclose(model.predict_on_batch(x), [[2.0]], rtol=1e-6)
    layer, dense = model.layers[1], model.layers[2]
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
    model.train_on_batch(x, np.array([[10.0]], dtype="float32"))  # push every weight up
    scale = 6.0 * keras.ops.convert_to_numpy(layer.scale)
    kernel = keras.ops.convert_to_numpy(dense.kernel)[:, 0]
    np.testing.assert_allclose(kernel - 1.0, 0.01 * np.sign(x[0]), rtol=1e-3)
    np.testing.assert_allclose(scale - 1.0, 6 * 0.01 * np.sign(x[0]), rtol=1e-3)

    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x),
                               rtol=1e-6)


def test_the_embedding_embeds_the_numeric_inputs_and_the_categories_follow_unchanged(
        tmp_path) -> None:
    """A table's one-hot categories and booleans are not embedded (a bit's embedding is
    an affine map of it, which the next dense layer already is): only the numeric
    columns' inputs are, wherever they lie; a table without numeric columns declares
    no embedding at all; a task that does not say which inputs are numeric embeds them
    all. The model saves and loads in safe mode."""
    import keras
    import keras_tuner as kt
    import numpy as np
    import pandas as pd

    from autokeras_lab.data import Preprocessor
    from autokeras_lab.layers import FeatureScale
    from autokeras_lab.types import Budget

    rng = np.random.default_rng(0)
    frame = pd.DataFrame({"a": rng.normal(size=60), "colour": rng.choice(["r", "g", "b"], 60),
                          "b": rng.exponential(size=60), "flag": rng.choice(["yes", "no"], 60)})
    frame["t"] = frame["a"] + frame["b"]
    pre = Preprocessor.fit(frame, features=["a", "colour", "b", "flag"], target="t",
                           task="regression")
    assert pre.n_inputs == 6 and pre.numeric_inputs == (0, 4)  # a, 3 colours, b, flag

    space = load_space("plr_mlp")

    def embedded(task: Task) -> tuple[int, int]:
        """(inputs embedded, width of what the dense layers get)"""
        hp = kt.HyperParameters()
        hp.values.update({"embedding": True, "embedding_dim": 5})
        model = space.module.build_model(hp, task)
        kernel = next(w for w in model.weights if len(w.shape) == 3)  # one map a feature
        scale = next(layer for layer in model.layers if isinstance(layer, FeatureScale))
        return kernel.shape[0], scale.output.shape[-1]

    known = Task.for_training("regression", pre, fit_rows=60, budget=Budget(max_epochs=5))
    assert (known.n_features, known.numeric_inputs) == (6, (0, 4))  # a search's task
    assert embedded(known) == (2, 2 * 5 + 4)  # a and b embedded; 3 colours and flag as they are
    assert embedded(Task(n_features=6)) == (6, 6 * 5)

    categories = Task.for_data("regression", 4, numeric_inputs=())
    names = set(space.derive(categories).names)
    assert not names & {"embedding", "frequencies", "frequency_scale", "embedding_dim"}
    assert "width" in names

    hp = kt.HyperParameters()
    hp.values["embedding"] = True
    model = space.module.build_model(hp, known)
    x = pre.transform_x(frame)
    scale = next(layer for layer in model.layers if isinstance(layer, FeatureScale))
    given = np.asarray(keras.Model(model.inputs, scale.input)(x))  # what the scaling layer gets
    np.testing.assert_allclose(given[:, -4:], x[:, [1, 2, 3, 5]])  # the bits, as they are
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = keras.saving.load_model(path, safe_mode=True)
    np.testing.assert_allclose(loaded.predict_on_batch(x), model.predict_on_batch(x),
                               rtol=1e-5, atol=1e-6)
