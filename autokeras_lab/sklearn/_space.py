"""A user's model function and its ``param_distributions`` as a search space, and
scikit-learn's scorer names as our metrics."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from types import ModuleType
from typing import Any

#: scikit-learn scorer names -> our metrics (their scores are the negated errors)
SCORING = {
    "neg_root_mean_squared_error": "rmse",
    "neg_mean_absolute_error": "mae",
    "neg_log_loss": "log_loss",
    "accuracy": "accuracy",
}
LOG_RANGE_RATIO = 100  # a positive (low, high) range this wide is sampled on a log scale


def metric_of(scoring: str | None) -> str:
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


def declare(name: str, spec: Any) -> Callable[[Any], Any]:
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
        return declare(name, list(spec.choices))
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
    if not callable(model_fn):
        raise ValueError(f"model_fn: expected a function returning a compiled keras.Model, "
                         f"received {type(model_fn).__name__}")
    parameters = inspect.signature(model_fn).parameters
    takes_hp = next(iter(parameters), None) == "hp"
    name = getattr(model_fn, "__name__", "model_fn")
    if takes_hp:
        if param_distributions:
            raise ValueError("param_distributions: a keras-tuner build_model(hp) declares its "
                             "own hyperparameters; pass none")
        with_task = len(parameters) >= 2

        def build_hp(hp: Any, task: Any) -> Any:
            return model_fn(hp, task) if with_task else model_fn(hp)

        return space_module(name, build_hp, model_fn)
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
    declared = {key: declare(key, spec) for key, spec in param_distributions.items()}
    passed = [k for k in declared if k in parameters or (accepts_any and k != "batch_size")]

    def build_model(hp: Any, task: Any) -> Any:
        values = {key: declare(hp) for key, declare in declared.items()}
        return model_fn(**{key: values[key] for key in passed})

    return space_module(name, build_model, model_fn)


def space_module(name: str, build_model: Callable[[Any, Any], Any],
                 source: Callable[..., Any]) -> Any:
    """A search space (see :mod:`autokeras_lab.spaces`) around ``build_model(hp, task)``,
    named after the user's function ``source``."""
    from autokeras_lab.spaces import check_module

    module = ModuleType(f"_akl_function_space_{name}")
    module.__file__ = inspect.getsourcefile(source) or "<unknown>"
    module.DESCRIPTION = f"the model function {name}"  # type: ignore[attr-defined]
    module.build_model = build_model  # type: ignore[attr-defined]
    return check_module(name, module)


