"""A residual MLP with batch normalisation (pre-activation blocks).

Each block is BatchNorm -> activation -> Dense -> Dropout -> Dense, added back to its
input, so deeper stacks stay easy to train; the width is shared by all blocks.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.spaces import Task

DESCRIPTION = "Residual MLP: 1-4 pre-activation blocks with batch norm, dropout, L2, Adam"


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the residual MLP for ``task`` from the values in ``hp``."""
    width = hp.Int("width", 32, 256, sampling="log")
    blocks = hp.Int("num_blocks", 1, 4)
    expansion = hp.Choice("expansion", [1, 2])
    activation = hp.Choice("activation", ["relu", "gelu", "swish"])
    dropout = hp.Float("dropout", 0.0, 0.3, step=0.05)
    l2 = hp.Float("l2", 1e-7, 1e-3, sampling="log")
    learning_rate = hp.Float("learning_rate", 1e-4, 1e-2, sampling="log")
    hp.Choice("batch_size", [16, 32, 64, 128])
    regularizer = keras.regularizers.L2(l2)

    inputs = keras.Input(shape=(task.n_features,))
    x = keras.layers.Dense(width, kernel_regularizer=regularizer)(inputs)
    for _ in range(blocks):
        h = keras.layers.BatchNormalization()(x)
        h = keras.layers.Activation(activation)(h)
        h = keras.layers.Dense(width * expansion, kernel_regularizer=regularizer)(h)
        h = keras.layers.Activation(activation)(h)
        if dropout > 0:
            h = keras.layers.Dropout(dropout)(h)
        h = keras.layers.Dense(width, kernel_regularizer=regularizer)(h)
        x = keras.layers.Add()([x, h])
    x = keras.layers.BatchNormalization()(x)
    x = keras.layers.Activation(activation)(x)
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=task.loss)
    return model
