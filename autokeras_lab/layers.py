"""Keras layers the built-in search spaces use that Keras does not have.

They are registered with Keras' serialisation (package ``autokeras_lab``), so an
exported model that holds them saves its configuration and weights as data and
loads in safe mode once this module is imported (:func:`autokeras_lab.load_model_dir`
imports it).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import numpy as np

__all__ = ["Calibrate", "CandidateMemory", "Columns", "EnsembleInput", "EnsembleOutput",
           "FeatureScale", "MemberLoss", "NeighbourVote", "PeriodicEmbedding", "Temperature",
           "periodic_embeddings", "remember"]


@keras.saving.register_keras_serializable(package="autokeras_lab")
class PeriodicEmbedding(keras.layers.Layer):
    """Periodic embeddings of numeric features (Gorishniy et al. 2022, "On Embeddings
    for Numerical Features in Tabular Deep Learning"): each feature ``x_f`` becomes
    ``[cos(2 pi c_fi x_f), sin(2 pi c_fi x_f)]`` for ``n_frequencies`` trainable
    frequencies ``c_fi``, initialised from N(0, ``sigma``). Input ``(batch, features)``,
    output ``(batch, features, 2 * n_frequencies)``.
    """

    def __init__(self, n_frequencies: int = 16, sigma: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.n_frequencies = int(n_frequencies)
        self.sigma = float(sigma)

    def build(self, input_shape: Any) -> None:
        self.frequencies = self.add_weight(
            name="frequencies", shape=(int(input_shape[-1]), self.n_frequencies),
            initializer=keras.initializers.RandomNormal(0.0, self.sigma, seed=None),
        )

    def call(self, inputs: Any) -> Any:
        angles = 2 * math.pi * keras.ops.expand_dims(inputs, -1) * self.frequencies
        return keras.ops.concatenate([keras.ops.cos(angles), keras.ops.sin(angles)], axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*input_shape, 2 * self.n_frequencies)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "n_frequencies": self.n_frequencies,
                "sigma": self.sigma}


def periodic_embeddings(hp: Any, inputs: Any, numeric: Sequence[int] | None = None) -> Any:
    """The "PLR" embedding of every numeric input as a search space tunes it (Gorishniy
    et al. 2022): :class:`PeriodicEmbedding`, one linear map per feature, ReLU,
    flattened. ``hp`` (keras-tuner's) chooses it on or off (``embedding``, on by
    default; the inputs themselves when off), its ``frequencies``, their
    ``frequency_scale`` and each feature's ``embedding_dim``.

    ``numeric``: the positions of the numeric inputs (a space passes
    :attr:`~autokeras_lab.spaces.Task.numeric_inputs`; ``None``: every input). Only
    they are embedded, as in the paper; the others (one-hot categories, booleans) follow
    the embedded ones unchanged. An input that is 0 or 1 gains nothing from an
    embedding: its two values map to two points, an affine function of the bit that
    the next dense layer already is, at the embedding's cost a step (on diamonds, 20 of
    its 26 inputs). Without numeric inputs there is nothing to embed, and no
    hyperparameter of the embedding is declared."""
    n_inputs = int(inputs.shape[-1])
    positions = list(range(n_inputs)) if numeric is None else sorted(numeric)
    if not positions or not hp.Boolean("embedding", default=True):
        return inputs
    frequencies = hp.Int("frequencies", 8, 48, step=8)
    sigma = hp.Float("frequency_scale", 0.01, 10.0, sampling="log")
    dim = hp.Int("embedding_dim", 4, 32, sampling="log")
    everything = len(positions) == n_inputs
    x = PeriodicEmbedding(frequencies, sigma)(inputs if everything else Columns(positions)(inputs))
    x = keras.layers.EinsumDense(  # one linear map per feature
        "bfc,fcd->bfd", output_shape=(len(positions), dim), bias_axes="fd"
    )(x)
    x = keras.layers.Flatten()(keras.layers.ReLU()(x))
    if everything:
        return x
    others = sorted(set(range(n_inputs)) - set(positions))
    return keras.layers.Concatenate()([x, Columns(others)(inputs)])


@keras.saving.register_keras_serializable(package="autokeras_lab")
class Columns(keras.layers.Layer):
    """Some of the inputs, by their ``positions`` on the last axis, in that order."""

    def __init__(self, positions: Sequence[int], **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.positions = tuple(int(p) for p in positions)

    def call(self, inputs: Any) -> Any:
        return keras.ops.take(inputs, list(self.positions), axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (*input_shape[:-1], len(self.positions))

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "positions": list(self.positions)}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class FeatureScale(keras.layers.Layer):
    """RealMLP's scaling layer (Holzmüller et al. 2024, "Better by Default: Strong
    Pre-Tuned MLPs and Boosted Trees on Tabular Data"): each input multiplied by a
    trainable scale of its own, initialised at 1, that learns ``rate_factor`` times as
    fast as the layers after it, so the network can turn an input up or down (a soft
    selection of the inputs that matter) sooner than its dense layers learn to.

    The faster rate needs no optimizer of its own: the scale is kept as ``rate_factor``
    times a variable, and an Adam-type step moves a variable about as far whatever its
    gradient's size, so it moves the scale ``rate_factor`` times as far. Input and
    output ``(batch, features)``.
    """

    def __init__(self, rate_factor: float = 6.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.rate_factor = float(rate_factor)

    def build(self, input_shape: Any) -> None:
        self.scale = self.add_weight(
            name="scale", shape=(int(input_shape[-1]),),
            initializer=keras.initializers.Constant(1.0 / self.rate_factor))

    def call(self, inputs: Any) -> Any:
        return inputs * (self.rate_factor * self.scale)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "rate_factor": self.rate_factor}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class EnsembleInput(keras.layers.Layer):
    """The start of ``members`` networks in one (TabM-mini, Gorishniy et al. 2025,
    "TabM: Advancing Tabular Deep Learning with Parameter-Efficient Ensembling"): the
    input ``(batch, features)`` is copied for each member and scaled feature by
    feature by that member's own trainable vector, initialised with random signs, so
    that the layers after it, shared by all members and applied to the last axis,
    see ``members`` different inputs. Output ``(batch, members, features)``.
    """

    def __init__(self, members: int = 32, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.members = int(members)

    def build(self, input_shape: Any) -> None:
        self.scales = self.add_weight(name="scales", shape=(self.members, int(input_shape[-1])),
                                      initializer=keras.initializers.RandomUniform(-1.0, 1.0))
        self.scales.assign(keras.ops.where(self.scales >= 0, 1.0, -1.0))

    def call(self, inputs: Any) -> Any:
        return keras.ops.expand_dims(inputs, 1) * self.scales

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0], self.members, input_shape[-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "members": self.members}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class EnsembleOutput(keras.layers.Layer):
    """The end of the members that :class:`EnsembleInput` began: one linear head (and
    ``activation``) per member on its features ``(batch, members, features)``. In
    training it gives every member's output, ``(batch, members, units)``, for
    :class:`MemberLoss` to train each member on its own; otherwise their mean,
    ``(batch, units)``: the prediction of the ensemble (its probabilities, for a
    classifier).
    """

    def __init__(self, units: int, activation: str | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.units = int(units)
        self.activation = keras.activations.get(activation)

    def build(self, input_shape: Any) -> None:
        members, features = int(input_shape[1]), int(input_shape[-1])
        self.kernel = self.add_weight(name="kernel", shape=(members, features, self.units),
                                      initializer="glorot_uniform")
        self.bias = self.add_weight(name="bias", shape=(members, self.units),
                                    initializer="zeros")

    def call(self, inputs: Any, training: bool | None = None) -> Any:
        outputs = self.activation(keras.ops.einsum("bmf,mfu->bmu", inputs, self.kernel)
                                  + self.bias)
        return outputs if training else keras.ops.mean(outputs, axis=1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return (input_shape[0], self.units)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "units": self.units,
                "activation": keras.activations.serialize(self.activation)}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class MemberLoss(keras.losses.Loss):
    """A Keras loss (by name: ``"mse"``, ``"binary_crossentropy"``,
    ``"sparse_categorical_crossentropy"``) that trains each member of an
    :class:`EnsembleOutput` on its own: on outputs ``(batch, members, units)`` it is the
    mean over the members of each one's loss, one value per row, as TabM trains (the
    loss of the members' mean would train them as one model). On the ensemble's
    output ``(batch, units)`` it is the loss itself.
    """

    def __init__(self, loss: str = "mse", **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.loss = str(loss)

    def call(self, y_true: Any, y_pred: Any) -> Any:
        ops, loss = keras.ops, keras.losses.get(self.loss)
        if len(y_pred.shape) < 3:
            return loss(y_true, y_pred)
        y = ops.reshape(ops.cast(y_true, y_pred.dtype), (-1, 1, 1))
        if self.loss == "sparse_categorical_crossentropy":  # a class index per member
            labels = ops.broadcast_to(y[..., 0], ops.shape(y_pred)[:2])
            return ops.mean(loss(labels, y_pred), axis=1)
        return ops.mean(loss(ops.broadcast_to(y, ops.shape(y_pred)), y_pred), axis=1)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "loss": self.loss}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class Calibrate(keras.layers.Layer):
    """Calibrated probabilities: temperature scaling (Guo et al. 2017), then a floor.
    Class probabilities ``p`` become ``softmax(log(p) / T)``, a binary probability
    ``sigmoid(logit(p) / T)``; then ``(1 - floor) * q + floor / K`` (K classes, 2 for
    a binary probability). ``T < 1`` sharpens, ``T > 1`` softens; the predicted class
    never changes. See :func:`autokeras_lab.ensemble.fit_calibration`.
    """

    def __init__(self, temperature: float = 1.0, floor: float = 0.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.temperature = float(temperature)
        self.floor = float(floor)

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        p = ops.clip(inputs, 1e-7, 1.0 - 1e-7)
        if inputs.shape[-1] == 1:
            # log(1 - p), not log1p(-p): p is clipped away from 0 and 1, and ONNX has
            # no Log1p, so the layer converts for ONNX Runtime (autokeras_lab.serving)
            scaled = ops.sigmoid((ops.log(p) - ops.log(1.0 - p)) / self.temperature)
            classes = 2
        else:
            scaled = ops.softmax(ops.log(p) / self.temperature, axis=-1)
            classes = inputs.shape[-1]
        if self.floor == 0.0:
            return scaled
        return (1.0 - self.floor) * scaled + self.floor / classes

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature, "floor": self.floor}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class Temperature(Calibrate):
    """The name :class:`Calibrate` had before it took a floor: models exported then
    load with it (their floor is 0)."""


@keras.saving.register_keras_serializable(package="autokeras_lab")
class CandidateMemory(keras.layers.Layer):
    """The training rows a retrieval model predicts from (ModernNCA, Ye et al. 2025,
    "Revisiting Nearest Neighbor for Tabular Data"; TabR, Gorishniy et al. 2024): at most
    ``capacity`` rows' inputs, their targets (one-hot where ``one_hot``, for a
    multiclass head) and a mask of the slots in use, held as non-trainable weights, so
    the rows travel with the model's weights: through packing, checkpoints, the
    exported ``.keras`` file and the serving graph.

    :func:`remember` fills them before a model trains (``packing.train_together`` does
    for every model it trains); until then no slot is in use. Called on the model's
    input (which it only needs for its place in the graph), it gives
    ``(rows, targets, in_use)``: every slot in inference; in training a random
    ``sample_rate`` share of them, drawn afresh each step, as ModernNCA samples its
    candidates. That keeps the neighbours from being the same few every step, and a
    step encodes only the slots drawn, so it costs about ``sample_rate`` of one that
    encodes them all.
    """

    def __init__(self, capacity: int, n_outputs: int = 1, one_hot: bool = False,
                 sample_rate: float = 1.0, seed: int | None = None, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.capacity = int(capacity)
        self.n_outputs = int(n_outputs)
        self.one_hot = bool(one_hot)
        self.sample_rate = float(sample_rate)
        self.seed = seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def build(self, input_shape: Any) -> None:
        def slots(name: str, *shape: int) -> Any:
            return self.add_weight(name=name, shape=(self.capacity, *shape),
                                   initializer="zeros", trainable=False)

        self.rows = slots("rows", int(input_shape[-1]))
        self.targets = slots("targets", self.n_outputs)
        self.in_use = slots("in_use")

    @property
    def sampled(self) -> int:
        """How many slots a training step draws."""
        return max(1, round(self.sample_rate * self.capacity))

    def call(self, inputs: Any, training: bool | None = None) -> tuple[Any, Any, Any]:
        ops = keras.ops
        held = tuple(ops.convert_to_tensor(v) for v in (self.rows, self.targets, self.in_use))
        if not training or self.sampled >= self.capacity:
            return held
        # the slots of the `sampled` largest of uniform draws: a sample without
        # replacement, in ops that run packed (vectorized) as well as alone
        draw = keras.random.uniform((self.capacity,), seed=self.seed_generator)
        _, chosen = ops.top_k(draw, self.sampled)
        rows, targets, in_use = (ops.take(v, chosen, axis=0) for v in held)
        return rows, targets, in_use

    def compute_output_spec(self, inputs: Any, training: bool | None = None) -> Any:
        dtype = self.variable_dtype
        return (keras.KerasTensor((self.capacity, int(inputs.shape[-1])), dtype=dtype),
                keras.KerasTensor((self.capacity, self.n_outputs), dtype=dtype),
                keras.KerasTensor((self.capacity,), dtype=dtype))

    def remember(self, x: Any, y: Any, *, seed: int = 0) -> int:
        """Hold the rows ``x`` and their targets ``y`` (class indices where
        ``one_hot``): all of them where they fit, else ``capacity`` of them drawn
        without replacement (by ``seed``). Returns how many it holds."""
        x = np.asarray(x, dtype=np.float32)
        y = np.asarray(y, dtype=np.float32).reshape(len(x), -1)
        if len(x) > self.capacity:
            chosen = np.sort(np.random.default_rng(seed).choice(len(x), self.capacity,
                                                                replace=False))
            x, y = x[chosen], y[chosen]
        if self.one_hot:
            y = np.eye(self.n_outputs, dtype=np.float32)[y[:, 0].astype(int)]
        held = len(x)
        rows = np.zeros(self.rows.shape, np.float32)
        targets = np.zeros(self.targets.shape, np.float32)
        rows[:held], targets[:held] = x, y
        self.rows.assign(rows)
        self.targets.assign(targets)
        self.in_use.assign((np.arange(self.capacity) < held).astype(np.float32))
        return held

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "capacity": self.capacity, "n_outputs": self.n_outputs,
                "one_hot": self.one_hot, "sample_rate": self.sample_rate, "seed": self.seed}


@keras.saving.register_keras_serializable(package="autokeras_lab")
class NeighbourVote(keras.layers.Layer):
    """A retrieval model's prediction (ModernNCA): the targets of the memory's rows,
    weighted by the softmax of minus the Euclidean distance between the query's
    embedding and each row's. Inputs ``[query_embeddings (batch, d), row_embeddings
    (rows, d), targets (rows, outputs), in_use (rows,), query_inputs (batch, f),
    rows (rows, f)]``, the last two to leave each training row out of its own vote
    (rows equal to the query in the inputs are not its neighbours in training).

    Regression gives the weighted mean of the targets; a classifier
    (``probabilities``) the weighted class frequencies, kept off 0 and 1 by a hair so
    that log losses and temperature scaling stay finite.
    """

    def __init__(self, probabilities: bool = False, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.probabilities = bool(probabilities)

    def call(self, inputs: list[Any], training: bool | None = None) -> Any:
        ops = keras.ops
        query, keys, targets, in_use, x, rows = inputs
        votes = ops.cast(in_use, "bool")[None, :]
        if training:  # leave each row out of its own vote
            votes = ops.logical_and(votes, _squared_distances(x, rows)
                                    > 1e-4 * ops.cast(ops.shape(x)[-1], x.dtype))
        distances = ops.sqrt(ops.maximum(_squared_distances(query, keys), 1e-10))
        weights = ops.softmax(ops.where(votes, -distances, -1e9), axis=-1)
        out = ops.matmul(weights, targets)
        if not self.probabilities:
            return out
        classes = max(int(targets.shape[-1]), 2)
        return out * (1.0 - 1e-6 * classes) + 1e-6

    def compute_output_shape(self, input_shape: list[Any]) -> tuple[Any, ...]:
        return (input_shape[0][0], input_shape[2][-1])

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "probabilities": self.probabilities}


def _squared_distances(a: Any, b: Any) -> Any:
    """``(len(a), len(b))`` squared Euclidean distances, as matrix products."""
    ops = keras.ops
    return (ops.sum(a * a, axis=-1)[:, None] + ops.sum(b * b, axis=-1)[None, :]
            - 2.0 * ops.matmul(a, ops.transpose(b)))


def memories(model: Any) -> Iterator[CandidateMemory]:
    """The :class:`CandidateMemory` layers in ``model`` and the models inside it."""
    for layer in getattr(model, "layers", []):
        if isinstance(layer, CandidateMemory):
            yield layer
        else:
            yield from memories(layer)


def remember(model: Any, x: Any, y: Any, *, seed: int = 0) -> None:
    """Fill every :class:`CandidateMemory` of ``model`` with the rows it trains on
    (nothing to do for a model without one)."""
    for memory in memories(model):
        memory.remember(x, y, seed=seed)
