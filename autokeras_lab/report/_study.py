"""A search's trials as an in-memory Optuna study, so the report can draw with
Optuna's own plots and estimate importances with its evaluators.

The study is built from leaderboard records only (the stored space config gives the
distributions); nothing of the search's live Optuna state is needed.
"""

from __future__ import annotations

import datetime as dt
import math
import warnings
from collections.abc import Sequence
from functools import cached_property
from typing import TYPE_CHECKING

from autokeras_lab.distributions import optuna_space
from autokeras_lab.leaderboard import SearchRecord, TrialRecord
from autokeras_lab.types import TrialStatus

if TYPE_CHECKING:
    import optuna

#: The user attribute that keeps a trial's number on the leaderboard (Optuna numbers
#: the study's trials in the order they are added: here, the order they finished).
LEADERBOARD_NUMBER = "leaderboard_number"


def _when(timestamp: float | None) -> dt.datetime | None:
    return dt.datetime.fromtimestamp(timestamp) if timestamp else None


def _fits(dist: optuna.distributions.BaseDistribution, value: object) -> bool:
    """Whether a stored value lies in the stored space (a warm start's or an older
    space's value may not: it is then left out of that trial's parameters)."""
    try:
        return bool(dist._contains(dist.to_internal_repr(value)))
    except (ValueError, TypeError):
        return False


def build_study(
    trials: Sequence[TrialRecord], search: SearchRecord, *, stopped_as_pruned: bool
) -> optuna.Study:
    """The trials, in the order they finished, as a study in the search's direction.

    Args:
        stopped_as_pruned: Trials stopped early become ``PRUNED`` (for the timeline);
            otherwise they are ``COMPLETE`` with their best value, since a stopped
            trial's best epoch is a real result (most trials of a search end so).
    """
    import optuna
    from optuna.trial import TrialState

    dists = optuna_space(search.space_config)
    study = optuna.create_study(direction=search.direction.optuna)
    for trial in sorted(trials, key=lambda t: t.finished_at or 0.0):
        scored = trial.best_val is not None and math.isfinite(trial.best_val)
        if trial.status is TrialStatus.FAILED or not scored:
            state, value = TrialState.FAIL, None
        elif trial.status is TrialStatus.STOPPED_EARLY and stopped_as_pruned:
            state, value = TrialState.PRUNED, None
        else:
            state, value = TrialState.COMPLETE, trial.best_val
        params = {
            name: trial.config[name] for name, dist in dists.items()
            if name in trial.config and _fits(dist, trial.config[name])
        }
        study.add_trial(optuna.trial.FrozenTrial(
            number=len(study.trials),
            trial_id=len(study.trials),
            state=state,
            value=value,
            params=params,
            distributions={name: dists[name] for name in params},
            intermediate_values={
                epoch: v for epoch, v in enumerate(trial.curve, start=1) if math.isfinite(v)
            },
            user_attrs={LEADERBOARD_NUMBER: trial.number},
            system_attrs={},
            datetime_start=_when(trial.started_at),
            datetime_complete=_when(trial.finished_at),
        ))
    return study


#: fANOVA needs a few scored trials to split on.
MIN_TRIALS_FOR_IMPORTANCE = 4


class SearchTrials:
    """A search's trials as the report's figures read them: each study, and the fANOVA
    importances that two figures show, are computed once for the whole report."""

    def __init__(self, trials: Sequence[TrialRecord], search: SearchRecord) -> None:
        self.trials = list(trials)
        self.search = search
        self.scored = [t for t in self.trials
                       if t.best_val is not None and math.isfinite(t.best_val)]

    @cached_property
    def study(self) -> optuna.Study:
        """Every scored trial complete with its best value (see :func:`build_study`)."""
        return build_study(self.trials, self.search, stopped_as_pruned=False)

    @cached_property
    def by_status(self) -> optuna.Study:
        """Trials stopped early as pruned: how each one ended, for the timeline."""
        return build_study(self.trials, self.search, stopped_as_pruned=True)

    @cached_property
    def importances(self) -> dict[str, float] | str:
        """Each hyperparameter's share of the metric's variance (fANOVA, seeded), most
        important first; or why it could not be estimated."""
        import optuna

        if len(self.scored) < MIN_TRIALS_FOR_IMPORTANCE:
            return (f"{len(self.scored)} scored trial(s): importance needs at least "
                    f"{MIN_TRIALS_FOR_IMPORTANCE}")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # few trials per region is what we have
                return dict(optuna.importance.get_param_importances(
                    self.study, evaluator=optuna.importance.FanovaImportanceEvaluator(seed=0)))
        except (RuntimeError, ValueError) as exc:
            return f"importance could not be estimated: {exc}"
