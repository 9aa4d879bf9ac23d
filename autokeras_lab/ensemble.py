"""Ensembles of trained models: greedy selection on held-out predictions, and one
Keras model that averages its members by weight.

Selection is Caruana et al.'s (2004) forward selection with replacement, as
auto-sklearn and AutoGluon use it: start empty, add the model that most improves
the averaged predictions on the validation rows, repeat, and keep the best prefix.
A model picked k times of n gets weight k/n. The first pick is the best single
model, so the ensemble is never worse than it on the rows it was chosen on.

The averaging model is built from stock Keras layers only (the members as nested
models, fixed non-trainable ``Dense`` layers that pick each member's block of
inputs and weigh the outputs), so it saves to one ``.keras`` file and loads in
safe mode.

Example:
    >>> import numpy as np
    >>> y = np.array([0.0, 1.0, 2.0, 3.0])
    >>> predictions = {"a": y + 0.5, "b": y - 0.5, "c": y + 2.0}
    >>> rmse = lambda p: float(np.sqrt(np.mean((p.reshape(-1) - y) ** 2)))
    >>> select_ensemble(predictions, rmse, rounds=10).weights
    {'a': 0.5, 'b': 0.5}
"""

from __future__ import annotations

import functools
from collections import Counter
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from autokeras_lab.data import Preprocessor
from autokeras_lab.spaces import Task
from autokeras_lab.types import OutputKind

__all__ = [
    "UNCALIBRATED", "Calibration", "Member", "Selection", "apply_temperature",
    "cross_selected", "fit_calibration", "select_ensemble", "uniform_share",
    "weighted_average",
]


@dataclass(frozen=True)
class Selection:
    """The chosen ensemble.

    Attributes:
        weights: Member key to weight (they sum to 1), best first.
        value: The ensemble's score on the selection rows (lower is better).
        first: The first pick: the best single model there.
        single: Its score.
    """

    weights: dict[str, float]
    value: float
    first: str
    single: float

    @property
    def improves(self) -> bool:
        """More than one member, and better than the best single model."""
        return len(self.weights) > 1 and self.value < self.single


def select_ensemble(
    predictions: dict[str, np.ndarray],
    score: Callable[[np.ndarray], float],
    *,
    rounds: int,
    admissible: Callable[[frozenset[str]], bool] | None = None,
) -> Selection:
    """Greedy forward selection with replacement (Caruana et al. 2004).

    Args:
        predictions: Each candidate's outputs on the same selection rows (values, or
            class probabilities), in rank order (ties go to the earlier one).
        score: Lower is better: the metric of averaged outputs on those rows.
        rounds: Models added, repeats counted.
        admissible: Whether an ensemble of these members may be handed over (an
            inference budget); a candidate whose addition is not is passed over, and
            selection ends when none is left. Each candidate alone must be.
    """
    if not predictions:
        raise ValueError("select_ensemble needs at least one candidate")
    keys = list(predictions)
    stacked = np.stack([np.asarray(predictions[k], dtype=np.float64) for k in keys])
    total = np.zeros_like(stacked[0])
    counts: Counter[str] = Counter()
    best_value, single, first = np.inf, np.inf, keys[0]
    best_counts: Counter[str] = Counter()
    for step in range(1, max(1, rounds) + 1):
        allowed = [admissible is None or key in counts
                   or admissible(frozenset(counts) | {key}) for key in keys]
        if not any(allowed):
            break
        scores = [score((total + candidate) / step) if ok else np.inf
                  for candidate, ok in zip(stacked, allowed, strict=True)]
        pick = int(np.argmin(scores))
        total += stacked[pick]
        counts[keys[pick]] += 1
        if step == 1:
            single, first = scores[pick], keys[pick]
        if scores[pick] < best_value:
            best_value, best_counts = scores[pick], counts.copy()
    n = sum(best_counts.values())
    weights = {k: c / n for k, c in sorted(best_counts.items(), key=lambda kv: -kv[1])}
    return Selection(weights=weights, value=float(best_value), first=first,
                     single=float(single))


def cross_selected(
    predictions: dict[str, np.ndarray],
    parts: Sequence[np.ndarray],
    score: Callable[[np.ndarray, list[np.ndarray]], float],
    *,
    rounds: int,
) -> np.ndarray:
    """The candidates' averaged outputs where each part's rows get the ensemble that
    selection chooses on the other parts' rows: outputs no selection saw.

    A selection's value on the rows it chose on is optimistic (of many candidates it
    kept the ones that happened to fit those rows); scored, these outputs say what
    choosing is worth on rows it did not see (nested cross-validation of the choice).

    Args:
        predictions: As for :func:`select_ensemble`, on every row.
        parts: Disjoint row indices covering the rows (at least two).
        score: Lower is better: the metric of outputs on the given parts' rows, the
            outputs in those parts' order.
        rounds: As for :func:`select_ensemble`; ``1`` chooses the best single model.
    """
    if len(parts) < 2:
        raise ValueError("cross_selected needs at least two parts")
    keys = list(predictions)
    outputs = np.zeros_like(np.asarray(predictions[keys[0]], dtype=np.float64))
    for j, part in enumerate(parts):
        others = [p for i, p in enumerate(parts) if i != j]
        rows = np.concatenate(others)
        chosen = select_ensemble({k: np.asarray(predictions[k])[rows] for k in keys},
                                 functools.partial(_scored_on, score, others), rounds=rounds)
        outputs[part] = sum(w * np.asarray(predictions[k])[part]
                            for k, w in chosen.weights.items())
    return outputs


def _scored_on(score: Callable[[np.ndarray, list[np.ndarray]], float],
               on: list[np.ndarray], output: np.ndarray) -> float:
    return score(output, on)


def apply_temperature(probabilities: np.ndarray, temperature: float) -> np.ndarray:
    """Temperature scaling, as :class:`~autokeras_lab.layers.Calibrate` does it: one
    column is a binary probability, ``sigmoid(logit(p) / T)``; several are class
    probabilities, ``softmax(log(p) / T)``. ``T < 1`` sharpens, ``T > 1`` softens."""
    p = np.clip(np.asarray(probabilities, dtype=np.float64), 1e-7, 1 - 1e-7)
    if p.shape[-1] == 1:
        return 1 / (1 + np.exp(-(np.log(p) - np.log1p(-p)) / temperature))
    logits = np.log(p) / temperature
    logits -= logits.max(axis=-1, keepdims=True)
    e = np.exp(logits)
    return e / e.sum(axis=-1, keepdims=True)


@dataclass(frozen=True)
class Calibration:
    """How a classifier's probabilities are corrected before they are handed over:
    scaled by a ``temperature`` (see :func:`apply_temperature`), then mixed with the
    uniform distribution by ``floor``, so that no class gets less than ``floor / K``.
    The identity (1, 0) for regression."""

    temperature: float = 1.0
    floor: float = 0.0

    @property
    def identity(self) -> bool:
        return self.temperature == 1.0 and self.floor == 0.0

    def apply(self, probabilities: np.ndarray) -> np.ndarray:
        """What the :class:`~autokeras_lab.layers.Calibrate` layer computes, in NumPy
        (the identity's outputs as they are: regression's too)."""
        if self.identity:
            return probabilities
        p = apply_temperature(probabilities, self.temperature)
        return (1 - self.floor) * p + self.floor / _n_classes(p)


#: Outputs as they are: regression, and a classifier without outputs to fit on.
UNCALIBRATED = Calibration()


def _n_classes(p: np.ndarray) -> int:
    return 2 if p.shape[-1] == 1 else p.shape[-1]


def fit_calibration(probabilities: np.ndarray, y: np.ndarray) -> Calibration:
    """The :class:`Calibration` of ``probabilities`` (an ensemble's average, or a lone
    trial's bag) fitted on labels ``y``.

    The temperature (0.05 to 20) is the one that minimises their log loss, 1 when
    nothing is gained (Guo et al. 2017): averaging members makes an ensemble less
    confident than it should be, and a bag whose every row is right more confident
    than its probabilities say.

    The floor is the share ``w`` of the uniform distribution mixed in after,
    ``(1 - w) p + w / K``: a neural network can rule a class out with a probability of
    1e-7 inside a region of another class, and a held-out row of that class then
    costs 16 nats of log loss. How often that happens the rows fitted on seldom show
    (on ten breast cancer searches, never: no out-of-fold probability for the true
    class went below 1.7e-4, while held-out rows got 1e-7), so ``w`` is not the one
    that fits them best (that is 0 wherever they hold no such row) but the mean of
    its posterior over them, from a uniform prior: what ``n`` rows can rule out and no
    more. Where every row is right and sure it is about ``K / ((K - 1) n)``, Laplace's
    add-one rule for two classes, and each right row pays about ``1 / n`` nats for it;
    rows the model gets badly wrong raise it. A held-out row given 1e-7 then costs
    about ``log((K - 1) n)``, 6 nats for 500 rows and two classes.
    """
    from scipy.optimize import minimize_scalar

    p = np.asarray(probabilities, dtype=np.float64)
    labels = np.asarray(y).reshape(-1).astype(int)

    def log_loss(log_t: float) -> float:
        p_true = _p_true(apply_temperature(p, float(np.exp(log_t))), labels)
        return float(-np.mean(np.log(np.clip(p_true, 1e-15, 1))))

    found = minimize_scalar(log_loss, bounds=(np.log(0.05), np.log(20.0)), method="bounded")
    temperature = float(np.exp(found.x)) if found.fun < log_loss(0.0) else 1.0
    p_true = _p_true(apply_temperature(p, temperature), labels)
    return Calibration(temperature, uniform_share(p_true, _n_classes(p)))


def _p_true(p: np.ndarray, labels: np.ndarray) -> np.ndarray:
    """Each row's probability for its true class (one column: a binary probability)."""
    if p.shape[-1] == 1:
        return np.where(labels == 1, p[:, 0], 1 - p[:, 0])
    return p[np.arange(len(labels)), labels]


#: Where :func:`uniform_share` integrates its posterior: 0, then 1e-9 to 1 in steps
#: of 11 % (the posterior is smooth in log w: five times as many points change the
#: share in the sixth digit, and a million rows take about 2 s).
_SHARES = np.concatenate([[0.0], np.geomspace(1e-9, 1.0, 200)])


def uniform_share(p_true: np.ndarray, k: int, *, chunk: int = 20_000) -> float:
    """The posterior mean of ``w`` in the mixture ``(1 - w) p + w / k``, from a uniform
    prior on ``w``, given each row's probability for its true class ``p_true``: the
    Bayes estimate of how much of the uniform distribution ``k`` classes' probabilities
    need (see :func:`fit_calibration`). ``chunk`` rows at a time bound the memory."""
    p_true = np.clip(np.asarray(p_true, dtype=np.float64).reshape(-1), 1e-15, 1)
    w = _SHARES[:, None]
    log_likelihood = np.zeros(len(_SHARES))
    for start in range(0, len(p_true), chunk):
        rows = p_true[None, start:start + chunk]
        log_likelihood += np.log((1 - w) * rows + w / k).sum(axis=1)
    density = np.exp(log_likelihood - log_likelihood.max())
    return float(np.trapezoid(_SHARES * density, _SHARES) / np.trapezoid(density, _SHARES))


@dataclass(frozen=True)
class Member:
    """One model of an ensemble: its weight and the input transform it was trained on."""

    model: Any
    weight: float
    transform: str


def weighted_average(
    members: Sequence[Member], *, preprocessor: Preprocessor, task: Task,
    calibration: Calibration = UNCALIBRATED,
) -> tuple[Any, Preprocessor]:
    """One Keras model whose output is the members' outputs averaged by weight
    (probabilities for classification, corrected by ``calibration``: see
    :func:`fit_calibration`), and the preprocessing it takes: one block of inputs per
    input transform the members use. A single member of weight 1 (uncalibrated) is
    returned as it is."""
    import keras

    transforms = tuple(dict.fromkeys(m.transform for m in members))
    pre = preprocessor.with_transforms(*transforms)
    if len(members) == 1 and calibration.identity:
        return members[0].model, pre
    width, n_out = pre.n_inputs, task.n_outputs
    inputs = keras.Input(shape=(width * len(transforms),), name="inputs")
    blocks = {transforms[0]: inputs}
    if len(transforms) > 1:
        blocks = {t: _fixed_dense(inputs, _block_picker(i, width, len(transforms)),
                                  name=f"inputs_{t}") for i, t in enumerate(transforms)}
    outputs = []
    for i, member in enumerate(members):
        model = member.model
        # its own name: two members must not clash, whatever the model was called
        wrapped = keras.Model(model.inputs[0], model.outputs[0], name=f"member_{i}")
        outputs.append(wrapped(blocks[member.transform]))
    kernel = np.concatenate([m.weight * np.eye(n_out) for m in members], axis=0)
    joined = keras.layers.Concatenate(name="members")(outputs) if len(outputs) > 1 else outputs[0]
    averaged = _fixed_dense(joined, kernel, name="weighted_average")
    if not calibration.identity and task.kind is not OutputKind.REGRESSION:
        from autokeras_lab.layers import Calibrate

        averaged = Calibrate(calibration.temperature, calibration.floor,
                             name="calibration")(averaged)
    ensemble = keras.Model(inputs, averaged, name="ensemble")
    ensemble.compile(loss=task.loss)
    return ensemble, pre


def _block_picker(index: int, width: int, blocks: int) -> np.ndarray:
    kernel = np.zeros((width * blocks, width))
    kernel[index * width : (index + 1) * width] = np.eye(width)
    return kernel


def _fixed_dense(x: Any, kernel: np.ndarray, *, name: str) -> Any:
    """``x @ kernel`` as a frozen Dense layer (stock Keras: safe to load)."""
    import keras

    layer = keras.layers.Dense(kernel.shape[1], use_bias=False, trainable=False, name=name)
    out = layer(x)
    layer.set_weights([kernel.astype(np.float32)])
    return out
