"""An MLP with the recipe of recent tabular deep learning.

- Periodic numeric embeddings with a linear layer and ReLU on top ("PLR", Gorishniy
  et al. 2022): each input becomes sines and cosines of trainable frequencies, so
  the network fits sharp and periodic effects of a single feature easily (the
  embedding itself is a hyperparameter: on or off);
- RealMLP's scaling layer on what the embedding gives (Holzmüller et al. 2024): a
  learnable scale per input, learning six times as fast as the dense layers;
- one width for all hidden layers (as RealMLP and TabM use), dropout;
- AdamW (decoupled weight decay) with a cosine decay of the learning rate over the
  run's epochs (RealMLP, Holzmüller et al. 2024; TabM, Gorishniy et al. 2025);
- on a large table, two default configurations a search trains first
  (:func:`default_configs`).
"""

from __future__ import annotations

from typing import Any

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
    x = FeatureScale()(periodic_embeddings(hp, inputs))
    for _ in range(depth):
        x = keras.layers.Dense(width, activation=activation)(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    outputs = keras.layers.Dense(task.n_outputs, activation=task.output_activation)(x)
    model = keras.Model(inputs, outputs)

    model.compile(optimizer=optimizer, loss=task.loss)
    return model


def default_configs(task: Task) -> list[dict[str, Any]]:
    """What a search on a large table trains first, one network per CPU of a small
    machine: a small network as RealMLP's defaults shape it (SiLU, dropout 0.1, a small
    weight decay, frequencies at scale 0.1) and a wider one as TabM's (three ReLU
    layers, a rate of 2e-3 and a weight decay of 3e-4, 48 frequencies,
    quantile-transformed inputs), at widths and batches that train quickly on a CPU.

    Only where batches grow with the table (:attr:`Task.batch_scale`, above 8,192
    rows): there a 300 s search finishes a dozen trials, and the sampler's
    random start-up would be the whole search, its first wide trials half of it. On a
    smaller table a search finishes dozens, and its start-up's one wide network is
    the ensemble's most valuable member: defaults first cost concrete 0.07 MPa
    (docs/benchmarks.md, "Lever 22"). Neither was tuned on a benchmark table."""
    if task.batch_scale == 1:
        return []
    rate, (small, large) = task.learning_rate_scale, task.batch_sizes(32, 128)
    embedding = {"embedding": True, "embedding_dim": 16}
    return [
        {"num_layers": 2, "width": 64, "activation": "silu", "dropout": 0.1,
         "weight_decay": 1e-5, "learning_rate": 1e-3 * rate, "batch_size": small,
         **embedding, "frequencies": 16, "frequency_scale": 0.1,
         "input_transform": "standard"},
        {"num_layers": 3, "width": 256, "activation": "relu", "dropout": 0.1,
         "weight_decay": 3e-4, "learning_rate": 2e-3 * rate, "batch_size": large,
         **embedding, "frequencies": 48, "frequency_scale": 0.1,
         "input_transform": "quantile"},
    ]
