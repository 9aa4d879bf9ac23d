"""Per-epoch cost on concrete: Keras ``model.fit`` against our compiled epoch, and K
models trained packed (one graph call an epoch) against one model and against K
models one after another.

Runs everything side by side in one process, on the same data and batch sizes, and
prints milliseconds per epoch and the ratios. Each epoch includes the validation
outputs, as a trial needs them to report. The K models are a ``--cv K`` trial's fold
models (each its own training rows), built from the same configuration.

    python scripts/benchmark_epoch.py [--epochs 40] [--batches 16,32,64,128]
        [--packs 1,3,5,10] [--pack-batches 32,128] [--space mlp] [--dropout 0.0]
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

from autokeras_lab._env import import_tensorflow_quietly
from autokeras_lab.data import load_dataset, prepare
from autokeras_lab.packing import compiled_epoch, train_together
from autokeras_lab.spaces import Task, load_space
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
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    configure_threads(1)  # as in a trial with one CPU
    if args.batches:
        fit_against_ours(args.epochs, [int(b) for b in args.batches.split(",")])
    if args.packs:
        packed_against_one(args.epochs, [int(k) for k in args.packs.split(",")],
                           [int(b) for b in args.pack_batches.split(",")], args.space,
                           args.dropout)


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


def packed_against_one(epochs: int, packs: list[int], batches: list[int], space_name: str,
                       dropout: float) -> None:
    import keras

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
                models = []
                for seed in range(k):
                    keras.utils.set_random_seed(seed)
                    model = space.build(values, task, derived)
                    model.optimizer.build(model.trainable_variables)
                    models.append(model)
                training = train_together(models, folds, batch, pack=pack,
                                          order_seeds=list(range(k)))
                timings[pack] = timed(training.run_epoch, epochs)
            if one_ms is None:  # K = 1: one model, its compiled epoch
                one_ms = timings[False]
            print(f"{batch:>5}  {k:>3}  {one_ms:>7.1f}  {timings[True]:>9.1f}  "
                  f"{timings[True] / one_ms:>9.2f}x  {timings[False]:>20.1f}  "
                  f"{timings[False] / timings[True]:>7.2f}x")


if __name__ == "__main__":
    main()
