"""The search-space protocol, its registry, and the bridge from keras-tuner to Optuna.

A search space is a Python module (in ``search_spaces/`` or at a path the user names)
that defines:

``DESCRIPTION: str``
    One line for ``autokeras_lab spaces``.
``build_model(hp: keras_tuner.HyperParameters, task: Task) -> keras.Model``
    Builds and compiles a model, declaring every hyperparameter with keras-tuner's
    vocabulary (``hp.Int``, ``hp.Float(..., sampling="log")``, ``hp.Choice``,
    ``hp.Boolean``). The model takes ``task.n_features`` inputs and gives
    ``task.n_outputs`` outputs. A hyperparameter named ``batch_size`` sets the batch
    size (default 32).

The orchestrator never asks for the space twice: :meth:`SearchSpace.derive` builds the
model with defaults, then once per extreme value of each discrete hyperparameter, to
find every conditional one (``units_3`` exists only when depth is 4), and
:meth:`DerivedSpace.to_optuna` turns what it found into Optuna distributions (through
:mod:`autokeras_lab.distributions`, which the stored space also goes through). Because the module
is plain keras-tuner, keras-tuner's own tuners can run it unchanged
(``functools.partial(module.build_model, task=task)``).

Example:
    >>> from autokeras_lab.spaces import Task, load_space
    >>> space = load_space("mlp")
    >>> derived = space.derive(Task(n_features=8))
    >>> "learning_rate" in derived.names
    True
"""

from __future__ import annotations

import dataclasses
import importlib
import inspect
import math
import pkgutil
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING, Any, Protocol

from autokeras_lab.distributions import optuna_space
from autokeras_lab.errors import SpaceError, UserError, one_line
from autokeras_lab.types import Budget, OutputKind, TaskKind

if TYPE_CHECKING:
    import keras
    import keras_tuner

__all__ = [
    "DerivedSpace",
    "Inputs",
    "SearchSpace",
    "Task",
    "available_spaces",
    "cosine_adamw",
    "load_space",
]

SPACES_PACKAGE = "search_spaces"
DEFAULT_BATCH_SIZE = 32
BATCH_ROWS = 4_096  # a table of this many training rows has the small-table batches;
# batches double with every 4x the rows (measured at 38,800 and 10^6, docs/benchmarks.md)


@dataclass(frozen=True, kw_only=True)
class Task:
    """What the model must fit: its input width and output head.

    A search space ends its network with
    ``keras.layers.Dense(task.n_outputs, activation=task.output_activation)`` and
    compiles with ``loss=task.loss``.

    Attributes:
        kind: What the output is (an :class:`~autokeras_lab.types.OutputKind`).
        n_features: Number of model inputs after preprocessing.
        n_outputs: Number of model outputs (1, or one per class for multiclass).
        train_rows: Rows a model trains on per epoch, and
        max_epochs: the most epochs it trains, for a learning-rate schedule over the
            whole run (0: not known, e.g. when a model is rebuilt to load weights).
        data_rows: Rows of the table a model trains on (more than ``train_rows``
            where an epoch is a sample of them), for batch sizes and learning rates
            that fit the table (:meth:`batch_sizes`, :attr:`learning_rate_scale`).
        numeric_inputs: The positions of the inputs that hold numeric columns (the
            others are one-hot categories and booleans, 0 or 1), for a space that
            treats them apart (:func:`~autokeras_lab.layers.periodic_embeddings`
            embeds only these); ``None``: not known, every input taken as numeric.
    """

    kind: OutputKind = OutputKind.REGRESSION
    n_features: int
    n_outputs: int = 1
    train_rows: int = 0
    max_epochs: int = 0
    data_rows: int = 0
    numeric_inputs: tuple[int, ...] | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "kind", OutputKind(self.kind))
        if self.numeric_inputs is not None:
            object.__setattr__(self, "numeric_inputs", tuple(self.numeric_inputs))

    @property
    def output_activation(self) -> str | None:
        return _HEADS[self.kind][0]

    @property
    def loss(self) -> str:
        return _HEADS[self.kind][1]

    @property
    def sampled_epoch(self) -> int:
        """The rows of an epoch where it is a sample of the table, else 0 (an epoch
        is every row)."""
        return self.train_rows if 0 < self.train_rows < self.data_rows else 0

    @property
    def batch_scale(self) -> int:
        """How many times larger than on a small table a batch should be here: the
        power of two nearest to the square root of the table's rows over
        ``BATCH_ROWS`` (1 below 8,192 rows, 4 at diamonds' 38,800, 16 at a million),
        so that a larger table is not trained 16 rows a step (a step on a CPU costs
        about the same for 16 rows as for 256) and a search finishes more trials."""
        return 2 ** max(0, round(math.log2(max(self.data_rows, 1) / BATCH_ROWS) / 2))

    @property
    def learning_rate_scale(self) -> float:
        """The square root of :attr:`batch_scale`: the scaling rule for Adam-like
        optimizers when the batch grows (Malladi et al., 2022)."""
        return math.sqrt(self.batch_scale)

    def cosine_decay(self, learning_rate: float, batch: int) -> Any:
        """``learning_rate`` decayed along a cosine to 5 % of itself over the run's
        steps at batches of ``batch`` rows (RealMLP's and TabM's schedule); the rate
        itself where the run's length is not known (:attr:`max_epochs` 0)."""
        import keras

        steps = self.max_epochs * math.ceil(self.train_rows / batch)
        if not steps:
            return learning_rate
        return keras.optimizers.schedules.CosineDecay(learning_rate, decay_steps=steps,
                                                      alpha=0.05)

    def batch_sizes(self, *sizes: int) -> list[int]:
        """A space's batch-size choices for small tables, scaled to this table:
        ``hp.Choice("batch_size", task.batch_sizes(16, 32, 64, 128))``."""
        return [size * self.batch_scale for size in sizes]

    @classmethod
    def for_data(cls, task: TaskKind, n_features: int, n_classes: int = 0, *,
                 train_rows: int = 0, max_epochs: int = 0, data_rows: int = 0,
                 numeric_inputs: tuple[int, ...] | None = None) -> Task:
        """The task of a data set: regression, or binary / multiclass by class count."""
        kind = TaskKind(task).output(n_classes)
        return cls(kind=kind, n_features=n_features, train_rows=train_rows,
                   max_epochs=max_epochs, data_rows=data_rows or train_rows,
                   n_outputs=n_classes if kind is OutputKind.MULTICLASS else 1,
                   numeric_inputs=numeric_inputs)

    @classmethod
    def for_training(cls, task: TaskKind, inputs: Inputs, n_classes: int = 0, *,
                     fit_rows: int, budget: Budget) -> Task:
        """The task of a model that trains on ``fit_rows`` rows under ``budget``, on the
        inputs of ``inputs`` (the data's preprocessor: their width and which are
        numeric, read from the one place): its epochs of
        :meth:`~autokeras_lab.types.Budget.rows_per_epoch` rows, at most
        :meth:`~autokeras_lab.types.Budget.epochs_for` of them, so that its
        learning-rate schedule spans the run a search's trial has."""
        epoch_rows = budget.rows_per_epoch(fit_rows)
        return cls.for_data(task, inputs.n_inputs, n_classes, train_rows=epoch_rows,
                            data_rows=fit_rows, max_epochs=budget.epochs_for(epoch_rows),
                            numeric_inputs=inputs.numeric_inputs)


class Inputs(Protocol):
    """What a model's inputs are, as :class:`~autokeras_lab.data.Preprocessor` says
    (the data layer's, which this one does not import)."""

    @property
    def n_inputs(self) -> int: ...

    @property
    def numeric_inputs(self) -> tuple[int, ...]: ...


def cosine_adamw(hp: keras_tuner.HyperParameters, task: Task) -> keras.optimizers.Optimizer:
    """AdamW (decoupled weight decay) with :meth:`Task.cosine_decay` of its rate over
    the run, the optimizer of RealMLP and TabM, as the built-in spaces tune it: it
    declares ``weight_decay``, ``learning_rate`` (scaled with the table's batches) and
    ``batch_size``, in that order."""
    import keras

    weight_decay = hp.Float("weight_decay", 1e-6, 1e-1, sampling="log")
    lr_scale = task.learning_rate_scale  # batches and rates grow with a large table
    learning_rate = hp.Float("learning_rate", 1e-4 * lr_scale, 1e-2 * lr_scale, sampling="log")
    batch = hp.Choice("batch_size", task.batch_sizes(16, 32, 64, 128))
    return keras.optimizers.AdamW(task.cosine_decay(learning_rate, batch),
                                  weight_decay=weight_decay)


#: output kind -> (the output layer's activation, the loss)
_HEADS: dict[OutputKind, tuple[str | None, str]] = {
    OutputKind.REGRESSION: (None, "mse"),
    OutputKind.BINARY: ("sigmoid", "binary_crossentropy"),
    OutputKind.MULTICLASS: ("softmax", "sparse_categorical_crossentropy"),
}


@dataclass(frozen=True)
class ModelBuilder:
    """A search space's models for one task: what export, evaluation and retraining
    rebuild a trial's model with."""

    space: SearchSpace
    derived: DerivedSpace
    task: Task

    def build(self, values: dict[str, Any]) -> keras.Model:
        return self.space.build(values, self.task, self.derived)


@dataclass(frozen=True)
class DerivedSpace:
    """The hyperparameters a module declares, found by building it.

    Attributes:
        hyperparameters: keras-tuner ``HyperParameters`` holding every declared one.
        names: Their names in declaration order.
    """

    hyperparameters: keras_tuner.HyperParameters
    names: tuple[str, ...]

    def to_optuna(self) -> dict[str, Any]:
        """Optuna distributions, one per hyperparameter, for ``OptunaSearch(space=...)``."""
        return optuna_space(self.to_config())

    def with_choice(self, name: str, values: tuple[str, ...]) -> DerivedSpace:
        """The space and one more categorical hyperparameter the engine itself reads
        (the module does not: ``input_transform``)."""
        import keras_tuner as kt

        hps = kt.HyperParameters.from_config(self.hyperparameters.get_config())
        hps.Choice(name, list(values))
        return DerivedSpace(hps, (*self.names, name))

    def defaults(self) -> dict[str, Any]:
        return {hp.name: hp.default for hp in self.hyperparameters.space}

    def to_config(self) -> dict[str, Any]:
        """A JSON-able description, stored with searches and exported models."""
        return self.hyperparameters.get_config()


@dataclass(frozen=True)
class SearchSpace:
    """A loaded search-space module that follows the protocol."""

    name: str
    module: ModuleType
    source: str | None = None  # a module named by path: the text it was loaded from

    @property
    def description(self) -> str:
        return str(getattr(self.module, "DESCRIPTION", "")).strip()

    def build(self, values: dict[str, Any], task: Task, space: DerivedSpace) -> keras.Model:
        """Build the model for one set of sampled values."""
        return self.build_tracked(values, task, space)[0]

    def build_tracked(
        self, values: dict[str, Any], task: Task, space: DerivedSpace
    ) -> tuple[keras.Model, list[str]]:
        """Build the model and say which hyperparameters it read (the active ones:
        ``units_3`` is inactive in a two-layer network)."""
        hp = _recording_hyperparameters(space.hyperparameters)
        hp.values.update(values)
        model = self._checked_build(hp, task)
        return model, list(dict.fromkeys(hp.accessed))

    def derive(self, task: Task) -> DerivedSpace:
        """Find every hyperparameter the module declares (see module docstring)."""
        import keras
        import keras_tuner as kt

        found = kt.HyperParameters()
        self._checked_build(found, task)
        probed: set[tuple[str, Any]] = set()
        while True:
            new = False
            for hp in list(found.space):
                for value in _probe_values(hp):
                    if (hp.name, repr(value)) in probed:
                        continue
                    probed.add((hp.name, repr(value)))
                    trial = found.copy()
                    trial.values[hp.name] = value
                    before = len(trial.space)
                    try:
                        self._checked_build(trial, task)
                    except SpaceError:
                        # The default build worked, so the module is sound; trials
                        # with this value will fail and be recorded with the reason.
                        continue
                    if len(trial.space) > before:
                        found.merge(trial.space[before:], overwrite=False)
                        new = True
            if not new:
                break
        keras.backend.clear_session()
        if not found.space:
            raise SpaceError(
                f"search space {self.name!r}: expected build_model to declare at least one "
                "hyperparameter (hp.Int, hp.Float, hp.Choice, hp.Boolean), received none"
            )
        return DerivedSpace(found, tuple(hp.name for hp in found.space))

    def _checked_build(self, hp: keras_tuner.HyperParameters, task: Task) -> keras.Model:
        import keras

        try:
            model = self.module.build_model(hp, task)
        except (SpaceError, UserError):
            raise
        except Exception as exc:  # the module's own bug: name it, don't hide it
            raise SpaceError(
                f"search space {self.name!r}: build_model raised {one_line(exc)}"
            ) from exc
        if not isinstance(model, keras.Model):
            raise SpaceError(
                f"search space {self.name!r}: expected build_model to return a "
                f"keras.Model, received {type(model).__name__}"
            )
        if getattr(model, "optimizer", None) is None or not getattr(model, "compiled", False):
            raise SpaceError(
                f"search space {self.name!r}: expected a compiled model (call "
                "model.compile(optimizer=..., loss=...)), received an uncompiled one"
            )
        out = model.outputs[0].shape[-1] if getattr(model, "outputs", None) else None
        if out is not None and out != task.n_outputs:
            raise SpaceError(
                f"search space {self.name!r}: expected {task.n_outputs} output unit(s) "
                f"for a {task.kind} task, received {out}"
            )
        return model


def _recording_hyperparameters(source: keras_tuner.HyperParameters) -> Any:
    import keras_tuner as kt

    class Recording(kt.HyperParameters):
        def __init__(self) -> None:
            super().__init__()
            self.accessed: list[str] = []

        def _retrieve(self, hp: Any) -> Any:
            self.accessed.append(hp.name)
            return super()._retrieve(hp)

    return Recording.from_config(source.get_config())


def batch_size(values: dict[str, Any]) -> int:
    return int(values.get("batch_size", DEFAULT_BATCH_SIZE))


def _probe_values(hp: Any) -> list[Any]:
    """Values of a hyperparameter that may reveal conditional ones (structure lives
    in discrete choices: the deepest depth, every choice, both booleans)."""
    kind = type(hp).__name__
    if kind == "Int":
        return [hp.max_value]
    if kind in ("Choice", "Boolean"):
        return list(hp.values) if kind == "Choice" else [False, True]
    return []


def check_module(name: str, module: ModuleType) -> SearchSpace:
    build = getattr(module, "build_model", None)
    if not callable(build):
        raise SpaceError(
            f"search space {name!r}: expected a function build_model(hp, task), "
            f"received {type(build).__name__ if build is not None else 'nothing'}"
        )
    params = [
        p
        for p in inspect.signature(build).parameters.values()
        if p.kind in (p.POSITIONAL_ONLY, p.POSITIONAL_OR_KEYWORD)
    ]
    if len(params) != 2:
        raise SpaceError(
            f"search space {name!r}: expected build_model(hp, task) with 2 parameters, "
            f"received build_model({', '.join(p.name for p in params)})"
        )
    return SearchSpace(name, module)


def available_spaces() -> dict[str, str]:
    """Search-space names in ``search_spaces/`` mapped to their one-line description."""
    return {name: _describe(name) for name in _space_names()}


def _space_names() -> list[str]:
    package = importlib.import_module(SPACES_PACKAGE)
    return sorted(info.name for info in pkgutil.iter_modules(package.__path__)
                  if not info.name.startswith("_"))


def _describe(name: str) -> str:
    path = Path(importlib.import_module(SPACES_PACKAGE).__path__[0]) / f"{name}.py"
    try:
        import ast

        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(
                isinstance(t, ast.Name) and t.id == "DESCRIPTION" for t in node.targets
            ):
                return str(ast.literal_eval(node.value))
    except (OSError, SyntaxError, ValueError):
        pass
    return ""


def check_space_name(name_or_path: str) -> None:
    """Refuse an unknown space name or a missing ``.py`` file, without importing it (or
    TensorFlow): a search checks this before it starts Ray.

    Raises:
        UserError: unknown name (lists the known ones) or a missing file.
    """
    if name_or_path.endswith(".py"):
        if not Path(name_or_path).is_file():
            raise UserError(f"search-space file {name_or_path} does not exist")
        return
    known = _space_names()  # names only: no module read for its description
    if name_or_path not in known:
        raise UserError(
            f"unknown search space {name_or_path!r}; expected one of: {', '.join(known)} "
            "or a path to a .py module"
        )


def load_space(name_or_path: str, *, source: str | None = None) -> SearchSpace:
    """Load a search space by name (``search_spaces/NAME.py``) or from a ``.py`` path.

    Args:
        source: The text of the ``.py`` file, read on the driver: a trial on another
            node of a cluster runs the module from it, since the path need not exist
            there.

    Raises:
        UserError: unknown name (lists the known ones) or a missing file.
        SpaceError: the module breaks the protocol.
    """
    if source is None:
        check_space_name(name_or_path)
    if name_or_path.endswith(".py"):
        path = Path(name_or_path)
        module = ModuleType(f"_akl_space_{path.stem}")
        module.__file__ = str(path)
        try:
            if source is None:
                source = path.read_text(encoding="utf-8")
            exec(compile(source, str(path), "exec"), module.__dict__)
        except Exception as exc:
            raise SpaceError(
                f"search space {str(path)!r}: importing it raised {one_line(exc)}"
            ) from exc
        return dataclasses.replace(check_module(str(path), module), source=source)
    try:
        module = importlib.import_module(f"{SPACES_PACKAGE}.{name_or_path}")
    except Exception as exc:
        raise SpaceError(
            f"search space {name_or_path!r}: importing it raised {one_line(exc)}"
        ) from exc
    return check_module(name_or_path, module)
