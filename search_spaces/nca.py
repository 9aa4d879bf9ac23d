"""A retrieval model: it predicts from the training rows nearest to the query in a
learned space (ModernNCA, Ye et al. 2025, "Revisiting Nearest Neighbor for Tabular
Data: A Deep Tabular Baseline Two Decades Later"; TabR, Gorishniy et al. 2024).

- An encoder (periodic numeric embeddings, "PLR", then a linear map and residual
  blocks) maps every row to a point;
- the model holds its training rows (:class:`~autokeras_lab.layers.CandidateMemory`,
  filled before training, at most ``MEMORY_ROWS`` of them, drawn at random above
  that) and predicts the mean of their targets weighted by the softmax of minus each
  one's distance to the query (:class:`~autokeras_lab.layers.NeighbourVote`): class
  frequencies for a classifier;
- it learns the encoder by leaving each training row out of its own vote, among a
  random share of the rows drawn each step (``candidate_rate``), the only rows the
  step encodes besides its batch;
- AdamW with a cosine decay of the learning rate, as ``plr_mlp``.

Its errors differ from an MLP's: it interpolates between the rows it has seen, as a
nearest-neighbour model does, where an MLP fits one smooth function. A step costs
the encoding of the rows drawn besides the batch's, so it is for tables of up to
some thousands of rows; above ``MEMORY_ROWS`` it votes among a sample of them.
"""

from __future__ import annotations

import keras
import keras_tuner as kt

from autokeras_lab.layers import CandidateMemory, NeighbourVote, periodic_embeddings
from autokeras_lab.spaces import Task, cosine_adamw
from autokeras_lab.types import OutputKind

DESCRIPTION = "ModernNCA retrieval: predicts from the nearest training rows in a learned space"
#: The most training rows a model holds (and encodes at every step).
MEMORY_ROWS = 4_096
#: The rows a model holds where the task does not say how many it trains on.
DEFAULT_MEMORY_ROWS = 256


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the network for ``task`` from the values in ``hp``."""
    blocks = hp.Int("blocks", 0, 2)
    width = hp.Int("width", 32, 512, sampling="log")
    dropout = hp.Float("dropout", 0.0, 0.4, step=0.05)
    candidate_rate = hp.Float("candidate_rate", 0.2, 1.0, step=0.1)
    optimizer = cosine_adamw(hp, task)

    rows_in = keras.Input(shape=(task.n_features,))
    x = keras.layers.Dense(width)(periodic_embeddings(hp, rows_in, task.numeric_inputs))
    for _ in range(blocks):
        h = keras.layers.Dense(width, activation="relu")(x)
        if dropout > 0:
            h = keras.layers.Dropout(dropout)(h)
        x = keras.layers.Add()([x, keras.layers.Dense(width)(h)])
    encoder = keras.Model(rows_in, x, name="encoder")

    inputs = keras.Input(shape=(task.n_features,))
    rows, targets, in_use = CandidateMemory(
        memory_rows(task), task.n_outputs, one_hot=task.kind is OutputKind.MULTICLASS,
        sample_rate=candidate_rate)(inputs)
    outputs = NeighbourVote(probabilities=task.kind is not OutputKind.REGRESSION)(
        [encoder(inputs), encoder(rows), targets, in_use, inputs, rows])
    model = keras.Model(inputs, outputs)
    model.compile(optimizer=optimizer, loss=task.loss)
    return model


def memory_rows(task: Task) -> int:
    """How many training rows a model for ``task`` holds: every row it trains on, up
    to :data:`MEMORY_ROWS`."""
    return min(task.data_rows or DEFAULT_MEMORY_ROWS, MEMORY_ROWS)
