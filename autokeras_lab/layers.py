"""Keras layers the built-in search spaces use that Keras does not have.

They are registered with Keras' serialisation (package ``autokeras_lab``), so an
exported model that holds them saves its configuration and weights as data and
loads in safe mode once this module is imported (:func:`autokeras_lab.load_model_dir`
imports it).
"""

from __future__ import annotations

import math
from typing import Any

import keras

__all__ = ["PeriodicEmbedding", "Temperature"]


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


@keras.saving.register_keras_serializable(package="autokeras_lab")
class Temperature(keras.layers.Layer):
    """Temperature scaling of predicted probabilities (Guo et al. 2017): class
    probabilities ``p`` become ``softmax(log(p) / T)``, a binary probability becomes
    ``sigmoid(logit(p) / T)``. ``T < 1`` sharpens, ``T > 1`` softens; the predicted
    class never changes. An ensemble's averaged probabilities are less confident than
    its members' (see :func:`autokeras_lab.ensemble.fit_temperature`).
    """

    def __init__(self, temperature: float = 1.0, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.temperature = float(temperature)

    def call(self, inputs: Any) -> Any:
        ops = keras.ops
        p = ops.clip(inputs, 1e-7, 1.0 - 1e-7)
        if inputs.shape[-1] == 1:
            # log(1 - p), not log1p(-p): p is clipped away from 0 and 1, and ONNX has
            # no Log1p, so the layer converts for ONNX Runtime (autokeras_lab.serving)
            return ops.sigmoid((ops.log(p) - ops.log(1.0 - p)) / self.temperature)
        return ops.softmax(ops.log(p) / self.temperature, axis=-1)

    def compute_output_shape(self, input_shape: Any) -> tuple[Any, ...]:
        return tuple(input_shape)

    def get_config(self) -> dict[str, Any]:
        return {**super().get_config(), "temperature": self.temperature}
