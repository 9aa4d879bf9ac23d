"""A search space with a layer packed training cannot vectorize: it clips its inputs
in NumPy (``tf.numpy_function`` has no vectorized form), so its fold models must
train one after another (tests/test_packing.py)."""

from __future__ import annotations

import keras
import keras_tuner as kt
import numpy as np

from autokeras_lab.spaces import Task

DESCRIPTION = "MLP behind a NumPy clipping layer (cannot be packed)"


class NumpyClip(keras.layers.Layer):
    def call(self, inputs):
        import tensorflow as tf

        clipped = tf.numpy_function(lambda a: np.clip(a, -3, 3).astype(np.float32),
                                    [inputs], tf.float32)
        return tf.ensure_shape(clipped, inputs.shape)


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    units = hp.Int("units", 8, 32)
    hp.Choice("batch_size", [32])
    inputs = keras.Input(shape=(task.n_features,))
    hidden = keras.layers.Dense(units, activation="relu")(NumpyClip()(inputs))
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(hidden)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(1e-2), loss=task.loss)
    return model
