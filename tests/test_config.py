from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from autokeras_lab.config import available_experiments, load_experiment
from autokeras_lab.errors import UserError
from autokeras_lab.types import Budget


def test_bundled_concrete_experiment_loads() -> None:
    exp = load_experiment("concrete")
    assert exp.dataset == "concrete"
    assert exp.space == "plr_mlp"
    assert exp.scheduler.name == "asha"
    assert exp.budget.max_epochs >= exp.scheduler.grace_period


def test_unknown_experiment_lists_the_known_ones() -> None:
    with pytest.raises(UserError, match=r"unknown experiment 'nope'.*concrete"):
        load_experiment("nope")


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ('dataset = "concrete"\ncolour = "red"\n', r"bad\.toml: unknown key 'colour'.*allowed"),
        ('dataset = "concrete"\n[budget]\ntrails = 3\n', r"unknown key 'budget\.trails'"),
        ('dataset = "concrete"\n[budget]\ntrials = "ten"\n', r"'budget\.trials' expected"),
        ('dataset = "concrete"\n[budget]\nmax_epochs = -5\n', r"max_epochs must be a positive"),
        ('dataset = "concrete"\n[scheduler]\nname = "pbt"\n', r"name must be one of asha, hyperband, median, fifo, got 'pbt'"),
        ('dataset = "concrete"\n[sampler]\nname = "grid"\n', r"\[sampler\]: name must be one of tpe, random, cmaes, gp, got 'grid'"),
        ('dataset = "concrete"\ndirection = "up"\n', r"direction must be one of min, max"),
        ('dataset = "concrete"\npack = "no"\n', r"pack must be true or false, got 'no'"),
        ("dataset = \n", r"not valid TOML"),
    ],
    ids=["unknown-key", "unknown-nested-key", "wrong-type", "negative", "bad-scheduler",
         "bad-sampler", "bad-direction", "bad-pack", "syntax"],
)
def test_bad_experiment_files_are_rejected_naming_file_and_key(
    tmp_path: Path, text: str, match: str
) -> None:
    path = tmp_path / "bad.toml"
    path.write_text(text)
    with pytest.raises(UserError, match=match):
        load_experiment(path)


def test_flags_override_the_file_and_none_means_not_given() -> None:
    exp = load_experiment("concrete").with_overrides(trials=3, max_epochs=7, seed=None)
    assert (exp.budget.trials, exp.budget.max_epochs) == (3, 7)
    assert exp.seed == load_experiment("concrete").seed


def test_bad_override_is_a_user_error() -> None:
    with pytest.raises(UserError, match="max_epochs must be a positive"):
        load_experiment("concrete").with_overrides(max_epochs=0)


def test_local_experiments_dir_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / "experiments").mkdir()
    (tmp_path / "experiments" / "mine.toml").write_text('dataset = "concrete"\n')
    monkeypatch.chdir(tmp_path)
    assert "mine" in available_experiments()
    assert load_experiment("mine").name == "mine"


def test_cv_zero_bags_five_folds_on_a_small_table_and_one_split_on_a_large_one() -> None:
    import dataclasses

    import numpy as np
    import pandas as pd

    from autokeras_lab.data import from_frame
    from autokeras_lab.search._setup import resolve_folds

    def rows(n: int):
        frame = pd.DataFrame({"x": np.arange(n, dtype=float), "y": np.arange(n) % 7 * 1.0})
        return from_frame(frame, target="y", task="regression", name="t")

    exp = load_experiment("concrete")
    assert exp.cv == 0  # the default: pick by size
    assert resolve_folds(exp, rows(1000)).cv == 5
    assert resolve_folds(exp, rows(5_500)).cv == 5  # 4,950 rows outside the test split
    assert resolve_folds(exp, rows(7_200)).cv == 1  # measured: one split as good, cheaper
    assert resolve_folds(exp, rows(20_000)).cv == 1
    assert resolve_folds(dataclasses.replace(exp, cv=3), rows(1000)).cv == 3  # asked for


def test_a_custom_sampler_is_recorded_by_its_class_and_never_built_from_a_file() -> None:
    from autokeras_lab.config import SamplerSettings

    assert SamplerSettings(name="custom", custom="QMCSampler").label == "custom (QMCSampler)"
    for bad in ({"name": "custom"}, {"name": "tpe", "custom": "TPESampler"}, {"name": "sobol"}):
        with pytest.raises(ValueError, match="name must be one of tpe, random, cmaes, gp"):
            SamplerSettings(**bad)


def test_the_refit_keeps_its_share_of_the_time_budget_and_older_searches_had_none() -> None:
    from autokeras_lab.config import REFIT_SHARE, experiment_from_settings

    exp = load_experiment("concrete")
    assert exp.refit and exp.budget.time_budget_s == 300
    assert exp.trial_seconds == pytest.approx(300 * (1 - REFIT_SHARE))
    assert exp.with_overrides(refit=False).trial_seconds == 300  # --no-refit: all of it
    # a window too short for a refit to start is not kept from the trials
    assert exp.with_overrides(time_budget_s=120).refit_seconds == pytest.approx(30)
    assert exp.with_overrides(time_budget_s=60).refit_seconds == 0
    assert exp.with_overrides(time_budget_s=60).trial_seconds == 60
    capped = dataclasses.replace(exp, budget=Budget(trials=5, time_budget_s=None))
    assert capped.trial_seconds is None and capped.refit_seconds is None  # what it needs
    older = {"name": "concrete", "dataset": "concrete", "budget": {"time_budget_s": 60}}
    assert experiment_from_settings(older).refit is False  # resumed as it ran
    with pytest.raises(UserError, match="refit must be true or false"):
        exp.with_overrides(refit="yes")
