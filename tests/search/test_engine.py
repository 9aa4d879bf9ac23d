"""The engine as a library: the schedulers and samplers it offers run real searches,
a bug of ours stops a search with its traceback kept, and a call from Python leaves
the process's settings as it found them. The searches run without the refit, whose
tests are in test_correctness_matrix.py."""

from __future__ import annotations

import logging
import os
import warnings
from pathlib import Path

import pytest

from autokeras_lab import load_experiment, run_search
from autokeras_lab.errors import FatalSearchError
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.search import PYTHON_COMMAND
from autokeras_lab.types import SearchStatus, TrialStatus


@pytest.mark.parametrize(
    ("scheduler", "sampler"),
    [("hyperband", "tpe"), ("median", "random"), ("fifo", "cmaes")],
    ids=["hyperband-tpe", "median-random", "fifo-cmaes"],
)
@pytest.mark.slow
def test_other_schedulers_and_samplers_run_a_whole_search(
    ray_session, tmp_path: Path, scheduler: str, sampler: str
) -> None:
    exp = load_experiment("concrete").with_overrides(cv=1, trials=4, max_epochs=6, sampler=sampler,
                                                     refit=False)
    exp = exp.with_overrides(scheduler=type(exp.scheduler)(name=scheduler, grace_period=2))
    result = run_search(exp, runs_dir=tmp_path)
    assert result.status is SearchStatus.COMPLETED and len(result.trials) == 4
    assert all(t.best_val is not None and t.status is not TrialStatus.FAILED
               for t in result.trials)
    if scheduler == "fifo":
        assert all(t.epochs == 6 for t in result.trials)  # nothing stopped early
    [stored] = Leaderboard(tmp_path / "leaderboard.db").searches("concrete")
    assert stored.settings["scheduler"]["name"] == scheduler
    assert stored.settings["sampler"]["name"] == sampler
    assert (tmp_path / "concrete" / "best" / "model.keras").is_file()


@pytest.mark.slow
def test_run_search_takes_an_optuna_sampler_instance_as_optuna_does(
    ray_session, tmp_path: Path
) -> None:
    import optuna

    exp = load_experiment("concrete").with_overrides(cv=1, trials=3, max_epochs=2, refit=False)

    def first_proposals(sampler: optuna.samplers.BaseSampler, runs: Path) -> list[float]:
        result = run_search(exp, runs_dir=runs, sampler=sampler)
        by_number = sorted(result.trials, key=lambda t: t.number)
        return [t.config["learning_rate"] for t in by_number]

    seeded = first_proposals(optuna.samplers.RandomSampler(seed=7), tmp_path / "a")
    assert seeded == first_proposals(optuna.samplers.RandomSampler(seed=7), tmp_path / "b")
    [stored] = Leaderboard(tmp_path / "a" / "leaderboard.db").searches("concrete")
    assert stored.settings["sampler"] == {"name": "custom", "custom": "RandomSampler"}
    by_name = run_search(exp, runs_dir=tmp_path / "c", sampler="random")
    [named] = Leaderboard(tmp_path / "c" / "leaderboard.db").searches("concrete")
    assert named.settings["sampler"] == {"name": "random", "custom": None}
    assert len(by_name.trials) == 3


@pytest.mark.slow
def test_a_bug_of_ours_stops_the_search_and_keeps_its_traceback(
    ray_session, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from autokeras_lab.search import _engine

    def broken(*args: object) -> None:
        raise ZeroDivisionError("division by zero in the tuner factory")

    monkeypatch.setattr(_engine, "build_tuner", broken)
    exp = load_experiment("concrete").with_overrides(cv=1, trials=2, max_epochs=1, refit=False)
    with pytest.raises(FatalSearchError, match="an error in autokeras_lab itself") as info:
        run_search(exp, runs_dir=tmp_path)
    [search] = Leaderboard(tmp_path / "leaderboard.db").searches("concrete")
    error_file = tmp_path / "concrete" / "searches" / search.search_id / "error.txt"
    assert str(error_file) in str(info.value) and len(str(info.value).splitlines()) == 1
    assert "ZeroDivisionError: division by zero" in error_file.read_text()
    assert "Traceback" in error_file.read_text()
    assert search.status is SearchStatus.FAILED


@pytest.mark.slow
def test_a_library_call_leaves_the_process_settings_alone(ray_session, tmp_path: Path) -> None:
    import optuna

    loggers = ("ray", "ray.tune", "tensorflow", "absl", "optuna")
    with warnings.catch_warnings():
        warnings.simplefilter("default")
        logging.getLogger("optuna").setLevel(logging.INFO)
        optuna.logging.set_verbosity(optuna.logging.INFO)
        before = (list(warnings.filters), [logging.getLogger(n).level for n in loggers],
                  optuna.logging.get_verbosity(), dict(os.environ))
        exp = load_experiment("concrete").with_overrides(cv=1, trials=2, max_epochs=1, refit=False)
        run_search(exp, runs_dir=tmp_path)
        run_search(exp, runs_dir=tmp_path, command="python -m autokeras_lab search concrete")
        after = (list(warnings.filters), [logging.getLogger(n).level for n in loggers],
                 optuna.logging.get_verbosity(), dict(os.environ))
    assert after == before
    first, second = Leaderboard(tmp_path / "leaderboard.db").searches("concrete")
    assert first.command == PYTHON_COMMAND  # not the test runner's sys.argv
    assert second.command == "python -m autokeras_lab search concrete"


@pytest.mark.slow
def test_run_search_takes_a_data_frame_and_refuses_to_resume_it_from_the_store(
    ray_session, tmp_path: Path
) -> None:
    from autokeras_lab import Experiment
    from autokeras_lab.config import experiment_from_settings
    from autokeras_lab.errors import UserError
    from tests.helpers import mixed_frame

    frame = mixed_frame(120)  # numbers, categories, booleans and gaps
    experiment = Experiment.from_data(frame, target="price", name="shop").with_overrides(cv=1,
        trials=2, max_epochs=2, refit=False)
    result = run_search(experiment, runs_dir=tmp_path)
    assert result.experiment == "shop" and len(result.trials) == 2
    assert (tmp_path / "shop" / "best" / "model.keras").is_file()
    [stored] = Leaderboard(tmp_path / "leaderboard.db").searches("shop")
    assert stored.settings["in_memory"] == experiment.data.fingerprint
    with pytest.raises(UserError, match="ran on data passed from Python"):
        experiment_from_settings(stored.settings)
    x_and_y = Experiment.from_data(frame.drop(columns="price").to_numpy()[:, :1],
                                   frame["price"].to_numpy())
    assert list(x_and_y.data.frame.columns) == ["x0", "y"]
