"""runs/EXP/best holds the experiment's best model so far: a later, worse search
must not replace it; better results, or results on changed data, do."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from autokeras_lab.export import _beats
from autokeras_lab.types import Direction


def card(val: float, fingerprint: str = "fp", **more) -> dict:
    return {"data_fingerprint": fingerprint, "metric": "rmse", "metrics": {"val_rmse": val},
            **more}


SLOW = {"params": 900_000, "latency_ms": 3.7, "rows_per_s": 15_000.0}
FAST = {"params": 60_000, "latency_ms": 0.8, "rows_per_s": 160_000.0}
BUDGET = {"max_latency_ms": 1.5, "max_params": None}


@pytest.mark.parametrize(
    ("current", "new", "direction", "replaces"),
    [
        (None, card(5.0), Direction.MIN, True),
        (card(5.0), card(4.0), Direction.MIN, True),
        (card(5.0), card(6.0), Direction.MIN, False),
        (card(5.0), card(6.0, fingerprint="other"), Direction.MIN, True),
        (card(0.8), card(0.9), Direction.MAX, True),
        (card(0.8), card(0.7), Direction.MAX, False),
        (card(3.8, cost=SLOW), card(4.0, cost=FAST, inference_budget=BUDGET), Direction.MIN,
         True),
        (card(3.8, cost=FAST), card(4.0, cost=FAST, inference_budget=BUDGET), Direction.MIN,
         False),
        (card(3.8), card(4.0, cost=FAST, inference_budget=BUDGET), Direction.MIN, True),
        (card(3.8, cost=SLOW), card(4.0, cost=FAST), Direction.MIN, False),
    ],
    ids=["first", "better", "worse", "data-changed", "higher-is-better", "lower-accuracy",
         "current-over-the-budget", "current-within-it", "current-unmeasured",
         "no-budget-asked"],
)
def test_experiment_best_is_replaced_only_by_a_better_model(
    tmp_path: Path, current: dict | None, new: dict, direction: Direction, replaces: bool
) -> None:
    path = tmp_path / "card.json"
    if current is not None:
        path.write_text(json.dumps(current))
    assert _beats(new, path, direction) is replaces
