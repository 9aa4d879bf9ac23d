from __future__ import annotations

import io
import json

import pandas as pd
import pytest

from autokeras_lab.leaderboard import TrialRecord
from autokeras_lab.report import format_leaderboard, leaderboard_rows

TRIALS = [
    TrialRecord(search_id="s", trial_id="t1", experiment="e", number=2, status="completed",
                config={"num_layers": 2, "units_0": 64, "units_1": 32, "learning_rate": 0.00123},
                epochs=30, curve=[7.0, 5.0], best_val=5.0, test_metric=5.4, wall_seconds=3.2),
    TrialRecord(search_id="s", trial_id="t2", experiment="e", number=1, status="stopped_early",
                config={"num_layers": 1, "units_0": 16, "learning_rate": 0.02},
                epochs=5, curve=[9.0], best_val=9.0, wall_seconds=0.5),
]


def test_rows_group_per_layer_widths_and_rank() -> None:
    rows = leaderboard_rows(TRIALS, metric="rmse")
    assert rows[0]["rank"] == 1 and rows[0]["units"] == "64-32"
    assert rows[0]["learning_rate"] == "0.00123"
    assert rows[1]["test_rmse"] is None


def test_table_has_a_row_per_trial_and_dashes_for_missing() -> None:
    lines = format_leaderboard(TRIALS, fmt="table", metric="rmse").splitlines()
    assert lines[0].split()[:5] == ["rank", "trial", "status", "val_rmse", "test_rmse"]
    assert len(lines) == 2 + len(TRIALS)
    assert "stopped_early" in lines[3] and " - " in lines[3]


@pytest.mark.parametrize("fmt", ["json", "csv"], ids=["json", "csv"])
def test_json_and_csv_carry_every_column_for_pandas(fmt: str) -> None:
    text = format_leaderboard(TRIALS, fmt=fmt, metric="rmse")
    frame = pd.read_json(io.StringIO(text)) if fmt == "json" else pd.read_csv(io.StringIO(text))
    assert {"config", "curve", "status", "best_val", "test_metric", "seed"} <= set(frame.columns)
    curve = frame.loc[0, "curve"]
    assert (json.loads(curve) if isinstance(curve, str) else curve) == [7.0, 5.0]


def test_markdown_is_a_pipe_table() -> None:
    lines = format_leaderboard(TRIALS, fmt="markdown", metric="rmse").splitlines()
    assert lines[0].startswith("| rank | trial |") and lines[1].startswith("|---|")
    assert len(lines) == 4


def test_empty_leaderboard_says_so() -> None:
    assert format_leaderboard([], fmt="table", metric="rmse") == "(no trials yet)"


def test_trial_timeline_legend_shows_each_status_in_its_own_colour() -> None:
    from matplotlib.colors import to_hex

    from autokeras_lab.report._plots import STATUS_COLOURS, timeline

    timed = [TrialRecord(search_id="s", trial_id=f"t{i}", experiment="e", number=i,
                         status=status, config={}, epochs=1, started_at=float(i),
                         finished_at=i + 2.0)
             for i, status in enumerate(("completed", "stopped_early", "failed"))]
    legend = timeline(timed).axes[0].get_legend()
    shown = {text.get_text(): to_hex(handle.get_facecolor())
             for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert shown == {status.replace("_", " "): colour
                     for status, colour in STATUS_COLOURS.items()}
    assert len(set(shown.values())) == 3
