"""The HTML report, built from small real searches and looked at in a real browser."""

from __future__ import annotations

import os
import re
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab import load_experiment, run_search
from autokeras_lab.config import csv_experiment
from autokeras_lab.leaderboard import Leaderboard, find_search
from autokeras_lab.report import _plots as plots
from autokeras_lab.report import build_report, write_report
from autokeras_lab.report._study import SearchTrials

HOSTILE_COLUMN = "<script>alert(1)</script>"
HOSTILE_VALUE = "<img src=x onerror=alert(2)>"
ARTIFACTS = Path(__file__).resolve().parents[1] / "test-artifacts"
CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")


@pytest.fixture(scope="module")
def searched(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small real searches in one runs directory: concrete (regression) and a CSV
    whose column names and values try to inject HTML (classification)."""
    runs = tmp_path_factory.mktemp("runs")
    exp = load_experiment("concrete").with_overrides(cv=1, trials=6, max_epochs=12)
    run_search(exp, runs_dir=runs)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(150, 2))
    frame = pd.DataFrame({
        HOSTILE_COLUMN: x[:, 0],
        "kind": rng.choice([HOSTILE_VALUE, "plain"], 150),
        "label": np.where(x[:, 0] + x[:, 1] > 0, "up", "down"),
    })
    csv = runs / "hostile.csv"
    frame.to_csv(csv, index=False)
    run_search(csv_experiment(csv, target="label").with_overrides(cv=1, trials=4, max_epochs=8,
                                                                      refit=False),
               runs_dir=runs)
    return runs


def board_of(runs: Path, experiment: str):
    board = Leaderboard(runs / "leaderboard.db")
    [search] = board.searches(experiment)
    return search, board.trials(experiment, direction=search.direction)


@pytest.mark.slow
def test_plot_functions_draw_a_real_search(searched: Path) -> None:
    search, trials = board_of(searched, "concrete")
    scored = [t for t in trials if t.best_val is not None]
    view = SearchTrials(trials, search)
    history = plots.optimisation_history(view).axes[0]
    assert len(history.collections[0].get_offsets()) == len(scored)  # a point per trial
    curves = plots.learning_curves(view)
    assert len(curves.axes[0].lines) >= len(trials)  # a curve per trial
    parallel = plots.parallel_coordinates(view).axes[0]
    assert len(parallel.collections[0].get_segments()) == len(scored)  # a line per trial
    gantt = plots.timeline(view)
    assert len(gantt.axes[0].patches) == len(trials)  # a bar per trial
    pareto = plots.quality_against_latency(
        trials, [], metric=search.metric, direction=search.direction,
        handed=search.best_trial_id).axes[0]
    measured = [t for t in scored if t.latency_ms is not None]
    assert measured and len(pareto.collections[0].get_offsets()) == len(measured)
    actual = np.array([10.0, 20.0, 30.0])
    both = plots.predicted_vs_actual(actual, actual + 1, "MPa", "strength")
    assert "MPa" in both.axes[0].get_xlabel()


@pytest.mark.slow
def test_report_escapes_user_text(searched: Path) -> None:
    board, search = find_search(searched, "hostile")
    page = build_report(board, search, runs_dir=searched)
    assert HOSTILE_COLUMN not in page and "&lt;script&gt;alert(1)&lt;/script&gt;" in page
    assert "<script" not in page.lower()  # the page has no script at all


@pytest.mark.slow
@pytest.mark.parametrize("experiment", ["concrete", "hostile"])
def test_report_renders_in_a_real_browser(searched: Path, experiment: str) -> None:
    if CHROMIUM is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed; .ci/run installs Debian's chromium package")
        pytest.skip("chromium is not installed (apt-get install chromium); CI installs it")
    from playwright.sync_api import sync_playwright

    report = write_report(searched, experiment)
    search, trials = board_of(searched, experiment)
    board = Leaderboard(searched / "leaderboard.db")
    ensembles = board.ensembles(experiment, direction=search.direction)
    problems: list[str] = []
    with sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=CHROMIUM,
            args=["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                  "--disable-background-networking", "--disable-component-update",
                  "--disable-sync"],
        )
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.on("console", lambda m: problems.append(m.text) if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(str(e)))
        page.on("dialog", lambda d: (problems.append(f"dialog: {d.message}"), d.dismiss()))
        page.goto(report.as_uri())
        widths = page.eval_on_selector_all(
            "img", "imgs => imgs.map(i => i.complete ? i.naturalWidth : 0)"
        )
        heights = page.eval_on_selector_all(
            "#leaderboard tbody tr", "rows => rows.map(r => r.getBoundingClientRect().height)")
        rows = len(heights)
        text = page.inner_text("body")
        summary = page.inner_text("dl")
        ARTIFACTS.mkdir(exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"report-{experiment}.png"), full_page=True)
        browser.close()
    assert len(widths) == 7 and all(w > 0 for w in widths), widths  # every plot loaded
    assert rows == min(20, len(trials)) + len(ensembles)  # the ensemble's row, and trials
    assert problems == []
    # what a reader should never see: a Python None, raw JSON, a row stretched by a
    # cell that wraps (the ensemble's members once made one several hundred px tall)
    assert not re.search(r"\bNone\b", text), [line for line in text.splitlines()
                                                if re.search(r"\bNone\b", line)]
    assert "{" not in summary and "}" not in summary, summary
    assert max(heights) <= 1.5 * min(heights), heights
    # what the handed-over model costs to run, and the trials' costs in the table
    assert re.search(r"its cost to run\s+[\d,]+ params, [\d.]+ ms a row", summary), summary
    assert "latency_ms" in text and "the Pareto front" in text
    if experiment == "hostile":
        assert HOSTILE_COLUMN in text  # shown as text, not run
        assert re.search(r"refit\s+none \(the model is the chosen trials' own\)", summary)
    else:  # the refit's row says what it did
        assert re.search(r"refit\s+(handed over \w+: )?trained again on all \d+ rows", summary)


@pytest.mark.slow
def test_report_command_writes_the_chosen_search_where_asked(
    searched: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from autokeras_lab.cli import main

    search, _ = board_of(searched, "concrete")
    out = tmp_path / "shared" / "concrete.html"
    argv = ["report", "concrete", "--runs-dir", str(searched), "--out", str(out),
            "--search", search.search_id]
    assert main(argv) == 0
    assert f"report: {out}" in capsys.readouterr().out
    assert search.search_id in out.read_text()
    assert main([*argv[:-1], "19990101-000000-dead"]) == 2
    assert "no search '19990101-000000-dead' in experiment 'concrete'" in capsys.readouterr().err
