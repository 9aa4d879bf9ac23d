"""Many small models of one architecture trained as one: a graph call per epoch.

A tabular trial's model is so small that a training step costs dispatch, not
arithmetic: about ten times the step's arithmetic on concrete. The K fold models of a
``--cv K`` trial and the S seeds of a configuration in ``retrain`` all share one
architecture, so they are trained *packed*: every variable is stacked along a new
leading axis of size K, the model's own forward pass runs on each slice through
``model.stateless_call`` under ``tf.vectorized_map`` (one batched matmul where there
were K matmuls), and one optimizer of the model's own kind and settings updates the
stacked variables. Each model keeps its own weights, optimizer state (the updates of
Adam, AdamW, SGD and kin are element-wise, so a stacked slot is K separate slots),
training rows, data order, dropout masks and best epoch; nothing in a search-space
module changes.

Every epoch's training rows are gathered from the arrays where they lie (for a trial,
Ray's object store, read in place) and handed to the graph: a trial copies one
epoch's rows, never the table. Which rows an epoch takes is :class:`RowStream`'s:
one whole pass over the rows, or on a large table the next ``epoch_rows`` of them.

A model whose optimizer keeps a moving average of its weights (Keras' ``use_ema``)
is judged and handed over on that average, as ``model.fit`` would end with it: each
epoch's validation output and :meth:`Training.weights` are the averaged weights, and
:meth:`Training.sync` leaves the models holding them. Training itself goes on from the
raw weights, which :meth:`Training.states` keeps (with the average among the optimizer's
variables) for a checkpoint to resume from.

Adam and AdamW (every built-in space's optimizer) update the stacked variables fused
(:func:`fused_adam`): the decoupled weight decay and TensorFlow's Adam kernel, one op a
variable, where Keras' ``apply`` computes the learning rate and the moment updates as
a dozen element-wise ops a variable, each a pass over it. The arithmetic is Keras'
own; a wide network's epoch takes about a third less time (scripts/benchmark_epoch.py).

Where a model cannot be packed (an op with no vectorized form, an optimizer that
clips by a norm, which would span all K models, a loss that is not one function),
:func:`train_together` falls back to training the models one after another, and says
why in one line (:class:`Sequential`).

Exactness: with dropout off, the same initial weights and the same data order, packed
and one-after-another training give the same weights within float tolerance
(tests/test_packing.py). Dropout masks are drawn from each model's own seed
generator, but as slices of one draw, so they differ from the masks an unpacked model
would draw: the same distribution, not the same numbers. Folds whose training rows
differ in count by one end an epoch with batches of different sizes, which a mask
handles exactly; in the rare epoch where that leaves one model no row in its last
step, that model's optimizer still takes the (zero-gradient) step.
"""

from __future__ import annotations

import math
import re
import sys
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np

from autokeras_lab.data import Arrays

__all__ = [
    "Packed", "RowStream", "Sequential", "Training", "Unpackable", "compiled_epoch",
    "fused_adam", "in_batches", "train_together",
]


class Unpackable(Exception):
    """The models cannot be packed; the message says why."""


class Training(Protocol):
    """K models training side by side, each on its own data."""

    models: list[Any]

    @property
    def packed(self) -> bool:
        """Whether the models train packed (false: one after another)."""

    def run_epoch(self) -> tuple[list[float], list[np.ndarray]]:
        """One epoch of every model: their training losses and their outputs on
        their validation rows (empty where the data have none)."""

    def weights(self) -> list[list[np.ndarray]]:
        """Every model's weights, as ``model.get_weights()`` orders them (averaged,
        where the optimizer keeps an average)."""

    def states(self) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        """Every model's ``(raw weights, optimizer variables)``, for a checkpoint."""

    def sync(self) -> None:
        """Bring the Keras models up to date (before they are used or saved): they
        hold :meth:`weights`."""


def train_together(
    models: list[Any], datas: Sequence[Arrays], batch: int, *,
    order_seeds: Sequence[int | None], first_epoch: int = 1, pack: bool = True,
    epoch_rows: int = 0, remember_rows: bool = True,
) -> Training:
    """Train ``models[k]`` on ``datas[k]``: packed where possible (two models or more,
    ``pack``), else one after another, with one line on stderr naming the reason
    (once per process: a worker trains many trials).

    Each model must be compiled and its optimizer built; ``datas[k]`` holds
    ``x_train``, ``y_train``, optional ``w_train`` and ``x_val``. Model k's epochs
    are the stretches of rows that :class:`RowStream` gives for ``order_seeds[k]``
    and ``epoch_rows`` (0: every row, each epoch), counted from ``first_epoch``.
    A retrieval model first takes ``datas[k]``'s training rows into its memory
    (:func:`autokeras_lab.layers.remember`): it predicts from the rows it trains on;
    ``remember_rows=False`` keeps the rows it holds (a model trained further).
    """
    from autokeras_lab.layers import remember  # imports Keras, as the models have

    for model, data, seed in zip(models, datas, order_seeds, strict=True):
        if remember_rows:
            remember(model, data["x_train"], data["y_train"], seed=seed or 0)

    def one_after_another() -> Sequential:
        return Sequential(models, datas, batch, order_seeds=order_seeds,
                          first_epoch=first_epoch, epoch_rows=epoch_rows)

    if pack and len(models) > 1:
        def fall_back(why: str) -> Sequential:
            line = f"autokeras_lab: training {len(models)} models one after another, " \
                   f"not packed: {why}"
            if line not in _said:
                _said.add(line)
                print(line, file=sys.stderr, flush=True)
            return one_after_another()

        try:
            return _FirstEpochGuard(Packed(models, datas, batch, order_seeds=order_seeds,
                                           first_epoch=first_epoch, epoch_rows=epoch_rows),
                                    fall_back)
        except Unpackable as why:
            return fall_back(str(why))
    return one_after_another()


_said: set[str] = set()


class Sequential:
    """The models one after another, each epoch one compiled call per model (the
    fallback, and the way a single model trains)."""

    packed = False

    def __init__(self, models: list[Any], datas: Sequence[Arrays], batch: int, *,
                 order_seeds: Sequence[int | None], first_epoch: int = 1,
                 epoch_rows: int = 0) -> None:
        self.models = models
        self._epochs = [compiled_epoch(m, d, batch, order_seed=seed, epoch_rows=epoch_rows)
                        for m, d, seed in zip(models, datas, order_seeds, strict=True)]
        self._has_val = [d.get("x_val") is not None for d in datas]
        self._number = first_epoch

    def run_epoch(self) -> tuple[list[float], list[np.ndarray]]:
        losses, outputs = [], []
        number, self._number = self._number, self._number + 1
        for run, has_val in zip(self._epochs, self._has_val, strict=True):
            loss, output = run(number)
            losses.append(float(loss))
            if has_val:
                outputs.append(output.numpy())
        return losses, outputs

    def weights(self) -> list[list[np.ndarray]]:
        return [_used_weights(m) for m in self.models]

    def states(self) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        return [(m.get_weights(), [v.numpy() for v in m.optimizer.variables])
                for m in self.models]

    def sync(self) -> None:
        for model in self.models:
            if _averages(model) is not None:
                model.optimizer.finalize_variable_values(model.trainable_variables)


class _FirstEpochGuard:
    """Packed training that falls back if its first epoch fails: some ops trace in
    vectorized form but refuse the stacked shapes only when they run. Nothing is lost:
    the Keras models keep their starting state until :meth:`Packed.sync`."""

    def __init__(self, packed: Packed, fall_back: Callable[[str], Sequential]) -> None:
        self._current: Packed | Sequential = packed
        self._fall_back = fall_back
        self._tried = False
        self.models = packed.models

    @property
    def packed(self) -> bool:
        return self._current.packed

    def run_epoch(self) -> tuple[list[float], list[np.ndarray]]:
        if self._tried:
            return self._current.run_epoch()
        self._tried = True
        import tensorflow as tf

        try:
            return self._current.run_epoch()
        except tf.errors.InvalidArgumentError as error:
            self._current = self._fall_back(_reason(error))
            return self._current.run_epoch()

    def weights(self) -> list[list[np.ndarray]]:
        return self._current.weights()

    def states(self) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        return self._current.states()

    def sync(self) -> None:
        self._current.sync()


class Packed:
    """K models of one architecture as stacked variables (see the module doc).

    Raises:
        Unpackable: the models cannot be packed (the message says why).
    """

    packed = True

    def __init__(self, models: list[Any], datas: Sequence[Arrays], batch: int, *,
                 order_seeds: Sequence[int | None], first_epoch: int = 1,
                 epoch_rows: int = 0) -> None:
        import keras
        import tensorflow as tf

        self.models = models
        first = models[0]
        self._check(models)
        _register_random_converters()
        self._per_row_loss = _per_row_loss(first.loss)
        # Where each of model.weights lives among the stacked variables.
        places = {id(v): ("t", i) for i, v in enumerate(first.trainable_variables)}
        places |= {id(v): ("n", i) for i, v in enumerate(first.non_trainable_variables)}
        self._weight_places = [places[id(v)] for v in first.weights]

        def stack(index: int, group: str) -> np.ndarray:
            return np.stack([getattr(m, group)[index].numpy() for m in models])

        self._trainable = [
            keras.Variable(stack(i, "trainable_variables"), name=v.name, dtype=v.dtype)
            for i, v in enumerate(first.trainable_variables)
        ]
        self._state = [
            keras.Variable(stack(i, "non_trainable_variables"), name=v.name, dtype=v.dtype,
                           trainable=False)
            for i, v in enumerate(first.non_trainable_variables)
        ]
        optimizer = first.optimizer.__class__.from_config(first.optimizer.get_config())
        optimizer.build(self._trainable)
        for j, variable in enumerate(optimizer.variables):
            values = [m.optimizer.variables[j].numpy() for m in models]
            variable.assign(values[0] if tuple(variable.shape) == values[0].shape
                            else np.stack(values))
        self._optimizer = optimizer
        self._apply = fused_adam(optimizer) or optimizer.apply
        self._averages = _averages(first, optimizer)
        self._feed = _Feed(datas, list(order_seeds), epoch_rows)
        self._epoch = self._compile(datas, batch, tf)
        self._number = first_epoch
        try:  # trace now: an op with no vectorized form shows itself here
            self._epoch.get_concrete_function(*self._feed.specs(tf))
        except (ValueError, NotImplementedError, TypeError) as error:
            raise Unpackable(_reason(error)) from error

    @staticmethod
    def _check(models: list[Any]) -> None:
        first = models[0]
        try:
            inputs, outputs = len(first.inputs), len(first.outputs)
        except AttributeError:  # a Sequential model without an Input builds on first use
            inputs = outputs = 0
        if not inputs or not first.trainable_variables:
            raise Unpackable("the model has no weights before training (begin it with "
                             "keras.Input)")
        if inputs != 1 or outputs != 1:
            raise Unpackable("the model has several inputs or outputs")
        shapes = [tuple(v.shape) for v in first.weights]
        if any([tuple(v.shape) for v in m.weights] != shapes for m in models[1:]):
            raise Unpackable("the models differ in architecture")
        config = first.optimizer.get_config()
        for option in ("clipnorm", "global_clipnorm"):
            if config.get(option) is not None:
                raise Unpackable(f"the optimizer's {option} would span all the models")
        if config.get("gradient_accumulation_steps"):
            raise Unpackable("the optimizer accumulates gradients")

    def _compile(self, datas: Sequence[Arrays], bs: int, tf: Any) -> Any:
        """The epoch as one ``tf.function`` over all K models, fed each epoch's rows
        (see :class:`_Feed`)."""
        model, per_row_loss = self.models[0], self._per_row_loss
        steps = max(1, math.ceil(self._feed.width / bs))
        x_vals = [xs for d in datas if (xs := d.get("x_val")) is not None]
        has_val = len(x_vals) == len(datas)
        if has_val:
            self._val_rows = [len(xs) for xs in x_vals]
            xv = tf.constant(np.stack([_pad(xs, max(self._val_rows)) for xs in x_vals]))
        trainable, state, apply = self._trainable, self._state, self._apply
        judged = self._averages or trainable  # the weights the validation sees

        def one_step(args: tuple[Any, ...]) -> tuple[Any, Any, list[Any]]:
            weights, states, xb, yb, wb, valid = args
            out, new_states, losses = model.stateless_call(
                list(weights), list(states), xb, training=True, return_losses=True)
            per_row = tf.cast(per_row_loss(yb, out), tf.float32) * wb * valid
            rows = tf.reduce_sum(valid)
            loss = tf.math.divide_no_nan(tf.reduce_sum(per_row), rows)
            if losses:
                loss += tf.cast(tf.add_n([tf.reduce_sum(r) for r in losses]), tf.float32)
            return loss * tf.minimum(rows, 1.0), rows, list(new_states)

        def predict(args: tuple[Any, ...]) -> Any:
            weights, states, xb = args
            out, _ = model.stateless_call(list(weights), list(states), xb, training=False)
            return tf.cast(out, tf.float32)

        def vmap(fn: Callable[..., Any], elems: tuple[Any, ...]) -> Any:
            return tf.vectorized_map(fn, elems, fallback_to_while_loop=False, warn=False)

        @tf.function(input_signature=self._feed.specs(tf))
        def epoch(x: Any, y: Any, w: Any, valid_t: Any) -> Any:
            k_models = self._feed.models
            total, seen = tf.zeros([k_models]), tf.zeros([k_models])
            for i in tf.range(steps):
                rows = slice(i * bs, (i + 1) * bs)
                elems = ([v.value for v in trainable], [v.value for v in state],
                         x[:, rows], y[:, rows], w[:, rows], valid_t[:, rows])
                with tf.GradientTape() as tape:
                    losses, counted, new_states = vmap(one_step, elems)
                    summed = tf.reduce_sum(losses)
                grads = tape.gradient(summed, [v.value for v in trainable])
                apply(grads, trainable)
                for variable, value in zip(state, new_states, strict=True):
                    variable.assign(value)
                total += losses * counted
                seen += counted
            mean_loss = tf.math.divide_no_nan(total, seen)
            if not has_val:
                return mean_loss, mean_loss
            return mean_loss, in_batches(
                lambda part: vmap(predict, ([v.value for v in judged],
                                            [v.value for v in state], part)),
                xv, axis=1)

        return epoch

    def run_epoch(self) -> tuple[list[float], list[np.ndarray]]:
        number, self._number = self._number, self._number + 1
        losses, outputs = self._epoch(*self._feed.epoch(number))
        losses = [float(v) for v in losses.numpy()]
        if not hasattr(self, "_val_rows"):
            return losses, []
        stacked = outputs.numpy()
        return losses, [stacked[k, :rows] for k, rows in enumerate(self._val_rows)]

    def weights(self) -> list[list[np.ndarray]]:
        return self._unstacked(self._averages or self._trainable)

    def _unstacked(self, trainable_source: list[Any]) -> list[list[np.ndarray]]:
        trainable = [v.numpy() for v in trainable_source]
        state = [v.numpy() for v in self._state]
        return [[(trainable if group == "t" else state)[i][k]
                 for group, i in self._weight_places] for k in range(len(self.models))]

    def states(self) -> list[tuple[list[np.ndarray], list[np.ndarray]]]:
        slots = [v.numpy() for v in self._optimizer.variables]
        shapes = [tuple(v.shape) for v in self.models[0].optimizer.variables]
        return [
            (weights, [s if s.shape == shape else s[k] for s, shape in zip(slots, shapes,
                                                                              strict=True)])
            for k, weights in enumerate(self._unstacked(self._trainable))
        ]

    def sync(self) -> None:
        for model, (weights, slots) in zip(self.models, self.states(), strict=True):
            model.set_weights(weights)
            for variable, value in zip(model.optimizer.variables, slots, strict=True):
                variable.assign(value)
        state = [v.numpy() for v in self._state]  # seed generators too, not in weights
        for k, model in enumerate(self.models):
            for variable, value in zip(model.non_trainable_variables, state, strict=True):
                variable.assign(value[k])
            if self._averages is not None:
                model.optimizer.finalize_variable_values(model.trainable_variables)


def compiled_epoch(model: Any, data: Arrays, bs: int, *, order_seed: int | None = 0,
                   epoch_rows: int = 0) -> Callable[[int], Any]:
    """One epoch as one graph call: the epoch's rows (see :class:`RowStream`), all
    batches through the model's own ``train_step`` (its loss, regularisers and
    optimizer), then the validation output (or the loss again when ``data`` has no
    ``x_val``). Call it with the epoch's number.

    The training rows stay where they are (in Ray's object store, for a trial): each
    epoch takes a copy of its own rows only."""
    import tensorflow as tf

    feed = _Feed([data], [order_seed], epoch_rows)
    xv = tf.constant(data["x_val"]) if data.get("x_val") is not None else None
    if not model.optimizer.built and model.trainable_variables:
        model.optimizer.build(model.trainable_variables)
    # a model built on first use has no weights to average yet: judged on its own
    averages = _averages(model) if model.optimizer.built else None

    def judged(part: Any) -> Any:  # the model's output on the weights it is judged on
        if averages is None:
            return model(part, training=False)
        out, _ = model.stateless_call([a.value for a in averages],
                                      [v.value for v in model.non_trainable_variables],
                                      part, training=False)
        return out
    steps = max(1, math.ceil(feed.width / bs))

    @tf.function(input_signature=feed.specs(tf))
    def epoch(x: Any, y: Any, w: Any, valid: Any) -> Any:
        x, y, w = x[0], y[0], w[0]  # one model: every fed row is valid
        for metric in model.metrics:
            metric.reset_state()
        logs = {"loss": tf.constant(0.0)}
        for i in tf.range(steps):
            rows = slice(i * bs, (i + 1) * bs)
            step_data: tuple[Any, ...] = (x[rows], y[rows])
            if feed.weighted:
                step_data = (*step_data, w[rows])
            logs = model.train_step(step_data)
        loss = tf.cast(logs["loss"], tf.float32)
        if xv is None:
            return loss, loss
        return loss, in_batches(lambda part: tf.cast(judged(part), tf.float32), xv, axis=0)

    return lambda number: epoch(*feed.epoch(number))


VAL_BATCH = 8192  # validation rows through the model at once: bounds a trial's memory


def in_batches(fn: Callable[[Any], Any], x: Any, *, axis: int) -> Any:
    """``fn(x)``, computed on at most ``VAL_BATCH`` rows at a time (rows along ``axis``)
    and joined: a model's activations on a large validation set would otherwise take
    many times the set's own memory."""
    import tensorflow as tf

    rows = int(x.shape[axis])
    if rows <= VAL_BATCH:
        return fn(x)
    parts = []
    for start in range(0, rows, VAL_BATCH):
        part = x[start:start + VAL_BATCH] if axis == 0 else x[:, start:start + VAL_BATCH]
        parts.append(fn(part))
    return tf.concat(parts, axis)


class RowStream:
    """The rows one model trains on, epoch after epoch.

    The model goes through its ``n`` rows in passes, each pass in its own order (a
    stateless function of the seed and the pass's number, so packed and
    one-after-another training see the same rows, and a resumed trial the rows it
    would have seen); an epoch is the next ``epoch_rows`` rows of that stream. With
    ``epoch_rows`` 0 or at least ``n``, an epoch is one whole pass. On a large table
    an epoch is thus a sample of the rows, and the sample grows with the epochs: the
    scheduler's first rungs judge models that have seen a part of the table, and only
    the trials that go on see it all (multi-fidelity on rows). ``seed`` None: the rows
    in their own order.
    """

    def __init__(self, n: int, seed: int | None, epoch_rows: int = 0) -> None:
        self.n = n
        self.seed = seed
        self.rows = n if epoch_rows <= 0 else min(n, epoch_rows)
        self._cached: tuple[int, np.ndarray] | None = None

    def epoch(self, number: int) -> np.ndarray:
        """The row numbers of epoch ``number`` (counted from 1), in training order."""
        start, need, parts = (number - 1) * self.rows, self.rows, []
        while need > 0:
            pass_number, offset = divmod(start, self.n)
            taken = self._order(pass_number + 1)[offset:offset + need]
            parts.append(taken)
            need -= len(taken)
            start += len(taken)
        return parts[0] if len(parts) == 1 else np.concatenate(parts)

    def seen(self, epochs: int) -> int:
        """How many distinct rows the first ``epochs`` epochs have trained on."""
        return min(self.n, epochs * self.rows)

    def _order(self, pass_number: int) -> np.ndarray:
        if self._cached is None or self._cached[0] != pass_number:
            order = (np.arange(self.n) if self.seed is None else
                     np.random.default_rng([self.seed % 2**31, pass_number]).permutation(self.n))
            self._cached = (pass_number, order)
        return self._cached[1]


class _Feed:
    """Each epoch's training rows of K models, gathered from their arrays where they
    lie and stacked along a leading axis (shorter ones padded, with a mask)."""

    def __init__(self, datas: Sequence[Arrays], order_seeds: Sequence[int | None],
                 epoch_rows: int) -> None:
        self._datas = datas
        self._streams = [RowStream(len(d["x_train"]), seed, epoch_rows)
                         for d, seed in zip(datas, order_seeds, strict=True)]
        self.models = len(datas)
        self.width = max(s.rows for s in self._streams)
        self.weighted = any(d.get("w_train") is not None for d in datas)
        first = datas[0]["x_train"]
        self._x_shape, self._x_dtype = tuple(first.shape[1:]), first.dtype
        self._y_dtype = np.asarray(datas[0]["y_train"][:1]).dtype
        self._valid = np.stack([_pad(np.ones(s.rows, np.float32), self.width)
                                for s in self._streams])

    def specs(self, tf: Any) -> list[Any]:
        k, width = self.models, self.width
        return [tf.TensorSpec([k, width, *self._x_shape], tf.as_dtype(self._x_dtype)),
                tf.TensorSpec([k, width, 1], tf.as_dtype(self._y_dtype)),
                tf.TensorSpec([k, width], tf.float32),
                tf.TensorSpec([k, width], tf.float32)]

    def epoch(self, number: int) -> tuple[np.ndarray, ...]:
        xs, ys, ws = [], [], []
        for data, stream in zip(self._datas, self._streams, strict=True):
            rows = stream.epoch(number)
            xs.append(_pad(data["x_train"][rows], self.width))
            ys.append(_pad(np.reshape(data["y_train"], (-1, 1))[rows], self.width))
            given = data.get("w_train")
            ws.append(_pad(np.ones(len(rows), np.float32) if given is None
                           else given[rows].astype(np.float32), self.width))
        return np.stack(xs), np.stack(ys), np.stack(ws), self._valid


def _averages(model: Any, optimizer: Any = None) -> list[Any] | None:
    """The moving averages of ``model``'s trainable weights that its optimizer (or
    ``optimizer``, built on the same variables stacked) keeps with Keras' ``use_ema``,
    in the order of ``model.trainable_variables``; None where it keeps none."""
    optimizer = optimizer if optimizer is not None else model.optimizer
    if not getattr(optimizer, "use_ema", False):
        return None
    averages = list(getattr(optimizer, "_model_variables_moving_average", None) or [])
    if len(averages) != len(model.trainable_variables):
        raise ValueError("the optimizer's weight averages do not match the model's "
                         "weights: build the optimizer on model.trainable_variables")
    return averages


def fused_adam(optimizer: Any) -> Callable[[list[Any], list[Any]], None] | None:
    """``optimizer.apply`` for a plain Keras Adam or AdamW as one fused update a
    variable: the decoupled weight decay (``variable * learning_rate * weight_decay``
    taken off first, for the variables Keras decays), then ``ResourceApplyAdam``,
    whose kernel is Keras' update step (``m``, ``v``, and the step ``lr * sqrt(1 -
    beta_2^t) / (1 - beta_1^t) * m / (sqrt(v) + epsilon)``) in one pass; the learning
    rate (a schedule's, at the current iteration) is computed once a step, not once a
    variable. ``None`` for any other optimizer, a subclass, or one that asks for more
    than that (AMSGrad, weight averaging, clipping, gradient accumulation, loss
    scaling, constraints, variables that are not float32): Keras' own ``apply``
    serves those. Called inside the packed epoch's graph."""
    import keras
    import tensorflow as tf

    if type(optimizer) not in (keras.optimizers.Adam, keras.optimizers.AdamW):
        return None
    config = optimizer.get_config()
    asks_more = (config.get("amsgrad") or config.get("use_ema")
                 or any(config.get(o) is not None
                        for o in ("clipnorm", "clipvalue", "global_clipnorm"))
                 or config.get("gradient_accumulation_steps")
                 or config.get("loss_scale_factor") is not None)
    variables = list(getattr(optimizer, "_trainable_variables", []))
    if (asks_more or not variables
            or any(v.dtype != "float32" or v.constraint is not None
                   or getattr(v, "overwrite_with_gradient", False) for v in variables)):
        return None
    momentums, velocities = optimizer._momentums, optimizer._velocities
    index = optimizer._get_variable_index
    decayed = {id(v) for v in variables
               if optimizer.weight_decay and optimizer._use_weight_decay(v)}
    beta_1, beta_2 = float(optimizer.beta_1), float(optimizer.beta_2)
    epsilon, weight_decay = float(optimizer.epsilon), float(optimizer.weight_decay or 0.0)

    def apply(grads: list[Any], trainable: list[Any]) -> None:
        learning_rate = tf.cast(optimizer.learning_rate, tf.float32)
        step = tf.cast(optimizer.iterations + 1, tf.float32)
        powers = tf.pow(tf.constant([beta_1, beta_2]), step)
        decay = learning_rate * weight_decay
        b1, b2, eps = tf.constant(beta_1), tf.constant(beta_2), tf.constant(epsilon)
        for grad, variable in zip(grads, trainable, strict=True):
            if grad is None:  # as Keras does: a variable with no gradient stays
                continue
            var = variable.value
            if id(variable) in decayed:
                var.assign_sub(var * decay)
            i = index(variable)
            tf.raw_ops.ResourceApplyAdam(
                var=var.handle, m=momentums[i].value.handle, v=velocities[i].value.handle,
                beta1_power=powers[0], beta2_power=powers[1], lr=learning_rate,
                beta1=b1, beta2=b2, epsilon=eps, grad=tf.cast(grad, tf.float32))
        optimizer.iterations.assign_add(1)

    return apply


def _used_weights(model: Any) -> list[np.ndarray]:
    """``model.get_weights()``, with each trainable weight's moving average in its
    place where the optimizer keeps one."""
    averages = _averages(model)
    if averages is None:
        return model.get_weights()  # type: ignore[no-any-return]
    by_id = {id(v): a for v, a in zip(model.trainable_variables, averages, strict=True)}
    return [by_id.get(id(v), v).numpy() for v in model.weights]


def _pad(array: np.ndarray, rows: int) -> np.ndarray:
    if len(array) == rows:
        return array
    extra = np.zeros((rows - len(array), *array.shape[1:]), array.dtype)
    return np.concatenate([array, extra])


def _per_row_loss(loss: Any) -> Callable[[Any, Any], Any]:
    """The compiled loss as a function of one batch giving one value per row."""
    import keras

    if isinstance(loss, str):
        return keras.losses.get(loss)  # type: ignore[no-any-return]
    if isinstance(loss, keras.losses.Loss):
        return loss.call  # type: ignore[no-any-return]
    if callable(loss):
        return loss  # type: ignore[no-any-return]
    raise Unpackable(f"the model's loss is not one function ({type(loss).__name__})")


def _reason(error: BaseException) -> str:
    """The words of a TensorFlow error that name the problem: the op with no
    vectorized form, else the error's last line (a traced function's error ends with
    it, after ``in user code:`` and the stack)."""
    text = str(error)
    op = re.search(r"No pfor vectorization defined for (\w+)", text)
    if op:
        return f"no vectorized form of op {op.group(1)}"
    lines = [line.strip() for line in text.strip().splitlines() if line.strip()]
    lines = [line for line in lines if not line.startswith(("in user code", "File "))]
    return lines[-1][:200] if lines else type(error).__name__


_registered: list[bool] = []


def _register_random_converters() -> None:
    """Teach ``tf.vectorized_map`` to draw stateless random numbers for K models at
    once (dropout's masks): TensorFlow vectorizes those ops only through a slow
    per-model loop. One draw of K times the shape, keyed by the first model's seed,
    gives each model its own slice. Private TensorFlow API: if it moved, the
    registration is skipped and a model with dropout trains unpacked, saying so."""
    if _registered:
        return
    _registered.append(True)
    try:
        import tensorflow as tf
        from tensorflow.python.ops.parallel_for import pfor
    except ImportError:  # pragma: no cover - TensorFlow reorganised
        return

    def first_seed(pfor_input: Any) -> Any:
        seed = pfor_input.stacked_input(0)
        n = pfor_input.pfor.loop_len_vector
        outputs = pfor._create_op(pfor_input.op_type, [seed[0]],
                                  [t.dtype for t in pfor_input.outputs],
                                  attrs=pfor_input.op.node_def.attr).outputs
        return [pfor.wrap(tf.tile(t[tf.newaxis], tf.concat([n, tf.ones_like(tf.shape(t))], 0)),
                          True) for t in outputs]

    def one_draw(pfor_input: Any) -> Any:
        shape = pfor_input.unstacked_input(0)
        n = tf.cast(pfor_input.pfor.loop_len_vector, shape.dtype)
        key, _, _ = pfor_input.input(1)
        counter, _, _ = pfor_input.input(2)
        key = key[0] if pfor_input.input(1)[1] else key
        counter = counter[0] if pfor_input.input(2)[1] else counter
        rest = [pfor_input.unstacked_input(i) for i in range(3, pfor_input.num_inputs)]  # alg
        outputs = pfor._create_op(pfor_input.op_type, [tf.concat([n, shape], 0), key,
                                                        counter, *rest],
                                  [t.dtype for t in pfor_input.outputs],
                                  attrs=pfor_input.op.node_def.attr).outputs
        return [pfor.wrap(t, True) for t in outputs]

    try:
        pfor.RegisterPFor("StatelessRandomGetKeyCounter")(first_seed)
        for op_type in ("StatelessRandomUniformV2", "StatelessRandomNormalV2",
                        "StatelessTruncatedNormalV2"):
            pfor.RegisterPFor(op_type)(one_draw)
    except (AttributeError, ValueError):  # pragma: no cover - API moved or taken
        return
