"""Each thing we read of Ray's private internals (autokeras_lab/_ray_internals.py),
checked against the installed Ray: after an upgrade that moves one, this file says
which, and a search stops with one line naming it."""

from __future__ import annotations

import fnmatch

import pytest

from autokeras_lab import _ray_internals as ray_internals


def test_the_local_runtime_is_found_through_ray_services() -> None:
    assert ray_internals.bootstrap_address() is None or ":" in ray_internals.bootstrap_address()
    assert isinstance(ray_internals.gcs_addresses(), list)


def test_token_authentication_and_cluster_mode_switches_exist(monkeypatch) -> None:
    import ray  # noqa: F401  (the constant is set once Ray is imported)
    from ray._private import ray_constants

    monkeypatch.setattr(ray_constants, "ENABLE_RAY_CLUSTER", True)
    monkeypatch.setenv("RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER", "1")
    ray_internals.disable_cluster_mode()
    assert ray_constants.ENABLE_RAY_CLUSTER is False
    ray_internals.enable_token_auth_if_available()  # no token here: a no-op, no error


def test_tune_names_its_state_files_as_we_glob_and_restore_them() -> None:
    from ray.tune.execution.tune_controller import TuneController
    from ray.tune.impl import tuner_internal

    state = TuneController.CKPT_FILE_TMPL.format("2026-12-01_10-00-00")
    assert fnmatch.fnmatch(state, ray_internals.STATE_GLOB)
    assert tuner_internal._TUNER_PKL == ray_internals.TUNER_FILE
    assert ray_internals.is_state_file(state)
    assert ray_internals.is_state_file("searcher-state-2026.pkl")
    assert not ray_internals.is_state_file(ray_internals.TUNER_FILE)


def test_a_trial_carries_its_number_failures_and_error_where_we_read_them() -> None:
    from ray.tune.experiment.trial import Trial

    trial = Trial("trainable", config={}, experiment_tag="12_learning_rate=0.01", stub=True)
    assert ray_internals.trial_number(trial) == 12
    assert ray_internals.trial_failures(trial) == 0
    assert ray_internals.trial_error(trial) is None
    assert ray_internals.driver_staging_path(trial) is None  # no storage before it runs


def test_the_staging_path_is_a_property_of_the_storage_context() -> None:
    from ray.train._internal.storage import StorageContext

    assert isinstance(StorageContext.experiment_driver_staging_path, property)


def test_a_moved_internal_stops_with_one_line_naming_it() -> None:
    class Moved:  # a trial of a Ray whose Trial lost experiment_tag
        pass

    with pytest.raises(ray_internals.RayChangedError,
                       match=r"moved Trial\.experiment_tag .*install \"ray\[tune,default\]==2\.60"):
        ray_internals.trial_number(Moved())
