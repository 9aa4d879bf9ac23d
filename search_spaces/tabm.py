"""TabM-mini: an ensemble of MLPs trained as one model (Gorishniy et al. 2025, "TabM:
Advancing Tabular Deep Learning with Parameter-Efficient Ensembling").

- ``MEMBERS`` (32) MLPs share every hidden layer. Each member sees the input scaled
  by its own vector of signs-at-start (:class:`~autokeras_lab.layers.EnsembleInput`)
  and has its own output head; each is trained on its own loss
  (:class:`~autokeras_lab.layers.MemberLoss`), and the model predicts their mean;
- periodic numeric embeddings ("PLR") before the members, as in the paper's best
  variant, TabM-mini with embeddings;
- AdamW with a cosine decay of the learning rate, as ``plr_mlp``.

Its members cost compute, not parameters: a step trains 32 rows for each row of a
batch, so a trial is slower than ``plr_mlp``'s and a search at a fixed budget tries
fewer of them.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.layers import EnsembleInput, EnsembleOutput, MemberLoss, periodic_embeddings
from autokeras_lab.spaces import Task, cosine_adamw

DESCRIPTION = "TabM-mini: 32 MLPs sharing their layers in one model (PLR embeddings, AdamW)"
MEMBERS = 32


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the network for ``task`` from the values in ``hp``."""
    depth = hp.Int("num_layers", 1, 4)
    width = hp.Int("width", 64, 512, sampling="log")
    dropout = hp.Float("dropout", 0.0, 0.4, step=0.05)
    optimizer = cosine_adamw(hp, task)

    inputs = keras.Input(shape=(task.n_features,))
    x = periodic_embeddings(hp, inputs, task.numeric_inputs)
    x = EnsembleInput(MEMBERS)(x)
    for _ in range(depth):
        x = keras.layers.Dense(width, activation="relu")(x)
        if dropout > 0:
            x = keras.layers.Dropout(dropout)(x)
    outputs = EnsembleOutput(task.n_outputs, activation=task.output_activation)(x)
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=optimizer, loss=MemberLoss(task.loss))
    return model
