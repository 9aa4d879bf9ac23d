"""One rule decides which value is better, for both directions."""

from __future__ import annotations

import math

import pytest

from autokeras_lab.leaderboard import TrialRecord, rank_trials
from autokeras_lab.metrics import direction_of
from autokeras_lab.types import (
    Budget,
    Direction,
    OutputKind,
    SearchStatus,
    SplitSizes,
    TaskKind,
    TrialStatus,
)


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
                    status=TrialStatus.FAILED if value is None else TrialStatus.COMPLETED,
                    epochs=1,
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
    with pytest.raises(ValueError, match="'finished' is not a valid TrialStatus"):
        TrialRecord(search_id="s", trial_id="t", experiment="e", number=1, config={},
                    status="finished", epochs=1)


@pytest.mark.parametrize(
    ("task", "classes", "output"),
    [(TaskKind.REGRESSION, 0, OutputKind.REGRESSION),
     (TaskKind.CLASSIFICATION, 2, OutputKind.BINARY),
     (TaskKind.CLASSIFICATION, 4, OutputKind.MULTICLASS)],
    ids=["regression", "binary", "multiclass"],
)
def test_one_task_vocabulary_and_the_output_kind_beneath_it(
    task: TaskKind, classes: int, output: OutputKind
) -> None:
    assert task.output(classes) is output
    assert output.task is task


def test_only_running_and_interrupted_searches_resume() -> None:
    assert {s for s in SearchStatus if s.resumable} == {SearchStatus.RUNNING,
                                                       SearchStatus.INTERRUPTED}


def test_budget_and_split_read_as_words_without_none() -> None:
    assert Budget(trials=None, time_budget_s=300).describe() == (
        "up to 300 epochs (fewer on a large table), 300 s budget")
    assert Budget(max_epochs=300).describe() == "300 epochs max, 300 s budget"
    assert Budget(trials=8, max_epochs=20, time_budget_s=None).describe() == (
        "8 trials, 20 epochs max")
    bagged = SplitSizes(train=741, val=186, test=103, folds=5).describe()
    assert bagged.startswith("927 rows in 5-fold bags") and "103 held-out test" in bagged
    assert SplitSizes(train=70, val=20, test=10).describe() == (
        "70 train / 20 validation / 10 held-out test rows")
