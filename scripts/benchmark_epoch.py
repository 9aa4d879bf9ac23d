"""Per-epoch cost on concrete: Keras ``model.fit`` against our compiled epoch, K
models trained packed (one graph call an epoch) against one model and against K
models one after another, and the packed update fused (Adam's kernel, one op a
variable: ``packing.fused_adam``) against Keras' own ``apply``.

Runs everything side by side in one process, on the same data and batch sizes, and
prints milliseconds per epoch and the ratios. Each epoch includes the validation
outputs, as a trial needs them to report. The K models are a ``--cv K`` trial's fold
models (each its own training rows), built from the same configuration.

    python scripts/benchmark_epoch.py [--epochs 40] [--batches 16,32,64,128]
        [--packs 1,3,5,10] [--pack-batches 32,128] [--space mlp] [--dropout 0.0]
        [--no-fused]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable
from typing import Any

from autokeras_lab._env import import_tensorflow_quietly
from autokeras_lab.data import load_dataset, prepare
from autokeras_lab.packing import compiled_epoch, train_together
from autokeras_lab.spaces import DerivedSpace, SearchSpace, Task, load_space
from autokeras_lab.trainable import configure_threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batches", default="16,32,64,128",
                        help="batch sizes to time fit against ours ('' to skip)")
    parser.add_argument("--packs", default="1,3,5,10", help="model counts K to pack ('' to skip)")
    parser.add_argument("--pack-batches", default="32,128", help="batch sizes for packing")
    parser.add_argument("--space", default="mlp", help="search space of the packed models")
    parser.add_argument("--dropout", type=float, default=0.0, help="dropout of the packed models")
    parser.add_argument("--no-fused", dest="fused", action="store_false",
                        help="skip the fused update against Keras' apply")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    configure_threads(1)  # as in a trial with one CPU
    if args.batches:
        fit_against_ours(args.epochs, [int(b) for b in args.batches.split(",")])
    if args.packs:
        packed_against_one(args.epochs, [int(k) for k in args.packs.split(",")],
                           [int(b) for b in args.pack_batches.split(",")], args.space,
                           args.dropout)
    if args.fused:
        fused_against_keras(args.epochs)


def timed(run: Callable[[], object], epochs: int) -> float:
    """Milliseconds per epoch, after two epochs of tracing and warm-up."""
    for _ in range(2):
        run()
    start = time.perf_counter()
    for _ in range(epochs):
        run()
    return (time.perf_counter() - start) / epochs * 1000


def fit_against_ours(epochs: int, batches: list[int]) -> None:
    import keras

    data = prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2, split_seed=42)
    arrays = data.search_arrays()
    task = Task(n_features=data.x_train.shape[1])
    space = load_space("mlp")
    derived = space.derive(task)
    print(f"{'batch':>5}  {'fit ms/epoch':>12}  {'ours ms/epoch':>13}  {'ratio':>6}")
    for batch in batches:
        values = derived.defaults() | {"num_layers": 2, "units_0": 128, "units_1": 64,
                                       "batch_size": batch}
        keras.utils.set_random_seed(0)
        model = space.build(values, task, derived)

        def on_epoch_end(epoch: int, logs: dict | None, m=model) -> None:
            m.predict_on_batch(arrays["x_val"])

        callback = keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)

        def fit(m=model, cb=callback, bs=batch) -> None:
            m.fit(arrays["x_train"], arrays["y_train"], batch_size=bs, epochs=1, verbose=0,
                  callbacks=[cb])

        fit_ms = timed(fit, epochs)
        keras.utils.set_random_seed(0)
        model = space.build(values, task, derived)
        model.optimizer.build(model.trainable_variables)
        epoch = compiled_epoch(model, arrays, batch)

        def ours(step=epoch) -> None:  # the loss and the validation output, as a trial
            loss, output = step(1)
            float(loss), output.numpy()

        ours_ms = timed(ours, epochs)
        print(f"{batch:>5}  {fit_ms:>12.1f}  {ours_ms:>13.1f}  {fit_ms / ours_ms:>5.1f}x")


def seeded_models(space: SearchSpace, values: dict[str, Any], task: Task,
                  derived: DerivedSpace, count: int, *, optimizer: Any = None) -> list[Any]:
    """``count`` models of ``values``, model k from seed k, each optimizer built (and
    first recompiled as ``optimizer``, a class taking the space's optimizer's config,
    where given)."""
    import keras

    models = []
    for seed in range(count):
        keras.utils.set_random_seed(seed)
        model = space.build(values, task, derived)
        if optimizer is not None:
            model.compile(optimizer=optimizer.from_config(model.optimizer.get_config()),
                          loss=model.loss)
        model.optimizer.build(model.trainable_variables)
        models.append(model)
    return models


def packed_against_one(epochs: int, packs: list[int], batches: list[int], space_name: str,
                       dropout: float) -> None:
    space = load_space(space_name)
    dataset = load_dataset("concrete")
    print(f"\n{space_name} (64-wide, 2 layers, dropout {dropout}), concrete: K models' epoch "
          "against one model's")
    print(f"{'batch':>5}  {'K':>3}  {'one ms':>7}  {'packed ms':>9}  {'packed/one':>10}  "
          f"{'one after another ms':>20}  {'speed-up':>8}")
    for batch in batches:
        one_ms = None
        for k in packs:
            data = prepare(dataset, test_fraction=0.1, val_fraction=0.2, split_seed=42,
                           cv=k if k > 1 else 1)
            arrays = data.search_arrays()
            folds = arrays.get("folds") or [arrays]
            task = Task(n_features=data.x_train.shape[1], train_rows=len(folds[0]["x_train"]),
                        max_epochs=100)
            derived = space.derive(task)
            values = derived.defaults() | {"num_layers": 2, "units_0": 64, "units_1": 64,
                                           "width": 64, "batch_size": batch,
                                           "dropout": dropout}
            timings = {}
            for pack in (True, False):
                models = seeded_models(space, values, task, derived, k)
                training = train_together(models, folds, batch, pack=pack,
                                          order_seeds=list(range(k)))
                timings[pack] = timed(training.run_epoch, epochs)
            if one_ms is None:  # K = 1: one model, its compiled epoch
                one_ms = timings[False]
            print(f"{batch:>5}  {k:>3}  {one_ms:>7.1f}  {timings[True]:>9.1f}  "
                  f"{timings[True] / one_ms:>9.2f}x  {timings[False]:>20.1f}  "
                  f"{timings[False] / timings[True]:>7.2f}x")


#: networks of the default space that seed 0's concrete searches train (trials 5, 10, 2)
DEFAULT_SPACE_NETWORKS: dict[str, dict[str, Any]] = {
    "2 x 44, embedding, batches of 16": {
        "num_layers": 2, "width": 44, "activation": "silu", "dropout": 0.15,
        "weight_decay": 2e-6, "learning_rate": 2.4e-3, "batch_size": 16, "embedding": True,
        "frequencies": 16, "frequency_scale": 1.0, "embedding_dim": 5},
    "1 x 55, embedding, batches of 64": {
        "num_layers": 1, "width": 55, "activation": "gelu", "dropout": 0.15,
        "weight_decay": 0.044, "learning_rate": 2.6e-3, "batch_size": 64, "embedding": True,
        "frequencies": 32, "frequency_scale": 0.4, "embedding_dim": 13},
    "4 x 483, no embedding, batches of 16": {
        "num_layers": 4, "width": 483, "activation": "relu", "dropout": 0.05,
        "weight_decay": 1.6e-3, "learning_rate": 1.9e-4, "batch_size": 16, "embedding": False},
}


def fused_against_keras(epochs: int) -> None:
    """A 5-fold trial's packed epoch with the update fused (AdamW, as the default space
    compiles it) against the same models updated by Keras' own ``apply`` (a subclass
    of AdamW, which ``fused_adam`` leaves to Keras)."""
    import keras

    class KerasAdamW(keras.optimizers.AdamW):
        """AdamW updated by Keras' ``apply``."""

    space = load_space("plr_mlp")
    data = prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2,
                   split_seed=42, cv=5)
    folds = data.search_arrays()["folds"]
    task = Task(n_features=data.x_train.shape[1], train_rows=len(folds[0]["x_train"]),
                max_epochs=300)
    derived = space.derive(task)
    print("\nplr_mlp, concrete, 5 fold models packed: the update fused against Keras' apply")
    print(f"{'network':<38}  {'keras ms':>8}  {'fused ms':>8}  {'speed-up':>8}")
    for name, values in DEFAULT_SPACE_NETWORKS.items():
        timings = {}
        for fused in (False, True):
            models = seeded_models(space, derived.defaults() | values, task, derived,
                                   len(folds), optimizer=None if fused else KerasAdamW)
            training = train_together(models, folds, values["batch_size"],
                                      order_seeds=list(range(len(folds))))
            timings[fused] = timed(training.run_epoch,
                                   max(2, epochs // 10) if values["width"] > 256 else epochs)
        print(f"{name:<38}  {timings[False]:>8.1f}  {timings[True]:>8.1f}  "
              f"{timings[False] / timings[True]:>7.2f}x")


if __name__ == "__main__":
    main()
