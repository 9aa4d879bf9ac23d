"""The scikit-learn interface: the seed notes' create_model searched as it is, the
built-in spaces as estimators in pipelines, and scikit-learn's own conventions."""

from __future__ import annotations

from unittest import SkipTest

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


@pytest.mark.parametrize(
    ("make", "grid", "match"),
    [
        (lambda W: W(model=create_model, shuffle=False), {"model__units": [8]},
         r"KerasRegressor\(shuffle=False\): not taken by KerasSearchCV; leave it at its default \(True\)"),
        (lambda W: W(model=create_model, callbacks=["csv"]), {"model__units": [8]},
         r"callbacks="),
        (lambda W: W(model=create_model), {"model__momentum": [0.9]},
         r"'model__momentum': 'momentum' is not a parameter of the model function"),
        (lambda W: W(model=create_model), {"predict__batch_size": [8]},
         r"'predict__batch_size' is not searched by KerasSearchCV"),
        (lambda W: W(model=create_model), [{"model__units": [8]}],
         r"a list of grids: search each with its own KerasSearchCV"),
        (lambda W: W(model="create_model"), {"model__units": [8]},
         r"expected the function that builds the Keras model"),
    ],
    ids=["unhonoured-setting", "own-callback", "unknown-model-key", "unknown-route",
         "list-of-grids", "model-not-a-function"],
)
def test_a_wrapper_the_search_cannot_honour_is_refused_naming_the_setting(make, grid, match) -> None:
    from autokeras_lab import KerasRegressor

    with pytest.raises(ValueError, match=match):
        KerasSearchCV(make(KerasRegressor), grid)._plan()


def test_searching_the_optimizer_of_a_compiled_model_is_refused_when_it_is_built() -> None:
    import keras_tuner as kt

    from autokeras_lab import KerasRegressor

    plan = KerasSearchCV(KerasRegressor(model=create_model),
                         {"optimizer__learning_rate": [0.1, 0.01]})._plan()
    with pytest.raises(ValueError, match=r"optimizer__learning_rate would change nothing"):
        plan.space.module.build_model(kt.HyperParameters(), Task(n_features=8))


def test_a_wrapper_grid_is_enumerated_once_in_the_users_keys() -> None:
    import optuna

    from autokeras_lab import KerasRegressor

    grid = {"model__learning_rate": [0.001, 0.01, 0.1], "fit__batch_size": [16, 32],
            "epochs": [5, 20]}
    plan = KerasSearchCV(KerasRegressor(model=create_model, epochs=3), grid, cv=3)._plan()
    assert isinstance(plan.sampler, optuna.samplers.GridSampler)
    assert plan.n_trials == 6 and plan.max_epochs == 20  # epochs: the most the grid lists
    config = {"model__learning_rate": 0.1, "batch_size": 32}
    assert plan.params(config, 12) == {"model__learning_rate": 0.1, "fit__batch_size": 32,
                                       "epochs": 12}
    sampled = KerasSearchCV(KerasRegressor(model=create_model), grid, n_trials=4)._plan()
    assert sampled.sampler is None and sampled.n_trials == 4


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [({"refit": "yes"}, r"refit: expected True or False, received 'yes'"),
     ({"n_jobs": 0}, r"n_jobs: expected None, -1 or a positive whole number"),
     ({"report": 0}, r"report: expected True or False, received 0"),
     ({"param_distributions": GRID}, r"param_grid, param_distributions: give one")],
    ids=["refit-not-bool", "zero-jobs", "report-not-bool", "two-grids"],
)
def test_grid_search_cv_arguments_the_search_cannot_take_are_refused(kwargs, match) -> None:
    search = KerasSearchCV(create_model, GRID, **kwargs)
    with pytest.raises(ValueError, match=match):
        search._check(search._plan())


def test_predict_before_fit_raises_not_fitted_error() -> None:
    from sklearn.exceptions import NotFittedError

    for estimator in (KerasSearchCV(create_model, GRID), SearchRegressor(), SearchClassifier()):
        with pytest.raises(NotFittedError):
            estimator.predict(np.zeros((2, 8)))
    with pytest.raises(NotFittedError):
        SearchClassifier().predict_proba(np.zeros((2, 8)))


def test_checked_targets_keep_their_name_and_order() -> None:
    from autokeras_lab.sklearn._estimators import _checked_inputs

    y = pd.Series(np.arange(40.0)[::-1], index=np.arange(100, 140), name="price")
    X, checked = _checked_inputs("SearchRegressor", np.zeros((40, 2)), y, "regression")
    assert checked.name == "price"  # the model's output is predicted_price
    assert checked.tolist() == y.tolist() and X.shape == (40, 2)


def test_a_missing_target_value_is_refused_naming_its_rows(tmp_path) -> None:
    X = np.random.default_rng(0).normal(size=(30, 8))
    y = np.arange(30, dtype=float)
    y[[3, 17]] = np.nan
    with pytest.raises(ValueError, match=r"y: 2 missing target value\(s\), at row\(s\) 3, 17"):
        SearchRegressor(runs_dir=str(tmp_path)).fit(X, y)
    assert not (tmp_path / "leaderboard.db").exists()


@pytest.mark.slow
def test_keras_search_cv_searches_the_seed_notes_model_function(
    ray_session, tmp_path, concrete_xy
) -> None:
    from autokeras_lab import load_model_dir

    X, y = concrete_xy
    search = KerasSearchCV(create_model, GRID, n_trials=4, max_epochs=4, verbose=0,
                           runs_dir=str(tmp_path))
    before = search.get_params()
    assert search.fit(X, y) is search
    assert search.get_params() == before  # fit leaves the parameters alone
    assert search.n_features_in_ == 8
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
                           runs_dir=str(tmp_path), name="with_validation", refit=False)
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
    pipeline = make_pipeline(columns, SearchRegressor(n_trials=2, time_budget=None, refit=False,
                                                      report=False, max_epochs=3,
                                                      runs_dir=str(tmp_path)))
    scores = cross_val_score(pipeline, X, y, cv=2)
    assert scores.shape == (2,) and np.all(np.isfinite(scores))
    assert not list(tmp_path.rglob("report.html"))  # report=False: none written


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
    from autokeras_lab.sklearn._estimators import _NotebookProgress

    progress = _NotebookProgress(total=12)
    progress.write("\r\033[Ktrials: 5 done (3 completed, 2 stopped early, 0 failed), 2 running"
                   " | best val: 4.123 | 0:12 elapsed")
    assert progress.bar.n == 5 and progress.bar.total == 12
    assert "best val: 4.123" in progress.bar.desc
    progress.close()


# --- scikeras code, moved in two lines ---------------------------------------------------

#: The seed notes' grid code (scikeras' tutorial form), at a tiny budget.
SEED_NOTES = '''\
import keras
from scikeras.wrappers import KerasRegressor
from sklearn.model_selection import GridSearchCV


def create_model(learning_rate=0.01, dropout_rate=0.2):
    model = keras.Sequential([keras.Input((8,)), keras.layers.Dense(32, activation="relu"),
                              keras.layers.Dropout(dropout_rate), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss="mse")
    return model


model = KerasRegressor(model=create_model, epochs=4, batch_size=32, verbose=0)
param_grid = {"model__learning_rate": [0.001, 0.01], "model__dropout_rate": [0.0, 0.2]}
grid = GridSearchCV(estimator=model, param_grid=param_grid, n_jobs=-1, cv=3)
grid_result = grid.fit(X, y)
print("Best: %f using %s" % (grid_result.best_score_, grid_result.best_params_))
means = grid_result.cv_results_["mean_test_score"]
stds = grid_result.cv_results_["std_test_score"]
params = grid_result.cv_results_["params"]
for mean, stdev, param in zip(means, stds, params):
    print("%f (%f) with: %r" % (mean, stdev, param))
'''


def _migrated(code: str, *, ours: bool) -> str:
    """The seed notes' code with only its import lines and the class name changed."""
    moved = code.replace("from sklearn.model_selection import GridSearchCV",
                         "from autokeras_lab import KerasSearchCV")
    if ours:  # where scikeras is not installed
        moved = moved.replace("from scikeras.wrappers import KerasRegressor",
                              "from autokeras_lab import KerasRegressor")
    moved = moved.replace("GridSearchCV(", "KerasSearchCV(")
    changed = [(a, b) for a, b in zip(code.splitlines(), moved.splitlines(), strict=True)
               if a != b]
    assert len(changed) == (3 if ours else 2)
    assert all(a.startswith(("from ", "import ")) or "GridSearchCV(" in a for a, _ in changed)
    return moved


@pytest.mark.slow
@pytest.mark.parametrize("ours", [False, True], ids=["scikeras-wrapper", "our-wrapper"])
def test_the_seed_notes_grid_code_runs_with_its_imports_and_class_name_changed(
    ray_session, tmp_path, concrete_xy, monkeypatch, capsys, ours
) -> None:
    monkeypatch.chdir(tmp_path)  # runs/ goes where the user works
    X, y = concrete_xy
    namespace = {"X": X, "y": y}
    exec(compile(_migrated(SEED_NOTES, ours=ours), "seed_notes.py", "exec"), namespace)
    grid = namespace["grid_result"]
    # Every point of the grid once, 3 folds each, in the user's own keys.
    assert set(grid.best_params_) == {"model__learning_rate", "model__dropout_rate"}
    params = [tuple(sorted(p.items())) for p in grid.cv_results_["params"]]
    assert sorted(params) == sorted(
        (("model__dropout_rate", d), ("model__learning_rate", lr))
        for lr in (0.001, 0.01) for d in (0.0, 0.2))
    assert np.all(grid.cv_results_["epochs"] <= 4)
    assert grid.best_score_ == max(grid.cv_results_["mean_test_score"])
    assert (tmp_path / "runs" / "leaderboard.db").is_file()
    assert "with: {'model__learning_rate'" in capsys.readouterr().out


def uncompiled_classifier(hidden=8, meta=None):
    """scikeras' other form: an uncompiled model sized from ``meta``; the wrapper's
    optimizer and loss compile it."""
    import keras

    return keras.Sequential([keras.Input((meta["n_features_in_"],)),
                             keras.layers.Dense(hidden, activation="relu"),
                             keras.layers.Dense(1, activation="sigmoid")])


@pytest.mark.slow
def test_a_keras_classifier_wrapper_routes_optimizer_and_model_keys(ray_session, tmp_path) -> None:
    import keras

    from autokeras_lab import KerasClassifier
    from autokeras_lab.data import load_dataset

    cancer = load_dataset("breast_cancer")
    X, y = cancer.frame.drop(columns=cancer.target), cancer.frame[cancer.target]
    wrapper = KerasClassifier(model=uncompiled_classifier, optimizer=keras.optimizers.SGD,
                              loss="binary_crossentropy", epochs=3, verbose=0)
    grid = {"optimizer__learning_rate": [0.01, 0.1], "model__hidden": [4, 8],
            "optimizer": [keras.optimizers.SGD, keras.optimizers.Adam]}
    search = KerasSearchCV(wrapper, grid, n_trials=3, verbose=0, runs_dir=str(tmp_path),
                           refit=False)
    search.fit(X, y)
    assert set(search.best_params_) == set(grid)
    assert search.best_params_["optimizer"] in (keras.optimizers.SGD, keras.optimizers.Adam)
    assert len(search.cv_results_["params"]) == 3  # n_trials given: sampled, not the grid
    proba = search.predict_proba(X.head(5))
    assert proba.shape == (5, 2) and np.allclose(proba.sum(axis=1), 1)
    assert set(search.predict(X.head(20))) <= set(y)


#: scikit-learn's checks that fit on fewer rows than a search splits (train, validation
#: and held-out test: MIN_ROWS); the estimators refuse such data with a ValueError that
#: names the row count, and the conventions these checks look at are asserted on real
#: data in this file (fit returns self and leaves the parameters alone, predict before
#: fit, n_features_in_).
TOO_FEW_ROWS = (
    "check_estimators_overwrite_params", "check_dont_overwrite_parameters",
    "check_estimators_fit_returns_self", "check_readonly_memmap_input",
    "check_n_features_in_after_fitting", "check_estimators_dtypes",
    "check_f_contiguous_array_estimator", "check_regressors_no_decision_function",
    "check_fit2d_1feature", "check_dict_unchanged", "check_fit2d_predict1d",
    "check_classifiers_classes", "check_classifier_data_not_an_array",
    "check_methods_sample_order_invariance", "check_methods_subset_invariance",
)


#: fitting checks the suite leaves to a full run (``AKL_ALL_ESTIMATOR_CHECKS=1 python -m
#: pytest tests/test_sklearn.py -k estimator_checks``, 12 minutes on 2 cores; each passed
#: here): each fits the way a check the suite runs already does, and every fit is a
#: search. The suite also runs each check once where scikit-learn yields it again on
#: read-only memory-mapped data. What stays: every check that does not fit, and
#: training, predicting, pickling, idempotence and a column-vector y per estimator.
FULL_RUN_ONLY = ("check_dtype_object", "check_fit_score_takes_y",
                 "check_pipeline_consistency", "check_positive_only_tag_during_fit",
                 "check_n_features_in", "check_fit_check_is_fitted")


def _estimator_checks(estimator) -> tuple[set[str], dict[str, str], set[str]]:
    """Run scikit-learn's checks of ``estimator``; returns the checks passed, the
    reasons of those failed, and those left to the full run."""
    import os

    from sklearn.utils.estimator_checks import _check_name, estimator_checks_generator

    every = os.environ.get("AKL_ALL_ESTIMATOR_CHECKS") == "1"
    passed, failed, left, seen = set(), {}, set(), set()
    for instance, check in estimator_checks_generator(estimator, mark=None):
        name = _check_name(check)
        if not every and (name in FULL_RUN_ONLY or name in seen):
            left.add(name)
            continue
        seen.add(name)
        try:
            check(instance)
        except SkipTest:
            continue
        except Exception as exc:
            failed[name] = str(exc)
        else:
            passed.add(name)
    return passed, failed, left


@pytest.mark.slow
@pytest.mark.parametrize("estimator", [SearchRegressor, SearchClassifier])
def test_scikit_learns_estimator_checks_pass_at_a_tiny_budget(ray_session, tmp_path,
                                                              estimator) -> None:
    # refit=False, report=False: the checks ask for the API, which neither changes, and
    # they fit dozens of times (the refit and the report have tests of their own)
    tiny = estimator(n_trials=1, time_budget=None, max_epochs=2, space="mlp",
                     runs_dir=str(tmp_path), verbose=0, refit=False, report=False)
    passed, failed, left = _estimator_checks(tiny)
    for name, reason in list(failed.items()):
        if name in TOO_FEW_ROWS:
            assert "a search needs at least 30 rows" in reason, (name, reason)
            del failed[name]
    assert not failed, failed
    assert left <= {*FULL_RUN_ONLY, *passed, *TOO_FEW_ROWS}  # the names above are real
    assert {"check_estimators_pickle", "check_requires_y_none", "check_fit2d_1sample",
            "check_estimator_sparse_array", "check_complex_data", "check_estimators_unfitted",
            "check_estimators_empty_data_messages", "check_fit_idempotent",
            "check_supervised_y_2d"} <= passed
    if estimator is SearchClassifier:
        assert {"check_classifiers_train", "check_classifiers_regression_target"} <= passed
    else:
        assert {"check_regressors_train", "check_regressors_int",
                "check_regressor_data_not_an_array"} <= passed
