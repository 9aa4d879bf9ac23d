"""The scikit-learn interface: the seed notes' create_model searched as it is, the
built-in spaces as estimators in pipelines, and scikit-learn's own conventions."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from autokeras_lab import KerasSearchCV, SearchClassifier, SearchRegressor
from autokeras_lab.sklearn import function_space
from autokeras_lab.spaces import Task
from autokeras_lab.types import SplitSizes


def create_model(learning_rate=0.01, dropout_rate=0.0, units=32):
    """The seed notes' model function: a compiled Keras regressor for concrete."""
    import keras

    model = keras.Sequential([
        keras.Input((8,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dropout(dropout_rate),
        keras.layers.Dense(1),
    ])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


GRID = {"learning_rate": (1e-3, 1e-1), "dropout_rate": [0.0, 0.2], "batch_size": [16, 32]}


@pytest.fixture(scope="module")
def concrete_xy() -> tuple[np.ndarray, np.ndarray]:
    from autokeras_lab.data import load_dataset

    frame = load_dataset("concrete").frame
    return frame.drop(columns="strength").to_numpy(), frame["strength"].to_numpy()


def test_param_distributions_of_every_kind_become_the_search_space() -> None:
    import optuna.distributions as od
    from scipy import stats

    space = function_space(create_model, {
        "learning_rate": (1e-4, 1e-1),            # positive and 1000x wide: log scale
        "dropout_rate": stats.uniform(0.0, 0.5),  # scipy.stats: 0 to 0.5
        "units": od.IntDistribution(8, 64),       # an Optuna distribution
        "batch_size": [16, 32, 64],               # a list: choices
    })
    dists = space.derive(Task(n_features=8)).to_optuna()
    assert dists["learning_rate"] == od.FloatDistribution(1e-4, 1e-1, log=True)
    assert dists["dropout_rate"] == od.FloatDistribution(0.0, 0.5)
    assert (dists["units"].low, dists["units"].high) == (8, 64)
    assert dists["batch_size"].choices == (16, 32, 64)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"param_distributions": {"learning_rate": {"low": 1}}},
         r"param_distributions\['learning_rate'\]: expected a list of choices"),
        ({"param_distributions": {"momentum": [0.9]}},
         r"param_distributions: 'momentum' is not a parameter of create_model\(\)"),
        ({"param_distributions": GRID, "n_trials": 0},
         r"n_trials: expected a positive whole number, received 0"),
        ({"param_distributions": {"learning_rate": (0.1, 0.01)}},
         r"param_distributions\['learning_rate'\]: expected a \(low, high\) range"),
        ({"param_distributions": GRID, "scoring": "r2"}, r"scoring: expected one of"),
        ({"param_distributions": GRID, "cv": 1}, r"cv: expected None or a fold count"),
    ],
    ids=["unknown-distribution", "not-a-parameter", "zero-trials", "empty-range",
         "unknown-scoring", "one-fold"],
)
def test_bad_arguments_raise_value_error_naming_them_before_any_search(
    tmp_path, concrete_xy, kwargs, match
) -> None:
    X, y = concrete_xy
    search = KerasSearchCV(create_model, runs_dir=str(tmp_path / "runs"), **kwargs)
    with pytest.raises(ValueError, match=match):
        search.fit(X, y)
    assert not (tmp_path / "runs").exists()  # nothing started, nothing stored


def test_clone_get_and_set_params_round_trip() -> None:
    from sklearn.utils.estimator_checks import (
        check_get_params_invariance,
        check_no_attributes_set_in_init,
        check_set_params,
    )

    search = KerasSearchCV(create_model, GRID, n_trials=5, cv=3)
    copy = clone(search)
    assert copy.get_params() == search.get_params() and copy is not search
    copy.set_params(n_trials=9, max_epochs=7)
    assert (copy.n_trials, copy.max_epochs, search.n_trials) == (9, 7, 5)
    for estimator in (search, SearchRegressor(), SearchClassifier(space="resmlp")):
        name = type(estimator).__name__
        check_get_params_invariance(name, estimator)
        check_set_params(name, estimator)
        check_no_attributes_set_in_init(name, estimator)


@pytest.mark.slow
def test_keras_search_cv_searches_the_seed_notes_model_function(
    ray_session, tmp_path, concrete_xy
) -> None:
    from autokeras_lab import load_model_dir

    X, y = concrete_xy
    search = KerasSearchCV(create_model, GRID, n_trials=4, max_epochs=4, verbose=0,
                           runs_dir=str(tmp_path))
    assert search.fit(X, y) is search
    assert 1e-3 <= search.best_params_["learning_rate"] <= 1e-1
    assert search.best_params_["dropout_rate"] in (0.0, 0.2)
    assert search.best_params_["batch_size"] in (16, 32)
    results = pd.DataFrame(search.cv_results_)
    assert len(results) == 4 and results["rank_test_score"].min() == 1
    best = results.loc[results["rank_test_score"] == 1].iloc[0]
    assert best["mean_test_score"] == pytest.approx(search.best_score_) and search.best_score_ < 0
    assert best["params"] == search.best_params_
    exported = load_model_dir(search.export_dir_)
    frame = pd.DataFrame(X[:10], columns=[f"x{i}" for i in range(8)])
    np.testing.assert_allclose(search.predict(X[:10]),
                               exported.predict(frame)["predicted_y"], rtol=1e-5)
    trial_rows = search.leaderboard_[search.leaderboard_["trial"] != "ensemble"]
    assert search.score(X, y) < 0 and len(trial_rows) == 4
    if search.ensemble_ is not None and search.ensemble_.exported:  # the model, first row
        assert search.leaderboard_.iloc[0]["trial"] == "ensemble"
        assert exported.card["kind"] == "ensemble"
    assert search.report_.is_file() and search.search_id_


@pytest.mark.slow
def test_validation_data_validates_every_trial(ray_session, tmp_path, concrete_xy) -> None:
    from autokeras_lab.leaderboard import Leaderboard

    X, y = concrete_xy
    search = KerasSearchCV(create_model, GRID, n_trials=2, max_epochs=2, verbose=0,
                           runs_dir=str(tmp_path), name="with_validation")
    search.fit(X[:800], y[:800], validation_data=(X[800:], y[800:]))
    [stored] = Leaderboard(tmp_path / "leaderboard.db").searches("with_validation")
    assert stored.split_sizes == SplitSizes(train=720, val=230, test=80)


@pytest.mark.slow
def test_search_regressor_works_in_a_pipeline_and_cross_val_score(ray_session, tmp_path) -> None:
    from sklearn.compose import ColumnTransformer
    from sklearn.model_selection import cross_val_score
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    from tests.helpers import mixed_frame

    frame = mixed_frame(160).dropna()
    X, y = frame.drop(columns="price"), frame["price"]
    columns = ColumnTransformer([("numbers", StandardScaler(), ["size"]),
                                 ("words", OneHotEncoder(), ["colour", "organic"])])
    pipeline = make_pipeline(columns, SearchRegressor(n_trials=2, time_budget=None,
                                                      max_epochs=3, runs_dir=str(tmp_path)))
    scores = cross_val_score(pipeline, X, y, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))


@pytest.mark.slow
def test_search_classifier_gives_probabilities_and_the_users_labels(ray_session, tmp_path) -> None:
    from sklearn.datasets import make_moons

    X, labels = make_moons(200, noise=0.2, random_state=0)
    y = np.where(labels == 1, "upper", "lower")
    model = SearchClassifier(n_trials=3, time_budget=None, max_epochs=3, scoring="accuracy",
                             runs_dir=str(tmp_path)).fit(pd.DataFrame(X, columns=["a", "b"]), y)
    assert list(model.classes_) == ["lower", "upper"]
    probabilities = model.predict_proba(X[:20])
    assert probabilities.shape == (20, 2)
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)
    assert set(model.predict(X[:20])) <= {"lower", "upper"}
    assert 0.0 <= model.score(X, y) <= 1.0
    # a maximised metric: the highest validation accuracy ranks first and is the best
    results = pd.DataFrame(model.cv_results_)
    assert model.best_score_ == results["mean_test_score"].max() > 0
    assert results.loc[results["rank_test_score"] == 1, "mean_test_score"].iloc[0] \
        == model.best_score_


def test_in_a_notebook_the_progress_line_drives_a_progress_bar() -> None:
    from autokeras_lab.sklearn import _NotebookProgress

    progress = _NotebookProgress(total=12)
    progress.write("\r\033[Ktrials: 5 done (3 completed, 2 stopped early, 0 failed), 2 running"
                   " | best val: 4.123 | 0:12 elapsed")
    assert progress.bar.n == 5 and progress.bar.total == 12
    assert "best val: 4.123" in progress.bar.desc
    progress.close()
