"""Warm starts: earlier results reach the sampler; the best are proposed first."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from autokeras_lab import load_experiment, run_search
from autokeras_lab.errors import UserError
from autokeras_lab.leaderboard import Leaderboard, SearchKey, SearchRecord, TrialRecord
from autokeras_lab.spaces import DerivedSpace
from autokeras_lab.types import Direction
from autokeras_lab.warmstart import plan_warm_start
from tests.helpers import SIZES


def today_space() -> DerivedSpace:
    """The space as it is now: learning_rate narrowed, dropout new, activation gone."""
    import keras_tuner as kt

    hp = kt.HyperParameters()
    hp.Float("learning_rate", 1e-3, 1e-2, sampling="log")
    hp.Int("units_0", 16, 64)
    hp.Float("dropout", 0.0, 0.4)
    return DerivedSpace(hp, tuple(h.name for h in hp.space))


SPACE = today_space()
KEY = SearchKey(experiment="concrete", fingerprint="fp", space="mlp", metric="rmse")


def board_with_history(tmp_path: Path) -> Leaderboard:
    board = Leaderboard(tmp_path / "lb.db")
    board.start_search(SearchRecord(
        search_id="old", experiment="concrete", dataset="concrete", data_fingerprint="fp",
        space="mlp", metric="rmse", direction="min", seed=0, status="completed",
        started_at=1.0, command="", settings={}, space_config={}, split_sizes=SIZES,
    ))
    history = [  # (config, best_val)
        ({"learning_rate": 5e-3, "units_0": 32, "activation": "relu"}, 5.0),
        ({"learning_rate": 2e-3, "units_0": 64, "activation": "elu"}, 6.0),
        ({"learning_rate": 5e-2, "units_0": 32, "activation": "relu"}, 4.0),  # lr now outside
        ({"learning_rate": 3e-3, "units_0": 16, "activation": "relu"}, 7.0),
    ]
    for i, (config, value) in enumerate(history):
        board.record_trial(TrialRecord(
            search_id="old", trial_id=f"t{i}", experiment="concrete", number=i + 1,
            config=config, status="completed", epochs=5, curve=[value], best_val=value,
        ))
    return board


def plan(board: Leaderboard, **kw):
    return plan_warm_start(board, KEY, SPACE, direction=Direction.MIN, **kw)


def test_a_changed_space_keeps_what_fits_and_says_what_was_dropped(tmp_path: Path) -> None:
    warm = plan(board_with_history(tmp_path), first=2)
    assert [value for _, value in warm.told] == [5.0, 6.0, 7.0]  # best first; 4.0 dropped
    assert warm.first == [
        {"learning_rate": 5e-3, "units_0": 32, "dropout": 0.0},  # new hp takes its default
        {"learning_rate": 2e-3, "units_0": 64, "dropout": 0.0},
    ]
    text = " ".join(warm.notes)
    assert "3 trial(s) told to the sampler, the best 2 proposed first" in text
    assert "ignored (no longer in the space): activation (3 trials)" in text
    assert "dropped trials whose value is outside the space now: learning_rate (1)" in text


def test_other_data_or_unknown_search_is_refused_or_starts_cold(tmp_path: Path) -> None:
    board = board_with_history(tmp_path)
    with pytest.raises(UserError, match="no search 'nope' in experiment 'concrete'"):
        plan(board, search_id="nope")
    other_data = dataclasses.replace(KEY, fingerprint="other")
    cold = plan_warm_start(board, other_data, SPACE, direction=Direction.MIN)
    assert cold.told == [] and "starting cold" in cold.notes[0]
    with pytest.raises(UserError, match="ran on other data or another search space"):
        plan_warm_start(board, other_data, SPACE, direction=Direction.MIN, search_id="old")


def test_earlier_results_reach_the_sampler_and_the_best_are_asked_first(tmp_path: Path) -> None:
    import optuna

    from autokeras_lab.search._tuner import make_searcher

    warm = plan(board_with_history(tmp_path), first=2)
    searcher = make_searcher(SPACE.to_optuna(), direction=Direction.MIN, sampler=optuna.samplers.TPESampler(seed=0),
                             plan=warm, name="new")
    study = searcher._ot_study  # the study Ray Tune's OptunaSearch samples from
    done = [t for t in study.trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert sorted(t.value for t in done) == [5.0, 6.0, 7.0]
    assert searcher.suggest("a") == warm.first[0]
    assert searcher.suggest("b") == warm.first[1]
    third = searcher.suggest("c")  # now the sampler proposes, with the history in view
    assert set(third) == set(SPACE.to_optuna())


@pytest.mark.slow
def test_warm_started_search_runs_the_earlier_best_first(ray_session, tmp_path: Path) -> None:
    exp = load_experiment("concrete").with_overrides(cv=1, trials=3, max_epochs=3, refit=False)
    cold = run_search(exp, runs_dir=tmp_path)
    warm = run_search(exp.with_overrides(trials=2, seed=5), runs_dir=tmp_path, warm_start=True)
    earlier_best = [t.config for t in cold.trials if t.best_val is not None][:2]
    first = [t.config for t in sorted(warm.trials, key=lambda t: t.number)]
    assert first == earlier_best
    [_, stored] = Leaderboard(tmp_path / "leaderboard.db").searches("concrete")
    assert stored.warm_start is not None and stored.warm_start.told == 3
    assert stored.warm_start.searches == (cold.search_id,)


def test_a_maximised_metric_proposes_its_highest_results_first(tmp_path: Path) -> None:
    board = board_with_history(tmp_path)  # optimised rmse
    board.start_search(SearchRecord(
        search_id="acc", experiment="concrete", dataset="concrete", data_fingerprint="fp",
        space="mlp", metric="accuracy", direction="max", seed=0, status="completed",
        started_at=2.0, command="", settings={}, space_config={}, split_sizes=SIZES,
    ))
    for i, (units, value) in enumerate([(16, 0.70), (64, 0.95), (32, 0.80)]):
        board.record_trial(TrialRecord(
            search_id="acc", trial_id=f"a{i}", experiment="concrete", number=i + 1,
            config={"learning_rate": 1e-3, "units_0": units}, status="completed", epochs=5,
            curve=[value], best_val=value,
        ))
    accuracy = dataclasses.replace(KEY, metric="accuracy")
    warm = plan_warm_start(board, accuracy, SPACE, direction=Direction.MAX, first=2)
    assert warm.searches == ["acc"]  # the rmse search's values are not comparable
    assert [value for _, value in warm.told] == [0.95, 0.80, 0.70]
    assert [c["units_0"] for c in warm.first] == [64, 32]
    with pytest.raises(UserError, match="optimised rmse, this one optimises accuracy"):
        plan_warm_start(board, accuracy, SPACE, direction=Direction.MAX, search_id="old")
