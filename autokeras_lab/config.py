"""Experiment configuration: frozen dataclasses loaded from ``experiments/NAME.toml``.

An experiment file is data only (TOML, never executed). Unknown keys and bad values
are rejected with a message naming the file, the key and what is allowed.

Example:
    >>> from autokeras_lab.config import load_experiment
    >>> exp = load_experiment("concrete")
    >>> exp.dataset, exp.space, exp.budget.max_epochs > 0
    ('concrete', 'plr_mlp', True)
"""

from __future__ import annotations

import dataclasses
import tomllib
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from autokeras_lab.errors import UserError
from autokeras_lab.metrics import METRICS
from autokeras_lab.tuners import CUSTOM_SAMPLER, SAMPLERS, SCHEDULERS
from autokeras_lab.types import (
    AUTO_TASK,
    INPUT_TRANSFORMS,
    TASK_CHOICES,
    Budget,
    Direction,
    InferenceBudget,
    check_positive,
)

ENSEMBLE_ROUNDS = 25  # auto-sklearn's and AutoGluon's default ensemble size
AUTO_FOLDS = 5  # cv = 0 on a small table: AutoGluon's and auto-sklearn's usual bag
AUTO_CV_ROWS = 5_000  # above this, one validation split: as good, and cheaper. At 6,480
# rows (diamonds cut to 8,000; docs/benchmarks.md, "Bag or split at 8,000 rows") a
# 300 s search's bagged ensembles held 4-5 trials (20-25 networks) for 546 ± 21 USD,
# one split's 7-15 trials (7-15 networks) for 538 ± 12; on concrete, bags win clearly.
WHOLE_TABLE = 2**62  # epoch_rows for an epoch of every row, however large the table
REFIT_SHARE = 0.25  # of a time budget, kept for refitting the chosen model (refit = true):
# with 0.15 a concrete search refitted 46 of its 114 chosen trials, with 0.25 110 of 126
# and 0.09 MPa better (docs/benchmarks.md, "Lever 4"); 0.30 was level (Lever 19)
MIN_REFIT_WINDOW = 30.0  # seconds: a shorter share is not kept. At a 60 s budget (15 s
# kept) the measuring and choosing before the refit left no time to refit on any of
# 10 concrete splits; at 120 s (30 s) each refitted 2 to 5 trials (docs/benchmarks.md,
# "The budget curve after Lever 17")

if TYPE_CHECKING:
    from autokeras_lab.data import Dataset
    from autokeras_lab.spaces import SearchSpace

__all__ = [
    "Budget",
    "Experiment",
    "SamplerSettings",
    "SchedulerSettings",
    "available_experiments",
    "csv_experiment",
    "experiment_dirs",
    "experiment_from_settings",
    "load_experiment",
    "load_experiment_data",
]

CLASS_WEIGHTS = ("none", "balanced")


@dataclass(frozen=True, kw_only=True)
class SchedulerSettings:
    """The early-stopping scheduler (see :mod:`autokeras_lab.tuners`).

    Attributes:
        name: ``"asha"`` (default), ``"hyperband"``, ``"median"`` or ``"fifo"`` (never
            stops early).
        grace_period: Epochs every trial trains before it may be stopped.
        reduction_factor: ASHA and Hyperband keep the best ``1/reduction_factor`` at
            each rung.
    """

    name: str = "asha"
    grace_period: int = 15
    reduction_factor: int = 3

    def __post_init__(self) -> None:
        if self.name not in SCHEDULERS:
            raise ValueError(f"name must be one of {', '.join(SCHEDULERS)}, got {self.name!r}")
        check_positive("grace_period", self.grace_period)
        if self.reduction_factor < 2:
            raise ValueError("reduction_factor must be 2 or more")


@dataclass(frozen=True, kw_only=True)
class SamplerSettings:
    """The Optuna sampler that proposes configurations (see :mod:`autokeras_lab.tuners`).

    Attributes:
        name: ``"tpe"`` (default), ``"random"``, ``"cmaes"`` or ``"gp"``; ``"custom"``
            when ``run_search`` was handed an Optuna sampler instance,
        custom: whose class this is.
    """

    name: str = "tpe"
    custom: str | None = None

    def __post_init__(self) -> None:
        if self.name == CUSTOM_SAMPLER and self.custom:
            return
        if self.name not in SAMPLERS or self.custom is not None:
            raise ValueError(f"name must be one of {', '.join(SAMPLERS)}, got {self.name!r}")

    @property
    def label(self) -> str:
        return f"{self.name} ({self.custom})" if self.custom else self.name


@dataclass(frozen=True, kw_only=True)
class TrackingSettings:
    """Where a search is tracked besides the leaderboard (see :mod:`autokeras_lab.tracking`).

    Attributes:
        mlflow: An MLflow tracking URI: ``http(s)://HOST:PORT`` (an ``mlflow server``),
            ``file:///FOLDER``, ``sqlite:///FILE.db`` or another database URI; ""
            tracks nothing.
        register: Register the search's model in MLflow's model registry under this
            name ("": do not register).
        experiment: The MLflow experiment the runs go to ("": the experiment's name).
    """

    mlflow: str = ""
    register: str = ""
    experiment: str = ""

    def __post_init__(self) -> None:
        if self.mlflow:
            check_tracking_uri(self.mlflow)
        if self.register and not self.mlflow:
            raise ValueError("register needs mlflow (a tracking URI to register the model at)")

    @property
    def enabled(self) -> bool:
        return bool(self.mlflow)


#: URI schemes MLflow tracks to: its server, a folder, or a database of its own
TRACKING_SCHEMES = ("http", "https", "file", "sqlite", "postgresql", "mysql", "mssql",
                    "databricks")


def check_tracking_uri(uri: str) -> None:
    """Refuse a tracking URI MLflow could not use (whether a server answers there is
    :func:`autokeras_lab.tracking.check_server`'s question).

    Raises:
        ValueError: naming the URI and the forms it may take.
    """
    from urllib.parse import urlsplit

    if uri == "databricks":  # MLflow's name for a Databricks workspace's default profile
        return
    parts = urlsplit(uri)
    scheme = parts.scheme.split("+", 1)[0]
    good = scheme in TRACKING_SCHEMES and (
        bool(parts.hostname) if scheme in ("http", "https")
        else bool(parts.path) if scheme in ("file", "sqlite") else True)
    try:
        if good and parts.port is not None and not 0 < parts.port < 65536:
            good = False
    except ValueError:  # a port that is not a number
        good = False
    if not good:
        raise ValueError(
            f"mlflow {uri!r} is not a tracking URI: give http://HOST:PORT (an `mlflow "
            "server`), file:///FOLDER or sqlite:///FILE.db"
        )


@dataclass(frozen=True, kw_only=True)
class Experiment:
    """One experiment: the data, the space, the metric, the budget and the seed.

    Attributes:
        name: The experiment's name on the leaderboard and under the runs directory.
        dataset: A built-in data set name (see ``autokeras_lab.data``), or "" with ``csv``.
        csv: A CSV file to search on instead (relative paths are taken from the
            experiment file's folder, or the working directory for ``--csv``).
        target: The CSV's target column.
        task: ``auto`` (inferred from the target), ``regression`` or ``classification``.
        space: A search-space module name in ``search_spaces/`` or a ``.py`` path.
        metric: The validation metric to optimise: ``rmse`` or ``mae`` (regression),
            ``log_loss`` or ``accuracy`` (classification); "" picks ``rmse`` or
            ``log_loss``.
        direction: ``"min"`` or ``"max"`` (a :class:`Direction`); ``None`` follows the
            metric (changing the metric with :meth:`with_overrides` resets it).
        class_weight: ``balanced`` weighs rows inversely to their class frequency.
        cv: 1 for one validation split; K >= 2 for K-fold cross-validation inside each
            trial, reported as mean and std: every row outside the test split trains
            K - 1 of a trial's K fold models and validates one, and the K fold models
            are exported together (a bag). 0 (the default) picks: ``AUTO_FOLDS`` folds
            for tables of at most ``AUTO_CV_ROWS`` rows outside the test split, else 1.
        seed: The one seed every proposal and trial seed derives from.
        test_fraction: Share of rows held out for the final test, never searched on.
        val_fraction: Share of the remaining rows used for validation.
        split_seed: Seed of the train/validation/test split (fixed, so that searches
            with different seeds compete on the same rows).
        input_transforms: How numeric columns are scaled: ``standard`` (mean 0, std 1)
            and/or ``quantile`` (scikit-learn's ``QuantileTransformer`` to a normal
            distribution, robust to skewed columns); with both, each trial's choice is
            a hyperparameter, ``input_transform``.
        ensemble_size: Rounds of greedy ensemble selection over the finished trials'
            validation predictions after the search (see
            :mod:`autokeras_lab.ensemble`); the ensemble becomes the search's model when
            it beats the best single trial. 0 turns it off.
        pack: Train a trial's fold models packed, as one graph call an epoch (see
            :mod:`autokeras_lab.packing`); false trains them one after another (the same
            values without dropout, K times the time).
        refit: Once the search has chosen its model, train the chosen trials again with
            the held-out test rows added to their folds, and hand the refitted models
            over where out of fold they beat what choosing the original is worth (see
            :mod:`autokeras_lab.search._refit`). With a time budget of 120 s or more,
            the search keeps ``REFIT_SHARE`` of it for this (see :attr:`refit_seconds`).
        max_latency_ms, max_params: What the handed-over model may cost to run (see
            :class:`~autokeras_lab.types.InferenceBudget`): ensemble selection adds
            members only while the ensemble stays within, a single trial over it is not
            handed over, and when nothing fits nothing is exported. ``None``: no limit.
        budget: See :class:`Budget`.
        scheduler: See :class:`SchedulerSettings`.
        sampler: See :class:`SamplerSettings`.
        tracking: See :class:`TrackingSettings`.
        description: One line for listings.
        data: In-memory data to search on instead of ``dataset`` or ``csv`` (see
            :meth:`from_data`); not stored, so such a search cannot be resumed or
            retrained from the command line.
        model_space: A search space object (a user's model function, see
            :mod:`autokeras_lab.sklearn`) instead of a module named by ``space``.
    """

    name: str
    dataset: str = ""
    csv: str = ""
    target: str = ""
    task: str = AUTO_TASK
    space: str = "plr_mlp"
    metric: str = ""
    direction: Direction | None = None
    class_weight: str = "none"
    cv: int = 0
    seed: int = 0
    test_fraction: float = 0.1
    val_fraction: float = 0.2
    split_seed: int = 42
    input_transforms: tuple[str, ...] = INPUT_TRANSFORMS
    ensemble_size: int = ENSEMBLE_ROUNDS
    pack: bool = True
    refit: bool = True
    max_latency_ms: float | None = None
    max_params: int | None = None
    budget: Budget = field(default_factory=Budget)
    scheduler: SchedulerSettings = field(default_factory=SchedulerSettings)
    sampler: SamplerSettings = field(default_factory=SamplerSettings)
    tracking: TrackingSettings = field(default_factory=TrackingSettings)
    description: str = ""
    data: Dataset | None = field(default=None, repr=False, compare=False)
    model_space: SearchSpace | None = field(default=None, repr=False, compare=False)

    def __post_init__(self) -> None:
        if bool(self.dataset) + bool(self.csv) + (self.data is not None) != 1:
            raise ValueError("give one of dataset (a built-in name), csv (a file) or data")
        if self.csv and not self.target:
            raise ValueError("a csv experiment needs target (the column to predict)")
        if self.direction is not None:  # a TOML file or stored settings give a string
            if self.direction not in (*Direction, ""):
                raise ValueError(f"direction must be one of min, max, got {self.direction!r}")
            object.__setattr__(
                self, "direction", Direction(self.direction) if self.direction else None
            )
        for key, allowed in (
            ("metric", ("", *METRICS)),
            ("task", TASK_CHOICES),
            ("class_weight", CLASS_WEIGHTS),
        ):
            if getattr(self, key) not in allowed:
                shown = ", ".join(a for a in allowed if a)
                raise ValueError(f"{key} must be one of {shown}, got {getattr(self, key)!r}")
        transforms = tuple(self.input_transforms)  # a TOML file gives a list
        object.__setattr__(self, "input_transforms", transforms)
        if not transforms or not set(transforms) <= set(INPUT_TRANSFORMS) or len(
            set(transforms)) != len(transforms):
            raise ValueError(f"input_transforms must be distinct values among "
                             f"{', '.join(INPUT_TRANSFORMS)}, got {list(transforms)}")
        for flag in ("pack", "refit"):
            if not isinstance(getattr(self, flag), bool):
                raise ValueError(f"{flag} must be true or false, got {getattr(self, flag)!r}")
        if isinstance(self.ensemble_size, bool) or not 0 <= self.ensemble_size <= 1000:
            raise ValueError(f"ensemble_size must be 0 (no ensemble) to 1000, got "
                             f"{self.ensemble_size!r}")
        self.inference_budget  # noqa: B018  (refuses a limit that is not positive)
        if not 0 <= self.cv <= 20:
            raise ValueError(f"cv must be 0 (pick by size), 1 (no cross-validation) to 20, "
                             f"got {self.cv}")
        if self.seed < 0:
            raise ValueError(f"seed must be 0 or more, got {self.seed}")
        for key in ("test_fraction", "val_fraction"):
            value = getattr(self, key)
            if not 0.0 < value < 0.5:
                raise ValueError(f"{key} must be between 0 and 0.5, got {value}")

    @classmethod
    def from_data(
        cls, X: Any, y: Any = None, *, target: str | None = None, name: str = "data",
        task: str = AUTO_TASK,
    ) -> Experiment:
        """An experiment on in-memory data with the default space, budget and scheduler:
        a DataFrame and its ``target`` column, or ``X`` (a DataFrame or a 2-d array)
        and ``y``.

        Example:
            >>> import pandas as pd
            >>> frame = pd.DataFrame({"x": range(40), "y": [i % 7 * 1.5 for i in range(40)]})
            >>> Experiment.from_data(frame, target="y", name="toy").data.task
            'regression'

        Raises:
            UserError: the data cannot be searched (see
                :func:`autokeras_lab.data.from_frame`).
        """
        from autokeras_lab.data import frame_of, from_frame

        frame, column = frame_of(X, y, target=target)
        return cls(name=name, data=from_frame(frame, target=column, task=task, name=name))

    def settings(self) -> dict[str, Any]:
        """The experiment as JSON-able data, to store with a search (in-memory data and
        a space object are named, not stored)."""
        values = {f.name: getattr(self, f.name) for f in dataclasses.fields(self)
                  if f.name not in ("data", "model_space")}
        for key in ("budget", "scheduler", "sampler", "tracking"):
            values[key] = dataclasses.asdict(values[key])
        if self.data is not None:
            values["in_memory"] = self.data.fingerprint
        return values

    @property
    def inference_budget(self) -> InferenceBudget:
        """What the handed-over model may cost to run."""
        return InferenceBudget(max_latency_ms=self.max_latency_ms, max_params=self.max_params)

    @property
    def refit_seconds(self) -> float | None:
        """The seconds of the time budget kept for refitting the chosen model:
        ``REFIT_SHARE`` of it where that is at least ``MIN_REFIT_WINDOW`` (a budget of
        120 s or more), else 0, and the trials have it all; 0 without the refit;
        ``None`` without a time budget (the refit takes what it needs)."""
        budget = self.budget.time_budget_s
        if not self.refit:
            return 0.0
        if budget is None:
            return None
        return budget * REFIT_SHARE if budget * REFIT_SHARE >= MIN_REFIT_WINDOW else 0.0

    @property
    def trial_seconds(self) -> float | None:
        """The share of the time budget the trials may use: all but
        :attr:`refit_seconds` (``None``: no time budget)."""
        budget = self.budget.time_budget_s
        return None if budget is None else budget - (self.refit_seconds or 0.0)

    def with_overrides(self, **changes: Any) -> Experiment:
        """Return a copy with top-level or ``budget``/``scheduler`` fields replaced.

        Keys that are fields of :class:`Budget` go to the budget, ``sampler`` names the
        sampler, ``mlflow`` and ``register`` go to the tracking, and the rest are the
        experiment's own; values of ``None`` are ignored (a flag the user did not
        give). A new ``metric`` without a ``direction`` takes the metric's own direction.
        """
        budget_fields = {f.name for f in dataclasses.fields(Budget)}
        top: dict[str, Any] = {}
        budget: dict[str, Any] = {}
        tracking: dict[str, Any] = {}
        for key, value in changes.items():
            if value is None:
                continue
            if key == "sampler":
                value = _settings(SamplerSettings, name=value)
            if key in ("mlflow", "register"):
                tracking[key] = value
                continue
            (budget if key in budget_fields else top)[key] = value
        if tracking:
            top["tracking"] = _settings(TrackingSettings,
                                        **(dataclasses.asdict(self.tracking) | tracking))
        if top.get("metric", self.metric) != self.metric and "direction" not in top:
            top["direction"] = None
        try:
            new_budget = dataclasses.replace(self.budget, **budget)
            return dataclasses.replace(self, budget=new_budget, **top)
        except ValueError as exc:
            raise UserError(f"bad setting: {exc}") from None


def _settings(cls: type, **values: Any) -> Any:
    try:
        return cls(**values)
    except ValueError as exc:
        raise UserError(f"bad setting: {exc}") from None


def experiment_dirs() -> list[Path]:
    """Where experiment files are looked up: ``./experiments`` first, then the bundled ones."""
    bundled = Path(str(resources.files("experiments")))
    local = Path.cwd() / "experiments"
    dirs = [local] if local.is_dir() and local.resolve() != bundled.resolve() else []
    return [*dirs, bundled]


def available_experiments() -> dict[str, Path]:
    """Experiment names mapped to their files (a local file shadows a bundled one)."""
    found: dict[str, Path] = {}
    for directory in reversed(experiment_dirs()):
        for path in sorted(directory.glob("*.toml")):
            found[path.stem] = path
    return dict(sorted(found.items()))


def load_experiment(name_or_path: str | Path) -> Experiment:
    """Load an experiment by name (``experiments/NAME.toml``) or from a TOML path.

    Raises:
        UserError: unknown name (the message lists the known ones), unreadable TOML,
            an unknown key or a bad value (naming the file and the key).
    """
    path = Path(name_or_path)
    if path.suffix != ".toml":
        known = available_experiments()
        if str(name_or_path) not in known:
            raise UserError(
                f"unknown experiment {str(name_or_path)!r}; expected one of: "
                f"{', '.join(known) or '(none found)'} (files in ./experiments/*.toml)"
            )
        path = known[str(name_or_path)]
    if not path.is_file():
        raise UserError(f"experiment file {path} does not exist")
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise UserError(f"{path}: not valid TOML ({exc}); fix the file's syntax") from None
    raw.setdefault("name", path.stem)
    csv = raw.get("csv")
    if isinstance(csv, str) and csv and not Path(csv).is_absolute():
        raw["csv"] = str((path.parent / csv).resolve())
    return _from_dict(raw, source=str(path))


def experiment_from_settings(settings: dict[str, Any]) -> Experiment:
    """The experiment a search stored on the leaderboard (``SearchRecord.settings``).

    Raises:
        UserError: the search ran on in-memory data, which was not stored.
    """
    if settings.get("in_memory"):
        raise UserError(
            f"search of {settings.get('name')!r} ran on data passed from Python, which the "
            "leaderboard does not keep; run it again from Python (fit or run_search) "
            "instead of resuming or retraining it here"
        )
    names = {f.name for f in dataclasses.fields(Experiment)}
    values = {k: v for k, v in settings.items() if k in names}
    # older: every epoch trained on every row
    values["budget"] = Budget(**{"epoch_rows": WHOLE_TABLE, **settings.get("budget", {})})
    values["scheduler"] = SchedulerSettings(**settings.get("scheduler", {}))
    values["sampler"] = SamplerSettings(**settings.get("sampler", {}))  # older: tpe
    values["tracking"] = TrackingSettings(**settings.get("tracking", {}))  # older: none
    values.setdefault("input_transforms", ("standard",))  # older: standardised only
    values.setdefault("cv", 1)  # older: one validation split unless asked
    values.setdefault("refit", False)  # older: the chosen trials' own models
    return Experiment(**values)


def load_experiment_data(experiment: Experiment) -> Dataset:
    """The experiment's table: a built-in data set or its CSV, checked."""
    from autokeras_lab.data import load_csv, load_dataset

    if experiment.csv:
        return load_csv(
            experiment.csv, target=experiment.target, task=experiment.task, name=experiment.name
        )
    dataset = load_dataset(experiment.dataset)
    if experiment.task not in (AUTO_TASK, dataset.task):
        raise UserError(
            f"experiment {experiment.name!r} says task {experiment.task!r}, but data set "
            f"{dataset.name!r} is a {dataset.task} data set; remove the task key"
        )
    return dataset


def csv_experiment(
    csv: str | Path, *, target: str, task: str = AUTO_TASK, name: str | None = None
) -> Experiment:
    """An experiment for a user's CSV with the default budget, scheduler and space."""
    path = Path(csv).absolute()
    try:
        return Experiment(name=name or path.stem, csv=str(path), target=target, task=task)
    except ValueError as exc:
        raise UserError(f"bad setting: {exc}") from None


_NOT_IN_FILES = ("data", "model_space")  # objects from Python, not settings


def _from_dict(raw: dict[str, Any], *, source: str) -> Experiment:
    sections = {"budget": Budget, "scheduler": SchedulerSettings, "sampler": SamplerSettings,
                "tracking": TrackingSettings}
    kwargs: dict[str, Any] = {}
    for key, value in raw.items():
        if key in sections:
            if not isinstance(value, dict):
                raise UserError(f"{source}: [{key}] must be a table, got {value!r}")
            kwargs[key] = _build(sections[key], value, source=source, prefix=f"{key}.")
        else:
            kwargs[key] = value
    return _build(Experiment, kwargs, source=source, prefix="")


def _build(cls: type, values: dict[str, Any], *, source: str, prefix: str) -> Any:
    allowed = {f.name: f for f in dataclasses.fields(cls) if f.name not in _NOT_IN_FILES}
    for key, value in values.items():
        if key not in allowed:
            raise UserError(
                f"{source}: unknown key '{prefix}{key}'; allowed keys: "
                f"{', '.join(prefix + k for k in allowed)}"
            )
        expected = str(allowed[key].type)
        if _type_mismatch(expected, value):
            raise UserError(
                f"{source}: key '{prefix}{key}' expected {expected}, received {value!r}"
            )
    try:
        return cls(**values)
    except (TypeError, ValueError) as exc:
        raise UserError(f"{source}: bad value in [{prefix.rstrip('.') or 'top'}]: {exc}") from None


def _type_mismatch(expected: str, value: Any) -> bool:
    checks = {
        "str": isinstance(value, str),
        "int": isinstance(value, int) and not isinstance(value, bool),
        "float": isinstance(value, int | float) and not isinstance(value, bool),
    }
    options = [part.strip() for part in expected.split("|")]
    if "None" in options and value is None:
        return False
    return not any(checks.get(option, True) for option in options if option != "None")
