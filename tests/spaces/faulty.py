"""A search space whose trials fail in the ways real ones do, for the fault tests.

``fault`` picks the failure: none, an exception in this module, a loss that blows
up (a huge learning rate on unscaled weights), or a model far too large for memory.
"""

import keras

DESCRIPTION = "test space: trials that fail on purpose"


def build_model(hp, task):
    fault = hp.Choice("fault", ["none", "exception", "nan", "huge"])
    hp.Choice("batch_size", [32])
    if fault == "exception":
        raise RuntimeError("bug in the search-space module")
    units = 2**21 if fault == "huge" else 8  # 2**21 x 2**21 floats: 16 TiB
    learning_rate = 1e12 if fault == "nan" else 1e-3
    model = keras.Sequential([
        keras.Input((task.n_features,)),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(units, activation="relu"),
        keras.layers.Dense(task.n_outputs, activation=task.output_activation),
    ])
    model.compile(optimizer=keras.optimizers.SGD(learning_rate), loss=task.loss)
    return model


