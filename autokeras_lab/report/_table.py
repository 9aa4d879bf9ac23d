from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from autokeras_lab.leaderboard import EnsembleRecord, TrialRecord
from autokeras_lab.types import ModelKind

FORMATS = ("table", "json", "csv", "markdown")
#: The terminal table's width unless asked for every column (``--wide``).
TABLE_WIDTH = 100
_GAP = "  "
#: The ensemble row's column of members and weights ("0.27*#29 + 0.18*#43 + ...").
MEMBERS = "members"
_INDEXED = re.compile(r"^(?P<stem>.+)_(?P<index>\d+)$")


def compact_config(config: dict[str, Any]) -> dict[str, str]:
    """Hyperparameters for people: ``units_0..units_2`` become one ``units`` column
    ("128-64-32"), floats get three significant digits."""
    grouped: dict[str, list[tuple[int, Any]]] = {}
    out: dict[str, str] = {}
    for key, value in config.items():
        match = _INDEXED.match(key)
        if match:
            grouped.setdefault(match["stem"], []).append((int(match["index"]), value))
        else:
            out[key] = _fmt(value)
    for stem, items in grouped.items():
        out[stem] = "-".join(_fmt(v) for _, v in sorted(items))
    return out


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.3g}"
    return str(value)


def leaderboard_rows(
    trials: Sequence[TrialRecord], *, metric: str, ensembles: Sequence[EnsembleRecord] = (),
    numbers: dict[str, int] | None = None,
) -> list[dict[str, Any]]:
    """One flat row per ensemble (first: what a search hands over when it beats its
    best trial), then per trial, ranked as given (best first). ``numbers``: trial
    numbers by trial id, to name ensemble members (default: those of ``trials``)."""
    numbers = numbers or {t.trial_id: t.number for t in trials}
    rows = [_ensemble_row(e, metric=metric, numbers=numbers) for e in ensembles]
    for rank, trial in enumerate(trials, start=1):
        row: dict[str, Any] = {
            "rank": rank,
            "trial": trial.number,
            "status": trial.status,
            f"val_{metric}": trial.best_val,
            f"test_{metric}": trial.test_metric,
            "epochs": trial.epochs,
            "seconds": trial.wall_seconds,
        }
        if trial.rows_seen is not None:  # its epochs sampled the rows: its fidelity
            row["rows_seen"] = trial.rows_seen
        spread = trial.metrics.get("val_std", {})
        if metric in spread:  # cross-validated: the mean is val_METRIC, here its spread
            row[f"val_{metric}_std"] = spread[metric]
        row.update(params=trial.params, latency_ms=trial.latency_ms)
        for split in ("val", "test"):
            for name, value in trial.metrics.get(split, {}).items():
                if name != metric:
                    row[f"{split}_{name}"] = value
        row.update(compact_config(trial.config))
        rows.append(row)
    return rows


def format_leaderboard(
    trials: Sequence[TrialRecord], *, fmt: str, metric: str,
    ensembles: Sequence[EnsembleRecord] = (), top: int | None = None,
    width: int | None = TABLE_WIDTH,
) -> str:
    """Render ensembles and trials (the ``top`` best) as ``table`` (terminal),
    ``markdown``, ``csv`` or ``json``.

    The table keeps to ``width`` characters (``None``: every column): the columns that
    fit, in order (rank, trial, status and the metric always), and a last line naming
    the ones left out.

    JSON and CSV carry every stored column (full config and per-epoch curve, the
    latter two as JSON text in CSV), so they load straight into pandas; an ensemble
    is a row with ``trial_id`` and ``status`` ``"ensemble"`` and its members (trial
    id to weight) as its ``config``.
    """
    numbers = {t.trial_id: t.number for t in trials}
    trials = trials[:top] if top is not None else trials
    records = [_ensemble_entry(e) for e in ensembles] + [asdict(t) for t in trials]
    if fmt == "json":
        return json.dumps(records, indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        names = list(asdict(trials[0])) if trials else ["search_id", "trial_id"]
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n",
                                extrasaction="ignore")
        writer.writeheader()
        for row in records:
            for key in ("config", "curve", "metrics"):
                row[key] = json.dumps(row.get(key))
            writer.writerow(row)
        return buffer.getvalue().rstrip("\n")
    if not trials:
        return "(no trials yet)"
    rows = leaderboard_rows(trials, metric=metric, ensembles=ensembles, numbers=numbers)
    columns = column_order(rows)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    shown = _fitting(widths, width, always=columns.index(f"val_{metric}") + 1)
    numeric = {i for i in shown if all(_is_number(r[i]) for r in cells)}

    def line(values: list[str]) -> str:
        return _GAP.join(
            values[i].rjust(widths[i]) if i in numeric else values[i].ljust(widths[i])
            for i in shown
        ).rstrip()

    lines = [line(columns), line(["-" * w for w in widths]), *map(line, cells)]
    left = [c for i, c in enumerate(columns) if i not in shown]
    if left:
        lines.append(_more_columns(left, width))
    return "\n".join(lines)


def _more_columns(left: list[str], width: int | None) -> str:
    """The line naming the columns left out: as many names (up to three) as fit."""
    hint = "--wide or --format shows them"
    for named in range(min(3, len(left)), 0, -1):
        names = ", ".join(left[:named]) + (", ..." if named < len(left) else "")
        line = f"({len(left)} more columns: {names}; {hint})"
        if width is None or len(line) <= width:
            return line
    return f"({len(left)} more columns; {hint})"


def _fitting(widths: list[int], width: int | None, *, always: int) -> list[int]:
    """The columns that fit in ``width`` characters, in order: the first ``always``
    whatever their width, then each next one while it fits."""
    if width is None:
        return list(range(len(widths)))
    shown = list(range(min(always, len(widths))))
    used = sum(widths[i] for i in shown) + len(_GAP) * (len(shown) - 1)
    for i in range(len(shown), len(widths)):
        if used + len(_GAP) + widths[i] > width:
            break
        shown.append(i)
        used += len(_GAP) + widths[i]
    return shown


def column_order(rows: Sequence[dict[str, Any]]) -> list[str]:
    """Every key of the rows once: the trials' columns first, in their order, then
    what only ensemble rows have (their members)."""
    columns: list[str] = []
    for row in sorted(rows, key=lambda r: r.get("trial") == ModelKind.ENSEMBLE):
        columns.extend(c for c in row if c not in columns)
    return columns


def _ensemble_row(
    ensemble: EnsembleRecord, *, metric: str, numbers: dict[str, int]
) -> dict[str, Any]:
    row: dict[str, Any] = {
        "rank": "-",
        "trial": ModelKind.ENSEMBLE.value,
        "status": "exported" if ensemble.exported else "not better",
        f"val_{metric}": ensemble.best_val,
        f"test_{metric}": ensemble.test_metric,
        "params": ensemble.params,
        "latency_ms": ensemble.latency_ms,
    }
    for split in ("val", "test"):
        for name, value in ensemble.metrics.get(split, {}).items():
            if name != metric:
                row[f"{split}_{name}"] = value
    row[MEMBERS] = " + ".join(
        f"{weight:.2f}*#{numbers.get(trial_id, trial_id)}"
        for trial_id, weight in ensemble.members.items()
    )
    return row


def _ensemble_entry(ensemble: EnsembleRecord) -> dict[str, Any]:
    """An ensemble in the keys of a trial's JSON/CSV record."""
    return {
        "search_id": ensemble.search_id, "trial_id": ModelKind.ENSEMBLE.value,
        "experiment": ensemble.experiment, "status": ModelKind.ENSEMBLE.value,
        "config": {"members": ensemble.members}, "best_val": ensemble.best_val,
        "test_metric": ensemble.test_metric, "metrics": ensemble.metrics,
        "exported": ensemble.exported, "single_val": ensemble.single_val,
        "params": ensemble.params, "latency_ms": ensemble.latency_ms,
        "rows_per_s": ensemble.rows_per_s,
    }


def _cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.3f}" if abs(value) >= 0.01 else f"{value:.3g}"
    return str(value)


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return text == "-"
    return True
