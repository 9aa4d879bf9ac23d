"""scikeras' wrappers read as a search, so that scikeras code moves in two lines.

The seed notes' flow wraps a model function in scikeras' ``KerasRegressor(model=...,
epochs=..., batch_size=..., verbose=0)`` and searches it with
``GridSearchCV(estimator, param_grid, cv=3)``. :class:`~autokeras_lab.KerasSearchCV`
takes that wrapper and that grid as written: :func:`read_wrapper` turns them into a
search space over the grid's own keys (``model__learning_rate``,
``optimizer__momentum``, ``batch_size``, ...), so ``best_params_`` comes back in the
user's keys. scikeras' class is read where it is installed; :class:`KerasRegressor`
and :class:`KerasClassifier` take the same arguments where it is not.

scikeras' routing is kept: ``model__X`` (or a bare ``X`` the model function takes)
goes to the model function, ``optimizer__X`` and ``loss``/``compile__X`` compile a
model the function returns uncompiled, ``fit__batch_size``/``batch_size`` set the
batch size, ``epochs``/``fit__epochs`` the most epochs a trial trains (early stopping
ends it sooner), and a function that takes ``meta`` gets scikeras' ``meta`` dict.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, is_classifier

from autokeras_lab.sklearn._space import declare, space_module
from autokeras_lab.types import OutputKind, TaskKind

__all__ = ["KerasClassifier", "KerasRegressor", "WrappedSearch", "is_wrapper", "read_wrapper"]

#: a wrapper's settings whose job the search does itself, taken at any value (and
#: what becomes of them: docs/migrating.md); a value other than scikeras' default of
#: any other setting (shuffle=False, warm_start=True, ...) is refused, naming it
SEARCH_DOES = (
    "verbose",  # Keras' fit output: KerasSearchCV(verbose=) shows the search's progress
    "validation_split",  # each trial validates on held-out rows, or on folds with cv=
    "random_state",  # KerasSearchCV(random_state=) seeds every trial
    "build_fn",  # scikeras' older name for model=
    "metrics",  # the search's metric is scoring=
    "validation_batch_size",  # validation is batched by the search
    "run_eagerly",  # trials run compiled
)
BATCH_KEYS = ("batch_size", "fit__batch_size")
EPOCH_KEYS = ("epochs", "fit__epochs")
STOPPING_CALLBACKS = ("EarlyStopping", "ModelCheckpoint", "TerminateOnNaN")


def is_wrapper(estimator: Any) -> bool:
    """Whether ``estimator`` is a scikeras-style wrapper (scikeras' or ours)."""
    return isinstance(estimator, BaseEstimator) and "model" in estimator.get_params(deep=False)


@dataclass(frozen=True)
class WrappedSearch:
    """A wrapper and its grid, read as a search.

    Attributes:
        space: The search space (a :mod:`autokeras_lab.spaces` module) whose
            hyperparameters are the grid's keys.
        task: ``regression`` or ``classification``, from the wrapper's class.
        max_epochs: The wrapper's or the grid's most epochs, if given.
        grid: Every hyperparameter's choices when the grid enumerates them all (for
            a grid sampler), else ``None``.
        keys: The grid's keys as the user wrote them (``best_params_`` has these).
        decode: Choices that are not plain values (classes, tuples), by their text.
    """

    space: Any
    task: TaskKind
    max_epochs: int | None
    grid: dict[str, list[Any]] | None
    keys: tuple[str, ...]
    decode: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def grid_size(self) -> int:
        return math.prod(len(v) for v in self.grid.values()) if self.grid else 0

    def user_params(self, config: Mapping[str, Any], epochs: int) -> dict[str, Any]:
        """A trial's configuration in the user's keys and values (``epochs``: what the
        trial trained, for a grid that lists epochs)."""
        params: dict[str, Any] = {}
        for key in self.keys:
            if key in EPOCH_KEYS:
                params[key] = epochs
                continue
            name = "batch_size" if key in BATCH_KEYS else key
            if name in config:
                value = config[name]
                params[key] = self.decode.get(key, {}).get(value, value)
        return params


def read_wrapper(estimator: Any, param_grid: Mapping[str, Any] | None) -> WrappedSearch:
    """The search a wrapper and its ``param_grid`` describe.

    Raises:
        ValueError: a setting the search cannot honour, naming it and what to do.
    """
    if param_grid is not None and not isinstance(param_grid, Mapping):
        raise ValueError("param_grid: expected one dict of name -> values (a list of "
                         "grids: search each with its own KerasSearchCV)")
    params = estimator.get_params(deep=False)
    model_fn = params.get("model") or params.get("build_fn")
    name = type(estimator).__name__
    if not callable(model_fn) or isinstance(model_fn, type):
        raise ValueError(f"{name}(model=...): expected the function that builds the Keras "
                         f"model, received {type(model_fn).__name__}")
    _check_settings(estimator, params)
    grid = dict(param_grid or {})
    fixed = {k: v for k, v in params.items()
             if k not in grid and ("__" in k or k in ("optimizer", "loss", "batch_size"))}
    signature = inspect.signature(model_fn).parameters
    for key in grid:
        _check_key(key, signature, name)

    epochs = [v for k in EPOCH_KEYS for v in ([params.get(k), *list(grid.get(k, []))])
              if isinstance(v, int) and v > 0]
    declared: dict[str, Callable[[Any], Any]] = {}
    decode: dict[str, dict[str, Any]] = {}
    choices: dict[str, list[Any]] = {}
    for key, spec in grid.items():
        if key in EPOCH_KEYS:
            continue
        hp_name = "batch_size" if key in BATCH_KEYS else key
        if isinstance(spec, list | tuple):
            values, originals = _plain(key, list(spec))
            if originals:
                decode[key] = originals
            choices[hp_name] = values
            declared[hp_name] = declare(hp_name, values)
        else:  # a distribution (RandomizedSearchCV's kind)
            declared[hp_name] = declare(hp_name, spec)
    batch = next((fixed.pop(k) for k in BATCH_KEYS if fixed.get(k)), None)
    if "batch_size" not in declared and batch is not None:
        declared["batch_size"] = declare("batch_size", [int(batch)])
        choices["batch_size"] = [int(batch)]
    fixed = {k: v for k, v in fixed.items() if k not in BATCH_KEYS}
    build = _builder(model_fn, fixed, declared, decode, signature, name)
    task = TaskKind.CLASSIFICATION if is_classifier(estimator) else TaskKind.REGRESSION
    enumerated = len(choices) == len(declared)
    return WrappedSearch(
        space=space_module(getattr(model_fn, "__name__", "model"), build, model_fn),
        task=task, max_epochs=max(epochs) if epochs else None,
        grid=choices if enumerated else None, keys=tuple(grid), decode=decode,
    )


def _check_settings(estimator: Any, params: dict[str, Any]) -> None:
    """Refuse a setting of the wrapper the search would not honour."""
    defaults = type(estimator)().get_params(deep=False)
    name = type(estimator).__name__
    for key, value in params.items():
        if key in ("model", "optimizer", "loss", "epochs", *SEARCH_DOES) or "__" in key:
            continue
        if key == "batch_size" or value is None or value == defaults.get(key, value):
            continue
        if key == "callbacks":
            other = [type(c).__name__ if not isinstance(c, type) else c.__name__
                     for c in value]
            unknown = [c for c in other if c not in STOPPING_CALLBACKS]
            if unknown:
                raise ValueError(
                    f"{name}(callbacks=[{', '.join(unknown)}]): a trial runs no callbacks of "
                    "yours; early stopping is the search's own (patience, ASHA), so drop them"
                )
            continue
        if key == "class_weight" and value == "balanced":
            continue
        raise ValueError(f"{name}({key}={value!r}): not taken by KerasSearchCV; leave it at "
                         f"its default ({defaults.get(key)!r})")


def _check_key(key: str, signature: Mapping[str, inspect.Parameter], name: str) -> None:
    route, _, rest = key.partition("__")
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.values())
    if key in (*BATCH_KEYS, *EPOCH_KEYS, "optimizer", "loss"):
        return
    if route in ("optimizer", "compile", "loss") and rest:
        return
    if route == "model" and rest and (rest in signature or takes_any):
        return
    if not rest and (key in signature or takes_any):
        return
    if route == "model":
        raise ValueError(f"param_grid: {key!r}: {rest!r} is not a parameter of the model "
                         f"function (it takes {', '.join(signature) or 'none'})")
    raise ValueError(
        f"param_grid: {key!r} is not searched by KerasSearchCV; it takes model__*, "
        f"optimizer__*, compile__*, loss, optimizer, batch_size and epochs (of {name})"
    )


def _plain(key: str, values: list[Any]) -> tuple[list[Any], dict[str, Any]]:
    """Grid values as choices a sampler takes: plain values as they are, others (a
    class, a tuple, None, mixed types) by their text, with the way back."""
    if not values:
        raise ValueError(f"param_grid[{key!r}]: expected a non-empty list of values")
    plain = (str, int, float, bool)
    if all(type(v) in plain for v in values) and len({type(v) for v in values}) == 1:
        return values, {}
    texts = [getattr(v, "__name__", None) or repr(v) for v in values]
    if len(set(texts)) != len(texts):
        texts = [f"{i}: {t}" for i, t in enumerate(texts)]
    return texts, dict(zip(texts, values, strict=True))


def _builder(model_fn: Callable[..., Any], fixed: dict[str, Any],
             declared: dict[str, Callable[[Any], Any]], decode: dict[str, dict[str, Any]],
             signature: Mapping[str, inspect.Parameter], name: str,
             ) -> Callable[[Any, Any], Any]:
    """``build_model(hp, task)`` for the wrapper: the grid's values routed as scikeras
    routes them, the model compiled as scikeras compiles one left uncompiled."""
    takes_any = any(p.kind is p.VAR_KEYWORD for p in signature.values())

    def build_model(hp: Any, task: Any) -> Any:
        values = dict(fixed)
        for key, declare_one in declared.items():
            value = declare_one(hp)
            values[key] = decode.get(key, {}).get(value, value)
        kwargs: dict[str, Any] = {}
        for key, value in values.items():
            route, _, rest = key.partition("__")
            if route == "model" and rest:
                kwargs[rest] = value
            elif (not rest and (key in signature or takes_any)
                  and key not in ("optimizer", "loss", *BATCH_KEYS)):
                kwargs[key] = value
        if "meta" in signature:
            kwargs["meta"] = _meta(task)
        compile_kwargs = _compile_kwargs(values, task)
        if "compile_kwargs" in signature:
            kwargs["compile_kwargs"] = compile_kwargs
        model = model_fn(**kwargs)
        if getattr(model, "compiled", False):
            searched = [k for k in declared if k.startswith(("optimizer", "loss", "compile"))]
            if searched:
                raise ValueError(
                    f"param_grid: {', '.join(searched)} would change nothing: {name}'s model "
                    "function returns a compiled model; return it uncompiled (it is compiled "
                    "with optimizer= and loss=, as scikeras does) or make it a parameter"
                )
            return model
        model.compile(**compile_kwargs)
        return model

    return build_model


def _meta(task: Any) -> dict[str, Any]:
    """scikeras' ``meta`` for a model function that takes it."""
    classes = {OutputKind.BINARY: 2, OutputKind.MULTICLASS: task.n_outputs}.get(task.kind)
    meta: dict[str, Any] = {"n_features_in_": task.n_features, "n_outputs_": 1,
                            "n_outputs_expected_": 1, "target_type_": {
                                OutputKind.REGRESSION: "continuous",
                                OutputKind.BINARY: "binary",
                                OutputKind.MULTICLASS: "multiclass"}[task.kind]}
    if classes:
        meta |= {"n_classes_": classes, "classes_": list(range(classes))}
    return meta


def _compile_kwargs(values: dict[str, Any], task: Any) -> dict[str, Any]:
    """``optimizer`` with its ``optimizer__*`` arguments, ``loss`` (the task's when not
    given) and ``compile__*``, as scikeras compiles."""
    import keras

    optimizer = values.get("optimizer") or "rmsprop"
    arguments = {k.split("__", 1)[1]: v for k, v in values.items()
                 if k.startswith("optimizer__")}
    if isinstance(optimizer, str):
        optimizer = type(keras.optimizers.get(optimizer))
    if isinstance(optimizer, type):
        optimizer = optimizer(**arguments)
    elif arguments:
        optimizer = type(optimizer).from_config(optimizer.get_config() | arguments)
    compiled = {"optimizer": optimizer, "loss": values.get("loss") or task.loss}
    compiled |= {k.split("__", 1)[1]: v for k, v in values.items() if k.startswith("compile__")}
    return compiled


class _Wrapper(BaseEstimator):
    """scikeras' wrapper arguments, for a search (see :class:`KerasSearchCV`)."""

    def __init__(
        self, model: Callable[..., Any] | None = None, *, build_fn: Any = None,
        warm_start: bool = False, random_state: Any = None, optimizer: Any = "rmsprop",
        loss: Any = None, metrics: Any = None, batch_size: int | None = None,
        validation_batch_size: int | None = None, verbose: int = 1, callbacks: Any = None,
        validation_split: float = 0.0, shuffle: bool = True, run_eagerly: bool = False,
        epochs: int = 1, **kwargs: Any,
    ) -> None:
        self.model = model
        self.build_fn = build_fn
        self.warm_start = warm_start
        self.random_state = random_state
        self.optimizer = optimizer
        self.loss = loss
        self.metrics = metrics
        self.batch_size = batch_size
        self.validation_batch_size = validation_batch_size
        self.verbose = verbose
        self.callbacks = callbacks
        self.validation_split = validation_split
        self.shuffle = shuffle
        self.run_eagerly = run_eagerly
        self.epochs = epochs
        self._routed = sorted(kwargs)
        for key, value in kwargs.items():
            setattr(self, key, value)

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        params = super().get_params(deep=deep)
        return params | {key: getattr(self, key) for key in self._routed}

    def set_params(self, **params: Any) -> _Wrapper:
        for key, value in params.items():
            if "__" in key and key not in self._routed:
                self._routed = sorted({*self._routed, key})
            setattr(self, key, value)
        return self

    def fit(self, X: Any, y: Any, **kwargs: Any) -> _Wrapper:
        raise TypeError(
            f"{type(self).__name__} describes the model of a search: pass it to "
            "KerasSearchCV(estimator, param_grid) and fit that (for one plain Keras fit, "
            "call your model function and model.fit)"
        )


class KerasRegressor(RegressorMixin, _Wrapper):
    """scikeras' ``KerasRegressor`` arguments (``model=create_model``, ``epochs=``,
    ``batch_size=``, ``optimizer=``, ``model__*``...), for ``KerasSearchCV`` where
    scikeras is not installed."""


class KerasClassifier(ClassifierMixin, _Wrapper):
    """scikeras' ``KerasClassifier`` arguments, for ``KerasSearchCV``: the model function
    ends with one sigmoid unit (two classes) or a softmax over the classes, and its
    loss takes class indices (``binary_crossentropy``,
    ``sparse_categorical_crossentropy``; the task's loss when none is given)."""

    def __init__(self, model: Callable[..., Any] | None = None, *, class_weight: Any = None,
                 **kwargs: Any) -> None:
        super().__init__(model, **kwargs)
        self.class_weight = class_weight

    @classmethod
    def _get_param_names(cls) -> list[str]:  # scikeras' arguments and class_weight
        return sorted({*_Wrapper._get_param_names(), "class_weight"})

