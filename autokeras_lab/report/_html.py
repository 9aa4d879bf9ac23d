"""The HTML report: one self-contained file (plots embedded as PNG data URIs, no
scripts, no network), built from the leaderboard and the search's exported model
directory only. Every piece of text that came from a user (column and experiment
names, CSV values, commands) is HTML-escaped.
"""

from __future__ import annotations

import base64
import datetime as dt
import html
import io
import json
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from autokeras_lab.layout import ModelDir, RunsLayout
from autokeras_lab.leaderboard import (
    EnsembleRecord,
    Leaderboard,
    SearchRecord,
    TrialRecord,
    find_search,
)
from autokeras_lab.report import _plots as plots
from autokeras_lab.report._study import SearchTrials
from autokeras_lab.report._table import MEMBERS, column_order, compact_config, leaderboard_rows
from autokeras_lab.types import InferenceCost, ModelKind, TrialStatus

TABLE_ROWS = 20

_CSS = """
body { font-family: system-ui, -apple-system, "Segoe UI", sans-serif; margin: 2rem auto;
       max-width: 1100px; color: #1a202c; line-height: 1.45; padding: 0 1rem; }
h1 { margin-bottom: .2rem; } .sub { color: #4a5568; margin-top: 0; }
.cards { display: flex; flex-wrap: wrap; gap: .8rem; margin: 1rem 0 1.5rem; }
.card { border: 1px solid #e2e8f0; border-radius: 8px; padding: .6rem 1rem; min-width: 9rem; }
.card b { display: block; font-size: 1.35rem; }
.card span { color: #4a5568; font-size: .85rem; }
table { border-collapse: collapse; font-size: .85rem; width: 100%; }
th, td { border-bottom: 1px solid #e2e8f0; padding: .3rem .5rem; text-align: right;
         white-space: nowrap; }
th { background: #f7fafc; position: sticky; top: 0; }
td.text, th.text { text-align: left; }
tr.best { background: #fffbea; }
.wrap { overflow-x: auto; }
figure { margin: 1.5rem 0; } figure img { max-width: 100%; height: auto; }
figcaption { color: #4a5568; font-size: .9rem; }
code, pre { background: #f7fafc; border-radius: 4px; padding: .1rem .3rem; }
pre { padding: .6rem; white-space: pre-wrap; word-break: break-all; }
dl { display: grid; grid-template-columns: max-content 1fr; gap: .2rem 1rem; }
dt { color: #4a5568; } dd { margin: 0; }
"""


def esc(value: Any) -> str:
    return html.escape(str(value), quote=True)


def _png(fig: Any) -> str:
    import matplotlib.pyplot as plt

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    plt.close(fig)
    return base64.b64encode(buffer.getvalue()).decode("ascii")


def _figure_html(fig: Any, alt: str, caption: str) -> str:
    return (
        f'<figure><img alt="{esc(alt)}" src="data:image/png;base64,{_png(fig)}">'
        f"<figcaption>{esc(caption)}</figcaption></figure>"
    )


def _best_model_figure(export_dir: Path, card: dict[str, Any]) -> str:
    import pandas as pd

    path = ModelDir(export_dir).test_predictions
    if not path.is_file():
        return "<p>The best model's test predictions were not found.</p>"
    frame = pd.read_csv(
        path, dtype={"actual": str, "predicted": str} if card.get("classes") else None
    )
    if card.get("classes"):
        fig = plots.confusion(
            frame["actual"].tolist(), frame["predicted"].tolist(), card["classes"]
        )
        caption = "Confusion matrix of the best model on the held-out test rows."
    else:
        fig = plots.predicted_vs_actual(
            frame["actual"].to_numpy(),
            frame["predicted"].to_numpy(),
            card.get("unit", ""),
            card.get("target", "target"),
        )
        caption = "Best model: predicted against actual, and residuals, on the held-out test rows."
    return _figure_html(fig, "best model on the test split", caption)


def _table(
    trials: Sequence[TrialRecord], metric: str, best_id: str | None,
    ensembles: Sequence[EnsembleRecord], numbers: dict[str, int],
) -> str:
    rows = leaderboard_rows(trials, metric=metric, ensembles=ensembles, numbers=numbers)
    exported = any(e.exported for e in ensembles)
    keys = [ModelKind.ENSEMBLE if e.exported else "" for e in ensembles] + [
        t.trial_id if not exported else "" for t in trials]
    columns = column_order(rows)
    text_columns = {"status"} | {c for c in columns if any(isinstance(r.get(c), str) for r in rows)}

    def cell(column: str, value: Any) -> str:
        if value is None:
            return "-"
        if isinstance(value, float):
            return f"{value:.4g}"
        if column == MEMBERS:  # the weights in a tooltip; the summary lists them in full
            return f'<span title="{esc(value)}">{value.count("#")} trials</span>'
        return esc(value)

    head = "".join(
        f'<th class="{"text" if c in text_columns else ""}">{esc(c)}</th>' for c in columns
    )
    body = []
    for key, row in zip(keys, rows, strict=True):
        cls = ' class="best"' if key in (best_id, ModelKind.ENSEMBLE) else ""
        cells = "".join(
            f'<td class="{"text" if c in text_columns else ""}">{cell(c, row.get(c))}</td>'
            for c in columns
        )
        body.append(f"<tr{cls}>{cells}</tr>")
    return (
        f'<div class="wrap"><table id="leaderboard"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(body)}</tbody></table></div>"
    )


def _ensemble_text(ensemble: EnsembleRecord | None, numbers: dict[str, int], metric: str) -> str:
    if ensemble is None:
        return "none selected (one trial, or selection kept the best trial alone)"
    members = ", ".join(f"trial {numbers.get(t, t)} x {w:.2f}" for t, w in ensemble.members.items())
    verdict = ("exported: it beat" if ensemble.exported else "not exported: it did not beat")
    return (f"{members}; validation {metric} {ensemble.best_val:.4g}, {verdict} the best trial "
            f"alone ({ensemble.single_val:.4g}) on the rows it was selected on")


def _refit_text(refit: dict[str, Any] | None, metric: str) -> str:
    if not refit:
        return "none (the model is the chosen trials' own)"
    # "both" (original and refitted averaged): searches without folds, and any before
    # December 2026
    values = ", ".join(f"{name} {refit[f'val_{metric}_{name}']:.4g}"
                       + (f" ({unseen:.4g} on rows its choice did not see)"
                          if name == "original" and (unseen := refit.get(
                              f"val_{metric}_original_unseen")) is not None else "")
                       for name in ("original", "refitted", "both")
                       if f"val_{metric}_{name}" in refit)
    partly = (f"; {refit['trials_refitted']} of {refit['trials_chosen']} trials in time"
              if refit["trials_refitted"] < refit["trials_chosen"] else "")
    if refit["handed_over"] == "original":
        return (f"trained again on all {refit['rows']} rows, the test rows added, and not "
                f"handed over: out-of-fold {metric} {values}{partly}")
    # cards before December 2026 have no models trained on every row
    every = (f"; then {every_row} of the refitted trials trained on every row, in place of "
             "their fold models" if (every_row := refit.get("trials_on_every_row")) else "")
    return (f"handed over {refit['handed_over']}: trained again on all {refit['rows']} rows, "
            f"the test rows added (out-of-fold {metric} {values}{partly}{every}); the test "
            "figures are the model's before it")


def _budget_text(budget: dict[str, Any] | None, metric: str) -> str:
    if not budget:
        return "none (--max-latency-ms, --max-params)"
    limits = [f"{budget['max_latency_ms']:g} ms a row" if budget.get("max_latency_ms") else "",
              f"{budget['max_params']:,} params" if budget.get("max_params") else ""]
    return (f"at most {' and '.join(x for x in limits if x)}: validation {metric} "
            f"{budget[f'val_{metric}']:.4g} against {budget[f'val_{metric}_unbounded']:.4g} "
            f"without it ({budget['given_up']:.3g} given up)")


def _cost_text(cost: dict[str, Any] | None) -> str:
    if not cost:
        return "-"
    return f"{InferenceCost(**cost).describe()} of 1,000 (driver CPU)"


def _scheduler_text(scheduler: dict[str, Any]) -> str:
    name = scheduler.get("name", "asha")
    if name == "fifo":
        return "fifo (no early stopping)"
    grace = f"{name}: every trial trains {scheduler.get('grace_period')} epochs before it may stop"
    if name == "median":
        return f"{grace}; then it stops when worse than the median of the others"
    return (f"{grace}; the best 1/{scheduler.get('reduction_factor')} go on at each rung")


def _config_text(config: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v}" for k, v in compact_config(config).items())


def build_report(board: Leaderboard, search: SearchRecord, *, runs_dir: Path) -> str:
    """The report page of one search (see :func:`write_report`)."""
    experiment = search.experiment
    trials = board.trials(experiment, search_id=search.search_id, direction=search.direction)
    export_dir = RunsLayout(Path(runs_dir)).search_best(experiment, search.search_id)
    card_file = ModelDir(export_dir).card
    card: dict[str, Any] = (json.loads(card_file.read_text(encoding="utf-8"))
                            if card_file.is_file() else {})
    best = next(
        (t for t in trials if t.trial_id == search.best_trial_id), trials[0] if trials else None
    )
    ensembles = board.ensembles(experiment, search_id=search.search_id,
                                direction=search.direction)
    handed = next((e for e in ensembles if e.exported), None)
    numbers = {t.trial_id: t.number for t in trials}
    counts = Counter(t.status for t in trials)
    metric = search.metric
    started = dt.datetime.fromtimestamp(search.started_at).strftime("%Y-%m-%d %H:%M")
    wall = f"{search.wall_seconds:.0f} s" if search.wall_seconds else "-"

    def card_html(value: Any, label: str) -> str:
        return f'<div class="card"><b>{esc(value)}</b><span>{esc(label)}</span></div>'

    # the handed-over model's figures, as its card says them (a classifier's lone trial
    # is calibrated: its record keeps the bag's as it trained); a search without an
    # export, its best record's
    shown = handed or best
    said = card.get("metrics", {})
    val = said.get(f"val_{metric}", shown.best_val if shown else None)
    test = said.get(f"test_{metric}", shown.test_metric if shown else None)
    what = (f" (ensemble of {len(handed.members)} trials)" if handed
            else " (the best trial, calibrated)" if card.get("calibration") else "")
    cards = "".join(
        [
            card_html("-" if val is None else f"{val:.4g}", f"best validation {metric}{what}"),
            card_html("-" if test is None else f"{test:.4g}", f"its held-out test {metric}"),
            card_html(len(trials), "trials"),
            *(card_html(counts[status], status.words) for status in TrialStatus),
            card_html(wall, "wall time"),
        ]
    )
    features = card.get("features", [])
    details = [
        ("data set", f"{search.dataset} (fingerprint {search.data_fingerprint})"),
        ("task", card.get("task", "")),
        (
            "target",
            f"{card.get('target', '')} {('(' + card['unit'] + ')') if card.get('unit') else ''}",
        ),
        ("input columns", ", ".join(map(str, features)) or "-"),
        ("split", search.split_sizes.describe()),
        ("search space", search.space),
        ("metric", f"{metric} ({search.direction.words})"),
        ("budget", search.budget.describe() if search.budget else "-"),
        ("scheduler", _scheduler_text(search.settings.get("scheduler") or {})),
        ("seed", search.seed),
        ("status", search.status),
        ("started", started),
        ("best trial", f"trial {best.number}: {_config_text(best.config)}" if best else "-"),
        ("ensemble", _ensemble_text(ensembles[0] if ensembles else None, numbers, metric)),
        ("refit", _refit_text(card.get("refit"), metric)),
        ("inference budget", _budget_text(card.get("inference_budget"), metric)),
        ("its cost to run", _cost_text(card.get("cost"))),
        ("best model", search.export_dir or "-"),
    ]
    detail_html = "".join(f"<dt>{esc(k)}</dt><dd>{esc(v)}</dd>" for k, v in details)
    view = SearchTrials(trials, search)
    figures = [_figure_html(draw(view), alt, caption) for draw, alt, caption in plots.TRIAL_FIGURES]
    limit = (card.get("inference_budget") or {}).get("max_latency_ms")
    figures.append(_figure_html(
        plots.quality_against_latency(
            trials, ensembles, metric=metric, direction=search.direction,
            handed=(ModelKind.ENSEMBLE.value if handed else search.best_trial_id),
            max_latency_ms=limit),
        "quality against latency",
        "Each model's validation metric against its latency for one row on the driver's "
        "CPU (its bag of fold models, as exported). Blue: the Pareto front, the models no "
        "other beats on both; ringed: the model handed over."))
    figures.append(
        _best_model_figure(export_dir, card)
        if card
        else "<p>No exported model for this search.</p>"
    )
    failures = [t for t in trials if t.status is TrialStatus.FAILED]
    failure_html = ""
    if failures:
        items = "".join(
            f"<li>trial {t.number}: {esc(t.failure_reason)}</li>" for t in failures[:20]
        )
        failure_html = f"<h2>Failed trials</h2><ul>{items}</ul>"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{esc(experiment)}: search {esc(search.search_id)}</title>
<style>{_CSS}</style></head>
<body>
<h1>{esc(experiment)}</h1>
<p class="sub">Search {esc(search.search_id)}, {esc(started)}</p>
<div class="cards">{cards}</div>
<h2>Summary</h2>
<dl>{detail_html}</dl>
<p>Reproduce it with:</p>
<pre>{esc(search.command)}</pre>
<h2>Leaderboard (top {min(TABLE_ROWS, len(trials))} of {len(trials)})</h2>
{_table(trials[:TABLE_ROWS], metric, best.trial_id if best else None, ensembles, numbers)}
<h2>Plots</h2>
{"".join(figures)}
{failure_html}
</body></html>
"""


def write_report(
    runs_dir: Path, experiment: str, *, out: Path | None = None, search_id: str | None = None
) -> Path:
    """Write the report of a search and return its path (default ``runs/EXP/report.html``).

    Example:
        >>> from pathlib import Path
        >>> write_report(Path("runs"), "concrete")  # doctest: +SKIP
        PosixPath('runs/concrete/report.html')
    """
    board, search = find_search(runs_dir, experiment, search_id)
    page = build_report(board, search, runs_dir=runs_dir)
    target = out or RunsLayout(Path(runs_dir)).report(experiment)
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(page, encoding="utf-8")
    return target
