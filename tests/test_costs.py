"""What models cost to run: parameters and latency measured per architecture, the
inference budget, the leaderboard's columns and the report's Pareto front."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab.cli import main
from autokeras_lab.config import load_experiment
from autokeras_lab.data import Preprocessor
from autokeras_lab.ensemble import select_ensemble
from autokeras_lab.errors import UserError
from autokeras_lab.leaderboard import EnsembleRecord, Leaderboard, cost_fields
from autokeras_lab.report import format_leaderboard
from autokeras_lab.report._plots import pareto_front
from autokeras_lab.types import Direction, InferenceBudget, InferenceCost, TaskKind
from tests.helpers import search, trial


@pytest.fixture(scope="module")
def meter():
    from autokeras_lab.costs import CostMeter
    from autokeras_lab.spaces import ModelBuilder, Task, load_space

    frame = pd.DataFrame(np.random.default_rng(0).normal(size=(60, 9)),
                         columns=[f"c{i}" for i in range(9)])
    pre = Preprocessor.fit(frame, features=[f"c{i}" for i in range(8)], target="c8",
                           task=TaskKind.REGRESSION)
    task = Task.for_data(TaskKind.REGRESSION, pre.n_inputs, 0)
    space = load_space("mlp")
    derived = space.derive(task)
    return CostMeter(ModelBuilder(space, derived, task), pre, folds=3), derived.defaults()


def test_a_wider_network_has_more_params_and_fewer_rows_a_second(meter) -> None:
    meter, config = meter
    narrow = meter.trial(config | {"units_0": 8, "num_layers": 1})
    wide = meter.trial(config | {"units_0": 1024, "num_layers": 1})
    model = meter.builder.build(config | {"units_0": 1024, "num_layers": 1})
    assert wide.params == 3 * model.count_params()  # the bag of 3 fold models
    assert narrow.params < wide.params
    assert wide.rows_per_s < narrow.rows_per_s  # 100x the multiplications
    assert 0 < narrow.latency_ms < 1000 and 0 < wide.latency_ms < 1000
    assert meter.params(config | {"units_0": 8, "num_layers": 1}) == narrow.params


def test_one_measurement_serves_every_trial_of_an_architecture(meter) -> None:
    meter, config = meter
    first = meter.trial(config | {"dropout": 0.0, "learning_rate": 1e-3})
    again = meter.trial(config | {"dropout": 0.4, "learning_rate": 1e-2})
    assert again is first  # dropout and learning rate change nothing at inference


def test_an_ensemble_is_estimated_from_its_members(meter) -> None:
    meter, _ = meter
    a = InferenceCost(params=100, latency_ms=1.0, rows_per_s=1000.0)
    b = InferenceCost(params=50, latency_ms=2.0, rows_per_s=500.0)
    both = meter.ensemble([a, b])
    assert both is not None and both.params == 150
    assert 2.0 <= both.latency_ms < 3.0  # one call's fixed cost paid once
    assert both.rows_per_s == pytest.approx(1 / (1 / 1000 + 1 / 500))
    assert meter.ensemble([a, None]) is None


def test_the_budget_admits_what_fits_and_refuses_what_is_not_measured() -> None:
    cost = InferenceCost(params=1000, latency_ms=0.5, rows_per_s=1e5)
    assert InferenceBudget().admits(None) and not InferenceBudget().limited
    assert InferenceBudget(max_latency_ms=0.5).admits(cost)
    assert not InferenceBudget(max_latency_ms=0.4).admits(cost)
    assert not InferenceBudget(max_params=999).admits(cost)
    assert not InferenceBudget(max_params=5000).admits(None)
    assert InferenceBudget(max_latency_ms=2, max_params=10).describe() == (
        "at most 2 ms a row and at most 10 params")
    with pytest.raises(UserError, match="max_latency_ms must be a positive number"):
        load_experiment("concrete").with_overrides(max_latency_ms=0.0)


def test_a_budget_flag_that_is_not_positive_is_one_line_and_exit_2(
    capsys: pytest.CaptureFixture[str],
) -> None:
    with pytest.raises(SystemExit) as exited:
        main(["search", "concrete", "--max-latency-ms", "0"])
    assert exited.value.code == 2
    assert "--max-latency-ms: expected a positive number" in capsys.readouterr().err


def test_selection_within_a_budget_passes_over_members_that_would_break_it() -> None:
    y = np.array([0.0, 1.0, 2.0, 3.0])
    predictions = {"a": y + 0.5, "b": y - 0.5, "c": y - 0.6}

    def rmse(p: np.ndarray) -> float:
        return float(np.sqrt(np.mean((p.reshape(-1) - y) ** 2)))

    assert set(select_ensemble(predictions, rmse, rounds=10).weights) == {"a", "b"}
    without_b = select_ensemble(predictions, rmse, rounds=10,
                                admissible=lambda members: "b" not in members or len(members) == 1)
    assert set(without_b.weights) == {"a", "c"}
    alone = select_ensemble(predictions, rmse, rounds=10,
                            admissible=lambda members: len(members) == 1)
    assert list(alone.weights) == ["a"] and not alone.improves


@pytest.mark.parametrize("direction", list(Direction), ids=str)
def test_the_pareto_front_keeps_the_models_nothing_beats_on_both(direction: Direction) -> None:
    points = [(1.0, 5.0), (2.0, 4.0), (2.5, 4.5), (3.0, 3.0), (0.5, 6.0), (4.0, 3.5)]
    front = pareto_front(points, direction)
    if direction is Direction.MIN:  # lower metric is better
        assert front == [4, 0, 1, 3]
    else:  # higher is better: only ever-higher values, fastest first
        assert front == [4]
        assert pareto_front([(1.0, 0.7), (2.0, 0.9), (3.0, 0.8)], direction) == [0, 1]


def test_the_leaderboard_json_has_params_and_latency_for_trials_and_ensembles(
    tmp_path: Path,
) -> None:
    board = Leaderboard(tmp_path / "lb.db")
    board.start_search(search())
    for trial_id, value in (("a", 6.0), ("b", 5.0)):
        board.record_trial(trial(trial_id, value))
    board.set_costs("s1", {
        "a": cost_fields(InferenceCost(params=900, latency_ms=0.4, rows_per_s=2e5)),
        "b": cost_fields(None) | {"params": 40_000},  # past the candidates: params only
    })
    board.record_ensemble(EnsembleRecord(
        search_id="s1", experiment="concrete", members={"a": 0.5, "b": 0.5}, best_val=4.5,
        single_val=5.0, created_at=1.0, exported=True,
        **cost_fields(InferenceCost(params=40_900, latency_ms=0.9, rows_per_s=9e4))))
    trials = board.trials("concrete", direction=Direction.MIN)
    ensembles = board.ensembles("concrete", direction=Direction.MIN)
    rows = json.loads(format_leaderboard(trials, fmt="json", metric="rmse", ensembles=ensembles))
    assert [(r["trial_id"], r["params"], r["latency_ms"]) for r in rows] == [
        ("ensemble", 40_900, 0.9), ("b", 40_000, None), ("a", 900, 0.4)]
    assert trials[1].cost == InferenceCost(params=900, latency_ms=0.4, rows_per_s=2e5)
    table = format_leaderboard(trials, fmt="table", metric="rmse", ensembles=ensembles,
                               width=None)
    assert "params" in table.splitlines()[0] and "latency_ms" in table.splitlines()[0]


def test_a_file_from_before_costs_gains_their_columns_and_keeps_its_rows(tmp_path: Path) -> None:
    path = tmp_path / "lb.db"
    board = Leaderboard(path)
    board.start_search(search())
    board.record_trial(trial("a", 6.0))
    with sqlite3.connect(path) as db:  # as version 0.2 wrote it
        for column in ("params", "latency_ms", "rows_per_s"):
            db.execute(f"ALTER TABLE trials DROP COLUMN {column}")
            db.execute(f"ALTER TABLE ensembles DROP COLUMN {column}")
    [old] = Leaderboard(path).trials("concrete", direction=Direction.MIN)
    assert old.best_val == 6.0 and old.cost is None and old.params is None
