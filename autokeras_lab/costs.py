"""What a model costs to run: its parameters and its inference latency, measured on
this process's CPU (the driver's, once a search ends).

Latency is the model's compiled graph: a ``tf.function`` of the Keras model, which is
what the exported SavedModel serves, less the preprocessing that every model of a
search shares. One row at a time, the median of ``REPEATS`` calls after ``WARMUP``
(online serving); and rows per second in batches of ``BATCH`` rows, the median of
``BATCH_REPEATS`` calls. AutoGluon's ``infer_limit`` is seconds per row at
``infer_limit_batch_size`` rows a call (1 for online inference, where a call's fixed
cost dominates, as here; it suggests 10,000 for batch scoring), and it adds its
feature preprocessing's time per row to each model's; ours is left out, the same for
every model of a search.

Weights do not change what a model costs, so a trial is measured on a freshly built
model of its configuration, as its export is shaped (with ``--cv K``, K copies
averaged as :func:`~autokeras_lab.ensemble.weighted_average` averages a bag), and
trials of the same architecture share one measurement.

Example:
    >>> meter = CostMeter(builder, preprocessor, folds=5)  # doctest: +SKIP
    >>> meter.trial(config).latency_ms  # doctest: +SKIP
    0.64
"""

from __future__ import annotations

import time
from typing import Any

import numpy as np

from autokeras_lab.data import Preprocessor
from autokeras_lab.ensemble import Member, weighted_average
from autokeras_lab.spaces import ModelBuilder
from autokeras_lab.types import InferenceCost

__all__ = ["BATCH", "CostMeter", "measure"]

WARMUP = 3
REPEATS = 30
BATCH = 1000
BATCH_REPEATS = 3


def measure(model: Any, width: int) -> InferenceCost:
    """Parameters, one-row latency and batch throughput of a Keras model that takes
    ``width`` inputs."""
    import tensorflow as tf

    call = tf.function(lambda x: model(x, training=False),  # traced once, for any rows
                       input_signature=[tf.TensorSpec((None, width), tf.float32)])
    one = tf.zeros((1, width), tf.float32)
    batch = tf.zeros((BATCH, width), tf.float32)

    def seconds(x: Any, repeats: int) -> float:
        times = []
        for _ in range(repeats):
            start = time.perf_counter()
            call(x).numpy()
            times.append(time.perf_counter() - start)
        return float(np.median(times))

    seconds(one, WARMUP)
    seconds(batch, 1)
    latency = seconds(one, REPEATS)
    throughput = BATCH / seconds(batch, BATCH_REPEATS)
    return InferenceCost(params=int(model.count_params()), latency_ms=latency * 1e3,
                         rows_per_s=throughput)


class CostMeter:
    """The costs of a search's trials: each configuration's model as exported (its
    bag of ``folds`` models), measured once per architecture."""

    def __init__(self, builder: ModelBuilder, preprocessor: Preprocessor, folds: int) -> None:
        self.builder = builder
        self.preprocessor = preprocessor
        self.folds = max(1, folds)
        self._by_architecture: dict[tuple[Any, ...], InferenceCost] = {}
        self._call_ms: float | None = None

    def params(self, config: dict[str, Any]) -> int:
        """The parameters of a configuration's model as exported (its bag)."""
        return int(self.builder.build(config).count_params()) * self.folds

    def trial(self, config: dict[str, Any]) -> InferenceCost:
        """A configuration's model as exported (its bag), measured."""
        model = self.builder.build(config)
        key = _architecture(model)
        if key not in self._by_architecture:
            # the bag as exported; its members share one model's weights, which
            # changes nothing of what it costs to run
            members = [Member(model, 1 / self.folds, self.preprocessor.transforms[0])
                       for _ in range(self.folds)]
            bag, _ = weighted_average(members, preprocessor=self.preprocessor,
                                      task=self.builder.task)
            cost = measure(bag, self.preprocessor.n_inputs)
            self._by_architecture[key] = InferenceCost(
                params=model.count_params() * self.folds, latency_ms=cost.latency_ms,
                rows_per_s=cost.rows_per_s)
        return self._by_architecture[key]

    def ensemble(self, members: list[InferenceCost | None]) -> InferenceCost | None:
        """An ensemble's cost estimated from its members' (``None`` if one is not
        measured): their parameters added; their latencies added, less the fixed cost
        of a call that the ensemble pays once, not once a member; their throughputs
        combined as work one after another."""
        if not members or any(m is None for m in members):
            return None
        costs = [m for m in members if m is not None]
        call = min(self.call_ms, *(c.latency_ms for c in costs))
        return InferenceCost(
            params=sum(c.params for c in costs),
            latency_ms=sum(c.latency_ms for c in costs) - call * (len(costs) - 1),
            rows_per_s=1 / sum(1 / c.rows_per_s for c in costs),
        )

    @property
    def call_ms(self) -> float:
        """The latency of calling a one-layer model: what any call costs."""
        if self._call_ms is None:
            import keras

            inputs = keras.Input((self.preprocessor.n_inputs,))
            model = keras.Model(inputs, keras.layers.Dense(1)(inputs))
            self._call_ms = measure(model, self.preprocessor.n_inputs).latency_ms
        return self._call_ms


def _identity_layers() -> tuple[type, ...]:
    import keras

    layers = keras.layers
    return (layers.Dropout, layers.AlphaDropout, layers.GaussianDropout,
            layers.GaussianNoise, layers.ActivityRegularization)


def _architecture(model: Any) -> tuple[Any, ...]:
    """What a model's cost depends on: its layers' kinds and weight shapes (a dropout
    rate, a learning rate or a batch size change nothing at inference)."""
    identity = _identity_layers()  # a dropout layer, with any rate, passes rows through
    return tuple(
        (type(layer).__name__, tuple(tuple(w.shape) for w in layer.weights),
         getattr(getattr(layer, "activation", None), "__name__", None))
        for layer in model.layers if not isinstance(layer, identity)
    )
