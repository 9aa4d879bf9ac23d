"""A small MLP without dropout: the one thing packed and unpacked training draw
differently, so a search on it gives the same values either way (tests/test_packing.py)."""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.spaces import Task

DESCRIPTION = "MLP without dropout (1-2 dense layers, Adam)"


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    inputs = keras.Input(shape=(task.n_features,))
    x = inputs
    for i in range(hp.Int("num_layers", 1, 2)):
        x = keras.layers.Dense(hp.Int(f"units_{i}", 8, 32), activation="relu")(x)
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(x)
    model = keras.Model(inputs, outputs)
    learning_rate = hp.Float("learning_rate", 1e-3, 3e-2, sampling="log")
    hp.Choice("batch_size", [32, 64])
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=task.loss)
    return model
