"""A plain multilayer perceptron for tabular data.

Depth 1-4 hidden layers, each with its own width; one activation, dropout rate and L2
penalty for all layers; Adam with a log-uniform learning rate; the batch size.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.spaces import Task

DESCRIPTION = "Multilayer perceptron: 1-4 dense layers, dropout, L2, Adam (any tabular task)"


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the MLP for ``task`` from the values in ``hp``."""
    depth = hp.Int("num_layers", 1, 4)
    activation = hp.Choice("activation", ["relu", "elu", "gelu"])
    dropout = hp.Float("dropout", 0.0, 0.4, step=0.05)
    l2 = hp.Float("l2", 1e-7, 1e-2, sampling="log")
    lr_scale = task.learning_rate_scale  # batches and rates grow with a large table
    learning_rate = hp.Float("learning_rate", 1e-4 * lr_scale, 3e-2 * lr_scale, sampling="log")
    hp.Choice("batch_size", task.batch_sizes(16, 32, 64, 128))

    inputs = keras.Input(shape=(task.n_features,))
    x = inputs
    for i in range(depth):
        x = keras.layers.Dense(
            hp.Int(f"units_{i}", 16, 512, sampling="log"),
            activation=activation,
            kernel_regularizer=keras.regularizers.L2(l2),
        )(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=task.loss)
    return model
