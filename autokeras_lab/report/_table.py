from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Sequence
from dataclasses import asdict
from typing import Any

from autokeras_lab.leaderboard import TrialRecord

FORMATS = ("table", "json", "csv", "markdown")
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


def leaderboard_rows(trials: Sequence[TrialRecord], *, metric: str) -> list[dict[str, Any]]:
    """One flat row per trial, ranked as given (best first)."""
    rows = []
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
        spread = trial.metrics.get("val_std", {})
        if metric in spread:  # cross-validated: the mean is val_METRIC, here its spread
            row[f"val_{metric}_std"] = spread[metric]
        for split in ("val", "test"):
            for name, value in trial.metrics.get(split, {}).items():
                if name != metric:
                    row[f"{split}_{name}"] = value
        row.update(compact_config(trial.config))
        rows.append(row)
    return rows


def format_leaderboard(trials: Sequence[TrialRecord], *, fmt: str, metric: str) -> str:
    """Render trials as ``table`` (terminal), ``markdown``, ``csv`` or ``json``.

    JSON and CSV carry every stored column (full config and per-epoch curve, the
    latter two as JSON text in CSV), so they load straight into pandas.
    """
    if fmt == "json":
        return json.dumps([asdict(t) for t in trials], indent=2)
    if fmt == "csv":
        buffer = io.StringIO()
        names = list(asdict(trials[0])) if trials else ["search_id", "trial_id"]
        writer = csv.DictWriter(buffer, fieldnames=names, lineterminator="\n")
        writer.writeheader()
        for trial in trials:
            row = asdict(trial)
            for key in ("config", "curve", "metrics"):
                row[key] = json.dumps(row[key])
            writer.writerow(row)
        return buffer.getvalue().rstrip("\n")
    if not trials:
        return "(no trials yet)"
    rows = leaderboard_rows(trials, metric=metric)
    columns: list[str] = []
    for row in rows:
        columns.extend(c for c in row if c not in columns)
    cells = [[_cell(row.get(c)) for c in columns] for row in rows]
    if fmt == "markdown":
        lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
        lines += ["| " + " | ".join(c.replace("|", "\\|") for c in r) + " |" for r in cells]
        return "\n".join(lines)
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    numeric = {i for i, c in enumerate(columns) if all(_is_number(r[i]) for r in cells)}

    def line(values: list[str]) -> str:
        return "  ".join(
            v.rjust(w) if i in numeric else v.ljust(w)
            for i, (v, w) in enumerate(zip(values, widths, strict=True))
        ).rstrip()

    return "\n".join([line(columns), line(["-" * w for w in widths]), *map(line, cells)])


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
