"""Wide & deep: a linear model of the inputs plus an MLP, summed before the output.

The wide part keeps what is linear in the inputs (one-hot categories above all) cheap
to learn; the deep part learns the interactions.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.spaces import Task

DESCRIPTION = "Wide & deep: linear part + 1-3 layer MLP summed, dropout, L2, Adam"


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the wide & deep network for ``task`` from the values in ``hp``."""
    depth = hp.Int("num_layers", 1, 3)
    activation = hp.Choice("activation", ["relu", "elu", "gelu"])
    dropout = hp.Float("dropout", 0.0, 0.4, step=0.05)
    l2 = hp.Float("l2", 1e-7, 1e-2, sampling="log")
    wide_l2 = hp.Float("wide_l2", 1e-7, 1e-2, sampling="log")
    learning_rate = hp.Float("learning_rate", 1e-4, 3e-2, sampling="log")
    hp.Choice("batch_size", [16, 32, 64, 128])

    inputs = keras.Input(shape=(task.n_features,))
    wide = keras.layers.Dense(task.n_outputs, kernel_regularizer=keras.regularizers.L2(wide_l2))(
        inputs
    )
    x = inputs
    for i in range(depth):
        x = keras.layers.Dense(
            hp.Int(f"units_{i}", 16, 256, sampling="log"),
            activation=activation,
            kernel_regularizer=keras.regularizers.L2(l2),
        )(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    deep = keras.layers.Dense(task.n_outputs)(x)
    logits = keras.layers.Add()([wide, deep])
    outputs = keras.layers.Activation(task.output_activation or "linear")(logits)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=keras.optimizers.Adam(learning_rate), loss=task.loss)
    return model
