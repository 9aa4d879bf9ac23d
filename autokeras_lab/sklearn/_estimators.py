"""The estimators: a search run from ``fit``, its results kept as scikit-learn's
attributes (``best_params_``, ``cv_results_``, ...) and the exported model behind
``predict``."""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.metaestimators import available_if

from autokeras_lab.sklearn._space import function_space, metric_of
from autokeras_lab.sklearn._wrappers import is_wrapper, read_wrapper
from autokeras_lab.types import AUTO_TASK, INPUT_TRANSFORMS, TASK_CHOICES, TaskKind

__all__ = ["KerasSearchCV", "SearchClassifier", "SearchRegressor"]

DEFAULT_TRIALS = 20  # KerasSearchCV's trial count when neither a grid nor a budget sets one
DEFAULT_EPOCHS = 100


def _as_is(config: Mapping[str, Any], epochs: int) -> dict[str, Any]:
    return dict(config)


@dataclass(frozen=True)
class _Plan:
    """What one ``fit`` searches, resolved from the estimator's arguments.

    Attributes:
        space: A built-in space's name, or a space object (a user's model function).
        task: ``auto``, ``regression`` or ``classification``.
        params: A trial's configuration (and epochs trained) in the user's keys.
    """

    space: Any
    task: str
    n_trials: int | None
    max_epochs: int
    sampler: Any = None
    concurrency: int | None = None
    class_weight: str = "none"
    params: Callable[[Mapping[str, Any], int], dict[str, Any]] = field(default=_as_is)


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


def _classifies(estimator: Any) -> bool:
    """Whether an estimator gives class probabilities: a classifier, or a fitted search
    that classified (``hasattr(search, "predict_proba")`` answers as scikit-learn's
    meta-estimators do)."""
    if hasattr(estimator, "best_estimator_"):
        return hasattr(estimator, "classes_")
    return getattr(estimator, "_task", AUTO_TASK) != TaskKind.REGRESSION


class _SearchEstimator(BaseEstimator):
    """What the estimators share: the search run from ``fit`` and the fitted results."""

    _task: str = AUTO_TASK
    refit: bool
    report: bool

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True  # gaps in X are imputed, as in training
        tags.input_tags.string = True  # text columns are categories
        return tags

    def _plan(self) -> _Plan:
        raise NotImplementedError

    def _check(self, plan: _Plan) -> None:
        for key, value in (("n_trials", plan.n_trials), ("max_epochs", plan.max_epochs)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int)
                                      or value < 1):
                raise ValueError(f"{key}: expected a positive whole number, received {value!r}")
        if self.time_budget is not None and not self.time_budget > 0:
            raise ValueError(f"time_budget: expected seconds > 0, received {self.time_budget!r}")
        if plan.n_trials is None and self.time_budget is None:
            raise ValueError("n_trials, time_budget: give a trial count, a time budget or both")
        for flag in ("refit", "report"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag}: expected True or False, received "
                                 f"{getattr(self, flag)!r}")
        folds = self._folds()
        if folds is not None and not 2 <= folds <= 20:
            raise ValueError(f"cv: expected None or a fold count from 2 to 20, received "
                             f"{self.cv!r}")

    def _folds(self) -> int | None:
        """``cv`` as a fold count (a scikit-learn splitter gives its own; 0: not one)."""
        if self.cv is None:
            return None
        if isinstance(self.cv, int) and not isinstance(self.cv, bool):
            return self.cv
        if hasattr(self.cv, "get_n_splits"):
            return int(self.cv.get_n_splits())
        return 0

    def fit(self, X: Any, y: Any, validation_data: Any = None) -> _SearchEstimator:
        """Run a search on ``X`` and ``y`` and keep what it found.

        A tenth of the rows is held out as a test split that no choice sees (its
        metric is on the leaderboard); of the rest, ``validation_data`` (X, y) or a
        fifth of the rows validates every trial, or with ``cv`` each of K folds.
        """
        from autokeras_lab.cluster import ClusterOptions
        from autokeras_lab.config import Budget, Experiment, TrackingSettings
        from autokeras_lab.search import run_search

        plan = self._plan()
        self._check(plan)
        try:
            tracking = TrackingSettings(mlflow=self.mlflow_uri or "")
        except ValueError as exc:
            raise ValueError(f"mlflow_uri: {exc}") from None
        metric = metric_of(self.scoring)
        space = plan.space
        X, y = _checked_inputs(type(self).__name__, X, y, plan.task)
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
            dataset = from_frame(frame, target=target, task=plan.task, name=name,
                                 validation=validation)
        except UserError as exc:  # scikit-learn's callers expect a ValueError
            raise ValueError(f"X, y: {exc}") from None
        experiment = Experiment(
            name=name, data=dataset, space=space if isinstance(space, str) else space.name,
            model_space=None if isinstance(space, str) else space, metric=metric,
            cv=self._folds() or 1, seed=self.random_state, class_weight=plan.class_weight,
            # a user's model function is searched over its own parameters alone
            input_transforms=INPUT_TRANSFORMS if isinstance(space, str) else ("standard",),
            budget=Budget(trials=plan.n_trials, max_epochs=plan.max_epochs,
                          time_budget_s=self.time_budget, concurrency=plan.concurrency,
                          patience=max(1, min(40, plan.max_epochs // 4))),
            tracking=tracking, refit=self.refit,
        )
        out: Any = None
        if self.verbose:  # a bar in a notebook, the redrawn line in a terminal
            out = _NotebookProgress(plan.n_trials) if _in_notebook() else sys.stderr
        try:
            result = run_search(
                experiment, runs_dir=Path(self.runs_dir),
                cluster=ClusterOptions(address=self.address), out=out,
                command=f"{type(self).__name__}.fit (scikit-learn interface)",
                sampler=plan.sampler,
            )
        finally:
            if isinstance(out, _NotebookProgress):
                out.close()
        self._store(result, dataset, frame, target, plan)
        return self

    def _store(self, result: Any, dataset: Any, frame: pd.DataFrame, target: str,
               plan: _Plan) -> None:
        from autokeras_lab.export import load_model_dir
        from autokeras_lab.report import write_report
        from autokeras_lab.types import Direction

        sign = -1.0 if result.direction is Direction.MIN else 1.0
        best = next(t for t in result.trials if t.trial_id == result.best_trial_id)
        self.search_id_ = result.search_id
        self.best_params_ = plan.params(best.config, best.epochs)
        self.best_score_ = sign * float(best.best_val)
        self.export_dir_ = result.export_dir
        self.best_estimator_ = load_model_dir(result.export_dir)
        self.ensemble_ = result.ensemble  # what best_estimator_ is, if it beat the best trial
        self.leaderboard_ = result.leaderboard_frame()
        self.cv_results_ = _cv_results(result.trials, result.metric, sign, plan.params)
        self.feature_names_in_ = np.array([c for c in frame.columns if c != target], dtype=object)
        self.n_features_in_ = len(self.feature_names_in_)
        if dataset.task is TaskKind.CLASSIFICATION:
            self.classes_ = np.unique(frame[target].to_numpy())
        self.report_ = result.report or (
            write_report(Path(self.runs_dir), result.experiment, search_id=result.search_id)
            if self.report else None)
        self.mlflow_run_ = result.mlflow_run
        self.mlflow_model_ = result.mlflow_model

    def _rows(self, X: Any) -> pd.DataFrame:
        from sklearn.utils.validation import check_is_fitted

        check_is_fitted(self, "best_estimator_")
        if not isinstance(X, pd.DataFrame):  # columns by position: as many as in fit
            X = np.asarray(X)
            width = X.shape[1] if X.ndim == 2 else None
            if width is not None and width != self.n_features_in_:
                raise ValueError(f"X has {width} features, but {type(self).__name__} is "
                                 f"expecting {self.n_features_in_} features as input")
        return _features(X, list(self.feature_names_in_))

    def predict(self, X: Any) -> np.ndarray:
        """Predictions of the best model: values in the target's units, or class labels."""
        rows = self._rows(X)  # NotFittedError before fit
        out = self.best_estimator_.predict(rows)
        predicted = out[f"predicted_{self.best_estimator_.target}"].to_numpy()
        if hasattr(self, "classes_"):
            by_text = {str(c): c for c in self.classes_}
            return np.array([by_text[str(p)] for p in predicted])
        return predicted.astype(np.float64)

    @available_if(_classifies)
    def predict_proba(self, X: Any) -> np.ndarray:
        """Class probabilities of the best model, columns in the order of ``classes_``
        (a search that regressed has no ``predict_proba``)."""
        rows = self._rows(X)  # NotFittedError before fit
        out = self.best_estimator_.predict(rows)
        return np.column_stack([out[f"probability_{c}"].to_numpy() for c in self.classes_])


def _checked_inputs(name: str, X: Any, y: Any, task: str) -> tuple[Any, pd.Series]:
    """``X`` and ``y`` held to scikit-learn's input conventions before a search starts:
    the errors and warnings its estimators give (``check_estimator`` looks for them).

    A DataFrame ``X`` goes through as it is (mixed column types are the package's
    preprocessing's job); other ``X`` is checked by ``check_array``: 2-d, no complex
    numbers, no sparse matrix, no infinity (gaps are imputed, so NaN is allowed).
    """
    import warnings

    from sklearn.exceptions import DataConversionWarning
    from sklearn.utils.validation import check_array

    from autokeras_lab.data import MIN_ROWS

    if y is None:
        raise ValueError(f"{name} requires y to be passed, but the target y is None")
    if not isinstance(X, pd.DataFrame):
        X = check_array(X, dtype=None, accept_sparse=False, ensure_all_finite="allow-nan")
    target = np.asarray(y)
    if target.ndim == 2 and target.shape[1] == 1:
        warnings.warn("A column-vector y was passed when a 1d array was expected: it is "
                      "read as y.ravel()", DataConversionWarning, stacklevel=3)
        target = target.ravel()
    missing = np.flatnonzero(pd.isna(pd.DataFrame(
        target.astype(object).reshape(len(target), -1))).any(axis=1).to_numpy())
    if len(missing):
        shown = ", ".join(str(i) for i in missing[:10]) + (", ..." if len(missing) > 10 else "")
        raise ValueError(f"y: {len(missing)} missing target value(s), at row(s) {shown}; "
                         "drop those rows (or fill them) before fit")
    if task == TaskKind.REGRESSION:
        try:
            target = target.astype(np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"Unknown label type: {name} needs numbers in y, received "
                             f"{target.dtype} values such as {target[:3].tolist()}") from None
        if not np.isfinite(target).all():
            raise ValueError("Input y contains infinity; drop those rows before fit")
    if task == TaskKind.CLASSIFICATION:
        from sklearn.utils.multiclass import type_of_target

        kind = type_of_target(target)
        if kind.startswith("continuous"):
            raise ValueError(f"Unknown label type: {kind}: {name} needs class labels in y; "
                             "for numbers to predict use SearchRegressor")
        if len(pd.unique(target)) < 2:
            raise ValueError(f"y has only one class ({target[0]!r}); a classifier needs two "
                             "or more")
    if len(target) < MIN_ROWS:
        raise ValueError(f"n_samples = {len(target)}: a search needs at least {MIN_ROWS} rows "
                         "to split into train, validation and held-out test rows")
    # (by position, as frame_of reads it; a Series' name names the model's target)
    return X, pd.Series(target, name=getattr(y, "name", None))


def _cv_results(trials: list[Any], metric: str, sign: float,
                params: Callable[[Mapping[str, Any], int], dict[str, Any]] = _as_is,
                ) -> dict[str, Any]:
    """The trials in scikit-learn's ``cv_results_`` shape (one entry per trial, in the
    order they were proposed; scores: greater is better; ``params`` in the user's keys)."""
    ordered = sorted(trials, key=lambda t: t.number)
    configs = [params(t.config, t.epochs) for t in ordered]
    names = sorted({k for config in configs for k in config})
    scores = np.array([np.nan if t.best_val is None else sign * t.best_val for t in ordered])
    order = np.argsort(-np.nan_to_num(scores, nan=-np.inf), kind="stable")
    ranks = np.empty(len(ordered), dtype=int)
    ranks[order] = np.arange(1, len(ordered) + 1)
    results: dict[str, Any] = {
        "params": configs,
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
            [config.get(name) for config in configs],
            mask=[name not in config for config in configs], dtype=object)
    return results


class KerasSearchCV(_SearchEstimator):
    """Search a Keras model function's hyperparameters: the ``GridSearchCV`` of the
    ``KerasRegressor`` flow, with early stopping across trials, a persistent
    leaderboard and a report.

    Args:
        estimator: ``create_model(**params)`` returning a compiled ``keras.Model`` (the
            function the old flow passed as ``build_fn``), a keras-tuner
            ``build_model(hp)``, or the old flow's wrapper as written:
            ``KerasRegressor(model=create_model, epochs=..., batch_size=..., verbose=0)``
            (scikeras' class, or :class:`~autokeras_lab.KerasRegressor` /
            ``KerasClassifier``; see :mod:`autokeras_lab.sklearn._wrappers`).
        param_grid: Name -> a list of choices, a ``(low, high)`` range (whole numbers:
            integers; a positive range 100x wide or more: a log scale), a
            ``scipy.stats`` ``uniform``/``loguniform``/``randint``, or an Optuna
            distribution. ``batch_size`` sets the batch size. With a wrapper: its grid
            as ``GridSearchCV`` took it (``model__``, ``optimizer__`` and ``fit__``
            keys, ``batch_size``, ``epochs``; every value a list of choices), and
            ``best_params_`` comes back in those keys.
        param_distributions: ``param_grid``'s other name (``RandomizedSearchCV``'s).
        n_trials: Most trials (configurations) to train. Default: every point of a
            wrapper's grid once (Optuna's grid sampler), else 20 (none with a
            ``time_budget``).
        time_budget: Wall-clock seconds for the whole search.
        max_epochs: Most epochs one trial trains (ASHA stops weak ones sooner); default:
            a wrapper's ``epochs`` (the most its grid lists), else 100.
        cv: ``None`` for one validation split, or K folds trained side by side (an int
            or a scikit-learn splitter such as ``KFold(3)``, whose count is taken).
        n_jobs: As ``GridSearchCV``'s: the most trials at once (``None``/-1: as many as
            the Ray runtime's CPUs allow).
        refit: As ``GridSearchCV``'s, train the chosen model again on all the rows:
            once chosen and scored on its held-out test split, the chosen trials train
            again with those rows added, and the result is handed over where its
            out-of-fold score is better (see :mod:`autokeras_lab.search._refit`);
            false hands over the chosen trials' models as the search trained them.
        report: Write the search's HTML report (``report_``); false saves its seconds
            where many fits are made (``cross_val_score``), leaving ``report_`` ``None``
            (with ``mlflow_uri``, the search writes it for its MLflow run regardless).
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
        self, estimator: Any = None, param_grid: Mapping[str, Any] | None = None, *,
        param_distributions: Mapping[str, Any] | None = None, n_trials: int | None = None,
        time_budget: float | None = None, max_epochs: int | None = None, cv: Any = None,
        scoring: str | None = None, task: str = AUTO_TASK, random_state: int = 0,
        runs_dir: str = "runs", address: str | None = None, verbose: int = 1,
        name: str | None = None, mlflow_uri: str | None = None, n_jobs: int | None = None,
        refit: bool = True, report: bool = True,
    ) -> None:
        self.estimator = estimator
        self.param_grid = param_grid
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
        self.n_jobs = n_jobs
        self.refit = refit
        self.report = report

    def _plan(self) -> _Plan:
        if self.task not in TASK_CHOICES:
            raise ValueError(f"task: expected one of {', '.join(TASK_CHOICES)}, received "
                             f"{self.task!r}")
        if self.param_grid is not None and self.param_distributions is not None:
            raise ValueError("param_grid, param_distributions: give one (they are one "
                             "argument under GridSearchCV's and RandomizedSearchCV's names)")
        if self.n_jobs is not None and (isinstance(self.n_jobs, bool) or not isinstance(
                self.n_jobs, int) or self.n_jobs == 0 or self.n_jobs < -1):
            raise ValueError(f"n_jobs: expected None, -1 or a positive whole number, received "
                             f"{self.n_jobs!r}")
        grid = self.param_grid if self.param_grid is not None else self.param_distributions
        concurrency = self.n_jobs if self.n_jobs and self.n_jobs > 0 else None
        default_trials = None if self.time_budget is not None else DEFAULT_TRIALS
        max_epochs = DEFAULT_EPOCHS if self.max_epochs is None else self.max_epochs
        if not is_wrapper(self.estimator):
            return _Plan(space=function_space(self.estimator, grid), task=self.task,
                         n_trials=default_trials if self.n_trials is None else self.n_trials,
                         max_epochs=max_epochs, concurrency=concurrency)
        wrapped = read_wrapper(self.estimator, grid)
        if self.task not in (AUTO_TASK, wrapped.task):
            raise ValueError(f"task: {type(self.estimator).__name__} is a {wrapped.task} "
                             f"wrapper, but task={self.task!r}; drop task=")
        sampler, n_trials = None, self.n_trials
        if n_trials is None and wrapped.grid is not None and default_trials is not None:
            import optuna

            sampler = optuna.samplers.GridSampler(wrapped.grid, seed=self.random_state)
            n_trials = wrapped.grid_size
        weight = getattr(self.estimator, "class_weight", None)
        return _Plan(
            space=wrapped.space, task=wrapped.task,
            n_trials=default_trials if n_trials is None else n_trials,
            max_epochs=(self.max_epochs if self.max_epochs is not None
                        else wrapped.max_epochs or DEFAULT_EPOCHS),
            sampler=sampler, concurrency=concurrency,
            class_weight="balanced" if weight == "balanced" else "none",
            params=wrapped.user_params,
        )

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
        refit: bool = True, report: bool = True,
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
        self.refit = refit
        self.report = report

    def _plan(self) -> _Plan:
        from autokeras_lab.spaces import available_spaces

        if self.space not in available_spaces() and not str(self.space).endswith(".py"):
            raise ValueError(f"space: expected one of {', '.join(available_spaces())} or a "
                             f".py path, received {self.space!r}")
        return _Plan(space=self.space, task=self._task, n_trials=self.n_trials,
                     max_epochs=self.max_epochs)


class SearchRegressor(RegressorMixin, _BuiltInSearch):
    """A regressor that searches the built-in spaces (``plr_mlp`` by default) for the best
    tf.keras model; mixed column types are handled by the package's preprocessing.
    Works in a ``Pipeline`` and in ``cross_val_score`` (``score`` is R²)."""

    _task = TaskKind.REGRESSION


class SearchClassifier(ClassifierMixin, _BuiltInSearch):
    """A classifier that searches the built-in spaces for the best tf.keras model
    (``predict_proba`` gives the class probabilities; ``score`` is accuracy)."""

    _task = TaskKind.CLASSIFICATION
