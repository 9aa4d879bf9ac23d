"""Per-epoch cost on concrete: Keras ``model.fit`` versus our compiled epoch.

Runs both side by side in one process, on the same model, data and batch sizes, and
prints milliseconds per epoch and the ratio. Each epoch includes the validation RMSE,
as a trial needs it to report.

    python scripts/benchmark_epoch.py [--epochs 40] [--batches 16,32,64,128]
"""

from __future__ import annotations

import argparse
import time

from autokeras_lab._env import import_tensorflow_quietly
from autokeras_lab.data import load_dataset, prepare
from autokeras_lab.spaces import Task, load_space
from autokeras_lab.trainable import _compiled_epoch, configure_threads


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--epochs", type=int, default=40)
    parser.add_argument("--batches", default="16,32,64,128", help="batch sizes to time")
    args = parser.parse_args(argv)
    import_tensorflow_quietly()
    import keras
    import tensorflow as tf

    configure_threads(1)  # as in a trial with one CPU
    data = prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2, split_seed=42)
    arrays = data.search_arrays()
    task = Task(n_features=data.x_train.shape[1])
    space = load_space("mlp")
    derived = space.derive(task)
    print(f"{'batch':>5}  {'fit ms/epoch':>12}  {'ours ms/epoch':>13}  {'ratio':>6}")
    for batch in (int(b) for b in args.batches.split(",")):
        values = derived.defaults() | {"num_layers": 2, "units_0": 128, "units_1": 64,
                                       "batch_size": batch}
        timings = []
        for engine in ("fit", "ours"):
            keras.utils.set_random_seed(0)
            model = space.build(values, task, derived)
            if engine == "fit":
                def on_epoch_end(epoch: int, logs: dict | None, m=model) -> None:
                    m.predict_on_batch(arrays["x_val"])

                callback = keras.callbacks.LambdaCallback(on_epoch_end=on_epoch_end)

                def run(n: int, m=model, cb=callback, bs=batch) -> None:
                    m.fit(arrays["x_train"], arrays["y_train"], batch_size=bs, epochs=n,
                          verbose=0, callbacks=[cb])
            else:
                model.optimizer.build(model.trainable_variables)
                epoch = _compiled_epoch(model, arrays, batch, tf)

                def run(n: int, step=epoch) -> None:
                    for _ in range(n):  # the loss and the validation output, as a trial
                        loss, output = step()
                        float(loss), output.numpy()
            run(2)  # tracing and warm-up, not counted
            start = time.perf_counter()
            run(args.epochs)
            timings.append((time.perf_counter() - start) / args.epochs * 1000)
        fit_ms, ours_ms = timings
        print(f"{batch:>5}  {fit_ms:>12.1f}  {ours_ms:>13.1f}  {fit_ms / ours_ms:>5.1f}x")


if __name__ == "__main__":
    main()
