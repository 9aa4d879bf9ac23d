"""Retraining the best configurations, and fine-tuning an exported model on new rows.

:func:`retrain_top` takes the K best configurations of an experiment from the
leaderboard, retrains each on train + validation with S seeds for the epoch count the
search found best (or ``epochs``), evaluates every run on the held-out test split,
ranks the configurations by their mean test metric, and exports the best single model
and an ensemble of the top K (one Keras model averaging their outputs, so ``predict``
loads it like any other). :func:`finetune` trains an exported model further on new
rows of the same schema and exports a new version beside it.

Example:
    >>> from pathlib import Path
    >>> from autokeras_lab.retrain import retrain_top
    >>> result = retrain_top(Path("runs"), "concrete", top=3, seeds=2)  # doctest: +SKIP
    >>> result.ensemble_metrics["rmse"]  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from autokeras_lab._env import import_tensorflow_quietly
from autokeras_lab.config import experiment_from_settings, load_experiment_data
from autokeras_lab.data import Arrays, Prepared, Preprocessor, prepare
from autokeras_lab.ensemble import Member
from autokeras_lab.errors import UserError
from autokeras_lab.export import assemble, input_transform, test_metrics, write_model_dir
from autokeras_lab.layout import RunsLayout, run_id
from autokeras_lab.leaderboard import (
    Leaderboard,
    RetrainRecord,
    SearchRecord,
    TrialRecord,
    find_search,
)
from autokeras_lab.spaces import DerivedSpace, ModelBuilder, Task, batch_size, load_space
from autokeras_lab.trainable import derive_seed, fit_epochs, fit_together
from autokeras_lab.types import Direction, ModelKind, RetrainKind, TaskKind

__all__ = ["FinetuneResult", "RetrainResult", "RetrainedConfig", "finetune", "retrain_top"]

MIN_EPOCHS = 10


@dataclass(frozen=True)
class RetrainedConfig:
    """One configuration retrained with several seeds."""

    trial: TrialRecord
    epochs: int
    runs: list[dict[str, float]]  # test metrics per seed

    def mean(self, metric: str) -> float:
        return float(np.mean([r[metric] for r in self.runs]))

    def std(self, metric: str) -> float:
        return float(np.std([r[metric] for r in self.runs]))


@dataclass(frozen=True)
class RetrainResult:
    retrain_id: str
    metric: str
    direction: Direction
    ranked: list[RetrainedConfig]
    single_dir: Path
    ensemble_dir: Path
    single_metrics: dict[str, float]
    ensemble_metrics: dict[str, float]


def retrain_top(
    runs_dir: Path, experiment: str, *, top: int = 3, seeds: int = 3, epochs: int | None = None,
    out: Any = None,
) -> RetrainResult:
    """Retrain the ``top`` best configurations with ``seeds`` seeds each (see module doc).

    Raises:
        UserError: no searches of the experiment, or its data changed since.
    """
    board, latest = find_search(runs_dir, experiment)
    exp = experiment_from_settings(latest.settings)
    dataset = load_experiment_data(exp)
    if dataset.fingerprint != latest.data_fingerprint:
        raise UserError(f"the data of {experiment!r} changed since its last search; "
                        "search again before retraining")
    prepared = prepare(dataset, test_fraction=exp.test_fraction, val_fraction=exp.val_fraction,
                       split_seed=exp.split_seed, class_weight=exp.class_weight,
                       ).with_transforms(exp.input_transforms[0])
    same = {s.search_id for s in board.searches(like=latest.key)}  # comparable values
    candidates = _distinct_best(
        [t for t in board.trials(experiment, direction=latest.direction)
         if t.search_id in same and t.best_val is not None], top)
    import_tensorflow_quietly()
    import keras
    import keras_tuner as kt

    hps = kt.HyperParameters.from_config(latest.space_config)
    derived = DerivedSpace(hps, tuple(hp.name for hp in hps.space))
    space = load_space(latest.space)
    # The search's schedule: a retrained model's learning rate decays as its trial's
    # did, stopping where the trial was best (the epochs are the search's record's).
    task = Task.for_training(dataset.task, prepared.preprocessor, len(dataset.classes),
                             fit_rows=len(prepared.y_train) + len(prepared.y_val),
                             budget=exp.budget)
    retrain_id = run_id()
    metric, direction = latest.metric, latest.direction
    results: list[RetrainedConfig] = []
    first_models: dict[str, Any] = {}
    for index, trial in enumerate(candidates, start=1):
        n_epochs = epochs or max(MIN_EPOCHS, trial.best_epoch or MIN_EPOCHS)
        inputs = prepared.with_transforms(input_transform(trial.config, prepared))
        data = _train_plus_val(inputs)
        runs = []
        models = []
        for seed in range(seeds):
            keras.utils.set_random_seed(derive_seed(seed, trial.config))
            models.append(space.build(trial.config, task, derived))
        if out is not None:
            out.write(f"config {index}/{len(candidates)} (trial {trial.number}): training "
                      f"{seeds} seed(s) together for {n_epochs} epochs\n")
            out.flush()
        # The seeds train packed, as one graph call an epoch (autokeras_lab.packing).
        fit_together(models, data, batch=batch_size(trial.config), epochs=n_epochs,
                     epoch_rows=exp.budget.rows_per_epoch(len(data["x_train"])))
        for seed, model in enumerate(models):
            test = test_metrics(model, inputs, task)
            runs.append(test)
            if seed == 0:
                first_models[trial.trial_id] = model
            board.record_retrain(RetrainRecord(
                retrain_id=retrain_id, experiment=experiment, kind=RetrainKind.RUN,
                config=trial.config,
                metrics=test, created_at=time.time(), source_search_id=trial.search_id,
                source_trial_id=trial.trial_id, seed=seed, epochs=n_epochs,
            ))
            if out is not None:
                out.write(f"config {index}/{len(candidates)} (trial {trial.number}), seed {seed}: "
                          f"test {metric} {test[metric]:.4g} after {n_epochs} epochs\n")
                out.flush()
        results.append(RetrainedConfig(trial, n_epochs, runs))
    results.sort(key=lambda r: direction.key(r.mean(metric)))
    best = results[0]
    base = RunsLayout(Path(runs_dir)).retrained(experiment, retrain_id)
    builder = ModelBuilder(space, derived, task)

    def model_of(chosen: list[RetrainedConfig]) -> tuple[Any, Prepared]:
        return assemble([
            Member(first_models[r.trial.trial_id], 1 / len(chosen),
                   input_transform(r.trial.config, prepared)) for r in chosen
        ], prepared, builder)

    single, single_data = model_of([best])
    single_metrics = test_metrics(single, single_data, task)
    card = _card(latest, dataset, prepared, task, retrain_id)
    write_model_dir(base / ModelKind.SINGLE, single, single_data, card | {
        "kind": ModelKind.SINGLE, "config": best.trial.config, "epochs": best.epochs,
        "source_trial": best.trial.trial_id,
        "metrics": {f"test_{k}": v for k, v in single_metrics.items()}
        | {f"test_{metric}_mean": best.mean(metric), f"test_{metric}_std": best.std(metric)},
    })
    ensemble, ensemble_data = model_of(results)
    ensemble_metrics = test_metrics(ensemble, ensemble_data, task)
    write_model_dir(base / ModelKind.ENSEMBLE, ensemble, ensemble_data, card | {
        "kind": ModelKind.ENSEMBLE, "members": [r.trial.config for r in results],
        "metrics": {f"test_{k}": v for k, v in ensemble_metrics.items()},
    })
    board.record_retrain(RetrainRecord(
        retrain_id=retrain_id, experiment=experiment, kind=RetrainKind.SINGLE,
        config=best.trial.config, created_at=time.time(),
        metrics=single_metrics
        | {f"{metric}_mean": best.mean(metric), f"{metric}_std": best.std(metric)},
        source_search_id=best.trial.search_id, source_trial_id=best.trial.trial_id,
        epochs=best.epochs, model_dir=str(base / ModelKind.SINGLE),
    ))
    board.record_retrain(RetrainRecord(
        retrain_id=retrain_id, experiment=experiment, kind=RetrainKind.ENSEMBLE,
        config={"members": [r.trial.trial_id for r in results]}, created_at=time.time(),
        metrics=ensemble_metrics, source_search_id=best.trial.search_id,
        model_dir=str(base / ModelKind.ENSEMBLE),
    ))
    return RetrainResult(retrain_id, metric, direction, results, base / ModelKind.SINGLE,
                         base / ModelKind.ENSEMBLE, single_metrics, ensemble_metrics)


def _distinct_best(trials: list[TrialRecord], top: int) -> list[TrialRecord]:
    chosen: list[TrialRecord] = []
    seen: set[str] = set()
    for trial in trials:
        key = repr(sorted(trial.config.items()))
        if key not in seen:
            seen.add(key)
            chosen.append(trial)
        if len(chosen) == top:
            break
    if not chosen:
        raise UserError("no finished trial with a metric to retrain; run a search first")
    return chosen


def _train_plus_val(prepared: Prepared) -> Arrays:
    weights = prepared.w_train
    if weights is not None:  # the validation rows get their class's weight too
        per_class = {int(c): float(w) for c, w in zip(prepared.y_train, weights, strict=True)}
        val_weights = np.array([per_class.get(int(c), 1.0) for c in prepared.y_val], np.float32)
        weights = np.concatenate([weights, val_weights])
    return {
        "x_train": np.concatenate([prepared.x_train, prepared.x_val]),
        "y_train": np.concatenate([prepared.y_train, prepared.y_val]),
        "w_train": weights,
    }


def _card(search: SearchRecord, dataset: Any, prepared: Prepared, task: Task,
          retrain_id: str) -> dict[str, Any]:
    from autokeras_lab.export import versions

    return {
        "experiment": search.experiment, "retrain_id": retrain_id, "dataset": dataset.name,
        "data_fingerprint": dataset.fingerprint, "task": task.kind, "target": dataset.target,
        "unit": dataset.unit, "classes": list(prepared.preprocessor.classes),
        "features": list(prepared.preprocessor.features), "metric": search.metric,
        "direction": search.direction, "trained_on": "train + validation",
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"), "versions": versions(),
    }


@dataclass(frozen=True)
class FinetuneResult:
    model_dir: Path
    rows: int
    epochs: int
    loss: float


def finetune(
    model_dir: Path, csv: Path, *, epochs: int = 20, refit_preprocessing: bool = False,
    runs_dir: Path | None = None, unsafe: bool = False,
) -> FinetuneResult:
    """Train an exported model further on new rows and export it as a new version
    (``MODEL_DIR-v2``, ``-v3``, ...); the original is never touched.

    Raises:
        UserError: the CSV's columns differ from the model's, or refitting the
            preprocessing would change the model's input width, or the model carries
            code and ``unsafe`` is false (see :func:`autokeras_lab.load_model_dir`).
    """
    from autokeras_lab.data import load_csv
    from autokeras_lab.export import load_model_dir

    exported = load_model_dir(model_dir, unsafe=unsafe)
    pre = exported.preprocessor
    try:
        columns = set(pd.read_csv(csv, nrows=0).columns)
    except (OSError, ValueError, UnicodeDecodeError):
        columns = None  # load_csv below says what is wrong with the file
    if columns is None:
        load_csv(csv, target=pre.target, task=pre.task)
        columns = set()
    expected = set(pre.features) | {pre.target}
    missing = sorted(expected - columns)
    extra = sorted(columns - expected)
    if missing or extra:
        raise UserError(
            f"{csv} does not have the model's columns: "
            + (f"missing {', '.join(missing)}" if missing else "")
            + ("; " if missing and extra else "")
            + (f"unexpected {', '.join(extra)}" if extra else "")
            + f"; expected {', '.join(pre.features)} and {pre.target}"
        )
    dataset = load_csv(csv, target=pre.target, task=pre.task)
    if pre.task is TaskKind.CLASSIFICATION:
        unknown = sorted(set(dataset.frame[pre.target].astype(str)) - set(pre.classes))
        if unknown:
            raise UserError(f"{csv} has classes the model does not know: {', '.join(unknown)}")
    if refit_preprocessing:
        refit = Preprocessor.fit(dataset.frame, features=list(pre.features), target=pre.target,
                                 task=pre.task, classes=list(pre.classes),
                                 ).with_transforms(*pre.transforms)
        if refit.n_inputs != pre.n_inputs:
            raise UserError(
                f"refitting the preprocessing on {csv} gives {refit.n_inputs} inputs, the model "
                f"takes {pre.n_inputs} (new or missing categories); fine-tune without "
                "--refit-preprocessing"
            )
        pre = refit
    x = pre.transform_x(dataset.frame)
    y = pre.transform_y(dataset.frame[pre.target])
    model = exported.model
    config = exported.card.get("config", {})
    loss = fit_epochs(model, {"x_train": x, "y_train": y, "w_train": None},
                      batch=batch_size(config), epochs=epochs)
    target = _next_version(Path(model_dir))
    card = exported.card | {
        "kind": ModelKind.FINETUNE, "parent": str(Path(model_dir).resolve()),
        "finetune_rows": len(x),
        "finetune_epochs": epochs, "refit_preprocessing": refit_preprocessing,
        "created_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_model_dir(target, model, None, card, preprocessor=pre)
    board_file = RunsLayout(Path(runs_dir)).leaderboard if runs_dir is not None else None
    if board_file is not None and board_file.is_file():
        Leaderboard(board_file).record_retrain(RetrainRecord(
            retrain_id=target.name, experiment=str(card.get("experiment", "")),
            kind=RetrainKind.FINETUNE,
            config=config, metrics={"train_loss": loss}, created_at=time.time(),
            epochs=epochs, model_dir=str(target),
        ))
    return FinetuneResult(target, len(x), epochs, loss if math.isfinite(loss) else math.nan)


def _next_version(model_dir: Path) -> Path:
    stem = model_dir.name
    base = stem.rsplit("-v", 1)[0] if stem.rsplit("-v", 1)[-1].isdigit() else stem
    version = 2
    while (model_dir.parent / f"{base}-v{version}").exists():
        version += 1
    return model_dir.parent / f"{base}-v{version}"

