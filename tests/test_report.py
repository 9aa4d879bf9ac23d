from __future__ import annotations

import dataclasses
import io
import json

import pandas as pd
import pytest

from autokeras_lab.leaderboard import TrialRecord
from autokeras_lab.report import format_leaderboard, leaderboard_rows
from autokeras_lab.report._study import SearchTrials
from autokeras_lab.types import Direction, TrialStatus
from tests.helpers import search

TRIALS = [
    TrialRecord(search_id="s", trial_id="t1", experiment="e", number=2, status=TrialStatus.COMPLETED,
                config={"num_layers": 2, "units_0": 64, "units_1": 32, "learning_rate": 0.00123},
                epochs=30, curve=[7.0, 5.0], best_val=5.0, test_metric=5.4, wall_seconds=3.2),
    TrialRecord(search_id="s", trial_id="t2", experiment="e", number=1, status=TrialStatus.STOPPED_EARLY,
                config={"num_layers": 1, "units_0": 16, "learning_rate": 0.02},
                epochs=5, curve=[9.0], best_val=9.0, wall_seconds=0.5),
]


def test_rows_group_per_layer_widths_and_rank() -> None:
    rows = leaderboard_rows(TRIALS, metric="rmse")
    assert rows[0]["rank"] == 1 and rows[0]["units"] == "64-32"
    assert rows[0]["learning_rate"] == "0.00123"
    assert rows[1]["test_rmse"] is None


def test_table_has_a_row_per_trial_and_dashes_for_missing() -> None:
    lines = format_leaderboard(TRIALS, fmt="table", metric="rmse", width=None).splitlines()
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


def test_the_terminal_table_fits_100_columns_unless_asked_for_every_one() -> None:
    wide_config = {f"units_{i}": 512 for i in range(4)} | {
        f"hyperparameter_with_a_long_name_{c}": 0.123456 for c in "abcdef"}
    trials = [dataclasses.replace(t, config=t.config | wide_config) for t in TRIALS]
    narrow = format_leaderboard(trials, fmt="table", metric="rmse").splitlines()
    assert max(len(line) for line in narrow[:-1]) <= 100
    assert narrow[0].split()[:4] == ["rank", "trial", "status", "val_rmse"]
    assert narrow[-1].startswith("(") and "more columns" in narrow[-1] and "--wide" in narrow[-1]
    wide = format_leaderboard(trials, fmt="table", metric="rmse", width=None).splitlines()
    assert max(len(line) for line in wide) > 100
    assert "hyperparameter_with_a_long_name_f" in wide[0]
    assert len(wide) == 2 + len(trials)


def test_markdown_is_a_pipe_table() -> None:
    lines = format_leaderboard(TRIALS, fmt="markdown", metric="rmse").splitlines()
    assert lines[0].startswith("| rank | trial |") and lines[1].startswith("|---|")
    assert len(lines) == 4


def test_empty_leaderboard_says_so() -> None:
    assert format_leaderboard([], fmt="table", metric="rmse") == "(no trials yet)"


def test_trial_timeline_legend_shows_each_status_in_its_own_colour() -> None:
    from matplotlib.colors import to_hex

    from autokeras_lab.report._plots import timeline

    timed = [TrialRecord(search_id="s", trial_id=f"t{i}", experiment="e", number=i,
                         status=status, config={}, epochs=1, started_at=1000.0 + i,
                         finished_at=1002.0 + i, best_val=None if i == 2 else 5.0 - i)
             for i, status in enumerate(TrialStatus)]
    legend = timeline(SearchTrials(timed, search())).axes[0].get_legend()
    shown = {text.get_text(): to_hex(handle.get_facecolor())
             for text, handle in zip(legend.get_texts(), legend.legend_handles, strict=True)}
    assert set(shown) == {status.words for status in TrialStatus}
    assert len(set(shown.values())) == 3


def _scored_trials(count: int, direction: Direction) -> list[TrialRecord]:
    """Trials over a learning rate and a width, the better the higher the rate."""
    trials = []
    for i in range(count):
        rate = 10 ** (-4 + 3 * i / max(1, count - 1))
        value = 5.0 - i * 0.1 if direction is Direction.MIN else 0.5 + i * 0.04
        trials.append(TrialRecord(
            search_id="s", trial_id=f"t{i}", experiment="e", number=i + 1,
            status=TrialStatus.COMPLETED if i % 3 else TrialStatus.STOPPED_EARLY,
            config={"learning_rate": rate, "units_0": 16 * (1 + i % 4)}, epochs=3,
            curve=[value * 1.2, value * 1.1, value], best_val=value,
            started_at=1000.0 + i, finished_at=1003.0 + i))
    return trials


SPACE = {"space": [
    {"class_name": "Float", "config": {"name": "learning_rate", "min_value": 1e-4,
                                       "max_value": 0.1, "sampling": "log", "step": None}},
    {"class_name": "Choice", "config": {"name": "units_0", "values": [16, 32, 48, 64],
                                        "ordered": True}},
]}


@pytest.mark.parametrize("count", [0, 2, 12], ids=["none", "few", "enough"])
@pytest.mark.parametrize("direction", list(Direction), ids=str)
def test_every_trial_figure_draws_and_leaves_the_process_settings_alone(
    count: int, direction: Direction
) -> None:
    import matplotlib as mpl
    import matplotlib.pyplot as plt
    import optuna

    from autokeras_lab.report._plots import TRIAL_FIGURES

    record = dataclasses.replace(search(), space_config=SPACE, direction=direction,
                                 metric="rmse" if direction is Direction.MIN else "accuracy")
    style, verbosity = dict(mpl.rcParams), optuna.logging.get_verbosity()
    for draw, _, _ in TRIAL_FIGURES:
        fig = draw(SearchTrials(_scored_trials(count, direction), record))
        assert fig.get_axes(), draw.__name__
        plt.close(fig)
    assert dict(mpl.rcParams) == style  # Optuna's plt.style.use("ggplot") did not leak
    assert optuna.logging.get_verbosity() == verbosity


def test_the_history_plot_keeps_the_best_so_far_in_the_metric_direction() -> None:
    from autokeras_lab.report._plots import optimisation_history

    for direction in Direction:
        record = dataclasses.replace(search(), space_config=SPACE, direction=direction)
        ax = optimisation_history(SearchTrials(_scored_trials(6, direction), record)).axes[0]
        best_line = next(line for line in ax.get_lines() if len(line.get_xdata()) == 6)
        values = list(best_line.get_ydata())
        assert values == sorted(values, reverse=direction is Direction.MIN)


def test_the_report_says_what_the_refit_was_judged_against_and_reads_older_cards() -> None:
    from autokeras_lab.report._html import _refit_text

    refit = {"handed_over": "refitted", "val_rmse_original": 3.8, "val_rmse_refitted": 3.85,
             "val_rmse_original_unseen": 3.95, "trials_refitted": 3, "trials_chosen": 3,
             "rows": 927}
    text = _refit_text(refit, "rmse")
    assert text.startswith("handed over refitted")
    assert "original 3.8 (3.95 on rows its choice did not see), refitted 3.85" in text
    assert "every row" not in text  # a card from before models were trained on every row
    text = _refit_text({**refit, "trials_on_every_row": 2}, "rmse")
    assert "then 2 of the refitted trials trained on every row" in text
    older = {"handed_over": "both", "val_rmse_original": 3.8, "val_rmse_refitted": 3.85,
             "val_rmse_both": 3.7, "trials_refitted": 2, "trials_chosen": 3, "rows": 927}
    text = _refit_text(older, "rmse")
    assert "original 3.8, refitted 3.85, both 3.7; 2 of 3 trials in time" in text
