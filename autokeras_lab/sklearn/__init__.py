"""scikit-learn estimators over the search engine, for the ``GridSearchCV`` flow.

:class:`KerasSearchCV` takes a user's model function unchanged, the way
``KerasRegressor(model=create_model)`` + ``GridSearchCV`` did, or that wrapper itself
with its ``model__``/``optimizer__``/``fit__`` grid, and searches it with Ray Tune,
Optuna and ASHA; :class:`SearchRegressor` and :class:`SearchClassifier` do the same
with the built-in search spaces for users with no model function. All of them keep the
leaderboard, the report and the exported best model under ``runs_dir`` like the
command line. :class:`KerasRegressor` and :class:`KerasClassifier` take scikeras'
arguments where scikeras (archived in 2026) is not installed.

Example:
    >>> from autokeras_lab import KerasSearchCV
    >>> def create_model(learning_rate=0.01, dropout_rate=0.0):
    ...     ...  # returns a compiled keras.Model
    >>> search = KerasSearchCV(create_model, {"learning_rate": (1e-4, 1e-1),
    ...                                       "dropout_rate": [0.0, 0.2]}, n_trials=20)
    >>> search.fit(X, y)  # doctest: +SKIP
    >>> search.best_params_, search.best_score_  # doctest: +SKIP
"""

from autokeras_lab.sklearn._estimators import KerasSearchCV, SearchClassifier, SearchRegressor
from autokeras_lab.sklearn._space import function_space
from autokeras_lab.sklearn._wrappers import KerasClassifier, KerasRegressor

__all__ = ["KerasClassifier", "KerasRegressor", "KerasSearchCV", "SearchClassifier",
           "SearchRegressor", "function_space"]
