from __future__ import annotations

import dataclasses
import gc
import math

import numpy as np
import pytest

from autokeras_lab.errors import TrialFailedError
from autokeras_lab.spaces import Task, load_space
from autokeras_lab.trainable import TrialSettings, derive_seed, train_trial
from autokeras_lab.types import Direction

TASK = Task(n_features=8)


@pytest.fixture(scope="module")
def derived():
    return load_space("mlp").derive(TASK)


def settings(derived, **changes) -> TrialSettings:
    base = dict(
        space="mlp", space_config=derived.to_config(), task=TASK, metric="rmse",
        direction=Direction.MIN, max_epochs=6,
        patience=50, search_seed=0, report_epochs=(2,), report_every=10,
    )
    return TrialSettings(**(base | changes))


def small(derived, **changes):
    return derived.defaults() | {"num_layers": 1, "units_0": 16, "batch_size": 64} | changes


def test_trial_reports_every_epoch_and_checkpoints_at_rungs(concrete, derived) -> None:
    calls = []
    last = train_trial(small(derived), concrete.search_arrays(), settings(derived),
                       lambda r, s: calls.append((r, s)))
    curve = [v for r, _ in calls for v in r.new_curve]
    assert len(curve) == last.epoch == 6  # every epoch's validation RMSE arrives
    assert [r.epoch for r, _ in calls] == [2, 6]  # the rung, then the end
    assert all(state is not None for _, state in calls)  # both are checkpoints
    assert last.finished and last.best_val_metric == pytest.approx(min(curve))
    assert last.best_metrics["rmse"] == last.best_val_metric and last.best_metrics["mae"] > 0
    assert all(math.isfinite(v) and 1 < v < 100 for v in curve)  # MPa, not scaled units
    [best] = calls[-1][1].best_weights  # one model: no folds
    assert best and all(isinstance(a, np.ndarray) for a in best)
    outputs = calls[-1][1].best_outputs  # the validation outputs at the best epoch
    assert outputs.shape == (len(concrete.y_val), 1)
    rmse = np.sqrt(np.mean((outputs[:, 0] - concrete.y_val) ** 2)) * concrete.preprocessor.target_scale
    assert rmse == pytest.approx(last.best_val_metric, rel=1e-4)
    assert "units_0" in last.active and "units_3" not in last.active


@pytest.mark.slow
def test_a_trial_resumed_from_its_checkpoint_continues_where_it_was(
    concrete, derived, tmp_path
) -> None:
    """What a dead worker's retry and a resumed search rely on: the checkpoint holds
    the weights, the optimizer's state and the curve, and training goes on from there."""
    from autokeras_lab.trainable import TrialState

    values = small(derived)
    calls = []

    def report(result, state):
        calls.append(result)
        if state is not None and result.epoch == 2:
            state.save(tmp_path)

    full = train_trial(values, concrete.search_arrays(), settings(derived), report)
    saved = TrialState.load(tmp_path)
    assert saved.epoch == 2 and len(saved.curve) == 2 and not saved.finished
    assert len(saved.models) == 1 and saved.models[0][1]  # optimizer slots are there
    resumed_calls = []
    resumed = train_trial(values, concrete.search_arrays(), settings(derived),
                          lambda r, s: resumed_calls.append(r), resume=saved)
    assert [r.epoch for r in resumed_calls] == [6]
    assert resumed.epoch == 6 and resumed.finished
    curve = resumed_calls[0].new_curve
    assert len(curve) == 6 and curve[:2] == saved.curve  # the whole curve, once
    # Epochs 3-6 continue from epoch 2's weights and optimizer state: only the batch
    # order differs from the uninterrupted run (a fresh model lands elsewhere).
    full_curve = [v for r in calls for v in r.new_curve]
    assert curve[2:] == pytest.approx(full_curve[2:], rel=0.01)
    assert resumed.best_val_metric == pytest.approx(full.best_val_metric, rel=0.01)

    done = TrialState(**{**vars(saved), "finished": True})
    again = train_trial(values, concrete.search_arrays(), settings(derived),
                        lambda r, s: None, resume=done)
    assert again.epoch == 2 and again.finished  # a finished trial is not trained again


def test_patience_ends_a_trial_that_stopped_improving(concrete, derived) -> None:
    calls = []
    values = small(derived, learning_rate=3e-2, batch_size=16)  # noisy: no steady gains
    last = train_trial(values, concrete.search_arrays(),
                       settings(derived, max_epochs=200, patience=1), lambda r, w: calls.append(r))
    assert last.finished and last.epoch < 200
    assert last.epoch - last.best_epoch >= 1


def test_exploding_loss_fails_the_trial_with_its_reason(concrete, derived) -> None:
    data = concrete.search_arrays() | {"y_train": concrete.y_train * np.float32(1e30)}
    with pytest.raises(TrialFailedError, match=r"loss became (nan|inf).*lower the learning rate"):
        train_trial(small(derived), data, settings(derived), lambda r, w: None)


def test_trial_seed_is_a_stable_function_of_search_seed_and_config() -> None:
    config = {"a": 1, "b": 0.5}
    assert derive_seed(3, config) == derive_seed(3, dict(reversed(config.items())))
    assert derive_seed(3, config) != derive_seed(4, config)
    assert derive_seed(3, config) != derive_seed(3, {"a": 2, "b": 0.5})


def test_classification_trial_maximises_accuracy_with_row_weights(derived) -> None:
    from autokeras_lab.data import load_dataset, prepare

    data = prepare(load_dataset("iris"), test_fraction=0.1, val_fraction=0.2, split_seed=0,
                   class_weight="balanced")
    task = Task.for_data("classification", data.x_train.shape[1], 3)
    space = load_space("mlp").derive(task)
    calls = []
    last = train_trial(
        space.defaults() | {"num_layers": 1, "units_0": 16, "learning_rate": 0.01},
        data.search_arrays(),
        settings(derived, task=task, space_config=space.to_config(), metric="accuracy",
                 direction=Direction.MAX, max_epochs=20),
        lambda r, w: calls.append(r),
    )
    curve = [v for r in calls for v in r.new_curve]
    assert last.best_val_metric == pytest.approx(max(curve)) and 0 <= max(curve) <= 1
    assert set(last.best_metrics) == {"accuracy", "log_loss"}
    assert last.best_val_metric > 0.5  # iris is easy: well above the 1/3 of guessing


@pytest.mark.slow
def test_finished_trials_leave_no_tensorflow_graphs_behind(concrete, derived) -> None:
    """A reused worker must not grow from trial to trial: what TensorFlow traced for a
    trial is freed when the trial ends (it used to stay, about 4 MiB a trial)."""
    from tensorflow.python.framework.func_graph import FuncGraph

    def live_graphs() -> int:
        gc.collect()
        return sum(isinstance(o, FuncGraph) for o in gc.get_objects())

    def run(units: int) -> None:
        train_trial(small(derived, units_0=units), concrete.search_arrays(),
                    settings(derived, max_epochs=2), lambda r, s: None)

    run(16)
    before = live_graphs()
    for units in (8, 24, 32):
        run(units)
    assert live_graphs() == before


def test_a_refit_trains_every_fold_on_the_test_rows_too_or_stops_at_its_deadline(
    derived,
) -> None:
    import time

    from autokeras_lab.data import load_dataset, prepare
    from autokeras_lab.search._refit import Refitted, refit_trial

    prepared = prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2,
                       split_seed=42, cv=3)
    data, own = prepared.refit_arrays("standard")
    values, trial = small(derived), settings(derived, max_epochs=3, report_every=1,
                                             report_epochs=())
    refitted = refit_trial(values, data, trial, deadline=time.time() + 600)
    assert isinstance(refitted, Refitted) and 1 <= refitted.best_epoch <= 3
    assert len(refitted.weights) == 3  # one model per fold
    # out-of-fold on every row: the search's own and the test rows each fold left out
    searched = len(prepared.selection_targets())
    assert len(refitted.outputs) == searched + len(prepared.y_test) == 1030
    assert sum(own) == searched and np.isfinite(refitted.outputs).all()
    assert refit_trial(values, data, trial, deadline=time.time() - 1) == (
        "the time budget ran out")


def test_models_trained_on_every_row_are_one_a_fold_each_with_its_own_seed(derived) -> None:
    import time

    from autokeras_lab.data import load_dataset, prepare
    from autokeras_lab.search._refit import Refitted, every_row_arrays, refit_trial

    prepared = prepare(load_dataset("concrete"), test_fraction=0.1, val_fraction=0.2,
                       split_seed=42, cv=3)
    data = every_row_arrays(prepared.refit_arrays("standard")[0])
    every = len(prepared.selection_targets()) + len(prepared.y_test)
    assert len(data["folds"]) == 3
    for fold in data["folds"]:
        assert len(fold["y_train"]) == len(fold["y_val"]) == every == 1030
    # every row once: the search's rows and the test rows, none twice
    expected = np.concatenate([prepared.selection_targets(), prepared.y_test])
    assert np.array_equal(np.sort(data["y_train"], axis=None), np.sort(expected, axis=None))
    refitted = refit_trial(small(derived), data, settings(derived, max_epochs=3, report_every=1,
                                                          report_epochs=()),
                           deadline=time.time() + 600)
    assert isinstance(refitted, Refitted) and len(refitted.weights) == 3
    # the same rows, three different models: each its own initial weights and order
    first, second, third = np.split(refitted.outputs, 3)
    assert not np.allclose(first, second) and not np.allclose(second, third)


def test_the_refits_planned_are_those_that_end_in_time_heaviest_first() -> None:
    from autokeras_lab.search._refit import TRACE_SECONDS, plan_refits
    from tests.helpers import trial

    def trained(trial_id: str, seconds: float, best_epoch: int = 50):
        return dataclasses.replace(trial(trial_id, 1.0), epochs=100, best_epoch=best_epoch,
                                   train_seconds=seconds)

    # predicted: half the epochs of each (best at 50 of 100), 10 % more rows, + tracing
    heavy, slow, light, short = (trained("heavy", 20), trained("slow", 200),
                                 trained("light", 30), trained("short", 10, best_epoch=100))
    planned, skipped = plan_refits([heavy, slow, light, short], seconds=30, workers=2,
                                   rows_ratio=1.1)
    assert [t.trial_id for t in planned] == ["heavy", "light", "short"]
    [(left_out, cost)] = skipped
    assert left_out is slow and cost == pytest.approx(TRACE_SECONDS + 200 * 0.5 * 1.1)
    # one worker: heavy (13 s), then light (18.5 s) would end past 30 s; short (13 s) fits
    planned, _ = plan_refits([heavy, slow, light, short], seconds=30, workers=1,
                             rows_ratio=1.1)
    assert [t.trial_id for t in planned] == ["heavy", "short"]
    assert plan_refits([slow], seconds=math.inf, workers=1, rows_ratio=1.1) == ([slow], [])
    # models trained on every row train for the epochs their refit was best at: slow's
    # refit best at 10 of its 100 epochs (20 s predicted) now fits beside heavy
    planned, skipped = plan_refits([heavy, slow], seconds=30, workers=1, rows_ratio=1.0,
                                   epochs={"heavy": 25, "slow": 10})
    assert [t.trial_id for t in planned] == ["heavy", "slow"] and skipped == []


@pytest.mark.parametrize("direction", [Direction.MIN, Direction.MAX])
def test_the_refit_hands_over_the_best_candidate_and_a_tie_the_fewer_networks(
    direction: Direction,
) -> None:
    """The original is judged by its value on rows its choice did not see, not its own;
    of equals, the original beats the refitted, the refitted beats both averaged (on a
    minimised metric and a maximised one alike)."""
    from autokeras_lab.search._refit import Handed, hand_over

    def v(x: float) -> float:  # a value ``x`` better than another is, in this direction
        return x if direction is Direction.MIN else -x

    own, unseen = v(1.0), v(3.0)  # the original's own value flatters it
    assert hand_over({Handed.ORIGINAL: own, Handed.REFITTED: v(2.0)}, unseen,
                     direction) is Handed.REFITTED
    assert hand_over({Handed.ORIGINAL: own, Handed.REFITTED: v(4.0)}, unseen,
                     direction) is Handed.ORIGINAL
    three = {Handed.ORIGINAL: own, Handed.REFITTED: v(2.0), Handed.BOTH: v(1.5)}
    assert hand_over(three, unseen, direction) is Handed.BOTH
    assert hand_over(three, v(1.4), direction) is Handed.ORIGINAL
    assert hand_over({**three, Handed.BOTH: v(2.5)}, unseen, direction) is Handed.REFITTED
    # ties: the fewer networks
    assert hand_over({Handed.ORIGINAL: own, Handed.REFITTED: v(3.0)}, unseen,
                     direction) is Handed.ORIGINAL
    assert hand_over({**three, Handed.BOTH: v(2.0)}, unseen, direction) is Handed.REFITTED
