"""Matplotlib figures of a search, drawn from leaderboard records only.

Every function takes plain records (and, for the best model, its stored test
predictions) and returns a ``Figure``; nothing here touches Ray or the model.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np

from autokeras_lab.leaderboard import SearchRecord, TrialRecord
from autokeras_lab.types import Direction, TrialStatus

STATUS_COLOURS = {
    TrialStatus.COMPLETED: "#2b6cb0",
    TrialStatus.STOPPED_EARLY: "#a0aec0",
    TrialStatus.FAILED: "#e53e3e",
}
TOP_HIGHLIGHT = 5


def _figure(width: float = 7.5, height: float = 4.2) -> tuple[Any, Any]:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(width, height), dpi=100, layout="constrained")
    return fig, ax


def _metric_label(search: SearchRecord) -> str:
    return f"validation {search.metric} ({search.direction.words})"


def optimisation_history(trials: Sequence[TrialRecord], search: SearchRecord) -> Any:
    """Each trial's best validation metric in completion order, with the running best."""
    done = sorted((t for t in trials if t.best_val is not None), key=lambda t: t.finished_at or 0)
    fig, ax = _figure()
    if not done:
        ax.text(0.5, 0.5, "no trial reported a metric", ha="center", transform=ax.transAxes)
        return fig
    order = np.arange(1, len(done) + 1)
    values = np.array([t.best_val for t in done], dtype=float)
    best = np.array([min(values[: i + 1], key=search.direction.key) for i in range(len(values))])
    for status, colour in STATUS_COLOURS.items():
        mask = np.array([t.status == status for t in done])
        if mask.any():
            ax.scatter(
                order[mask], values[mask], s=18, color=colour, label=status.replace("_", " ")
            )
    ax.step(order, best, where="post", color="#dd6b20", linewidth=2, label="best so far")
    ax.set_xlabel("trial, in the order it finished")
    ax.set_ylabel(_metric_label(search))
    _clip_outliers(ax, values, search.direction)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Optimisation history")
    return fig


def learning_curves(trials: Sequence[TrialRecord], search: SearchRecord) -> Any:
    """Every trial's validation curve; stopped-early ones end in a cross, the top 5 are
    drawn in colour and labelled."""
    fig, ax = _figure()
    ranked = [t for t in trials if t.curve]
    top = {t.trial_id for t in ranked[:TOP_HIGHLIGHT]}
    everything: list[float] = []
    for trial in reversed(ranked):  # the best drawn last, on top
        epochs = np.arange(1, len(trial.curve) + 1)
        everything.extend(trial.curve)
        if trial.trial_id in top:
            continue
        ax.plot(epochs, trial.curve, color="#cbd5e0", linewidth=0.8, alpha=0.8)
        if trial.status == "stopped_early":
            ax.plot(epochs[-1], trial.curve[-1], marker="x", color="#718096", markersize=4)
    colours = ["#2b6cb0", "#dd6b20", "#38a169", "#805ad5", "#d53f8c"]
    for rank, trial in enumerate(ranked[:TOP_HIGHLIGHT]):
        epochs = np.arange(1, len(trial.curve) + 1)
        ax.plot(
            epochs,
            trial.curve,
            color=colours[rank],
            linewidth=1.8,
            label=f"#{rank + 1}: trial {trial.number} ({trial.best_val:.3g})",
        )
    ax.plot([], [], marker="x", color="#718096", linestyle="", label="stopped early")
    ax.set_xlabel("epoch")
    ax.set_ylabel(_metric_label(search))
    if everything:
        _clip_outliers(ax, np.array(everything), search.direction)
    ax.legend(loc="best", fontsize=8)
    ax.set_title("Learning curves (top 5 in colour)")
    return fig


def _numeric_config(
    trials: Sequence[TrialRecord], space: dict[str, Any]
) -> tuple[list[str], np.ndarray]:
    """Hyperparameters as columns in [0, 1] (log ones on a log scale, choices by index)."""
    kinds = {p["config"]["name"]: p for p in space.get("space", [])}
    names = [n for n in kinds if any(n in t.config for t in trials)]
    table = np.full((len(trials), len(names)), np.nan)
    for j, name in enumerate(names):
        spec = kinds[name]
        cls, conf = spec["class_name"], spec["config"]
        for i, trial in enumerate(trials):
            if name not in trial.config:
                continue
            value = trial.config[name]
            if cls in ("Int", "Float"):
                low, high = float(conf["min_value"]), float(conf["max_value"])
                if conf.get("sampling") == "log" and low > 0:
                    value, low, high = math.log(value), math.log(low), math.log(high)
                table[i, j] = (float(value) - low) / ((high - low) or 1.0)
            elif cls == "Choice":
                choices = list(conf["values"])
                table[i, j] = (
                    choices.index(value) / max(1, len(choices) - 1) if value in choices else np.nan
                )
            elif cls == "Boolean":
                table[i, j] = float(bool(value))
    return names, table


def parallel_coordinates(trials: Sequence[TrialRecord], search: SearchRecord) -> Any:
    """One line per trial across the hyperparameters, coloured by its metric."""
    import matplotlib as mpl

    scored = [t for t in trials if t.best_val is not None]
    names, table = _numeric_config(scored, search.space_config)
    fig, ax = _figure(9.0, 4.5)
    if not scored or not names:
        ax.text(0.5, 0.5, "no scored trials", ha="center", transform=ax.transAxes)
        return fig
    values = np.array([t.best_val for t in scored])
    low, high = (  # the worst tenth shares one colour, so the good range stays readable
        np.nanpercentile(values, [0, 90] if search.direction is Direction.MIN else [10, 100])
        if len(values) > 3 else (values.min(), values.max())
    )
    norm = mpl.colors.Normalize(vmin=low, vmax=high if high > low else low + 1)
    cmap = mpl.colormaps["viridis_r" if search.direction is Direction.MIN else "viridis"]
    # drawn worst first, so the best lines lie on top
    order = sorted(range(len(values)), key=lambda i: search.direction.key(float(values[i])),
                   reverse=True)
    x = np.arange(len(names))
    for i in order:
        row = table[i]
        ax.plot(x, row, color=cmap(norm(values[i])), alpha=0.75, linewidth=1.2)
    ax.set_xticks(x, names, rotation=30, ha="right", fontsize=8)
    ax.set_yticks([0, 1], ["low / first", "high / last"], fontsize=8)
    ax.set_xlim(-0.2, len(names) - 0.8)
    fig.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label=_metric_label(search))
    ax.set_title("Hyperparameters of every scored trial (log ranges on a log scale)")
    return fig


def importance(importances: dict[str, float] | None, note: str = "") -> Any:
    """Horizontal bars of hyperparameter importance (Optuna's evaluator)."""
    fig, ax = _figure(7.5, 3.8)
    if not importances:
        ax.text(
            0.5,
            0.5,
            note or "not enough trials to estimate importance",
            ha="center",
            transform=ax.transAxes,
        )
        ax.set_axis_off()
        return fig
    items = sorted(importances.items(), key=lambda kv: kv[1])
    ax.barh([k for k, _ in items], [v for _, v in items], color="#2b6cb0")
    ax.set_xlabel("importance (share of explained variance)")
    ax.set_title("Hyperparameter importance (Optuna fANOVA)")
    return fig


def timeline(trials: Sequence[TrialRecord]) -> Any:
    """A Gantt chart of the trials and, below it, how many ran at once."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Patch

    timed = sorted(
        (t for t in trials if t.started_at and t.finished_at), key=lambda t: t.started_at or 0
    )
    fig, (gantt, count) = plt.subplots(
        2, 1, figsize=(8.5, 5.0), dpi=100, sharex=True, height_ratios=[3, 1], layout="constrained"
    )
    if not timed:
        gantt.text(0.5, 0.5, "no timed trials", ha="center", transform=gantt.transAxes)
        return fig
    origin = min(t.started_at or 0 for t in timed)
    for row, trial in enumerate(timed):
        start = (trial.started_at or 0) - origin
        gantt.barh(
            row,
            (trial.finished_at or 0) - (trial.started_at or 0),
            left=start,
            height=0.8,
            color=STATUS_COLOURS[trial.status],
        )
    gantt.set_ylabel("trial (by start)")
    gantt.invert_yaxis()
    # Legend entries drawn from patches of their own: an empty bar container has no
    # patch to take a colour from, and every entry came out in the default one.
    gantt.legend(
        handles=[Patch(color=colour, label=status.replace("_", " "))
                 for status, colour in STATUS_COLOURS.items()],
        loc="lower right", fontsize=8,
    )
    gantt.set_title("Trial timeline")
    edges = sorted(
        {(t.started_at or 0) - origin for t in timed}
        | {(t.finished_at or 0) - origin for t in timed}
    )
    running = [
        sum(1 for t in timed if (t.started_at or 0) - origin <= e < (t.finished_at or 0) - origin)
        for e in edges
    ]
    count.step(edges, running, where="post", color="#2b6cb0")
    count.set_ylabel("running")
    count.set_xlabel("seconds since the first trial started")
    count.set_ylim(0, max(running) + 1)
    return fig


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, unit: str, target: str) -> Any:
    """Regression: predictions against truth on the held-out split, and the residuals."""
    import matplotlib.pyplot as plt

    fig, (scatter, resid) = plt.subplots(1, 2, figsize=(9.0, 4.2), dpi=100, layout="constrained")
    label = f"{target} ({unit})" if unit else target
    lo, hi = float(min(actual.min(), predicted.min())), float(max(actual.max(), predicted.max()))
    scatter.scatter(actual, predicted, s=14, color="#2b6cb0", alpha=0.8)
    scatter.plot([lo, hi], [lo, hi], color="#dd6b20", linestyle="--", label="perfect")
    scatter.set_xlabel(f"actual {label}")
    scatter.set_ylabel(f"predicted {label}")
    scatter.legend(fontsize=8)
    scatter.set_title("Best model on the held-out test rows")
    residuals = predicted - actual
    resid.scatter(predicted, residuals, s=14, color="#2b6cb0", alpha=0.8)
    resid.axhline(0, color="#dd6b20", linestyle="--")
    resid.set_xlabel(f"predicted {label}")
    resid.set_ylabel("residual (predicted - actual)")
    resid.set_title("Residuals")
    return fig


def confusion(actual: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> Any:
    """Classification: the confusion matrix of the best model on the held-out split."""
    index = {c: i for i, c in enumerate(classes)}
    matrix = np.zeros((len(classes), len(classes)), dtype=int)
    for a, p in zip(actual, predicted, strict=True):
        matrix[index[a], index[p]] += 1
    fig, ax = _figure(5.5 + 0.3 * len(classes), 4.5 + 0.3 * len(classes))
    ax.imshow(matrix, cmap="Blues")
    for i in range(len(classes)):
        for j in range(len(classes)):
            ax.text(
                j,
                i,
                str(matrix[i, j]),
                ha="center",
                va="center",
                color="white" if matrix[i, j] > matrix.max() / 2 else "black",
            )
    ax.set_xticks(range(len(classes)), classes, rotation=30, ha="right")
    ax.set_yticks(range(len(classes)), classes)
    ax.set_xlabel("predicted")
    ax.set_ylabel("actual")
    ax.set_title("Best model on the held-out test rows")
    return fig


def _clip_outliers(ax: Any, values: np.ndarray, direction: Direction) -> None:
    """Keep a few diverged trials from squashing the interesting range."""
    finite = values[np.isfinite(values)]
    if len(finite) < 5:
        return
    low, high = (
        np.percentile(finite, [0, 95] if direction is Direction.MIN else [5, 100])
    )
    pad = (high - low) * 0.05 or 1.0
    ax.set_ylim(low - pad, high + pad)
