"""Two model families in one search: ``plr_mlp``'s MLPs and ``nca``'s retrieval models.

Each trial is one or the other (the hyperparameter ``family``); the sampler learns
which family, and which of its settings, does well on the table, and the ensemble
chosen at the end may hold both. They share the names and ranges of the settings
they have in common (width, dropout, learning rate, weight decay, batch size, the
numeric embeddings); each family's own settings are inactive in the other's trials.

A retrieval model errs differently from an MLP (it interpolates between the rows it
holds; an MLP fits one smooth function), which is what an ensemble needs from its
members. A table with more rows than a retrieval model holds
(:data:`search_spaces.nca.MEMORY_ROWS`) gets MLPs only.
"""

from __future__ import annotations

from collections.abc import Callable

import keras
import keras_tuner as kt

from autokeras_lab.spaces import Task
from search_spaces import nca, plr_mlp

DESCRIPTION = "plr_mlp and nca in one search: each trial an MLP or a retrieval model"
FAMILIES: dict[str, Callable[[kt.HyperParameters, Task], keras.Model]] = {
    "plr_mlp": plr_mlp.build_model,
    "nca": nca.build_model,
}


def build_model(hp: kt.HyperParameters, task: Task) -> keras.Model:
    """Build and compile the network of the trial's family for ``task``."""
    families = list(FAMILIES) if task.data_rows <= nca.MEMORY_ROWS else ["plr_mlp"]
    return FAMILIES[hp.Choice("family", families)](hp, task)
