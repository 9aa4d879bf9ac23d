"""A search space whose every trial fails (a hopeless learning-rate range): the
search must stop after a few failures in a row instead of burning its budget."""

import keras

DESCRIPTION = "test space: every trial's loss blows up"


def build_model(hp, task):
    learning_rate = hp.Float("learning_rate", 1e10, 1e12, sampling="log")
    hp.Choice("batch_size", [32])
    model = keras.Sequential([
        keras.Input((task.n_features,)),
        keras.layers.Dense(8, activation="relu"),
        keras.layers.Dense(task.n_outputs, activation=task.output_activation),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=task.loss)
    return model
