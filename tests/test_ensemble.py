"""Ensemble selection and the one-model ensemble export, without Ray."""

from __future__ import annotations

import io
import json
import zipfile

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.data import Preprocessor
from autokeras_lab.ensemble import (
    Calibration,
    Member,
    cross_selected,
    fit_calibration,
    select_ensemble,
    uniform_share,
    weighted_average,
)
from autokeras_lab.export import load_model_dir, write_model_dir
from autokeras_lab.metrics import evaluate
from autokeras_lab.spaces import Task
from autokeras_lab.types import OutputKind

Y = np.linspace(-2.0, 2.0, 50)


def _rmse(output: np.ndarray) -> float:
    return evaluate("regression", Y, output)["rmse"]


def test_selection_combines_models_whose_errors_cancel() -> None:
    rng = np.random.default_rng(0)
    noise = rng.normal(0, 0.3, Y.shape)
    predictions = {  # best single first; "low" and "high" err in opposite directions
        "good": Y + noise,
        "low": Y - 0.5 + 0.1 * noise,
        "high": Y + 0.5 + 0.1 * noise,
        "bad": Y * 0.0,
    }
    selection = select_ensemble(predictions, _rmse, rounds=20)
    assert sum(selection.weights.values()) == pytest.approx(1.0)
    assert set(selection.weights) >= {"low", "high"} and "bad" not in selection.weights
    assert selection.first == "good" and selection.single == pytest.approx(_rmse(Y + noise))
    averaged = sum(w * predictions[k] for k, w in selection.weights.items())
    assert selection.value == pytest.approx(_rmse(averaged))
    assert selection.value < selection.single and selection.improves


def test_selection_keeps_the_best_model_alone_when_nothing_helps() -> None:
    predictions = {"exact": Y.copy(), "off": Y + 1.0}
    selection = select_ensemble(predictions, _rmse, rounds=10)
    assert selection.weights == {"exact": 1.0} and not selection.improves


def _rmse_on(truth: np.ndarray):
    def score(output: np.ndarray, on: list[np.ndarray]) -> float:
        return evaluate("regression", truth[np.concatenate(on)], output)["rmse"]
    return score


@pytest.mark.parametrize("rounds", [1, 10])
def test_choosing_among_lucky_models_is_worth_less_on_rows_the_choice_did_not_see(
        rounds: int) -> None:
    """Forty models that are all as good (noise of 1 around the truth): the one or the
    ensemble chosen on the rows fits them better than it fits rows it never saw, and
    cross-selection says so (over ten draws: on one, the same lucky model can win every
    part); with one model truly better, every part chooses it and the figures agree."""
    truth = np.zeros(300)
    rmse = lambda output: evaluate("regression", truth, output)["rmse"]  # noqa: E731
    gaps = []
    for seed in range(10):
        rng = np.random.default_rng(seed)
        lucky = {f"m{i}": rng.normal(0, 1, truth.shape) for i in range(40)}
        parts = np.array_split(rng.permutation(truth.size), 3)
        unseen = rmse(cross_selected(lucky, parts, _rmse_on(truth), rounds=rounds))
        gaps.append(unseen - select_ensemble(lucky, rmse, rounds=rounds).value)
    assert np.mean(gaps) > 0.03

    lucky["truly"] = rng.normal(0, 0.5, truth.shape)
    single = select_ensemble(lucky, rmse, rounds=1)
    assert single.first == "truly"
    assert rmse(cross_selected(lucky, parts, _rmse_on(truth), rounds=1)) == pytest.approx(
        single.value)


def test_cross_selection_needs_two_parts() -> None:
    with pytest.raises(ValueError, match="at least two parts"):
        cross_selected({"a": Y, "b": Y}, [np.arange(Y.size)], _rmse_on(Y), rounds=1)


def _model(task: Task, seed: int) -> object:
    import keras

    keras.utils.set_random_seed(seed)
    inputs = keras.Input(shape=(task.n_features,))
    hidden = keras.layers.Dense(8, activation="relu")(inputs)
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(hidden)
    model = keras.Model(inputs, outputs, name="same_name")  # members must not clash
    model.compile(optimizer="adam", loss=task.loss)
    return model


@pytest.mark.parametrize("kind", list(OutputKind), ids=str)
def test_an_exported_ensemble_reloads_in_safe_mode_and_predicts_the_weighted_average(
    tmp_path, kind: OutputKind
) -> None:
    rng = np.random.default_rng(1)
    frame = pd.DataFrame({"a": rng.exponential(3.0, 80), "b": rng.normal(0, 1, 80)})
    classes = {OutputKind.REGRESSION: [], OutputKind.BINARY: ["no", "yes"],
               OutputKind.MULTICLASS: ["x", "y", "z"]}[kind]
    frame["t"] = rng.choice(classes, 80) if classes else frame["a"] * 2 + frame["b"]
    task_name = kind.task
    pre = Preprocessor.fit(frame, features=["a", "b"], target="t", task=task_name,
                           classes=classes)
    task = Task.for_data(task_name, pre.n_inputs, len(classes))
    members = [  # two input transforms: one block of inputs each
        Member(_model(task, 0), 0.5, "standard"),
        Member(_model(task, 1), 0.3, "quantile"),
        Member(_model(task, 2), 0.2, "standard"),
    ]
    ensemble, ensemble_pre = weighted_average(members, preprocessor=pre, task=task)
    assert ensemble_pre.transforms == ("standard", "quantile")
    write_model_dir(tmp_path / "best", ensemble, None, {"kind": "ensemble"},
                    preprocessor=ensemble_pre)

    loaded = load_model_dir(tmp_path / "best")  # safe mode: no code in the file
    got = loaded.model.predict(loaded.preprocessor.transform_x(frame), verbose=0)
    expected = sum(
        m.weight * m.model.predict(pre.with_transforms(m.transform).transform_x(frame),
                                   verbose=0)
        for m in members
    )
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
    if classes:  # averaged probabilities are probabilities, and predict names classes
        predicted = loaded.predict(frame)
        assert set(predicted["predicted_t"]) <= set(classes)
        columns = [f"probability_{c}" for c in classes]
        np.testing.assert_allclose(predicted[columns].sum(axis=1), 1.0, rtol=1e-5)


def test_the_quantile_transform_round_trips_through_preprocessing_json(tmp_path) -> None:
    rng = np.random.default_rng(2)
    skewed = np.concatenate([np.zeros(40), rng.exponential(50.0, 160)])  # like concrete's slag
    frame = pd.DataFrame({"slag": skewed, "colour": rng.choice(["r", "g"], 200),
                          "y": rng.normal(size=200)})
    pre = Preprocessor.fit(frame, features=["slag", "colour"], target="y",
                           task="regression").with_transforms("quantile")
    pre.save(tmp_path / "preprocessing.json")
    stored = json.loads((tmp_path / "preprocessing.json").read_text())
    quantiles = stored["columns"][0]["quantiles"]
    assert stored["transforms"] == ["quantile"] and len(quantiles) == 200
    assert all(isinstance(q, float) for q in quantiles)  # numbers, not a pickle

    loaded = Preprocessor.load(tmp_path / "preprocessing.json")
    assert loaded == pre
    x = loaded.transform_x(frame)
    np.testing.assert_array_equal(x, pre.transform_x(frame))
    # quantile-to-normal: the training column comes out about standard normal, in the
    # same order, and the tie at zero is not thrown to the edge of the distribution
    slag = x[:, 0]
    assert abs(slag.mean()) < 0.15 and 0.8 < slag.std() < 1.2
    order = np.argsort(skewed, kind="stable")
    assert np.all(np.diff(slag[order]) >= -1e-6)
    assert slag[skewed == 0].max() > -2.0
    # standardised and quantile inputs side by side for a mixed ensemble
    both = pre.with_transforms("standard", "quantile").transform_x(frame)
    assert both.shape == (200, 2 * pre.n_inputs)
    np.testing.assert_array_equal(both[:, pre.n_inputs:], x)


@pytest.mark.slow
@pytest.mark.parametrize("space", ["plr_mlp", "tabm", "nca"])
def test_a_model_of_our_layers_loads_in_safe_mode_in_a_fresh_process(space, tmp_path) -> None:
    """The default space's periodic embedding (of the numeric inputs, the category's
    passed by), TabM's members and their loss, and the retrieval model's memory of rows
    and its vote are ours: a new process that only runs `predict` must find them
    (registered on loading), with safe mode on, and predict what the model predicted
    here."""
    import subprocess
    import sys

    import keras_tuner as kt

    from autokeras_lab.layers import remember
    from autokeras_lab.spaces import load_space

    rng = np.random.default_rng(3)
    frame = pd.DataFrame({"a": rng.normal(size=40), "c": rng.choice(["x", "y", "z"], 40),
                          "b": rng.exponential(size=40)})
    frame["t"] = frame["a"] * 3 + frame["b"] + (frame["c"] == "x")
    pre = Preprocessor.fit(frame, features=["a", "c", "b"], target="t", task="regression")
    task = Task.for_data("regression", pre.n_inputs, numeric_inputs=pre.numeric_inputs)
    hp = kt.HyperParameters()
    hp.values["embedding"] = True
    model = load_space(space).module.build_model(hp, task)
    remember(model, pre.transform_x(frame), pre.transform_y(frame["t"]))  # retrieval only
    write_model_dir(tmp_path / "best", model, None, {"kind": "trial"}, preprocessor=pre)
    frame.to_csv(tmp_path / "rows.csv", index=False)

    done = subprocess.run([sys.executable, "-m", "autokeras_lab", "predict",
                           str(tmp_path / "best"), str(tmp_path / "rows.csv")],
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    printed = pd.read_csv(io.StringIO(done.stdout), comment="#")
    expected = pre.inverse_y(model.predict(pre.transform_x(frame), verbose=0))
    np.testing.assert_allclose(printed["predicted_t"], expected, rtol=1e-3, atol=1e-2)


def _binary_or_classes(p: np.ndarray) -> np.ndarray:
    """Class probabilities as a search's outputs hold them: binary, P(class 1) alone."""
    return p[:, 1:] if p.shape[1] == 2 else p


def _log_loss(p: np.ndarray, y: np.ndarray) -> float:
    return evaluate("binary" if p.shape[1] == 1 else "multiclass", y, p)["log_loss"]


@pytest.mark.parametrize("classes", [2, 3])
def test_calibration_sharpens_an_ensembles_timid_probabilities(classes) -> None:
    """Averaged members are less confident than they should be: the fitted temperature
    sharpens them, lowers the log loss on the rows it was fitted on and never changes
    the predicted class; probabilities that are already right stay as they are."""
    rng = np.random.default_rng(0)
    y = rng.integers(0, classes, 400)
    confident = np.full((400, classes), 0.01 / (classes - 1))
    confident[np.arange(400), y] = 0.99
    given = _binary_or_classes(0.6 * confident + 0.4 / classes)  # what averaging does
    calibration = fit_calibration(given, y)
    assert calibration.temperature < 0.7
    scaled = calibration.apply(given)
    kind = "binary" if classes == 2 else "multiclass"
    before, after = (evaluate(kind, y, p) for p in (given, scaled))
    assert after["log_loss"] < before["log_loss"] and after["accuracy"] == before["accuracy"]
    # Probabilities drawn as they are predicted are calibrated: nothing to gain, and
    # next to nothing lost (where no row is sure, the floor's share is loosely known
    # but costs little).
    p = rng.uniform(0.05, 0.95, 2000)
    truth = (rng.uniform(size=2000) < p).astype(int)
    drawn = fit_calibration(p[:, None], truth)
    assert drawn.temperature == pytest.approx(1, abs=0.1)
    as_drawn = evaluate("binary", truth, p[:, None])["log_loss"]
    assert evaluate("binary", truth, drawn.apply(p[:, None]))["log_loss"] < as_drawn + 1e-3


@pytest.mark.parametrize("classes", [2, 3])
def test_calibration_never_rules_a_class_out_beyond_what_the_rows_show(classes) -> None:
    """Right on every one of n rows with a probability of 1 - 1e-7, a network would
    charge a held-out row of a class it rules out 16 nats. The floor bounds that near
    log(n), at a small cost on the rows it gets right; ten times the rows allow ten
    times the certainty."""
    rng = np.random.default_rng(1)

    def fitted(n: int) -> tuple[Calibration, np.ndarray, np.ndarray]:
        y = rng.integers(0, classes, n)
        sure = np.full((n, classes), 1e-7)
        sure[np.arange(n), y] = 1 - 1e-7 * (classes - 1)
        return fit_calibration(_binary_or_classes(sure), y), sure, y

    calibration, sure, y = fitted(400)
    calibrated = calibration.apply(_binary_or_classes(sure))
    wrong = (y + 1) % classes  # the same rows, every label one the model rules out
    assert _log_loss(calibrated, wrong) < np.log(classes * 400) < 16
    assert _log_loss(calibrated, y) < classes / 400
    assert (calibration.apply(sure).argmax(1) == y).all()  # never another class
    assert fitted(4000)[0].floor == pytest.approx(calibration.floor / 10, rel=0.02)


def test_the_floor_is_laplaces_rule_where_every_row_is_sure_and_grows_with_sure_mistakes(
) -> None:
    """The floor is the posterior mean of the uniform distribution's share. Two classes,
    every one of n rows right and sure: Laplace's add-one rule, (n p + 1) / (n + 2).
    More classes: each right row pays about 1 / n nats, not (K - 1) / n. Rows the model
    ruled out raise it, and rows it got wrong but not badly hardly do."""
    for n in (100, 460, 5000):
        assert uniform_share(np.ones(n), 2) == pytest.approx(2 / (n + 2), rel=1e-4)
    share = uniform_share(np.ones(1399), 4)
    assert -np.log(1 - share * 3 / 4) == pytest.approx(1 / 1399, rel=0.01)
    sure = np.ones(460)
    ruled_out = uniform_share(np.r_[sure, 1e-6, 1e-6], 2)
    unsure = uniform_share(np.r_[sure, 0.3, 0.3], 2)
    assert ruled_out > 2 * uniform_share(sure, 2)
    assert unsure == pytest.approx(uniform_share(sure, 2), rel=0.05)
    # the mean of the posterior, integrated directly on a fine grid
    rng = np.random.default_rng(5)
    p_true = np.r_[rng.beta(8, 1, 300), 1e-5]
    w = np.linspace(0, 1, 200_001)
    log_likelihood = sum(np.log((1 - w) * p + w / 3) for p in p_true)
    density = np.exp(log_likelihood - log_likelihood.max())
    assert uniform_share(p_true, 3) == pytest.approx(np.sum(w * density) / np.sum(density),
                                                     rel=1e-3)


@pytest.mark.parametrize("kind", ["binary", "multiclass"])
def test_an_exported_ensemble_applies_its_calibration_and_loads_in_safe_mode(
    tmp_path, kind: str
) -> None:
    rng = np.random.default_rng(2)
    frame = pd.DataFrame({"a": rng.normal(0, 1, 60), "b": rng.normal(0, 1, 60)})
    classes = ["no", "yes"] if kind == "binary" else ["x", "y", "z"]
    frame["t"] = rng.choice(classes, 60)
    pre = Preprocessor.fit(frame, features=["a", "b"], target="t", task="classification",
                           classes=classes)
    task = Task.for_data("classification", pre.n_inputs, len(classes))
    members = [Member(_model(task, 0), 0.6, "standard"), Member(_model(task, 1), 0.4, "standard")]
    calibration = Calibration(temperature=0.4, floor=0.05)
    ensemble, ensemble_pre = weighted_average(members, preprocessor=pre, task=task,
                                              calibration=calibration)
    write_model_dir(tmp_path / "best", ensemble, None, {"kind": "ensemble"},
                    preprocessor=ensemble_pre)
    loaded = load_model_dir(tmp_path / "best")  # safe mode: a registered layer
    x = loaded.preprocessor.transform_x(frame)
    averaged = sum(m.weight * m.model.predict(x, verbose=0) for m in members)
    got = loaded.model.predict(x, verbose=0)
    np.testing.assert_allclose(got, calibration.apply(averaged), rtol=1e-4, atol=1e-5)
    assert got.min() >= 0.05 / len(classes) - 1e-6
    assert (got.argmax(-1) == averaged.argmax(-1)).all() if kind == "multiclass" else (
        ((got > 0.5) == (averaged > 0.5)).all())


def test_an_ensemble_exported_before_the_floor_loads_as_it_was(tmp_path) -> None:
    """Models exported before calibration took a floor hold a ``Temperature`` layer:
    they load in safe mode and predict what they did (the temperature alone)."""
    import keras

    from autokeras_lab.layers import Temperature

    inputs = keras.Input(shape=(3,))
    outputs = Temperature(0.5, name="temperature")(keras.layers.Softmax()(inputs))
    keras.Model(inputs, outputs).save(tmp_path / "new.keras")
    # the file as the layer wrote it then: its config without a floor
    with zipfile.ZipFile(tmp_path / "new.keras") as new, \
            zipfile.ZipFile(tmp_path / "old.keras", "w") as old:
        for item in new.infolist():
            data = new.read(item)
            if item.filename == "config.json":
                assert b'"floor": 0.0' in data
                data = data.replace(b', "floor": 0.0', b"")
            old.writestr(item, data)
    loaded = keras.saving.load_model(tmp_path / "old.keras", safe_mode=True)
    x = np.random.default_rng(3).normal(size=(20, 3)).astype("float32")
    p = np.exp(x) / np.exp(x).sum(1, keepdims=True)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), Calibration(0.5).apply(p),
                               rtol=1e-4, atol=1e-6)
