"""scikit-learn estimators over the search engine, for the ``GridSearchCV`` flow.

:class:`KerasSearchCV` takes a user's model function unchanged, the way
``KerasRegressor(build_fn=create_model)`` + ``GridSearchCV`` did, and searches it with
Ray Tune, Optuna and ASHA; :class:`SearchRegressor` and :class:`SearchClassifier` do
the same with the built-in search spaces for users with no model function. All of
them keep the leaderboard, the report and the exported best model under
``runs_dir`` like the command line.

Example:
    >>> from autokeras_lab import KerasSearchCV
    >>> def create_model(learning_rate=0.01, dropout_rate=0.0):
    ...     ...  # returns a compiled keras.Model
    >>> search = KerasSearchCV(create_model, {"learning_rate": (1e-4, 1e-1),
    ...                                       "dropout_rate": [0.0, 0.2]}, n_trials=20)
    >>> search.fit(X, y)  # doctest: +SKIP
    >>> search.best_params_, search.best_score_  # doctest: +SKIP
"""

from __future__ import annotations

import inspect
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin

from autokeras_lab.types import AUTO_TASK, INPUT_TRANSFORMS, TASK_CHOICES, TaskKind

__all__ = ["KerasSearchCV", "SearchClassifier", "SearchRegressor"]

#: scikit-learn scorer names -> our metrics (their scores are the negated errors)
SCORING = {
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_absolute_error": "mae",
    "neg_log_loss": "log_loss",
    "accuracy": "accuracy",
}
LOG_RANGE_RATIO = 100  # a positive (low, high) range this wide is sampled on a log scale


def _metric(scoring: str | None) -> str:
    from autokeras_lab.metrics import METRICS

    if scoring is None:
        return ""
    if scoring in SCORING:
        return SCORING[scoring]
    if scoring in METRICS:
        return scoring
    raise ValueError(
        f"scoring: expected one of {', '.join([*SCORING, *METRICS])}, received {scoring!r}"
    )


def _declare(name: str, spec: Any) -> Callable[[Any], Any]:
    """How one entry of ``param_distributions`` declares its hyperparameter on a
    keras-tuner ``HyperParameters`` (checked now, declared on every build)."""
    import optuna.distributions as od

    if isinstance(spec, list) or (isinstance(spec, tuple) and len(spec) != 2):
        values = list(spec)
        if not values or len({type(v) for v in values}) > 1:
            raise ValueError(f"param_distributions[{name!r}]: expected a non-empty list of "
                             f"choices of one type, received {spec!r}")
        return lambda hp: hp.Choice(name, values)
    if isinstance(spec, tuple):
        low, high = spec
        if not all(isinstance(v, int | float) and not isinstance(v, bool) for v in spec) \
                or low >= high:
            raise ValueError(f"param_distributions[{name!r}]: expected a (low, high) range "
                             f"with low < high, received {spec!r}")
        if isinstance(low, int) and isinstance(high, int):
            return lambda hp: hp.Int(name, low, high)
        log = low > 0 and high / low >= LOG_RANGE_RATIO
        return lambda hp: hp.Float(name, float(low), float(high),
                                   sampling="log" if log else "linear")
    if isinstance(spec, od.CategoricalDistribution):
        return _declare(name, list(spec.choices))
    if isinstance(spec, od.IntDistribution):
        return lambda hp: hp.Int(name, spec.low, spec.high, step=spec.step,
                                 sampling="log" if spec.log else "linear")
    if isinstance(spec, od.FloatDistribution):
        return lambda hp: hp.Float(name, spec.low, spec.high, step=spec.step,
                                   sampling="log" if spec.log else "linear")
    family = getattr(getattr(spec, "dist", None), "name", None)  # a frozen scipy.stats one
    if family in ("uniform", "loguniform", "reciprocal", "randint"):
        low, high = (float(v) for v in spec.support())
        if family == "randint":
            return lambda hp: hp.Int(name, int(low), int(high))
        log = family != "uniform"
        return lambda hp: hp.Float(name, low, high, sampling="log" if log else "linear")
    raise ValueError(
        f"param_distributions[{name!r}]: expected a list of choices, a (low, high) range, "
        "a scipy.stats uniform/loguniform/randint or an Optuna distribution, received "
        f"{type(spec).__name__}"
    )


def function_space(model_fn: Callable[..., Any],
                   param_distributions: Mapping[str, Any] | None) -> Any:
    """A search space (see :mod:`autokeras_lab.spaces`) over a user's model function:
    ``create_model(**params)`` returning a compiled Keras model, searched over
    ``param_distributions``; or a keras-tuner ``build_model(hp)`` as it is. A key
    ``batch_size`` sets the batch size and need not be a parameter of the function.

    Raises:
        ValueError: ``model_fn`` is not callable, or a key of ``param_distributions`` is
            not a parameter of it, or its value is not a distribution we know.
    """
    from autokeras_lab.spaces import check_module

    if not callable(model_fn):
        raise ValueError(f"model_fn: expected a function returning a compiled keras.Model, "
                         f"received {type(model_fn).__name__}")
    parameters = inspect.signature(model_fn).parameters
    takes_hp = next(iter(parameters), None) == "hp"
    name = getattr(model_fn, "__name__", "model_fn")
    module = ModuleType(f"_akl_function_space_{name}")
    module.__file__ = inspect.getsourcefile(model_fn) or "<unknown>"
    module.DESCRIPTION = f"the model function {name}"  # type: ignore[attr-defined]
    if takes_hp:
        if param_distributions:
            raise ValueError("param_distributions: a keras-tuner build_model(hp) declares its "
                             "own hyperparameters; pass none")
        with_task = len(parameters) >= 2

        def build_hp(hp: Any, task: Any) -> Any:
            return model_fn(hp, task) if with_task else model_fn(hp)

        module.build_model = build_hp  # type: ignore[attr-defined]
        return check_module(name, module)
    if not param_distributions:
        raise ValueError("param_distributions: give at least one hyperparameter to search")
    accepts_any = any(p.kind is p.VAR_KEYWORD for p in parameters.values())
    unknown = [k for k in param_distributions
               if k not in parameters and k != "batch_size" and not accepts_any]
    if unknown:
        raise ValueError(
            f"param_distributions: {', '.join(map(repr, unknown))} is not a parameter of "
            f"{name}() (it takes {', '.join(parameters) or 'none'}); the key 'batch_size' "
            "sets the batch size"
        )
    if "epochs" in param_distributions:
        raise ValueError("param_distributions: 'epochs' is not searched: give max_epochs=; "
                         "the scheduler stops weak trials early")
    declared = {key: _declare(key, spec) for key, spec in param_distributions.items()}
    passed = [k for k in declared if k in parameters or (accepts_any and k != "batch_size")]

    def build_model(hp: Any, task: Any) -> Any:
        values = {key: declare(hp) for key, declare in declared.items()}
        return model_fn(**{key: values[key] for key in passed})

    module.build_model = build_model  # type: ignore[attr-defined]
    return check_module(name, module)


def _features(X: Any, columns: list[str] | None = None) -> pd.DataFrame:
    """X as the predictors' DataFrame (an array's columns named ``columns``); a bad
    shape raises ``ValueError`` as scikit-learn does."""
    from autokeras_lab.data import feature_frame
    from autokeras_lab.errors import UserError

    try:
        return feature_frame(X, columns)
    except UserError as exc:
        raise ValueError(str(exc)) from None


def _frame(X: Any, y: Any) -> tuple[pd.DataFrame, str]:
    """X and y as one DataFrame, and the target's column name."""
    from autokeras_lab.data import frame_of
    from autokeras_lab.errors import UserError

    try:
        return frame_of(X, y)
    except UserError as exc:
        raise ValueError(str(exc)) from None


class _NotebookProgress:
    """The search's progress line as a ``tqdm.auto`` bar (a widget in Jupyter): the
    engine writes its redrawn line here, the bar shows the trials done and the line."""

    _DONE = re.compile(r"trials: (\d+) done")

    def __init__(self, total: int | None) -> None:
        from tqdm.auto import tqdm

        self.bar = tqdm(total=total, unit="trial", dynamic_ncols=True)

    def isatty(self) -> bool:
        return True  # redraw in place, often

    def write(self, text: str) -> int:
        line = text.replace("\r\033[K", "").strip()
        if line:
            done = self._DONE.search(line)
            if done:
                self.bar.n = int(done.group(1))
            self.bar.set_description_str(line.split(" | ", 1)[-1], refresh=True)
        return len(text)

    def flush(self) -> None:
        self.bar.refresh()

    def close(self) -> None:
        self.bar.close()


def _in_notebook() -> bool:
    shell = getattr(sys.modules.get("IPython"), "get_ipython", lambda: None)()
    return type(shell).__name__ == "ZMQInteractiveShell"


class _SearchEstimator(BaseEstimator):
    """What the estimators share: the search run from ``fit`` and the fitted results."""

    _task: str = AUTO_TASK

    def _task_kind(self) -> str:
        return self._task

    def _space(self) -> Any:
        raise NotImplementedError

    def _check(self) -> None:
        for key in ("n_trials", "max_epochs"):
            value = getattr(self, key)
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{key}: expected a positive whole number, received {value!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget: expected seconds > 0, received {self.time_budget!r}")
        if self.n_trials is None and self.time_budget is None:
            raise ValueError("n_trials, time_budget: give a trial count, a time budget or both")
        if self.cv is not None and not (isinstance(self.cv, int) and 2 <= self.cv <= 20):
            raise ValueError(f"cv: expected None or a fold count from 2 to 20, received "
                             f"{self.cv!r}")

    def fit(self, X: Any, y: Any, validation_data: Any = None) -> _SearchEstimator:
        """Run a search on ``X`` and ``y`` and keep what it found.

        A tenth of the rows is held out as a test split that no choice sees (its
        metric is on the leaderboard); of the rest, ``validation_data`` (X, y) or a
        fifth of the rows validates every trial, or with ``cv`` each of K folds.
        """
        from autokeras_lab.cluster import ClusterOptions
        from autokeras_lab.config import Budget, Experiment, TrackingSettings
        from autokeras_lab.search import run_search

        self._check()
        try:
            tracking = TrackingSettings(mlflow=self.mlflow_uri or "")
        except ValueError as exc:
            raise ValueError(f"mlflow_uri: {exc}") from None
        metric = _metric(self.scoring)
        space = self._space()
        frame, target = _frame(X, y)
        validation = None
        if validation_data is not None:
            x_val, y_val = validation_data
            validation = _features(x_val, [c for c in frame.columns if c != target])
            validation[target] = np.asarray(y_val)
        from autokeras_lab.data import from_frame
        from autokeras_lab.errors import UserError

        name = self.name or (space if isinstance(space, str) else space.name)
        try:
            dataset = from_frame(frame, target=target, task=self._task_kind(), name=name,
                                 validation=validation)
        except UserError as exc:  # scikit-learn's callers expect a ValueError
            raise ValueError(f"X, y: {exc}") from None
        experiment = Experiment(
            name=name, data=dataset, space=space if isinstance(space, str) else space.name,
            model_space=None if isinstance(space, str) else space, metric=metric,
            cv=self.cv or 1, seed=self.random_state,
            # a user's model function is searched over its own parameters alone
            input_transforms=INPUT_TRANSFORMS if isinstance(space, str) else ("standard",),
            budget=Budget(trials=self.n_trials, max_epochs=self.max_epochs,
                          time_budget_s=self.time_budget,
                          patience=max(1, min(40, self.max_epochs // 4))),
            tracking=tracking,
        )
        out: Any = None
        if self.verbose:  # a bar in a notebook, the redrawn line in a terminal
            out = _NotebookProgress(self.n_trials) if _in_notebook() else sys.stderr
        try:
            result = run_search(
                experiment, runs_dir=Path(self.runs_dir),
                cluster=ClusterOptions(address=self.address), out=out,
                command=f"{type(self).__name__}.fit (scikit-learn interface)",
            )
        finally:
            if isinstance(out, _NotebookProgress):
                out.close()
        self._store(result, dataset, frame, target)
        return self

    def _store(self, result: Any, dataset: Any, frame: pd.DataFrame, target: str) -> None:
        from autokeras_lab.export import load_model_dir
        from autokeras_lab.report import leaderboard_rows, write_report
        from autokeras_lab.types import Direction

        sign = -1.0 if result.direction is Direction.MIN else 1.0
        best = next(t for t in result.trials if t.trial_id == result.best_trial_id)
        self.search_id_ = result.search_id
        self.best_params_ = dict(best.config)
        self.best_score_ = sign * float(best.best_val)
        self.export_dir_ = result.export_dir
        self.best_estimator_ = load_model_dir(result.export_dir)
        self.ensemble_ = result.ensemble  # what best_estimator_ is, if it beat the best trial
        self.leaderboard_ = pd.DataFrame(leaderboard_rows(
            result.trials, metric=result.metric,
            ensembles=[result.ensemble] if result.ensemble else []))
        self.cv_results_ = _cv_results(result.trials, result.metric, sign)
        self.feature_names_in_ = np.array([c for c in frame.columns if c != target], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        if dataset.task is TaskKind.CLASSIFICATION:
            self.classes_ = np.unique(frame[target].to_numpy())
        self.report_ = result.report or write_report(Path(self.runs_dir), result.experiment,
                                                     search_id=result.search_id)
        self.mlflow_run_ = result.mlflow_run
        self.mlflow_model_ = result.mlflow_model

    def _rows(self, X: Any) -> pd.DataFrame:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "best_estimator_")
        return _features(X, list(self.feature_names_in_))

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the best model: values in the target's units, or class labels."""
        out = self.best_estimator_.predict(self._rows(X))
        predicted = out[f"predicted_{self.best_estimator_.target}"].to_numpy()
        if hasattr(self, "classes_"):
            by_text = {str(c): c for c in self.classes_}
            return np.array([by_text[str(p)] for p in predicted])
        return predicted.astype(np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the best model, columns in the order of ``classes_``."""
        if not hasattr(self, "classes_"):
            raise AttributeError("predict_proba is for classification; this search regressed")
        out = self.best_estimator_.predict(self._rows(X))
        return np.column_stack([out[f"probability_{c}"].to_numpy() for c in self.classes_])


def _cv_results(trials: list[Any], metric: str, sign: float) -> dict[str, Any]:
    """The trials in scikit-learn's ``cv_results_`` shape (one entry per trial, in the
    order they were proposed; scores: greater is better)."""
    ordered = sorted(trials, key=lambda t: t.number)
    names = sorted({k for t in ordered for k in t.config})
    scores = np.array([np.nan if t.best_val is None else sign * t.best_val for t in ordered])
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    ranks = np.empty(len(ordered), dtype=int)
    ranks[order] = np.arange(1, len(ordered) + 1)
    results: dict[str, Any] = {
        "params": [dict(t.config) for t in ordered],
        "mean_test_score": scores,
        "std_test_score": np.array([t.metrics.get("val_std", {}).get(metric, 0.0)
                                    for t in ordered]),  # over folds, with cv
        "rank_test_score": ranks,
        "mean_fit_time": np.array([t.wall_seconds or np.nan for t in ordered]),
        "finished_at": np.array([t.finished_at or np.nan for t in ordered]),
        "status": np.array([str(t.status) for t in ordered], dtype=object),
        "epochs": np.array([t.epochs for t in ordered]),
        "trial": np.array([t.number for t in ordered]),
    }
    for name in names:
        results[f"param_{name}"] = np.ma.MaskedArray(
            [t.config.get(name) for t in ordered],
            mask=[name not in t.config for t in ordered], dtype=object)
    return results


class KerasSearchCV(_SearchEstimator):
    """Search a Keras model function's hyperparameters: the ``GridSearchCV`` of the
    ``KerasRegressor`` flow, with early stopping across trials, a persistent
    leaderboard and a report.

    Args:
        model_fn: ``create_model(**params)`` returning a compiled ``keras.Model`` (the
            function the old flow passed as ``build_fn``), or a keras-tuner
            ``build_model(hp)``.
        param_distributions: Name -> a list of choices, a ``(low, high)`` range (whole
            numbers: integers; a positive range 100x wide or more: a log scale), a
            ``scipy.stats`` ``uniform``/``loguniform``/``randint``, or an Optuna
            distribution. ``batch_size`` sets the batch size.
        n_trials: Most trials (configurations) to train.
        time_budget: Wall-clock seconds for the whole search.
        max_epochs: Most epochs one trial trains (ASHA stops weak ones sooner).
        cv: ``None`` for one validation split, or K folds trained side by side.
        scoring: ``neg_root_mean_squared_error`` / ``rmse`` (regression default),
            ``neg_mean_absolute_error``, ``neg_log_loss`` (classification default),
            ``accuracy``.
        task: ``auto`` (inferred from ``y``), ``regression`` or ``classification``.
        random_state: The search's seed.
        runs_dir: Where the leaderboard, the report and the best model go.
        address: A Ray cluster to join (``auto``, ``HOST:PORT``); ``None``: local.
        verbose: 0 is silent; 1 shows the search's progress line.
        name: The experiment's name on the leaderboard (default: the function's).
        mlflow_uri: Copy the search to this MLflow tracking server (see
            :mod:`autokeras_lab.tracking`); ``None``: no tracking.

    Attributes (after ``fit``): ``best_params_``, ``best_score_`` (greater is better:
    errors negated), ``best_estimator_`` (the exported model: the ensemble of trials
    when it beat the best one, see ``ensemble_``), ``cv_results_`` (one entry per
    trial), ``leaderboard_`` (a DataFrame, the ensemble's row first), ``ensemble_``
    (the selected ensemble or ``None``), ``search_id_``, ``export_dir_``, ``report_``,
    ``mlflow_run_`` and ``mlflow_model_`` (the search's MLflow run and the URI its model
    loads from, with ``mlflow_uri``).
    """

    def __init__(
        self, model_fn: Callable[..., Any], param_distributions: Mapping[str, Any] | None = None,
        *, n_trials: int | None = 20, time_budget: float | None = None, max_epochs: int = 100,
        cv: int | None = None, scoring: str | None = None, task: str = AUTO_TASK,
        random_state: int = 0, runs_dir: str = "runs", address: str | None = None,
        verbose: int = 1, name: str | None = None, mlflow_uri: str | None = None,
    ) -> None:
        self.model_fn = model_fn
        self.param_distributions = param_distributions
        self.n_trials = n_trials
        self.time_budget = time_budget
        self.max_epochs = max_epochs
        self.cv = cv
        self.scoring = scoring
        self.task = task
        self.random_state = random_state
        self.runs_dir = runs_dir
        self.address = address
        self.verbose = verbose
        self.name = name
        self.mlflow_uri = mlflow_uri

    def _task_kind(self) -> str:
        if self.task not in TASK_CHOICES:
            raise ValueError(f"task: expected one of {', '.join(TASK_CHOICES)}, received "
                             f"{self.task!r}")
        return self.task

    def _space(self) -> Any:
        return function_space(self.model_fn, self.param_distributions)

    def score(self, X: Any, y: Any) -> float:
        """The search's metric on ``X``, ``y``, greater is better (errors negated)."""
        from autokeras_lab.metrics import METRICS, evaluate
        from autokeras_lab.types import Direction

        metric = str(self.best_estimator_.card["metric"])
        direction = METRICS[metric].direction
        if hasattr(self, "classes_"):
            index = {c: i for i, c in enumerate(self.classes_)}
            y_true = np.array([index[v] for v in np.asarray(y)])
            value = evaluate(TaskKind.CLASSIFICATION, y_true, self.predict_proba(X))[metric]
        else:
            value = evaluate(TaskKind.REGRESSION, np.asarray(y, dtype=float),
                             self.predict(X).reshape(-1, 1))[metric]
        return -value if direction is Direction.MIN else value


class _BuiltInSearch(_SearchEstimator):
    def __init__(
        self, *, space: str = "plr_mlp", n_trials: int | None = None,
        time_budget: float | None = 120, max_epochs: int = 200, cv: int | None = None,
        scoring: str | None = None,
        random_state: int = 0, runs_dir: str = "runs", address: str | None = None,
        verbose: int = 0, name: str | None = None, mlflow_uri: str | None = None,
    ) -> None:
        self.space = space
        self.n_trials = n_trials
        self.time_budget = time_budget
        self.max_epochs = max_epochs
        self.cv = cv
        self.scoring = scoring
        self.random_state = random_state
        self.runs_dir = runs_dir
        self.address = address
        self.verbose = verbose
        self.name = name
        self.mlflow_uri = mlflow_uri

    def _space(self) -> Any:
        from autokeras_lab.spaces import available_spaces

        if self.space not in available_spaces() and not str(self.space).endswith(".py"):
            raise ValueError(f"space: expected one of {', '.join(available_spaces())} or a "
                             f".py path, received {self.space!r}")
        return self.space


class SearchRegressor(RegressorMixin, _BuiltInSearch):
    """A regressor that searches the built-in spaces (``plr_mlp`` by default) for the best
    tf.keras model; mixed column types are handled by the package's preprocessing.
    Works in a ``Pipeline`` and in ``cross_val_score`` (``score`` is R²)."""

    _task = TaskKind.REGRESSION


class SearchClassifier(ClassifierMixin, _BuiltInSearch):
    """A classifier that searches the built-in spaces for the best tf.keras model
    (``predict_proba`` gives the class probabilities; ``score`` is accuracy)."""

    _task = TaskKind.CLASSIFICATION
