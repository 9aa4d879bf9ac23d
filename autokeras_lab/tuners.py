"""The registries of early-stopping schedulers and Optuna samplers a search can use.

A scheduler is chosen with the experiment's ``[scheduler] name`` and a sampler with
``[sampler] name`` (or ``--sampler``; from Python, ``run_search`` also takes an Optuna
sampler instance). Adding one is one entry here: its name and a :class:`Scheduler` or
:class:`Sampler` record (a line for listings, and a function that builds it; Ray and
Optuna are imported inside, so config errors answer without them).

Schedulers (Ray Tune's, all of which work beside an Optuna searcher):

* ``asha``: asynchronous successive halving; at each rung only the best
  ``1/reduction_factor`` go on (the default).
* ``hyperband``: asynchronous Hyperband, ASHA over three brackets of grace periods,
  which hedges against a grace period that is too short.
* ``median``: the median stopping rule; a trial stops once its best value is worse
  than the median of the other trials' at the same epoch.
* ``fifo``: no early stopping.

Samplers (Optuna's):

* ``tpe``: multivariate TPE with the constant liar for parallel trials (the default).
* ``random``: independent uniform sampling, a baseline.
* ``cmaes``: CMA-ES over the numeric hyperparameters (the categorical ones are sampled
  independently, which Optuna reports).
* ``gp``: Gaussian-process Bayesian optimisation; needs PyTorch
  (``pip install "autokeras_lab[gp]"``).

Example:
    >>> from autokeras_lab.tuners import SAMPLERS, SCHEDULERS
    >>> sorted(SCHEDULERS), sorted(SAMPLERS)
    (['asha', 'fifo', 'hyperband', 'median'], ['cmaes', 'gp', 'random', 'tpe'])
"""

from __future__ import annotations

import importlib.util
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from autokeras_lab.errors import UserError

__all__ = ["CUSTOM_SAMPLER", "SAMPLERS", "SCHEDULERS", "BuiltScheduler", "Sampler", "Scheduler",
           "asha_rungs", "build_sampler", "build_scheduler"]

HYPERBAND_BRACKETS = 3


@dataclass(frozen=True)
class BuiltScheduler:
    """A Ray Tune scheduler and the epochs at which it compares trials (a result must
    reach it there; between them, reports are batched)."""

    scheduler: Any
    rungs: tuple[int, ...]


def asha_rungs(grace_period: int, reduction_factor: int, max_t: int) -> tuple[int, ...]:
    """The epochs at which ASHA compares trials (same formula as Ray's bracket)."""
    if grace_period >= max_t:
        return ()
    count = int(math.log(max_t / grace_period) / math.log(reduction_factor) + 1)
    return tuple(grace_period * reduction_factor**k for k in range(count))


def _grace(grace_period: int, max_epochs: int) -> int:
    # A grace period as long as the whole budget would never stop anything: on short
    # budgets the schedulers get a quarter of the epochs instead.
    return min(grace_period, max(1, max_epochs // 4))


def _asha(grace_period: int, reduction_factor: int, max_epochs: int) -> BuiltScheduler:
    from ray.tune.schedulers import ASHAScheduler

    grace = _grace(grace_period, max_epochs)
    return BuiltScheduler(
        ASHAScheduler(time_attr="epoch", max_t=max_epochs, grace_period=grace,
                      reduction_factor=reduction_factor),
        asha_rungs(grace, reduction_factor, max_epochs),
    )


def _hyperband(grace_period: int, reduction_factor: int, max_epochs: int) -> BuiltScheduler:
    from ray.tune.schedulers import AsyncHyperBandScheduler

    grace = _grace(grace_period, max_epochs)
    rungs = {
        rung
        for bracket in range(HYPERBAND_BRACKETS)
        for rung in asha_rungs(grace * reduction_factor**bracket, reduction_factor, max_epochs)
    }
    return BuiltScheduler(
        AsyncHyperBandScheduler(time_attr="epoch", max_t=max_epochs, grace_period=grace,
                                reduction_factor=reduction_factor,
                                brackets=HYPERBAND_BRACKETS),
        tuple(sorted(rungs)),
    )


def _median(grace_period: int, reduction_factor: int, max_epochs: int) -> BuiltScheduler:
    from ray.tune.schedulers import MedianStoppingRule

    return BuiltScheduler(
        MedianStoppingRule(time_attr="epoch", grace_period=_grace(grace_period, max_epochs),
                           min_samples_required=3),
        (),
    )


def _fifo(grace_period: int, reduction_factor: int, max_epochs: int) -> BuiltScheduler:
    from ray.tune.schedulers import FIFOScheduler

    return BuiltScheduler(FIFOScheduler(), ())  # type: ignore[no-untyped-call]


@dataclass(frozen=True, kw_only=True)
class Scheduler:
    """A registered scheduler: a line for listings, and its builder
    ``build(grace_period, reduction_factor, max_epochs)``."""

    description: str
    build: Callable[[int, int, int], BuiltScheduler]


SCHEDULERS: dict[str, Scheduler] = {
    "asha": Scheduler(description="asynchronous successive halving (default)", build=_asha),
    "hyperband": Scheduler(
        description=f"asynchronous Hyperband: ASHA over {HYPERBAND_BRACKETS} brackets",
        build=_hyperband),
    "median": Scheduler(description="median stopping rule", build=_median),
    "fifo": Scheduler(description="no early stopping", build=_fifo),
}


def build_scheduler(
    name: str, *, grace_period: int, reduction_factor: int, max_epochs: int
) -> BuiltScheduler:
    """The scheduler ``name`` for trials of at most ``max_epochs`` epochs."""
    return SCHEDULERS[name].build(grace_period, reduction_factor, max_epochs)


def _tpe(seed: int) -> Any:
    import optuna

    return optuna.samplers.TPESampler(seed=seed, multivariate=True, constant_liar=True)


def _random(seed: int) -> Any:
    import optuna

    return optuna.samplers.RandomSampler(seed=seed)


def _cmaes(seed: int) -> Any:
    import optuna

    return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)


def _gp(seed: int) -> Any:
    import optuna

    return optuna.samplers.GPSampler(seed=seed)


@dataclass(frozen=True, kw_only=True)
class Sampler:
    """A registered Optuna sampler: a line for listings, its builder ``build(seed)``,
    and the module it needs besides Optuna with the extra that installs it."""

    description: str
    build: Callable[[int], Any]
    needs: str | None = None
    extra: str | None = None


SAMPLERS: dict[str, Sampler] = {
    "tpe": Sampler(description="multivariate TPE with the constant liar (default)", build=_tpe),
    "random": Sampler(description="uniform random sampling", build=_random),
    "cmaes": Sampler(description="CMA-ES on the numeric hyperparameters", build=_cmaes,
                     needs="cmaes"),
    "gp": Sampler(description="Gaussian-process Bayesian optimisation (needs PyTorch)",
                  build=_gp, needs="torch", extra="gp"),
}

#: The name a search records when ``run_search`` was handed a sampler instance (its
#: class is recorded beside it; a resume gets the instance back from Ray Tune's state).
CUSTOM_SAMPLER = "custom"


def build_sampler(name: str, *, seed: int) -> Any:
    """The Optuna sampler ``name``, seeded.

    Raises:
        UserError: the sampler needs a package that is not installed.
    """
    entry = SAMPLERS[name]
    needs = entry.needs
    if needs is not None and importlib.util.find_spec(needs) is None:
        extra = entry.extra
        how = f'pip install "autokeras_lab[{extra}]"' if extra else f"pip install {needs}"
        raise UserError(
            f"sampler {name!r} needs the {needs} package, which is not installed; "
            f"run `{how}` or choose another sampler (--sampler tpe)"
        )
    return entry.build(seed)
