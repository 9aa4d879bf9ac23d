"""A stored search space as Optuna distributions.

A search records its space as keras-tuner's ``get_config()`` of each hyperparameter
(``DerivedSpace.to_config()``, the leaderboard's ``space_config``). This module turns
that record into Optuna distributions without importing TensorFlow or the space's
module, so the sampler, a warm start and the report's plots read one translation.

Example:
    >>> space = {"space": [{"class_name": "Float", "config": {
    ...     "name": "learning_rate", "min_value": 1e-4, "max_value": 1e-2,
    ...     "sampling": "log"}}]}
    >>> optuna_space(space)["learning_rate"].log
    True
"""

from __future__ import annotations

from typing import Any

from autokeras_lab.errors import SpaceError

__all__ = ["distribution_from_config", "optuna_space"]


def distribution_from_config(kind: str, config: dict[str, Any]) -> Any:
    """The Optuna distribution of one keras-tuner hyperparameter, from its class name
    and ``get_config()`` (so stored spaces convert without importing TensorFlow)."""
    import optuna.distributions as od

    log = config.get("sampling", "linear") == "log"
    if kind == "Int":
        step = 1 if log else (config.get("step") or 1)
        return od.IntDistribution(config["min_value"], config["max_value"], log=log, step=step)
    if kind == "Float":
        step = None if log else config.get("step")
        return od.FloatDistribution(config["min_value"], config["max_value"], log=log, step=step)
    if kind == "Choice":
        return od.CategoricalDistribution(list(config["values"]))
    if kind == "Boolean":
        return od.CategoricalDistribution([False, True])
    if kind == "Fixed":
        return od.CategoricalDistribution([config["value"]])
    raise SpaceError(f"hyperparameter {config.get('name')!r}: unsupported kind {kind}")


def optuna_space(space_config: dict[str, Any]) -> dict[str, Any]:
    """Optuna distributions of a stored space (``DerivedSpace.to_config()``)."""
    return {
        p["config"]["name"]: distribution_from_config(p["class_name"], p["config"])
        for p in space_config.get("space", [])
    }
