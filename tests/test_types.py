"""One rule decides which value is better, for both directions."""

from __future__ import annotations

import math

import pytest

from autokeras_lab.leaderboard import TrialRecord, rank_trials
from autokeras_lab.metrics import direction_of
from autokeras_lab.types import Direction, TrialStatus


@pytest.mark.parametrize(
    ("direction", "a", "b", "better"),
    [
        (Direction.MIN, 4.0, 5.0, True),
        (Direction.MIN, 5.0, 4.0, False),
        (Direction.MAX, 0.9, 0.8, True),
        (Direction.MAX, 0.8, 0.9, False),
        (Direction.MIN, 5.0, 5.0, False),
        (Direction.MAX, 0.1, None, True),
        (Direction.MIN, None, 9.0, False),
        (Direction.MAX, math.nan, 0.1, False),
    ],
    ids=["min-lower", "min-higher", "max-higher", "max-lower", "tie", "max-vs-missing",
         "missing-vs-min", "nan-is-never-better"],
)
def test_better_follows_the_direction_and_missing_values_lose(
    direction: Direction, a: float | None, b: float | None, better: bool
) -> None:
    assert direction.better(a, b) is better


@pytest.mark.parametrize("direction", list(Direction), ids=str)
def test_ranking_puts_the_best_first_and_failed_trials_last(direction: Direction) -> None:
    values = {"a": 0.5, "b": 0.9, "c": None, "d": 0.7}
    trials = [
        TrialRecord(search_id="s", trial_id=tid, experiment="e", number=i, config={},
                    status="failed" if value is None else "completed", epochs=1,
                    best_val=value, finished_at=float(i))
        for i, (tid, value) in enumerate(values.items())
    ]
    ranked = [t.trial_id for t in rank_trials(trials, direction)]
    assert ranked == (["a", "d", "b", "c"] if direction is Direction.MIN else ["b", "d", "a", "c"])


def test_metrics_know_their_direction_and_records_hold_typed_values() -> None:
    assert direction_of("accuracy") is Direction.MAX
    assert {direction_of(m) for m in ("rmse", "mae", "log_loss")} == {Direction.MIN}
    record = TrialRecord(search_id="s", trial_id="t", experiment="e", number=1, config={},
                         status="stopped_early", epochs=1)
    assert record.status is TrialStatus.STOPPED_EARLY
    with pytest.raises(ValueError, match="status must be one of"):
        TrialRecord(search_id="s", trial_id="t", experiment="e", number=1, config={},
                    status="finished", epochs=1)
