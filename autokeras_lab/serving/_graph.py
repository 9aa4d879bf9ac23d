"""The exported model as one TensorFlow graph from raw rows to predictions: the
preprocessing of :class:`~autokeras_lab.data.Preprocessor` written in TensorFlow ops
(float64, as NumPy computes it), the Keras model, and the predictions in the target's
units or as class labels and probabilities.

Only ops that tf2onnx converts are used: string columns go through lookup tables of
string to int64 (ONNX's ``CategoryMapper``), never through string comparison or
lower-casing (tf2onnx casts string ``Equal`` to numbers, and ONNX Runtime's
``StringNormalizer`` needs an installed locale).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

import numpy as np

from autokeras_lab.data import Preprocessor
from autokeras_lab.data._prepare import _FALSE, _TRUE, MISSING, OTHER, QUANTILE, ColumnSpec
from autokeras_lab.types import TaskKind

# sklearn's QuantileTransformer maps the bounds' probabilities to these before the
# normal quantile function (its BOUNDS_THRESHOLD, less one ulp), so outputs stay finite
_P_LOW = 1e-7 - float(np.spacing(1))
_P_HIGH = 1 - _P_LOW
_TRUE_WORDS = (*sorted(_TRUE), "1", "1.0")
_FALSE_WORDS = (*sorted(_FALSE), "0", "0.0")


@dataclass(frozen=True)
class ServingInput:
    """One input of the serving signature: a training column, the name it goes by
    (a valid TensorFlow and ONNX name), and its type (``float64`` for numbers, with
    NaN for missing; ``string`` for the rest, with ``""`` for missing)."""

    column: str
    name: str
    dtype: str
    kind: str


def serving_inputs(pre: Preprocessor) -> list[ServingInput]:
    """The signature's inputs, one per training column in training order. A column's
    name is kept where TensorFlow accepts it; otherwise other characters become ``_``
    (and a suffix keeps names apart)."""
    taken: set[str] = set()
    inputs = []
    for spec in pre.columns:
        base = re.sub(r"[^A-Za-z0-9_.\-]", "_", spec.name)
        base = base if re.match(r"[A-Za-z0-9.]", base) else f"c{base}"
        name, n = base, 1
        while name in taken:
            n += 1
            name = f"{base}_{n}"
        taken.add(name)
        dtype = "float64" if spec.kind == "numeric" else "string"
        inputs.append(ServingInput(spec.name, name, dtype, spec.kind))
    return inputs


def serving_module(model: Any, pre: Preprocessor) -> Any:
    """A ``tf.Module`` whose ``serve`` function takes one tensor of shape ``[rows]`` per
    column (named as :func:`serving_inputs` says) and returns ``prediction`` (regression,
    in the target's units) or ``label`` and ``probabilities`` (classification, one
    column per class in ``pre.classes``' order)."""
    import tensorflow as tf

    inputs = serving_inputs(pre)
    signature = [
        tf.TensorSpec([None], tf.float64 if i.dtype == "float64" else tf.string, name=i.name)
        for i in inputs
    ]

    class Serving(tf.Module):  # type: ignore[misc]
        def __init__(self) -> None:
            super().__init__(name="autokeras_lab_serving")
            self.model = model
            # tables are made here, once, so the SavedModel tracks and restores them
            self.tables = column_tables(pre)

        @tf.function(input_signature=signature)  # type: ignore[untyped-decorator]
        def serve(self, *columns: Any) -> dict[str, Any]:
            x = tf.cast(model_inputs(pre, self.tables, columns), tf.float32)
            output = tf.cast(self.model(x, training=False), tf.float64)
            return _predictions(output, pre)

    return Serving()


def column_tables(pre: Preprocessor) -> list[Any]:
    """The lookup tables :func:`model_inputs` reads text columns with."""
    return [_column_table(spec) for spec in pre.columns]


def model_inputs(pre: Preprocessor, tables: list[Any], columns: Any) -> Any:
    """What :meth:`Preprocessor.transform_x` computes, in TensorFlow (float64): one
    block of inputs per input transform, side by side."""
    import tensorflow as tf

    parts = [
        _column_inputs(spec, table, value, transform)
        for transform in pre.transforms
        for spec, table, value in zip(pre.columns, tables, columns, strict=True)
    ]
    return tf.concat(parts, axis=1)


def _column_table(spec: ColumnSpec) -> Any:
    """String to int64 for a column of text: a category's index (missing: ``""`` as
    ``__missing__``; unseen: ``__other__``'s index, else -1, all zeros), or a boolean's
    0/1 (-1 for missing or not a boolean word). ``None`` for numbers."""
    import tensorflow as tf

    if spec.kind == "numeric":
        return None
    if spec.kind == "boolean":
        words = {w: 1 for w in _spellings(_TRUE_WORDS)} | {w: 0 for w in _spellings(_FALSE_WORDS)}
        default = -1
    else:
        words = {c: i for i, c in enumerate(spec.categories)}
        default = spec.categories.index(OTHER) if OTHER in spec.categories else -1
        if "" not in words:
            words[""] = words.get(MISSING, default)
    keys = tf.constant(list(words), tf.string)
    values = tf.constant(list(words.values()), tf.int64)
    return tf.lookup.StaticHashTable(tf.lookup.KeyValueTensorInitializer(keys, values), default)


def _spellings(words: tuple[str, ...]) -> list[str]:
    """A word as written in lower, upper and title case (the graph does not
    lower-case; see the module's docstring)."""
    return list(dict.fromkeys(s for w in words for s in (w, w.upper(), w.title())))


def _column_inputs(spec: ColumnSpec, table: Any, value: Any, transform: str) -> Any:
    """One column's model inputs, ``[rows, width]`` float64, as
    :meth:`ColumnSpec.transform` computes them."""
    import tensorflow as tf

    if spec.kind == "categorical":
        index = table.lookup(value)
        width = tf.range(len(spec.categories), dtype=tf.int64)
        return tf.cast(tf.equal(index[:, None], width[None, :]), tf.float64)
    if spec.kind == "boolean":
        bit = table.lookup(value)
        return tf.cast(tf.where(bit < 0, tf.constant(int(spec.fill), tf.int64), bit),
                       tf.float64)[:, None]
    # one select per test: tf2onnx turns a select on any other condition into
    # arithmetic (c * x + (1 - c) * fill), which a NaN poisons
    fill = tf.constant(spec.fill, tf.float64)
    x = tf.where(tf.math.is_nan(value), fill, value)
    x = tf.where(tf.math.is_inf(x), fill, x)
    if transform == QUANTILE and spec.quantiles:
        return _quantile_normal(x, np.asarray(spec.quantiles, dtype=np.float64))[:, None]
    return ((x - spec.mean) / spec.scale)[:, None]


def _quantile_normal(x: Any, quantiles: np.ndarray) -> Any:
    """scikit-learn's ``QuantileTransformer(output_distribution="normal")`` of one
    column from its fitted quantiles: the mean of the upward and downward linear
    interpolations onto evenly spaced probabilities (so a run of equal quantiles maps
    to its middle), the bounds to 0 and 1, then the normal quantile function.

    The interpolation is a sum over the quantiles' segments, each contributing its
    share of probability up to ``x``: rows times quantiles of work, with no search op
    (tf2onnx converts none)."""
    import tensorflow as tf

    low, high = quantiles[:-1], quantiles[1:]
    step = 1.0 / (len(quantiles) - 1)
    width = high - low
    sloped = width > 0
    offset = x[:, None] - low[None, :]
    share = tf.where(
        sloped[None, :],
        tf.clip_by_value(offset / np.where(sloped, width, 1.0)[None, :], 0.0, 1.0),
        0.5 * (tf.sign(offset) + 1.0),  # a flat segment: half of its step at its value
    )
    p = tf.reduce_sum(share, axis=1) * step
    p = tf.where(x + 1e-7 > quantiles[-1], tf.ones_like(p), p)
    p = tf.where(x - 1e-7 < quantiles[0], tf.zeros_like(p), p)
    return _normal_quantile(tf.clip_by_value(p, _P_LOW, _P_HIGH))


def _normal_quantile(p: Any) -> Any:
    """The standard normal quantile function for ``p`` in [1e-7, 1 - 1e-7] (Wichura's
    AS241, as Python's ``statistics.NormalDist.inv_cdf`` writes it; relative error
    about 1e-16). In that range ``sqrt(-log(min(p, 1 - p)))`` stays below 5, so
    AS241's far-tail branch is never needed."""
    import tensorflow as tf

    q = p - 0.5
    r = 0.180625 - q * q
    central = q * _poly(r, _A) / _poly(r, _B)
    t = tf.sqrt(-tf.math.log(tf.minimum(p, 1.0 - p))) - 1.6
    tail = _poly(t, _C) / _poly(t, _D)
    return tf.where(tf.abs(q) <= 0.425, central, tf.where(q < 0, -tail, tail))


def _poly(x: Any, coefficients: tuple[float, ...]) -> Any:
    """Horner's rule, highest power first."""
    total = coefficients[0] * x + coefficients[1]
    for c in coefficients[2:]:
        total = total * x + c
    return total


_A = (2.5090809287301226727e+3, 3.3430575583588128105e+4, 6.7265770927008700853e+4,
      4.5921953931549871457e+4, 1.3731693765509461125e+4, 1.9715909503065514427e+3,
      1.3314166789178437745e+2, 3.3871328727963666080e+0)
_B = (5.2264952788528545610e+3, 2.8729085735721942674e+4, 3.9307895800092710610e+4,
      2.1213794301586595867e+4, 5.3941960214247511077e+3, 6.8718700749205790830e+2,
      4.2313330701600911252e+1, 1.0)
_C = (7.74545014278341407640e-4, 2.27238449892691845833e-2, 2.41780725177450611770e-1,
      1.27045825245236838258e+0, 3.64784832476320460504e+0, 5.76949722146069140550e+0,
      4.63033784615654529590e+0, 1.42343711074968357734e+0)
_D = (1.05075007164441684324e-9, 5.47593808499534494600e-4, 1.51986665636164571966e-2,
      1.48103976427480074590e-1, 6.89767334985100004550e-1, 1.67638483018380384940e+0,
      2.05319162663775882187e+0, 1.0)


def _predictions(output: Any, pre: Preprocessor) -> dict[str, Any]:
    """What ``predict`` gives, from the model's float64 outputs."""
    import tensorflow as tf

    if pre.task is not TaskKind.CLASSIFICATION:
        return {"prediction": output[:, 0] * pre.target_scale + pre.target_mean}
    probabilities = output
    if len(pre.classes) == 2 and output.shape[-1] == 1:
        probabilities = tf.concat([1.0 - output, output], axis=1)
    classes = tf.constant(list(pre.classes), tf.string)
    return {"label": tf.gather(classes, tf.argmax(probabilities, axis=1)),
            "probabilities": probabilities}
