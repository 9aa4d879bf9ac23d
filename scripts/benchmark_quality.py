"""The quality of the model a default search hands over, against what a user would
pick instead, on the same rows.

For each data set and each of N random 90/10 splits (seeded), every tool gets the
same 90 % and is scored on the 10 % it never saw:

- ``ours``: the default search, run from the command line as a user runs it
  (``python -m autokeras_lab search --csv train.csv --target T``), its exported
  model (``runs/EXP/best``, loaded in safe mode) predicting the held-out rows;
- ``hgb``: scikit-learn's ``HistGradientBoostingRegressor()`` /
  ``HistGradientBoostingClassifier()`` with default settings (categorical columns
  as pandas categories);
- ``catboost``, ``lightgbm``, ``xgboost``: each library's defaults (only their
  output silenced), with categorical columns as each expects them: CatBoost's
  ``cat_features``, LightGBM's pandas categories, XGBoost's pandas categories with
  ``enable_categorical=True`` (CatBoost also writes no training files). Need the
  ``bench`` extra;
- ``autogluon``: AutoGluon's ``TabularPredictor(label=...).fit(train,
  presets="best_quality", time_limit=<our budget>)`` on the same rows and cores. Its
  pins clash with ours (it wants pandas < 3), so it runs in an environment of its own
  that ``--autogluon-python`` names (see docs/benchmarks.md for the two commands that
  make one);
- ``grid``: the seed notes' flow: a 6x64 ReLU network with dropout and SGD,
  scikeras' ``KerasRegressor`` / ``KerasClassifier`` in ``GridSearchCV`` (3 folds;
  learning rate 0.01/0.05/0.1, dropout 0.2/0.5, batch 16/32; early stopping on a
  10 % validation split), inputs standardised and one-hot encoded. Needs the
  ``bench`` extra (``pip install -e ".[bench]"``).

It prints, per data set, the mean and standard error over the splits of the test
RMSE (regression) or log loss and accuracy (classification), each tool's wins
against ours split by split, and the mean wall time; ``--json`` keeps every split
(rewritten after each run) and ``--resume`` reruns only what that file lacks.

    python scripts/benchmark_quality.py                     # 4 data sets x 10 splits
    python scripts/benchmark_quality.py --quick             # 2 splits, 60 s searches
    python scripts/benchmark_quality.py --datasets concrete --splits 5 --tools ours,hgb
    python scripts/benchmark_quality.py --json runs.json --resume   # go on where it stopped
    python scripts/benchmark_quality.py --splits 10 --first-split 6  # splits 6-10 only
    python scripts/benchmark_quality.py --compare before.json after.json  # a change, paired
    python scripts/benchmark_quality.py --curve b60.json b120.json b300.json  # by budget
    python scripts/benchmark_quality.py --datasets car --keep kept/  # each run's files stay
    python scripts/benchmark_quality.py --tools ours --search-args "--seed {split}"  # per split
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import os
import shlex
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

DATASETS = ("concrete", "diabetes", "car", "breast_cancer", "diamonds")
TOOLS = ("ours", "hgb", "grid")
#: Our default search's time budget, which AutoGluon gets too when --time-budget is unset.
DEFAULT_BUDGET = 300.0
#: Which of two scores is better, per metric.
BETTER = {"rmse": min, "log_loss": min, "accuracy": max}
#: The tools whose score depends on the time budget; the others are fixed recipes.
BUDGETED = ("ours", "autogluon")
GRID = {"model__learning_rate": [0.01, 0.05, 0.1], "model__dropout": [0.2, 0.5],
        "batch_size": [16, 32]}


def splits(frame: pd.DataFrame, target: str, *, classify: bool, n: int) -> list[Any]:
    """N seeded 90/10 train/test cuts (stratified for classification)."""
    from sklearn.model_selection import train_test_split

    labels = frame[target].astype(str) if classify else None
    return [train_test_split(frame, test_size=0.1, random_state=seed, stratify=labels)
            for seed in range(n)]


def score(test: pd.Series, predicted: Any, *, classes: list[str] | None) -> dict[str, float]:
    """RMSE for regression; log loss and accuracy for classification (``predicted``:
    one probability column per class, in ``classes`` order)."""
    from sklearn.metrics import accuracy_score, log_loss

    if classes is None:
        error = np.asarray(predicted, dtype=float) - test.to_numpy(dtype=float)
        return {"rmse": float(np.sqrt(np.mean(error**2)))}
    probs = np.clip(np.asarray(predicted, dtype=float), 1e-7, 1.0)
    probs = probs / probs.sum(axis=1, keepdims=True)
    truth = test.astype(str).to_numpy()
    return {"log_loss": float(log_loss(truth, probs, labels=classes)),
            "accuracy": float(accuracy_score(truth, np.asarray(classes)[probs.argmax(1)]))}


def run_ours(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
             classes: list[str] | None, budget: float | None, work: Path,
             search_args: tuple[str, ...] = (), **_: Any) -> dict[str, Any]:
    from autokeras_lab.export import load_model_dir

    csv = work / "train.csv"
    train.to_csv(csv, index=False)
    command = [sys.executable, "-m", "autokeras_lab", "search", "--csv", str(csv),
               "--target", target, "--name", "bench", "--runs-dir", str(work / "runs"),
               "--no-report", "--quiet",
               "--task", "classification" if classes is not None else "regression"]
    if budget is not None:
        command += ["--time-budget", str(budget)]
    command += list(search_args)
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        raise RuntimeError(f"search failed: {done.stderr[-2000:]}")
    model = load_model_dir(work / "runs" / "bench" / "best")
    predicted = model.predict(test.drop(columns=[target]))
    if classes is None:
        output: Any = predicted[f"predicted_{target}"].to_numpy()
    else:
        zero = np.zeros(len(predicted))  # a class the search's training rows lacked
        output = np.stack([predicted.get(f"probability_{c}", zero) for c in classes], axis=1)
    return {"scores": score(test[target], output, classes=classes),
            "kind": model.card.get("kind", "trial"),
            "members": len(model.card.get("members", [])) or 1,
            "refit": model.card.get("refit"),
            **_ensemble_against_single(work / "runs")}


def _ensemble_against_single(runs: Path) -> dict[str, Any]:
    """The search's own held-out rows (a tenth of the training CSV, in no choice):
    the ensemble's test metric and the best single trial's, for the same search."""
    from autokeras_lab.leaderboard import Leaderboard

    board = Leaderboard(runs / "leaderboard.db")
    [search] = board.searches("bench")
    best = next(t for t in board.trials("bench", direction=search.direction)
                if t.trial_id == search.best_trial_id)
    ensembles = board.ensembles("bench", direction=search.direction)
    return {"metric": search.metric, "single_test": best.test_metric,
            "ensemble_test": ensembles[0].test_metric if ensembles else None}


def _categorical(frame: pd.DataFrame) -> pd.DataFrame:
    out = frame.copy()
    for column in out.columns:
        if not pd.api.types.is_numeric_dtype(out[column]):
            out[column] = out[column].astype(str).astype("category")
    return out


def run_hgb(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
            classes: list[str] | None, **_: Any) -> dict[str, Any]:
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor

    return _on_categories(train, test, target, classes, HistGradientBoostingRegressor(),
                          HistGradientBoostingClassifier())


def _with_categories(train: pd.DataFrame, test: pd.DataFrame
                     ) -> tuple[pd.DataFrame, pd.DataFrame, list[str]]:
    """Text columns as pandas categories, the test rows on the training categories;
    also the names of those columns."""
    x_train, x_test = _categorical(train), test.copy()
    names = [c for c in x_train.columns if isinstance(x_train[c].dtype, pd.CategoricalDtype)]
    for column in names:
        x_test[column] = pd.Categorical(x_test[column].astype(str),
                                        categories=x_train[column].cat.categories)
    return x_train, x_test, names


def _probabilities(model: Any, x_test: Any, classes: list[str],
                   labels: list[str] | None = None) -> pd.DataFrame:
    """A classifier's probabilities as one column per class, in ``classes`` order
    (``labels``: its own class order, where ``classes_`` holds codes)."""
    columns = labels if labels is not None else [str(c) for c in model.classes_]
    probs = pd.DataFrame(model.predict_proba(x_test), columns=columns)
    return probs.reindex(columns=classes, fill_value=0.0)


def run_catboost(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
                 classes: list[str] | None, **_: Any) -> dict[str, Any]:
    from catboost import CatBoostClassifier, CatBoostRegressor

    x_train, x_test = train.drop(columns=[target]), test.drop(columns=[target])
    text = [c for c in x_train.columns if not pd.api.types.is_numeric_dtype(x_train[c])]
    x_train, x_test = (x.assign(**{c: x[c].astype(str) for c in text})
                       for x in (x_train, x_test))
    if classes is None:
        model = CatBoostRegressor(verbose=0, allow_writing_files=False).fit(
            x_train, train[target], cat_features=text)
        return {"scores": score(test[target], model.predict(x_test), classes=None)}
    model = CatBoostClassifier(verbose=0, allow_writing_files=False).fit(
        x_train, train[target].astype(str), cat_features=text)
    return {"scores": score(test[target], _probabilities(model, x_test, classes),
                            classes=classes)}


def run_lightgbm(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
                 classes: list[str] | None, **_: Any) -> dict[str, Any]:
    from lightgbm import LGBMClassifier, LGBMRegressor

    return _on_categories(train, test, target, classes, LGBMRegressor(verbose=-1),
                          LGBMClassifier(verbose=-1))


def run_xgboost(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
                classes: list[str] | None, **_: Any) -> dict[str, Any]:
    from xgboost import XGBClassifier, XGBRegressor

    return _on_categories(train, test, target, classes, XGBRegressor(enable_categorical=True),
                          XGBClassifier(enable_categorical=True), label_codes=True)


def _on_categories(train: pd.DataFrame, test: pd.DataFrame, target: str,
                   classes: list[str] | None, regressor: Any, classifier: Any, *,
                   label_codes: bool = False) -> dict[str, Any]:
    """A library's estimator on its defaults, text columns as pandas categories, scored
    on the held-out rows (``label_codes``: it wants classes as 0..k-1, as XGBoost does)."""
    x_train, x_test, _names = _with_categories(train.drop(columns=[target]),
                                               test.drop(columns=[target]))
    if classes is None:
        model = regressor.fit(x_train, train[target])
        return {"scores": score(test[target], model.predict(x_test), classes=None)}
    labels = train[target].astype(str)
    seen = sorted(labels.unique()) if label_codes else None
    if seen is not None:
        labels = labels.map({c: i for i, c in enumerate(seen)})
    model = classifier.fit(x_train, labels)
    return {"scores": score(test[target], _probabilities(model, x_test, classes, seen),
                            classes=classes)}


#: What runs in AutoGluon's own environment: fit on train.csv, predict test.csv.
_AUTOGLUON = """
import sys
import pandas as pd
from autogluon.tabular import TabularPredictor

work, target, problem, metric, budget = sys.argv[1:6]
train = pd.read_csv(f"{work}/train.csv")
test = pd.read_csv(f"{work}/test.csv").drop(columns=[target])
if problem != "regression":
    train[target] = train[target].astype(str)
predictor = TabularPredictor(label=target, problem_type=problem, eval_metric=metric,
                             path=f"{work}/autogluon", verbosity=0)
predictor.fit(train, presets="best_quality", time_limit=float(budget))
if problem == "regression":
    predictor.predict(test).to_frame("predicted").to_csv(f"{work}/predicted.csv", index=False)
else:
    predictor.predict_proba(test).to_csv(f"{work}/predicted.csv", index=False)
"""


def run_autogluon(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
                  classes: list[str] | None, budget: float | None, work: Path,
                  autogluon_python: str | None = None, **_: Any) -> dict[str, Any]:
    if not autogluon_python:
        raise RuntimeError("the autogluon tool needs --autogluon-python: the interpreter of "
                           "an environment with AutoGluon (see docs/benchmarks.md)")
    train.to_csv(work / "train.csv", index=False)
    test.to_csv(work / "test.csv", index=False)
    if classes is None:
        problem, metric = "regression", "root_mean_squared_error"
    else:
        problem = "binary" if len(classes) == 2 else "multiclass"
        metric = "log_loss"
    done = subprocess.run([autogluon_python, "-c", _AUTOGLUON, str(work), target, problem,
                           metric, str(budget or DEFAULT_BUDGET)], capture_output=True,
                          text=True)
    if done.returncode != 0:
        raise RuntimeError(f"autogluon failed: {done.stderr[-2000:]}")
    predicted = pd.read_csv(work / "predicted.csv")
    if classes is None:
        return {"scores": score(test[target], predicted["predicted"], classes=None)}
    predicted.columns = [str(c) for c in predicted.columns]
    return {"scores": score(test[target], predicted.reindex(columns=classes, fill_value=0.0),
                            classes=classes)}


def notes_network(learning_rate: float = 0.01, dropout: float = 0.2, n_features: int = 8,
                  n_classes: int = 0) -> Any:
    """The seed notes' create_model: six hidden ReLU layers, dropout, SGD."""
    import keras

    model = keras.Sequential([keras.Input((n_features,))])
    for _ in range(6):
        model.add(keras.layers.Dense(64, activation="relu"))
        model.add(keras.layers.Dropout(dropout))
    if n_classes:
        model.add(keras.layers.Dense(n_classes, activation="softmax"))
        loss = "sparse_categorical_crossentropy"
    else:
        model.add(keras.layers.Dense(1))
        loss = "mse"
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=loss)
    return model


def run_grid(train: pd.DataFrame, test: pd.DataFrame, target: str, *,
             classes: list[str] | None, seed: int = 0, epochs: int = 100,
             **_: Any) -> dict[str, Any]:
    import keras
    from scikeras.wrappers import KerasClassifier, KerasRegressor
    from sklearn.model_selection import GridSearchCV, KFold, StratifiedKFold

    from autokeras_lab.data import Preprocessor

    features = [c for c in train.columns if c != target]
    pre = Preprocessor.fit(train, features=features, target=target,
                           task="classification" if classes else "regression", classes=classes)
    x, x_test = pre.transform_x(train), pre.transform_x(test)
    y = pre.transform_y(train[target].astype(str) if classes else train[target])
    keras.utils.set_random_seed(seed)
    wrapper = KerasClassifier if classes else KerasRegressor
    estimator = wrapper(
        model=notes_network, model__n_features=x.shape[1], model__n_classes=len(classes or []),
        model__learning_rate=0.01, model__dropout=0.2, epochs=epochs, batch_size=32,
        verbose=0, validation_split=0.1, random_state=seed,
        callbacks=[keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)],
    )
    folds = (StratifiedKFold if classes else KFold)(3, shuffle=True, random_state=seed)
    scoring = "neg_log_loss" if classes else "neg_root_mean_squared_error"
    search = GridSearchCV(estimator, GRID, cv=folds, scoring=scoring, n_jobs=2,
                          error_score=np.nan).fit(x, y)
    if classes is None:
        predicted = pre.inverse_y(search.best_estimator_.predict(x_test))
        return {"scores": score(test[target], predicted, classes=None)}
    probs = search.best_estimator_.predict_proba(x_test)
    return {"scores": score(test[target], probs, classes=classes)}


RUNNERS = {"ours": run_ours, "hgb": run_hgb, "grid": run_grid, "catboost": run_catboost,
           "lightgbm": run_lightgbm, "xgboost": run_xgboost, "autogluon": run_autogluon}


def run(datasets: list[str], tools: list[str], *, n_splits: int, budget: float | None,
        first_split: int = 1,
        search_args: tuple[str, ...] = (), grid_epochs: int = 100, rows: int | None = None,
        done: Sequence[dict[str, Any]] = (), save: Path | None = None,
        autogluon_python: str | None = None, keep: Path | None = None,
        out: Any = sys.stderr) -> list[dict[str, Any]]:
    """Every tool on every split; a run already in ``done`` (same data set, split and
    tool; :func:`resumable` checks the settings) is kept instead of rerun, and ``save``
    is rewritten after each run, so a benchmark of hours that dies loses one run.
    ``first_split``: the splits before it (counted from 1) are left out, to extend an
    earlier run's splits with the same rows split N+1 onwards would have had.
    ``keep``: each run's files (our search's runs directory and training CSV) go under
    ``keep/DATASET-SPLIT-TOOL`` and stay, instead of in a temporary directory."""
    from autokeras_lab.data import load_dataset

    settings = _settings(budget, search_args, grid_epochs, rows)
    kept = {(r["dataset"], r["split"], r["tool"]): r for r in done}
    records = []
    for name in datasets:
        dataset = load_dataset(name)
        classify = dataset.task == "classification"
        classes = [str(c) for c in dataset.classes] if classify else None
        frame = sample(dataset.frame, rows)
        for split, (train, test) in enumerate(splits(frame, dataset.target,
                                                     classify=classify, n=n_splits)):
            if split + 1 < first_split:
                continue
            for tool in tools:
                record = kept.pop((name, split, tool), None)
                fresh = record is None
                if record is None:
                    with _work_dir(keep, f"{name}-{split + 1}-{tool}") as work:
                        started = time.perf_counter()
                        result = RUNNERS[tool](train, test, dataset.target, classes=classes,
                                               budget=budget, work=Path(work), seed=split,
                                               search_args=split_args(search_args, split),
                                               epochs=grid_epochs,
                                               autogluon_python=autogluon_python)
                    record = {"dataset": name, "split": split, "tool": tool,
                              "seconds": time.perf_counter() - started,
                              "settings": settings, **result}
                records.append(record)
                if save:  # the runs not redone this time stay in the file too
                    save.write_text(json.dumps([*kept.values(), *records], indent=2))
                shown = ", ".join(f"{k} {v:.4g}" for k, v in record["scores"].items())
                again = "" if fresh else " (kept from the --json file)"
                out.write(f"{name} split {split + 1}/{n_splits} {tool}: {shown} "
                          f"({record['seconds']:.0f} s){again}\n")
                out.flush()
    return records


def split_args(search_args: tuple[str, ...], split: int) -> tuple[str, ...]:
    """Our search's flags for a split (``split`` its index from 0): ``{split}`` in them
    becomes it, so that ``--search-args "--seed {split}"`` gives each split's search
    its own seed, and the random start-up's configurations differ from split to split
    instead of being one sequence on every split (a lever that changes which
    configurations a seed proposes is then measured over ten sequences, not one)."""
    return tuple(arg.replace("{split}", str(split)) for arg in search_args)


@contextlib.contextmanager
def _work_dir(keep: Path | None, name: str) -> Iterator[str]:
    """A run's working directory: ``keep/name``, emptied first, or a temporary one."""
    if keep is None:
        with tempfile.TemporaryDirectory(prefix="akl-quality-") as work:
            yield work
        return
    work = keep / name
    shutil.rmtree(work, ignore_errors=True)
    work.mkdir(parents=True)
    yield str(work)


def sample(frame: pd.DataFrame, rows: int | None) -> pd.DataFrame:
    """The table cut to ``rows`` rows drawn at random (the same rows on every call), to
    measure a data set at another size; the whole table when ``rows`` is unset or it
    has no more rows than that."""
    if rows is None or rows >= len(frame):
        return frame
    return frame.sample(n=rows, random_state=0).reset_index(drop=True)


def _settings(budget: float | None, search_args: tuple[str, ...], grid_epochs: int,
              rows: int | None = None) -> dict[str, Any]:
    """What a run's score depends on besides its data set, split and tool (``rows``
    only when set, so the files of runs on whole tables stay resumable)."""
    settings = {"budget": budget, "search_args": list(search_args), "grid_epochs": grid_epochs}
    return settings if rows is None else {**settings, "rows": rows}


def resumable(path: Path, *, budget: float | None, search_args: tuple[str, ...],
              grid_epochs: int, rows: int | None = None) -> list[dict[str, Any]]:
    """The runs in an earlier ``--json`` file, after checking they were made with
    these settings (a run of another budget must not be averaged with this one).

    Raises:
        ValueError: The file is not such a file, or holds runs of other settings.
    """
    records = json.loads(path.read_text())
    settings = _settings(budget, search_args, grid_epochs, rows)
    other = [r for r in records if r.get("settings") != settings]
    if other:
        found = other[0].get("settings", "none recorded")
        raise ValueError(f"{path} holds runs made with other settings ({found}, not "
                         f"{settings}); pass the same flags or another --json file")
    return records


def mean_se(values: Sequence[float]) -> tuple[float, float]:
    """The mean of ``values`` and its standard error (NaN for fewer than two)."""
    se = statistics.stdev(values) / math.sqrt(len(values)) if len(values) > 1 else math.nan
    return statistics.fmean(values), se


def _mean_se(values: list[float]) -> str:
    if len(values) < 2:
        return f"{values[0]:.4g}" if values else "-"
    mean, se = mean_se(values)
    return f"{mean:.4g} ± {se:.2g}"


REFIT_FIGURES = {  # what the summary reports of a refit, where the records have it
    "original": "original: the chosen model as trained",
    "original_unseen": "original_unseen: what choosing it is worth on rows the choice did "
                       "not see, which the refitted model must beat",
    "refitted": "refitted: the chosen trials trained again",
    "both": "both: the two averaged, a candidate before December 2026",
}


def summarise(records: list[dict[str, Any]]) -> str:
    """A markdown table: per data set and metric, each tool's mean ± standard error,
    its wins against ours on the same splits, and its mean wall time."""
    lines = ["| data set | metric | tool | mean ± s.e. | splits won vs ours | seconds |",
             "|---|---|---|---|---|---|"]
    for name in dict.fromkeys(r["dataset"] for r in records):
        rows = [r for r in records if r["dataset"] == name]
        tools = list(dict.fromkeys(r["tool"] for r in rows))
        ours = {r["split"]: r["scores"] for r in rows if r["tool"] == "ours"}
        for metric in rows[0]["scores"]:
            for tool in tools:
                mine = {r["split"]: r for r in rows if r["tool"] == tool}
                values = [r["scores"][metric] for r in mine.values()]
                wins = "-"
                if tool != "ours" and ours:
                    shared = [s for s in mine if s in ours]
                    won = sum(
                        BETTER[metric](mine[s]["scores"][metric], ours[s][metric])
                        == mine[s]["scores"][metric]
                        and mine[s]["scores"][metric] != ours[s][metric]
                        for s in shared)
                    wins = f"{won}/{len(shared)}"
                seconds = statistics.fmean(r["seconds"] for r in mine.values())
                lines.append(f"| {name} | {metric} | {tool} | {_mean_se(values)} | {wins} | "
                             f"{seconds:.0f} |")
    lines += ["", "On each search's own held-out rows (a tenth of its training CSV): the "
              "ensemble against the search's best single trial", "",
              "| data set | metric | ensemble | best single trial | splits the ensemble won |",
              "|---|---|---|---|---|"]
    for name in dict.fromkeys(r["dataset"] for r in records):
        paired = [r for r in records if r["dataset"] == name and r["tool"] == "ours"
                  and r.get("ensemble_test") is not None]
        if not paired:
            continue
        metric = paired[0]["metric"]
        won = sum(BETTER.get(metric, min)(r["ensemble_test"], r["single_test"])
                  == r["ensemble_test"] and r["ensemble_test"] != r["single_test"]
                  for r in paired)
        lines.append(f"| {name} | {metric} | {_mean_se([r['ensemble_test'] for r in paired])} | "
                     f"{_mean_se([r['single_test'] for r in paired])} | {won}/{len(paired)} |")
    refits = [r for r in records if r["tool"] == "ours" and r.get("refit")]
    for name in dict.fromkeys(r["dataset"] for r in refits):
        mine = [r for r in refits if r["dataset"] == name]
        metric = mine[0]["metric"]
        # a search before December 2026 had "both" and no unseen-rows figure
        kinds = [kind for kind in REFIT_FIGURES
                 if all(f"val_{metric}_{kind}" in r["refit"] for r in mine)]
        lines += ["", f"The refit on {name}, with the search's test rows added: out of fold "
                  "on the search's own rows (" + "; ".join(REFIT_FIGURES[k] for k in kinds)
                  + "), and what each search handed over", "",
                  f"| metric | {' | '.join(kinds)} | handed over |",
                  "|---" * (len(kinds) + 2) + "|"]
        values = [_mean_se([r["refit"][f"val_{metric}_{kind}"] for r in mine]) for kind in kinds]
        handed = Counter(r["refit"]["handed_over"] for r in mine)
        lines.append(f"| {metric} | {' | '.join(values)} | "
                     + ", ".join(f"{kind} {n}/{len(mine)}" for kind, n in handed.items())
                     + " |")
    return "\n".join(lines)


def compare(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> str:
    """A markdown table of a change, measured as a lever must be: the same tool on the
    same splits in two ``--json`` runs (before and after), each run's mean ± standard
    error, the mean of the per-split differences (after - before) ± its standard
    error, and on how many splits the change did better."""
    earlier = {(r["dataset"], r["tool"], r["split"]): r for r in before}
    paired: dict[tuple[str, str], list[tuple[dict[str, Any], dict[str, Any]]]] = {}
    for record in after:
        found = earlier.get((record["dataset"], record["tool"], record["split"]))
        if found is not None:
            paired.setdefault((record["dataset"], record["tool"]), []).append((found, record))
    if not paired:
        raise ValueError("the two runs share no split of any data set and tool")
    lines = ["| data set | tool | metric | splits | before | after | after - before | "
             "splits better |", "|---|---|---|---|---|---|---|---|"]
    for (dataset, tool), pairs in paired.items():
        for metric in pairs[0][0]["scores"]:
            old = [b["scores"][metric] for b, _ in pairs]
            new = [a["scores"][metric] for _, a in pairs]
            won = sum(BETTER[metric](n, o) == n and n != o for o, n in zip(old, new, strict=True))
            lines.append(
                f"| {dataset} | {tool} | {metric} | {len(pairs)} | {_mean_se(old)} | "
                f"{_mean_se(new)} | {_mean_se([n - o for o, n in zip(old, new, strict=True)])} | "
                f"{won}/{len(pairs)} |")
    return "\n".join(lines)


def _budget(record: dict[str, Any]) -> float:
    return record.get("settings", {}).get("budget") or DEFAULT_BUDGET


def _at_budget(rows: list[dict[str, Any]], tool: str, metric: str,
               budget: float) -> list[float]:
    """A tool's scores at that budget (a fixed recipe's, whatever the budget)."""
    return [r["scores"][metric] for r in rows if r["tool"] == tool
            and (tool not in BUDGETED or _budget(r) == budget)]


def curve(records: list[dict[str, Any]]) -> str:
    """The budget curve: per data set, a markdown table with a row per metric and time
    budget, our search's and AutoGluon's mean ± standard error at that budget beside
    each fixed recipe (CatBoost's defaults and the like, the same at every budget);
    then, per metric, the budget from which ours is ahead of each tool on the mean at
    every larger budget measured. ``records``: the runs of ``--json`` files, one per
    budget (a run without a budget had the default, 300 s)."""
    blocks = []
    for name in dict.fromkeys(r["dataset"] for r in records):
        rows = [r for r in records if r["dataset"] == name]
        tools = list(dict.fromkeys(r["tool"] for r in rows))
        if "ours" not in tools:
            raise ValueError(f"{name}: the runs hold no search of ours to draw a curve of")
        columns = [t for t in BUDGETED if t in tools] + [t for t in tools if t not in BUDGETED]
        budgets = sorted({_budget(r) for r in rows if r["tool"] in BUDGETED})
        lines = ["| data set | metric | budget | " + " | ".join(columns) + " |",
                 "|---|---|---|" + "---|" * len(columns)]
        verdicts = []
        for metric in rows[0]["scores"]:
            for budget in budgets:
                cells = " | ".join(_mean_se(_at_budget(rows, t, metric, budget))
                                   for t in columns)
                lines.append(f"| {name} | {metric} | {budget:.0f} s | {cells} |")
            said = []
            for tool in columns[1:]:
                since = None
                for budget in reversed(budgets):
                    ours, theirs = (_at_budget(rows, t, metric, budget) for t in ("ours", tool))
                    if not (ours and theirs):
                        continue
                    mean, other = statistics.fmean(ours), statistics.fmean(theirs)
                    if BETTER[metric](mean, other) != mean or mean == other:
                        break
                    since = budget
                said.append(f"{tool} from {since:.0f} s" if since is not None
                            else f"{tool} at no budget measured")
            verdicts.append(f"{name}, {metric}: ours is ahead of " + "; ".join(said) + ".")
        blocks.append("\n".join(lines) + "\n\n" + "\n".join(verdicts))
    return "\n\n".join(blocks)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", default=",".join(DATASETS),
                        help=f"comma-separated (default {','.join(DATASETS)})")
    parser.add_argument("--tools", default=",".join(TOOLS),
                        help=f"comma-separated (default {','.join(TOOLS)})")
    parser.add_argument("--splits", type=int, default=10, help="random 90/10 splits (10)")
    parser.add_argument("--first-split", type=int, default=1, metavar="K",
                        help="run splits K to --splits only (the same rows as in a run of "
                             "all of them), to add splits to an earlier run (1)")
    parser.add_argument("--time-budget", type=float, default=None,
                        help="our search's --time-budget (default: the search's own)")
    parser.add_argument("--rows", type=int, metavar="N",
                        help="cut each data set to N rows drawn at random (seeded) before "
                             "splitting: a table measured at another size")
    parser.add_argument("--quick", action="store_true",
                        help="2 splits and 60 s searches, to see it work")
    parser.add_argument("--grid-epochs", type=int, default=100,
                        help="most epochs of each grid fit (100, with early stopping)")
    parser.add_argument("--search-args", default="",
                        help='more flags for our search, e.g. "--space plr_mlp --cv 5"; '
                        '{split} in them is the split\'s index from 0 ("--seed {split}": a '
                        "seed a split)")
    parser.add_argument("--autogluon-python", metavar="PYTHON",
                        help="the interpreter of an environment with AutoGluon, for the "
                             "autogluon tool (its pins clash with ours)")
    parser.add_argument("--json", type=Path,
                        help="also write every split's result here (after each run)")
    parser.add_argument("--keep", type=Path, metavar="DIR",
                        help="keep each run's files under DIR/DATASET-SPLIT-TOOL (our "
                             "search's runs directory, with its leaderboard and models), to "
                             "look into a split afterwards")
    parser.add_argument("--resume", action="store_true",
                        help="keep the runs already in the --json file instead of rerunning "
                             "them (same flags required)")
    parser.add_argument("--curve", nargs="+", type=Path, metavar="JSON",
                        help="run nothing: the budget curve of --json files run at several "
                             "--time-budget values (ours and autogluon), beside the fixed "
                             "recipes' runs in them")
    parser.add_argument("--compare", nargs=2, type=Path, metavar=("BEFORE", "AFTER"),
                        help="run nothing: compare two --json files split by split (a "
                             "change measured before and after it)")
    args = parser.parse_args(argv)
    if args.compare:
        try:
            runs = [json.loads(path.read_text()) for path in args.compare]
            print(compare(*runs))
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"--compare: {error}")
        return 0
    if args.curve:
        try:
            print(curve([r for path in args.curve for r in json.loads(path.read_text())]))
        except (OSError, ValueError, KeyError, TypeError) as error:
            parser.error(f"--curve: {error}")
        return 0
    datasets = [d for d in args.datasets.split(",") if d]
    tools = [t for t in args.tools.split(",") if t]
    unknown = [t for t in tools if t not in RUNNERS] + [d for d in datasets
                                                          if d not in DATASETS]
    if unknown:
        parser.error(f"unknown tool or data set {', '.join(unknown)}; expected tools "
                     f"{', '.join(RUNNERS)} and data sets {', '.join(DATASETS)}")
    n_splits, budget = args.splits, args.time_budget
    if args.quick:
        n_splits, budget = min(n_splits, 2), budget or 60.0
    if args.rows is not None and args.rows < 20:
        parser.error(f"--rows {args.rows} is too few to split 90/10 and search; pass 20 or more")
    if not 1 <= args.first_split <= n_splits:
        parser.error(f"--first-split {args.first_split} is not a split of --splits "
                     f"{n_splits}; pass 1 to {n_splits}")
    if args.resume and not (args.json and args.json.exists()):
        parser.error("--resume needs --json naming the file an earlier run wrote")
    search_args = tuple(shlex.split(args.search_args))
    try:
        done = (resumable(args.json, budget=budget, search_args=search_args,
                          grid_epochs=args.grid_epochs, rows=args.rows) if args.resume else [])
    except ValueError as error:  # a JSON syntax error is one too
        parser.error(f"--resume: {error}")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
    records = run(datasets, tools, n_splits=n_splits, budget=budget,
                  first_split=args.first_split, search_args=search_args,
                  grid_epochs=args.grid_epochs, rows=args.rows, done=done, save=args.json,
                  autogluon_python=args.autogluon_python, keep=args.keep)
    budget_text = f"{budget:.0f} s" if budget else "the default"
    if args.rows:
        print(f"\nEach data set cut to {args.rows} rows drawn at random.", end="")
    which = f"splits {args.first_split}-{n_splits} of {n_splits}" if args.first_split > 1 \
        else f"{n_splits}"
    print(f"\n{which} random 90/10 splits per data set; our search's time budget: "
          f"{budget_text}{'; its flags: ' + args.search_args if args.search_args else ''}\n")
    print(summarise(records))
    return 0


if __name__ == "__main__":
    sys.exit(main())
