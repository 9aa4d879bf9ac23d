"""An MLP with the recipe of recent tabular deep learning.

- Periodic numeric embeddings with a linear layer and ReLU on top ("PLR", Gorishniy
  et al. 2022): each numeric input becomes sines and cosines of trainable
  frequencies, so the network fits sharp and periodic effects of a single feature
  easily (the embedding itself is a hyperparameter: on or off); one-hot categories
  and booleans pass it by;
- RealMLP's scaling layer on what the embedding gives (Holzmüller et al. 2024): a
  learnable scale per input, learning six times as fast as the dense layers;
- one width for all hidden layers (as RealMLP and TabM use), dropout;
- AdamW (decoupled weight decay) with a cosine decay of the learning rate over the
  run's epochs (RealMLP, Holzmüller et al. 2024; TabM, Gorishniy et al. 2025).
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.layers import FeatureScale, periodic_embeddings
from autokeras_lab.spaces import Task, cosine_adamw

DESCRIPTION = ("MLP with periodic numeric embeddings (PLR), a scaling layer, AdamW, cosine "
               "learning-rate decay")


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the network for ``task`` from the values in ``hp``."""
    depth = hp.Int("num_layers", 1, 4)
    width = hp.Int("width", 32, 512, sampling="log")
    activation = hp.Choice("activation", ["relu", "gelu", "silu"])
    dropout = hp.Float("dropout", 0.0, 0.4, step=0.05)
    optimizer = cosine_adamw(hp, task)

    inputs = keras.Input(shape=(task.n_features,))
    x = FeatureScale()(periodic_embeddings(hp, inputs, task.numeric_inputs))
    for _ in range(depth):
        x = keras.layers.Dense(width, activation=activation)(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(x)
    model = keras.Model(inputs, outputs)

    model.compile(optimizer=optimizer, loss=task.loss)
    return model
