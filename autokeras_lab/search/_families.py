"""A searcher per family of models: trials dealt among the values of one hyperparameter
in turn, each value's trials proposed by a sampler of its own.

One sampler over the whole space converges on one family: on concrete, TPE leaves
networks without the periodic embedding after its first random trials, yet the one
such network that ran long carried the largest weight of the selected ensemble, and
without that family the ensemble was 0.05 MPa worse on its selection rows. A family
searched on its own finds its own best, however it compares with the others trial by
trial, and the ensemble chooses among the families' best (what AutoGluon gets from
its model families, within one space here).
"""

from __future__ import annotations

import pickle
from collections.abc import Sequence
from typing import Any

from ray.tune.search import Searcher


class FamilySearch(Searcher):
    """Deals trial ``k`` to ``searchers[k % len(searchers)]`` (each over the space with
    the family's hyperparameter fixed at its value), and hands each trial's results
    back to the searcher that proposed it.

    Args:
        searchers: One Ray Tune searcher per family, in dealing order.
        metric, mode: What the searchers optimise (Ray Tune's ``Searcher``).
    """

    def __init__(self, searchers: Sequence[Searcher], *, metric: str, mode: str) -> None:
        super().__init__(metric=metric, mode=mode)
        self._searchers = list(searchers)
        self._dealt = 0
        self._owner: dict[str, int] = {}

    def set_search_properties(self, metric: str | None, mode: str | None, config: dict[str, Any],
                              **spec: Any) -> bool:
        return all([s.set_search_properties(metric, mode, config, **spec)
                    for s in self._searchers])

    def suggest(self, trial_id: str) -> dict[str, Any] | None:
        index = self._dealt % len(self._searchers)
        config = self._searchers[index].suggest(trial_id)
        if isinstance(config, dict):
            self._dealt += 1
            self._owner[trial_id] = index
        return config

    def on_trial_result(self, trial_id: str, result: dict[str, Any]) -> None:
        if trial_id in self._owner:
            self._searchers[self._owner[trial_id]].on_trial_result(trial_id, result)

    def on_trial_complete(self, trial_id: str, result: dict[str, Any] | None = None,
                          error: bool = False) -> None:
        index = self._owner.pop(trial_id, None)
        if index is not None:
            self._searchers[index].on_trial_complete(trial_id, result=result, error=error)

    def save(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "wb") as file:
            pickle.dump(self.__dict__.copy(), file)

    def restore(self, checkpoint_path: str) -> None:
        with open(checkpoint_path, "rb") as file:
            self.__dict__.update(pickle.load(file))
