"""The report's figures, drawn by the libraries that already draw them.

* Optuna (``optuna.visualization.matplotlib``) draws the optimisation history, the
  parallel coordinates, the hyperparameter importances (fANOVA) and the trial
  timeline, from the search's trials as a study (:class:`._study.SearchTrials`, which
  builds each study and estimates the importances once for every figure).
* scikit-learn's displays draw the best model on the test rows:
  ``PredictionErrorDisplay`` (predicted against actual, residuals) and
  ``ConfusionMatrixDisplay``.

Ours only where those lack something a reader needs:

* :func:`learning_curves`: Optuna's intermediate-values plot gives every trial a
  colour and a legend entry (unreadable at 40-80 trials) and cannot tell a trial the
  scheduler stopped from one that finished; ours greys the field, draws the top five
  in colour with their values, and ends stopped trials in a cross.
* :func:`quality_against_latency`: no library draws a Pareto front of metric
  against inference latency; ours marks the front, the ensemble and the model handed
  over, and the latency budget where there was one.
* :func:`clip_outliers`: a few diverged trials (an RMSE of 1e3 beside 4) squash every
  other point into one line; the y range is set from the bulk of the values.

Every function returns a matplotlib ``Figure``. Optuna's plots restyle matplotlib
globally (``plt.style.use``) and warn that they are experimental: both are kept
inside :func:`_drawing`, so the process's settings are as they were afterwards.
"""

from __future__ import annotations

import warnings
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from typing import Any

import numpy as np

from autokeras_lab.leaderboard import EnsembleRecord, TrialRecord
from autokeras_lab.report._study import SearchTrials
from autokeras_lab.types import Direction, TrialStatus

TOP_HIGHLIGHT = 5
#: Parallel coordinates draw this many hyperparameters, the most important ones: 11
#: side by side are too crowded to read.
PARALLEL_AXES = 6
FIGURE_SIZE = (8.0, 4.4)
#: Optuna's trial states as the leaderboard's statuses (see :mod:`._study`)
_STATE_WORDS = {"COMPLETE": TrialStatus.COMPLETED.words,
                "PRUNED": TrialStatus.STOPPED_EARLY.words, "FAIL": TrialStatus.FAILED.words}


@contextmanager
def _drawing() -> Iterator[None]:
    """Matplotlib's settings restored and Optuna's experimental warnings and log lines
    kept quiet, for the block."""
    import matplotlib

    matplotlib.use("Agg")
    import optuna

    from autokeras_lab._env import quiet_optuna

    with matplotlib.rc_context(), warnings.catch_warnings(), quiet_optuna():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        yield


def _metric_label(view: SearchTrials) -> str:
    return f"validation {view.search.metric} ({view.search.direction.words})"


def _sized(ax: Any, title: str, size: tuple[float, float] = FIGURE_SIZE) -> Any:
    fig = ax.figure
    fig.set_size_inches(*size)
    fig.set_dpi(100)
    ax.set_title("", loc="left")  # Optuna's own title, where it puts one on the left
    ax.set_title(title)
    fig.tight_layout()
    return fig


def _message(text: str, title: str) -> Any:
    """A figure that says why there is nothing to draw."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(FIGURE_SIZE[0], 1.6), dpi=100)
    ax.text(0.5, 0.5, text, ha="center", va="center", transform=ax.transAxes)
    ax.set_axis_off()
    ax.set_title(title)
    return fig


def optimisation_history(view: SearchTrials) -> Any:
    """Optuna's optimisation history: each trial's best value in the order trials
    finished, and the best so far."""
    title = "Optimisation history"
    if not view.scored:
        return _message("no trial reported a metric", title)
    from optuna.visualization.matplotlib import plot_optimization_history

    with _drawing():
        ax = plot_optimization_history(view.study, target_name=_metric_label(view))
        ax.set_xlabel("trial, in the order it finished")
        clip_outliers(ax, np.array([t.best_val for t in view.scored]), view.search.direction)
        return _sized(ax, title)


def parallel_coordinates(view: SearchTrials) -> Any:
    """Optuna's parallel coordinates: one line per scored trial across its
    ``PARALLEL_AXES`` most important hyperparameters (all of them, when there are too
    few trials to tell or too few hyperparameters to choose), coloured by its value."""
    title = "Hyperparameters of every scored trial"
    if not view.scored:
        return _message("no scored trials", title)
    from optuna.visualization.matplotlib import plot_parallel_coordinate

    ranked = view.importances
    params = (list(ranked)[:PARALLEL_AXES]
              if isinstance(ranked, dict) and len(ranked) > PARALLEL_AXES else None)
    if params:
        title += f" (the {len(params)} most important hyperparameters)"
    with _drawing():
        ax = plot_parallel_coordinate(view.study, params=params, target_name=_metric_label(view))
        return _sized(ax, title, (10.0, 4.8))


def importance(view: SearchTrials) -> Any:
    """Optuna's importance plot of the fANOVA importances: how much of the metric's
    variation each hyperparameter explains."""
    title = "Hyperparameter importance (Optuna fANOVA)"
    if isinstance(view.importances, str):
        return _message(view.importances, title)
    from optuna.importance import BaseImportanceEvaluator
    from optuna.visualization.matplotlib import plot_param_importances

    found = view.importances

    class Estimated(BaseImportanceEvaluator):
        """The importances the view already estimated, for Optuna's plot to draw."""

        def evaluate(self, study: Any, params: Any = None, *, target: Any = None
                     ) -> dict[str, float]:
            return dict(found)

    with _drawing():
        ax = plot_param_importances(view.study, evaluator=Estimated(),
                                    target_name=_metric_label(view))
        return _sized(ax, title, (FIGURE_SIZE[0], 3.8))


def timeline(view: SearchTrials) -> Any:
    """Optuna's timeline: when each trial ran, coloured by how it ended."""
    title = "Trial timeline"
    if not any(t.started_at and t.finished_at for t in view.trials):
        return _message("no timed trials", title)
    from optuna.visualization.matplotlib import plot_timeline

    with _drawing():
        ax = plot_timeline(view.by_status)
        legend = ax.get_legend()
        if legend is not None:  # Optuna's state names in the leaderboard's words
            for text in legend.get_texts():
                text.set_text(_STATE_WORDS.get(text.get_text(), text.get_text()))
        ax.set_ylabel("trial, in the order it finished")
        return _sized(ax, title)


def learning_curves(view: SearchTrials) -> Any:
    """Every trial's validation curve; stopped-early ones end in a cross, the top 5 are
    drawn in colour and labelled (see the module's docstring for why this one is ours)."""
    import matplotlib.pyplot as plt

    with _drawing():
        fig, ax = plt.subplots(figsize=FIGURE_SIZE, dpi=100, layout="constrained")
        ranked = [t for t in view.trials if t.curve]
        top = {t.trial_id for t in ranked[:TOP_HIGHLIGHT]}
        everything: list[float] = []
        for trial in reversed(ranked):  # the best drawn last, on top
            epochs = np.arange(1, len(trial.curve) + 1)
            everything.extend(trial.curve)
            if trial.trial_id in top:
                continue
            ax.plot(epochs, trial.curve, color="#cbd5e0", linewidth=0.8, alpha=0.8)
            if trial.status is TrialStatus.STOPPED_EARLY:
                ax.plot(epochs[-1], trial.curve[-1], marker="x", color="#718096", markersize=4)
        colours = [plt.get_cmap("tab10")(i) for i in range(TOP_HIGHLIGHT)]
        for rank, trial in enumerate(ranked[:TOP_HIGHLIGHT]):
            label = f"#{rank + 1}: trial {trial.number} ({trial.best_val:.3g})"
            ax.plot(np.arange(1, len(trial.curve) + 1), trial.curve, color=colours[rank],
                    linewidth=1.8, label=label)
        ax.plot([], [], marker="x", color="#718096", linestyle="",
                label=TrialStatus.STOPPED_EARLY.words)
        ax.set_xlabel("epoch")
        ax.set_ylabel(_metric_label(view))
        if everything:
            clip_outliers(ax, np.array(everything), view.search.direction)
        ax.legend(loc="best", fontsize=8)
        ax.set_title("Learning curves (top 5 in colour)")
        return fig


def pareto_front(points: Sequence[tuple[float, float]], direction: Direction) -> list[int]:
    """The indices of the points no other point beats on both latency (lower) and
    metric (better in ``direction``), fastest first."""
    order = sorted(range(len(points)), key=lambda i: (points[i][0],
                                                      direction.key(points[i][1])))
    front: list[int] = []
    for i in order:
        if not front or direction.better(points[i][1], points[front[-1]][1]):
            front.append(i)
    return front


def quality_against_latency(
    trials: Sequence[TrialRecord], ensembles: Sequence[EnsembleRecord], *, metric: str,
    direction: Direction, handed: str | None, max_latency_ms: float | None = None,
) -> Any:
    """Each measured model's validation metric against its one-row latency, the Pareto
    front joined, the ensemble a star and the handed-over model (``handed``: a trial
    id, or ``"ensemble"``) ringed."""
    import matplotlib.pyplot as plt

    title = "Quality against inference latency"
    models = [(t.trial_id, t.latency_ms, t.best_val) for t in trials
              if t.latency_ms is not None and t.best_val is not None]
    models += [("ensemble", e.latency_ms, e.best_val) for e in ensembles
               if e.latency_ms is not None]
    if not models:
        return _message("no model's latency was measured", title)
    points = [(float(x), float(y)) for _, x, y in models]
    front = pareto_front(points, direction)
    with _drawing():
        fig, ax = plt.subplots(figsize=FIGURE_SIZE, dpi=100, layout="constrained")
        xs, ys = zip(*points, strict=True)
        ax.scatter(xs, ys, s=18, color="#a0aec0", label="trial")
        ax.step([xs[i] for i in front], [ys[i] for i in front], where="post",
                color="#2b6cb0", linewidth=1.2)
        ax.scatter([xs[i] for i in front], [ys[i] for i in front], s=26, color="#2b6cb0",
                   label="Pareto front", zorder=3)
        for key, x, y in models:
            if key == "ensemble":
                ax.scatter([x], [y], marker="*", s=160, color="#d69e2e", zorder=4,
                           label="ensemble")
            if key == handed:
                ax.scatter([x], [y], s=220, facecolors="none", edgecolors="#c53030",
                           linewidths=1.8, zorder=5, label="handed over")
        if max_latency_ms is not None:
            ax.axvline(max_latency_ms, color="#c53030", linestyle="--", linewidth=1,
                       label=f"budget {max_latency_ms:g} ms")
        from matplotlib.ticker import FormatStrFormatter

        ax.set_xscale("log")
        ax.xaxis.set_major_formatter(FormatStrFormatter("%g"))
        ax.xaxis.set_minor_formatter(FormatStrFormatter("%g"))
        ax.set_xlabel("latency, one row at a time (ms, driver CPU)")
        ax.set_ylabel(f"validation {metric} ({direction.words})")
        clip_outliers(ax, np.array(ys), direction)
        ax.legend(loc="best", fontsize=8)
        ax.set_title(title)
        return fig


def predicted_vs_actual(actual: np.ndarray, predicted: np.ndarray, unit: str, target: str) -> Any:
    """Regression: scikit-learn's prediction-error displays on the held-out rows,
    predicted against actual and the residuals."""
    import matplotlib.pyplot as plt
    from sklearn.metrics import PredictionErrorDisplay

    with _drawing():
        fig, (left, right) = plt.subplots(1, 2, figsize=(10.0, 4.4), dpi=100,
                                          layout="constrained")
        label = f"{target} ({unit})" if unit else target
        for ax, kind, title in ((left, "actual_vs_predicted", "Predicted against actual"),
                                (right, "residual_vs_predicted", "Residuals")):
            PredictionErrorDisplay.from_predictions(actual, predicted, kind=kind, ax=ax)
            ax.set_title(title)
        left.set_xlabel(f"predicted {label}")
        left.set_ylabel(f"actual {label}")
        right.set_xlabel(f"predicted {label}")
        right.set_ylabel("residual (actual - predicted)")
        fig.suptitle("Best model on the held-out test rows")
        return fig


def confusion(actual: Sequence[str], predicted: Sequence[str], classes: Sequence[str]) -> Any:
    """Classification: scikit-learn's confusion matrix of the best model on the
    held-out rows."""
    from sklearn.metrics import ConfusionMatrixDisplay

    with _drawing():
        side = 4.5 + 0.3 * len(classes)
        display = ConfusionMatrixDisplay.from_predictions(
            list(actual), list(predicted), labels=list(classes), cmap="Blues", colorbar=False,
            xticks_rotation=30,
        )
        return _sized(display.ax_, "Best model on the held-out test rows", (side + 1.0, side))


def clip_outliers(ax: Any, values: np.ndarray, direction: Direction) -> None:
    """Keep a few diverged trials from squashing the interesting range."""
    finite = values[np.isfinite(values)]
    if len(finite) < 5:
        return
    low, high = np.percentile(finite, [0, 95] if direction is Direction.MIN else [5, 100])
    pad = (high - low) * 0.05 or 1.0
    ax.set_ylim(low - pad, high + pad)


#: The trial figures of a report, in order: (draw, alt text, caption).
TRIAL_FIGURES: tuple[tuple[Callable[[SearchTrials], Any], str, str], ...] = (
    (optimisation_history, "optimisation history",
     "Each trial's best validation metric in the order trials finished; the line is the "
     "best so far."),
    (learning_curves, "learning curves",
     "Validation metric per epoch for every trial. Grey curves ending in a cross were "
     "stopped early by the scheduler."),
    (parallel_coordinates, "hyperparameters",
     "Each line is a trial across its hyperparameters, coloured by its metric."),
    (importance, "hyperparameter importance",
     "How much of the metric's variation each hyperparameter explains (fANOVA on the "
     "scored trials)."),
    (timeline, "trial timeline", "When each trial ran, and how it ended."),
)

