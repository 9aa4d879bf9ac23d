"""Warm starts: what earlier searches of an experiment tell a new one.

Earlier trials on the same data (fingerprint) and search space are told to the new
search's Optuna sampler as finished trials, and the best of them are enqueued as its
first proposals. When the space changed since, configurations are fitted to it: a
hyperparameter that left the space is ignored, a new one takes its default, and a
trial whose value falls outside a narrowed range is dropped, with a note saying so.

Example:
    >>> from autokeras_lab.warmstart import plan_warm_start  # doctest: +SKIP
    >>> plan = plan_warm_start(board, search.key, derived, direction=Direction.MIN)
    >>> plan.first[0]  # the best earlier configuration  # doctest: +SKIP
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from autokeras_lab.errors import UserError
from autokeras_lab.leaderboard import Leaderboard, SearchKey, WarmStartRecord
from autokeras_lab.spaces import DerivedSpace
from autokeras_lab.types import Direction

__all__ = ["WarmStart", "build_study", "plan_warm_start"]

FIRST_PROPOSALS = 5


@dataclass(frozen=True)
class WarmStart:
    """What a new search learns from earlier ones.

    Attributes:
        searches: The earlier searches used.
        told: Full configurations with their best validation metric, for the sampler.
        first: Configurations to propose first (the best earlier ones).
        notes: Human-readable lines: what was used, ignored and dropped.
    """

    searches: list[str]
    told: list[tuple[dict[str, Any], float]] = field(default_factory=list)
    first: list[dict[str, Any]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def summary(self) -> WarmStartRecord:
        """What the search keeps of it on the leaderboard."""
        return WarmStartRecord(searches=tuple(self.searches), told=len(self.told),
                               first=len(self.first), notes=tuple(self.notes))


def plan_warm_start(
    board: Leaderboard,
    key: SearchKey,
    space: DerivedSpace,
    *,
    direction: Direction,
    search_id: str | None = None,
    first: int = FIRST_PROPOSALS,
) -> WarmStart:
    """Collect earlier results that fit the current space.

    Args:
        key: The new search's experiment, data, space and metric: only searches with
            the same have comparable values.
        space: The space the new search samples from (earlier configurations are
            fitted to it).
        direction: Which way the metric improves: the best earlier results, proposed
            first, are the lowest or the highest.
        search_id: Use only this earlier search (``--warm-start-from``); otherwise every
            earlier search with the same key.

    Raises:
        UserError: ``search_id`` is unknown, or was run on other data, another space or
            another metric.
    """
    distributions, defaults = space.to_optuna(), space.defaults()
    if search_id is not None:
        earlier = board.find(key.experiment, search_id)
        if earlier.data_fingerprint != key.fingerprint or earlier.space != key.space:
            raise UserError(
                f"search {search_id} ran on other data or another search space "
                f"({earlier.space}); warm starts need the same data and space"
            )
        if earlier.metric != key.metric:
            raise UserError(
                f"search {search_id} optimised {earlier.metric}, this one optimises "
                f"{key.metric}; warm starts need the same metric (pass --metric "
                f"{earlier.metric})"
            )
        chosen = [earlier]
    else:
        chosen = board.searches(like=key)
    if not chosen:
        return WarmStart([], notes=[
            f"warm start: no earlier search of {key.experiment} on this data and space "
            f"{key.space} optimising {key.metric}; starting cold"
        ])
    ids = [s.search_id for s in chosen]
    told: list[tuple[dict[str, Any], float]] = []
    ignored: Counter[str] = Counter()
    dropped: Counter[str] = Counter()
    seen: set[str] = set()
    for search in chosen:
        for trial in board.trials(key.experiment, search_id=search.search_id,
                                  direction=direction):
            if trial.best_val is None:
                continue
            config, reason = _fit(trial.config, distributions, defaults, ignored)
            if reason is not None:
                dropped[reason] += 1
                continue
            same = repr(sorted(config.items()))
            if same not in seen:
                seen.add(same)
                told.append((config, trial.best_val))
    told.sort(key=lambda item: direction.key(item[1]))  # stable: ties keep their order
    notes = [f"warm start from {len(ids)} earlier search(es): {len(told)} trial(s) told to the "
             f"sampler, the best {min(first, len(told))} proposed first"]
    if ignored:
        notes.append("ignored (no longer in the space): "
                     + ", ".join(f"{k} ({n} trials)" for k, n in sorted(ignored.items())))
    if dropped:
        notes.append("dropped trials whose value is outside the space now: "
                     + ", ".join(f"{k} ({n})" for k, n in sorted(dropped.items())))
    return WarmStart(ids, told, [c for c, _ in told[:first]], notes)


def _fit(
    config: dict[str, Any], distributions: dict[str, Any], defaults: dict[str, Any],
    ignored: Counter[str],
) -> tuple[dict[str, Any], str | None]:
    """The configuration in today's space, or the name of the value that does not fit."""
    fitted = dict(defaults)
    for name, value in config.items():
        if name not in distributions:
            ignored[name] += 1
            continue
        dist = distributions[name]
        try:
            fits = dist._contains(dist.to_internal_repr(value))
        except (ValueError, TypeError):
            fits = False
        if not fits:
            return fitted, name
        fitted[name] = value
    return fitted, None


def build_study(
    plan: WarmStart, *, name: str, distributions: dict[str, Any], direction: Direction,
    sampler: Any,
) -> Any:
    """An in-memory Optuna study holding the earlier results (as finished trials, so the
    sampler models them) and the best configurations enqueued as first proposals. Ray
    Tune's ``OptunaSearch(storage=..., study_name=name)`` loads it as it is."""
    import optuna

    storage = optuna.storages.InMemoryStorage()
    study = optuna.create_study(
        storage=storage, study_name=name, sampler=sampler,
        direction=direction.optuna,
    )
    study.add_trials([
        optuna.trial.create_trial(params=config, distributions=distributions, value=value)
        for config, value in plan.told
    ])
    for config in plan.first:
        study.enqueue_trial(config, skip_if_exists=False)
    return storage
