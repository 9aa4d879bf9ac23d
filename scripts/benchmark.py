"""Side by side on one machine: the flows autokeras_lab replaces, and autokeras_lab.

    python scripts/benchmark.py            # 40 trials x 100 epochs, seeds 0 1 2
    python scripts/benchmark.py --quick    # a few minutes: 12 trials x 30 epochs, seed 0

Every tool searches the same data (concrete, the experiment's fixed 90/10 held-out
test split, ``split_seed`` 42) with the same most-epochs-per-trial budget, one after
another, each in its own child process (a fresh interpreter, as a user would run it;
TensorFlow's import is not timed, Ray's start-up is):

1. ``grid``: the seed notes' flow, scikeras ``KerasRegressor`` + ``GridSearchCV`` over
   learning rate {0.01, 0.05, 0.1} x dropout {0.2, 0.5} x batch size {16, 32}, cv=3,
   early stopping (patience 10 on a 10 % validation split), the notes' network of six
   hidden ReLU layers trained with SGD; ``n_jobs=2`` (both cores, like the others).
2. ``kt-random`` / ``kt-hyperband``: keras-tuner's ``RandomSearch`` and ``Hyperband``
   on our ``search_spaces/mlp.py``, the module unchanged (its ``build_model(hp, task)``
   is the hypermodel; a two-line ``fit`` reads the batch size from ``hp``).
3. ``ray-tune``: a hand-written Ray Tune + ``OptunaSearch`` + ASHA script the way the
   Ray docs show it: a per-epoch ``model.fit(epochs=1)`` loop, a checkpoint when the
   validation RMSE improves, the mlp space's ranges written as a Tune search space.
4. ``keras-search-cv``: the grid's own model function and rows, searched by
   ``autokeras_lab.KerasSearchCV`` (the grid's values as ranges: learning rate 0.01 to
   0.1, dropout 0.2 to 0.5, batch size 16 or 32) for the same trials and epochs.
5. ``autokeras_lab``: ``run_search`` on the ``concrete`` experiment with the same
   trials and epochs (and no time budget), evaluation and export included.

For each: wall time, trials, trial-epochs per second, best validation RMSE, held-out
test RMSE of the model the tool chose, when it first reached the grid search's final
best validation RMSE (the grid's is a 3-fold CV RMSE on the same 90 %), and the test
RMSE at equal wall time: autokeras_lab runs first, and each other tool reports the
test RMSE of the model it would have chosen when autokeras_lab's wall time had passed
(its best trial finished by then; the grid has none before its refit). Prints
a table and the ratios against autokeras_lab (median and spread over seeds), writes
``results.json`` and ``benchmark.png`` (best-so-far validation RMSE against wall time,
one line per tool) to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

TOOLS = ("grid", "keras-search-cv", "kt-random", "kt-hyperband", "ray-tune", "autokeras_lab")
SPLIT_SEED = 42


# --- shared helpers -------------------------------------------------------------------


def _data() -> Any:
    from autokeras_lab.data import load_dataset, prepare

    return prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2,
                   split_seed=SPLIT_SEED)


def _rmse(model: Any, x: Any, y: Any, scale: float) -> float:
    import numpy as np

    pred = np.asarray(model.predict(x, verbose=0)).reshape(-1)
    return float(np.sqrt(np.mean((pred - y.reshape(-1)) ** 2)) * scale)


def _outcome(tool: str, started: float, *, trials: int, epochs: int, best_val: float,
             test: float, history: list[tuple[float, float]]) -> dict[str, Any]:
    wall = time.perf_counter() - started
    return {"tool": tool, "wall_s": wall, "trials": trials, "epochs": epochs,
            "epochs_per_s": epochs / wall, "best_val": best_val, "test": test,
            "history": sorted(history), "test_at": None}


def chosen_at(finished: list[tuple[float, float, Any]], at: float | None) -> Any:
    """What the tool would have handed over at ``at`` seconds: of the trials finished by
    then, ``(seconds, val RMSE, payload)``, the payload of the one with the best val
    RMSE; None when nothing had finished (or no time was asked for)."""
    done = [(val, payload) for seconds, val, payload in finished
            if at is not None and seconds <= at and math.isfinite(val)]
    return min(done, key=lambda entry: entry[0])[1] if done else None


# --- 1. the seed notes' flow ------------------------------------------------------------


def notes_network(learning_rate: float = 0.01, dropout: float = 0.2,
                  n_features: int = 8) -> Any:
    """The seed notes' create_model: six hidden ReLU layers, dropout, SGD."""
    import keras

    model = keras.Sequential([keras.Input((n_features,))])
    for _ in range(6):
        model.add(keras.layers.Dense(64, activation="relu"))
        model.add(keras.layers.Dropout(dropout))
    model.add(keras.layers.Dense(1))
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss="mse")
    return model


def run_grid(seed: int, trials: int, max_epochs: int) -> dict[str, Any]:
    import keras
    import numpy as np
    from scikeras.wrappers import KerasRegressor
    from sklearn.model_selection import GridSearchCV, KFold

    data = _data()
    scale = data.preprocessor.target_scale
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    log = Path(tempfile.mkdtemp(prefix="akl-grid-")) / "folds.jsonl"

    def scorer(estimator: Any, x_fold: Any, y_fold: Any) -> float:
        # Runs in GridSearchCV's worker processes: the log file collects when each fit
        # ended, its configuration, its epochs and its RMSE (in MPa).
        rmse = _rmse(estimator.model_, x_fold, y_fold, scale)
        params = {k: estimator.get_params()[k]
                  for k in ("model__learning_rate", "model__dropout", "batch_size")}
        with log.open("a") as out:
            out.write(json.dumps({"t": time.time(), "params": params, "rmse": rmse,
                                  "epochs": len(estimator.history_["loss"])}) + "\n")
        return -rmse if math.isfinite(rmse) else -1e9

    keras.utils.set_random_seed(seed)
    estimator = KerasRegressor(
        model=notes_network, model__learning_rate=0.01, model__dropout=0.2,
        model__n_features=x.shape[1], epochs=max_epochs, batch_size=32, verbose=0,
        validation_split=0.1, random_state=seed,
        callbacks=[keras.callbacks.EarlyStopping(patience=10, restore_best_weights=True)],
    )
    grid = {"model__learning_rate": [0.01, 0.05, 0.1], "model__dropout": [0.2, 0.5],
            "batch_size": [16, 32]}
    wall0, started = time.time(), time.perf_counter()
    search = GridSearchCV(estimator, grid, cv=KFold(3, shuffle=True, random_state=seed),
                          scoring=scorer, n_jobs=2, refit=True, error_score=np.nan)
    search.fit(x, y)
    test = _rmse(search.best_estimator_.model_, data.x_test, data.y_test, scale)
    folds = [json.loads(line) for line in log.read_text().splitlines()]
    configs: dict[str, list[dict[str, Any]]] = {}
    for fold in folds:
        configs.setdefault(json.dumps(fold["params"], sort_keys=True), []).append(fold)
    history = [(max(f["t"] for f in done) - wall0,
                statistics.fmean(f["rmse"] for f in done))
               for done in configs.values() if len(done) >= 3]
    best_val = -float(search.best_score_)
    return _outcome("grid", started, trials=len(configs),
                    epochs=sum(f["epochs"] for f in folds)
                    + len(search.best_estimator_.history_["loss"]),
                    best_val=best_val, test=test,
                    history=[h for h in history if math.isfinite(h[1])])


# --- 2. keras-tuner on our module -------------------------------------------------------


def run_keras_tuner(kind: str, seed: int, trials: int, max_epochs: int,
                    at: float | None) -> dict[str, Any]:
    import gc

    import keras
    import keras_tuner as kt

    from autokeras_lab.spaces import Task, load_space

    data = _data()
    scale = data.preprocessor.target_scale
    task = Task.for_data("regression", data.preprocessor.n_inputs, 0)
    module = load_space("mlp").module  # the module, unchanged
    finished: dict[str, float] = {}
    epochs = [0]

    class MLP(kt.HyperModel):
        def build(self, hp: kt.HyperParameters) -> keras.Model:
            return module.build_model(hp, task)

        def fit(self, hp: kt.HyperParameters, model: keras.Model, *args: Any,
                **kwargs: Any) -> Any:
            return model.fit(*args, batch_size=hp.get("batch_size"), **kwargs)

    class Counter(keras.callbacks.Callback):
        def on_epoch_end(self, epoch: int, logs: Any = None) -> None:
            epochs[0] += 1

    base = kt.RandomSearch if kind == "random" else kt.Hyperband

    class Timed(base):  # type: ignore[misc, valid-type]
        def on_trial_end(self, trial: Any) -> None:
            super().on_trial_end(trial)
            finished[trial.trial_id] = time.time()

    directory = tempfile.mkdtemp(prefix="akl-kt-")
    options: dict[str, Any] = {"objective": "val_loss", "seed": seed, "directory": directory,
                               "project_name": kind, "overwrite": True}
    if kind == "random":
        tuner = Timed(MLP(), max_trials=trials, **options)
        fit_epochs = {"epochs": max_epochs}
    else:
        tuner = Timed(MLP(), max_epochs=max_epochs, factor=3, hyperband_iterations=1,
                      **options)
        fit_epochs = {}
    wall0, started = time.time(), time.perf_counter()
    tuner.search(data.x_train, data.y_train, validation_data=(data.x_val, data.y_val),
                 verbose=0, callbacks=[Counter()], **fit_epochs)
    best = tuner.get_best_models(1)[0]
    test = _rmse(best, data.x_test, data.y_test, scale)
    outcome = _outcome(f"kt-{kind}", started, trials=len(tuner.oracle.trials),
                       epochs=epochs[0], best_val=_rmse(best, data.x_val, data.y_val, scale),
                       test=test, history=[])
    # The validation and test RMSE of every trial's best checkpoint, for the curve and
    # for the model it would have chosen at ``at`` (measured after the clock stopped:
    # the search did not pay for it). Freezing what the search left alive keeps the
    # collector from walking it again at every load (Hyperband's 254 loads took 19 min
    # without it, about 2.5 with it).
    gc.freeze()
    scored = []
    for trial_id, trial in tuner.oracle.trials.items():
        if trial_id in finished and trial.status == "COMPLETED":
            try:
                model = tuner.load_model(trial)
            except Exception:  # a trial whose checkpoint did not survive
                continue
            scored.append((finished[trial_id] - wall0,
                           _rmse(model, data.x_val, data.y_val, scale),
                           _rmse(model, data.x_test, data.y_test, scale)))
    outcome["history"] = sorted((seconds, val) for seconds, val, _ in scored)
    outcome["test_at"] = chosen_at(scored, at)
    return outcome


# --- 3. a hand-written Ray Tune script ------------------------------------------------


def _user_mlp(config: dict[str, Any], n_features: int) -> Any:
    import keras

    inputs = keras.Input((n_features,))
    x = inputs
    for i in range(config["num_layers"]):
        x = keras.layers.Dense(config[f"units_{i}"], activation=config["activation"],
                               kernel_regularizer=keras.regularizers.L2(config["l2"]))(x)
        if config["dropout"] > 0:
            x = keras.layers.Dropout(config["dropout"])(x)
    model = keras.Model(inputs, keras.layers.Dense(1)(x))
    model.compile(optimizer=keras.optimizers.Adam(config["learning_rate"]), loss="mse",
                  metrics=[keras.metrics.RootMeanSquaredError(name="rmse")])
    return model


def _user_trainable(config: dict[str, Any], data: dict[str, Any]) -> None:
    from ray import tune

    model = _user_mlp(config, data["x_train"].shape[1])
    best = math.inf
    for epoch in range(1, data["max_epochs"] + 1):
        history = model.fit(data["x_train"], data["y_train"], batch_size=config["batch_size"],
                            epochs=1, verbose=0,
                            validation_data=(data["x_val"], data["y_val"]))
        val = float(history.history["val_rmse"][-1]) * data["scale"]
        if val < best:
            best = val
            with tempfile.TemporaryDirectory() as tmp:
                model.save_weights(os.path.join(tmp, "model.weights.h5"))
                tune.report({"val_rmse": val, "epoch": epoch},
                            checkpoint=tune.Checkpoint.from_directory(tmp))
        else:
            tune.report({"val_rmse": val, "epoch": epoch})


def _user_model_from(result: Any, n_features: int) -> Any:
    model = _user_mlp(result.config, n_features)
    with result.checkpoint.as_directory() as directory:
        model.load_weights(os.path.join(directory, "model.weights.h5"))
    return model


def run_ray_tune(seed: int, trials: int, max_epochs: int, at: float | None) -> dict[str, Any]:
    import ray
    from ray import tune
    from ray.tune.schedulers import ASHAScheduler
    from ray.tune.search.optuna import OptunaSearch

    data = _data()
    scale = data.preprocessor.target_scale
    space = {
        "num_layers": tune.randint(1, 5),
        "activation": tune.choice(["relu", "elu", "gelu"]),
        "dropout": tune.quniform(0.0, 0.4, 0.05),
        "l2": tune.loguniform(1e-7, 1e-2),
        "learning_rate": tune.loguniform(1e-4, 3e-2),
        "batch_size": tune.choice([16, 32, 64, 128]),
        **{f"units_{i}": tune.lograndint(16, 513) for i in range(4)},
    }
    arrays = {"x_train": data.x_train, "y_train": data.y_train, "x_val": data.x_val,
              "y_val": data.y_val, "scale": scale, "max_epochs": max_epochs}
    wall0, started = time.time(), time.perf_counter()
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    tuner = tune.Tuner(
        tune.with_resources(tune.with_parameters(_user_trainable, data=arrays), {"cpu": 1}),
        param_space=space,
        tune_config=tune.TuneConfig(
            metric="val_rmse", mode="min", num_samples=trials,
            search_alg=OptunaSearch(seed=seed),
            scheduler=ASHAScheduler(max_t=max_epochs, grace_period=max(1, max_epochs // 10),
                                    reduction_factor=3, time_attr="epoch"),
        ),
        run_config=tune.RunConfig(storage_path=tempfile.mkdtemp(prefix="akl-ray-"),
                                  verbose=0),
    )
    results = tuner.fit()
    best = results.get_best_result(metric="val_rmse", mode="min", scope="all")
    n_features = data.x_train.shape[1]
    test = _rmse(_user_model_from(best, n_features), data.x_test, data.y_test, scale)
    finished, epochs = [], 0
    for result in results:
        frame = result.metrics_dataframe
        if frame is None or frame.empty:
            continue
        epochs += int(frame["epoch"].max())
        finished.append((float(frame["timestamp"].max()) - wall0,
                         float(frame["val_rmse"].min()), result))
    outcome = _outcome("ray-tune", started, trials=len(results), epochs=epochs,
                       best_val=float(best.metrics_dataframe["val_rmse"].min()), test=test,
                       history=[(seconds, val) for seconds, val, _ in finished])
    then = chosen_at(finished, at)  # its last checkpoint is its best: saved on improvement
    if then is not None:
        outcome["test_at"] = _rmse(_user_model_from(then, n_features), data.x_test,
                                   data.y_test, scale)
    ray.shutdown()
    return outcome


# --- 4. autokeras_lab ---------------------------------------------------------------------


def run_keras_search_cv(seed: int, trials: int, max_epochs: int) -> dict[str, Any]:
    """The grid's function and rows through KerasSearchCV (the migration's two lines)."""
    import numpy as np

    from autokeras_lab import KerasSearchCV

    data = _data()
    scale = data.preprocessor.target_scale
    x = np.concatenate([data.x_train, data.x_val])
    y = np.concatenate([data.y_train, data.y_val])
    wall0, started = time.time(), time.perf_counter()
    search = KerasSearchCV(
        notes_network,
        {"learning_rate": (0.01, 0.1), "dropout": (0.2, 0.5), "batch_size": [16, 32]},
        n_trials=trials, max_epochs=max_epochs, random_state=seed, verbose=0,
        runs_dir=tempfile.mkdtemp(prefix="akl-kscv-"),
    )
    search.fit(x, y)
    pred = search.predict(data.x_test)
    test = float(np.sqrt(np.mean((pred - data.y_test.reshape(-1)) ** 2)) * scale)
    results = search.cv_results_
    history = [(float(t) - wall0, -float(s) * scale) for t, s in
               zip(results["finished_at"], results["mean_test_score"], strict=True)
               if math.isfinite(s)]
    return _outcome("keras-search-cv", started, trials=len(results["params"]),
                    epochs=int(sum(results["epochs"])), best_val=-search.best_score_ * scale,
                    test=test, history=history) | {"test_at": test}


def run_ours(seed: int, trials: int, max_epochs: int) -> dict[str, Any]:
    import dataclasses

    from autokeras_lab import load_experiment, run_search

    # The peers' space and split, so that trial-epochs compare like with like (the
    # default search bags 5 folds in plr_mlp, ensembles the trials and refits the chosen
    # ones; scripts/benchmark_quality.py measures that)
    experiment = load_experiment("concrete").with_overrides(
        trials=trials, max_epochs=max_epochs, seed=seed, space="mlp", cv=1, ensemble_size=0,
        refit=False)
    experiment = dataclasses.replace(
        experiment, budget=dataclasses.replace(experiment.budget, time_budget_s=None))
    assert experiment.split_seed == SPLIT_SEED
    wall0, started = time.time(), time.perf_counter()
    result = run_search(experiment, runs_dir=Path(tempfile.mkdtemp(prefix="akl-ours-")))
    scored = [t for t in result.trials if t.best_val is not None and t.finished_at]
    best = result.trials[0]
    assert best.test_metric is not None
    return _outcome(
        "autokeras_lab", started, trials=len(result.trials),
        epochs=sum(t.epochs for t in result.trials), best_val=float(best.best_val or math.nan),
        test=float(best.test_metric),
        history=[(float(t.finished_at or 0) - wall0, float(t.best_val or math.nan))
                 for t in scored],
    ) | {"test_at": float(best.test_metric)}  # at its own wall time: its final model


def run_tool(tool: str, seed: int, trials: int, max_epochs: int,
             at: float | None = None) -> dict[str, Any]:
    """Run one tool; ``at``: the wall time (s) at which to take the model it would have
    chosen by then (autokeras_lab's wall time, so that test RMSEs compare at equal time)."""
    from autokeras_lab._env import import_tensorflow_quietly, quiet

    quiet()
    import_tensorflow_quietly()  # not timed: every tool pays it alike
    if tool == "grid":  # no ``at``: GridSearchCV hands over a model only after its refit
        return run_grid(seed, trials, max_epochs)
    if tool.startswith("kt-"):
        return run_keras_tuner(tool.removeprefix("kt-"), seed, trials, max_epochs, at)
    if tool == "ray-tune":
        return run_ray_tune(seed, trials, max_epochs, at)
    if tool == "keras-search-cv":  # like ours, it hands over its final model
        return run_keras_search_cv(seed, trials, max_epochs)
    return run_ours(seed, trials, max_epochs)


# --- the side-by-side run ---------------------------------------------------------------


def time_to_reach(history: list[list[float]], target: float) -> float | None:
    """Wall time at which the best-so-far validation RMSE first got to ``target``."""
    best = math.inf
    for seconds, value in sorted(history):
        best = min(best, value)
        if best <= target:
            return seconds
    return None


def _median(values: list[float]) -> str:
    finite = [v for v in values if v is not None and math.isfinite(v)]
    if not finite:
        return "-"
    mid = statistics.median(finite)
    spread = (max(finite) - min(finite)) / 2 if len(finite) > 1 else 0.0
    if all(isinstance(v, int) for v in finite):
        fmt = "{:.0f}"
    else:
        fmt = "{:.1f}" if mid >= 100 else "{:.2f}" if mid >= 1 else "{:.3f}"
    return fmt.format(mid) + (f" ±{fmt.format(spread)}" if len(finite) > 1 else "")


def _at_our_time(values: list[float]) -> str:
    """The median ± half-range of the finite ones, and how many seeds had no model."""
    missing = sum(not math.isfinite(v) for v in values)
    if not values or missing == len(values):
        return "none yet" if values else "-"
    return _median(values) + (f" ({missing} none)" if missing else "")


def summarise(runs: list[dict[str, Any]]) -> str:
    """The table (median ± half-range over seeds) and the ratios against ours."""
    seeds = sorted({r["seed"] for r in runs})
    for seed in seeds:
        grid = next((r for r in runs if r["seed"] == seed and r["tool"] == "grid"), None)
        for run in runs:
            if run["seed"] == seed:
                run["time_to_grid_best"] = (time_to_reach(run["history"], grid["best_val"])
                                            if grid else None)
    tools = [t for t in TOOLS if any(r["tool"] == t for r in runs)]

    def column(tool: str, key: str) -> list[float]:
        return [r[key] for r in runs if r["tool"] == tool]

    def at_our_time(tool: str) -> list[float]:
        """Test RMSE of what the tool had chosen at our wall time (inf: nothing yet)."""
        return [math.inf if r["test_at"] is None else r["test_at"]
                for r in runs if r["tool"] == tool and "test_at" in r]

    head = (f"{'tool':<14} {'wall s':>12} {'trials':>10} {'trial-ep/s':>12} "
            f"{'best val':>12} {'test RMSE':>12} {'to grid best s':>15} {'test @ours':>12}")
    lines = [f"concrete, seeds {seeds}: median ± half-range (RMSE in MPa); test @ours: test "
             "RMSE of the model chosen by autokeras_lab's wall time", head, "-" * len(head)]
    for tool in tools:
        reached = column(tool, "time_to_grid_best")
        then = at_our_time(tool)
        lines.append(
            f"{tool:<14} {_median(column(tool, 'wall_s')):>12} "
            f"{_median(column(tool, 'trials')):>10} {_median(column(tool, 'epochs_per_s')):>12} "
            f"{_median(column(tool, 'best_val')):>12} {_median(column(tool, 'test')):>12} "
            f"{_median(reached) if all(v is not None for v in reached) else 'never':>15} "
            f"{_at_our_time(then):>12}"
        )
    if "autokeras_lab" in tools:
        ours = {key: statistics.median(column("autokeras_lab", key))
                for key in ("wall_s", "epochs_per_s", "test")}
        lines += ["", "ratios against autokeras_lab (medians):"]
        for tool in tools:
            if tool == "autokeras_lab":
                continue
            peer = {key: statistics.median(column(tool, key))
                    for key in ("wall_s", "epochs_per_s", "test")}
            speed = ours["epochs_per_s"] / peer["epochs_per_s"]
            line = (f"  {tool:<13} trial-epochs/s: ours {speed:.1f}x"
                    f" | wall time: theirs / ours {peer['wall_s'] / ours['wall_s']:.2f}"
                    f" | test RMSE: theirs / ours {peer['test'] / ours['test']:.2f}")
            ours_then, then = at_our_time("autokeras_lab"), at_our_time(tool)
            if ours_then and len(then) == len(ours_then):
                ratio = statistics.median(then) / statistics.median(ours_then)
                line += (" | at our wall time: " + (f"{ratio:.2f}" if math.isfinite(ratio)
                                                    else "no model yet"))
            lines.append(line)
        grid_wall = column("grid", "wall_s")
        reached = column("autokeras_lab", "time_to_grid_best")
        if grid_wall and all(v is not None for v in reached):
            fractions = [r / g for r, g in zip(reached, grid_wall, strict=True)]
            lines.append(f"  autokeras_lab reached the grid's best val RMSE after "
                         f"{_median(fractions)} of the grid's wall time")
    return "\n".join(lines)


def plot(runs: list[dict[str, Any]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(8, 5))
    colours = dict(zip(TOOLS, ("#7f7f7f", "#9467bd", "#1f77b4", "#17becf", "#ff7f0e", "#d62728"),
                       strict=True))
    for index, run in enumerate(r for r in runs if r["history"]):
        times, best, running = [], [], math.inf
        for seconds, value in run["history"]:
            running = min(running, value)
            times.append(seconds)
            best.append(running)
        first = all(r["tool"] != run["tool"] for r in runs[:index] if r["history"])
        ax.step(times, best, where="post", color=colours[run["tool"]], alpha=0.85,
                label=run["tool"] if first else None)
    ax.set_xscale("log")
    ax.set_xlabel("wall time (s, log scale)")
    ax.set_ylabel("best validation RMSE so far (MPa)")
    ax.set_title("concrete: best-so-far validation RMSE against wall time")
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=110)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="12 trials x 30 epochs, one seed (a few minutes)")
    parser.add_argument("--seeds", type=int, nargs="+", help="search seeds (default 0 1 2)")
    parser.add_argument("--trials", type=int, help="trials per tool (grid: always 12 configs)")
    parser.add_argument("--max-epochs", type=int, help="most epochs per trial, every tool")
    parser.add_argument("--tools", nargs="+", choices=TOOLS, default=list(TOOLS))
    parser.add_argument("--out", type=Path, default=Path("benchmark-results"))
    parser.add_argument("--report", type=Path, nargs="+", metavar="RESULTS_JSON",
                        help="run nothing: summarise and plot results.json files of earlier "
                             "runs together (e.g. seeds run on different days)")
    parser.add_argument("--tool", choices=TOOLS, help=argparse.SUPPRESS)  # child mode
    parser.add_argument("--seed", type=int, default=0, help=argparse.SUPPRESS)
    parser.add_argument("--at", type=float, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    trials = args.trials or (12 if args.quick else 40)
    max_epochs = args.max_epochs or (30 if args.quick else 100)
    if args.tool:  # one tool, in this child process
        outcome = run_tool(args.tool, args.seed, trials, max_epochs, args.at)
        args.out.write_text(json.dumps(outcome | {"seed": args.seed}))
        return 0
    args.out.mkdir(parents=True, exist_ok=True)
    if args.report:
        return report([run for path in args.report for run in json.loads(path.read_text())],
                      args.out)
    seeds = args.seeds or ([0] if args.quick else [0, 1, 2])
    print(f"{len(seeds)} seed(s) x {len(args.tools)} tools, {trials} trials x {max_epochs} "
          f"epochs, {os.cpu_count()} CPUs", flush=True)
    runs = []
    # autokeras_lab first, so that the others know its wall time (``--at``) and report
    # the test RMSE of the model they had chosen by then.
    order = sorted(args.tools, key=lambda tool: tool != "autokeras_lab")
    for seed in seeds:
        ours: float | None = None
        for tool in order:
            result = args.out / f"{tool}-seed{seed}.json"
            started = time.perf_counter()
            at = [] if ours is None else ["--at", repr(ours)]
            done = subprocess.run(
                [sys.executable, __file__, "--tool", tool, "--seed", str(seed), "--trials",
                 str(trials), "--max-epochs", str(max_epochs), "--out", str(result), *at],
                stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
            )
            if done.returncode != 0:
                print(done.stderr[-3000:], file=sys.stderr)
                raise SystemExit(f"{tool} (seed {seed}) failed")
            runs.append(json.loads(result.read_text()))
            if tool == "autokeras_lab":
                ours = runs[-1]["wall_s"]
            test_at = runs[-1]["test_at"]
            print(f"  {tool:<14} seed {seed}: {runs[-1]['wall_s']:.0f} s "
                  f"({time.perf_counter() - started:.0f} s with start-up), best val "
                  f"{runs[-1]['best_val']:.3f}, test {runs[-1]['test']:.3f}, at ours "
                  f"{'-' if test_at is None else f'{test_at:.3f}'}", flush=True)
    return report(runs, args.out)


def report(runs: list[dict[str, Any]], out: Path) -> int:
    """Print the table; write it, the runs and the plot to ``out``."""
    table = summarise(runs)
    print("\n" + table)
    (out / "results.json").write_text(json.dumps(runs, indent=1))
    (out / "table.txt").write_text(table + "\n")
    plot(runs, out / "benchmark.png")
    print(f"\nresults: {out / 'results.json'}, plot: {out / 'benchmark.png'}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
