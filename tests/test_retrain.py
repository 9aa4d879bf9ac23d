"""Retraining the best configurations, the ensemble, and fine-tuning on new rows."""

from __future__ import annotations

import hashlib
import math
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from autokeras_lab import load_experiment, load_model_dir, run_search
from autokeras_lab.errors import UserError
from autokeras_lab.leaderboard import Leaderboard
from autokeras_lab.retrain import finetune, retrain_top

CONCRETE = Path(__file__).resolve().parents[1] / "autokeras_lab" / "data" / "concrete.csv"


@pytest.fixture(scope="module")
def searched(ray_session, tmp_path_factory: pytest.TempPathFactory) -> Path:
    runs = tmp_path_factory.mktemp("runs")
    run_search(load_experiment("concrete").with_overrides(cv=1, trials=3, max_epochs=6,
                                                            refit=False), runs_dir=runs)
    return runs


@pytest.mark.slow
def test_retrain_ranks_configs_and_exports_single_and_ensemble(searched: Path) -> None:
    result = retrain_top(searched, "concrete", top=2, seeds=2, epochs=4)
    assert result.metric == "rmse" and len(result.ranked) == 2
    means = [r.mean("rmse") for r in result.ranked]
    assert means == sorted(means)  # ranked by mean held-out RMSE
    assert all(len(r.runs) == 2 and r.std("rmse") >= 0 for r in result.ranked)
    records = Leaderboard(searched / "leaderboard.db").retrains("concrete")
    kinds = sorted(r.kind for r in records if r.retrain_id == result.retrain_id)
    assert kinds == ["ensemble", "run", "run", "run", "run", "single"]
    rows = pd.read_csv(CONCRETE).drop(columns=["strength"]).head(8)
    for directory, metrics in ((result.single_dir, result.single_metrics),
                               (result.ensemble_dir, result.ensemble_metrics)):
        model = load_model_dir(directory)
        predicted = model.predict(rows)["predicted_strength"]
        assert np.isfinite(predicted).all() and model.card["trained_on"] == "train + validation"
        assert 0 < metrics["rmse"] < 80
    ensemble = load_model_dir(result.ensemble_dir)
    assert len(ensemble.card["members"]) == 2


@pytest.mark.slow
def test_a_retrained_models_learning_rate_decays_over_its_searchs_epochs(
        searched: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import autokeras_lab.retrain as retrain

    trained = []
    fit_together = retrain.fit_together

    def spy(models, data, *, batch, **kwargs):
        trained.extend((model, len(data["x_train"]), batch) for model in models)
        return fit_together(models, data, batch=batch, **kwargs)

    monkeypatch.setattr(retrain, "fit_together", spy)
    retrain_top(searched, "concrete", top=1, seeds=1, epochs=2)
    [(model, rows, batch)] = trained
    schedule = model.optimizer._learning_rate  # the space's cosine decay (plr_mlp)
    # the search's 6 epochs of train + validation rows, as its trials' schedules span
    # theirs, not a constant rate (the retrain stops at 2 of them)
    assert schedule.decay_steps == 6 * math.ceil(rows / batch)


@pytest.mark.slow
def test_finetune_exports_a_new_version_and_never_touches_the_old(searched: Path,
                                                                  tmp_path: Path) -> None:
    original = searched / "concrete" / "best"
    before = hashlib.sha256((original / "model.keras").read_bytes()).hexdigest()
    new_rows = tmp_path / "new.csv"
    pd.read_csv(CONCRETE).sample(60, random_state=0).to_csv(new_rows, index=False)
    first = finetune(original, new_rows, epochs=3, runs_dir=searched)
    second = finetune(original, new_rows, epochs=3)
    assert first.model_dir.name == "best-v2" and second.model_dir.name == "best-v3"
    assert hashlib.sha256((original / "model.keras").read_bytes()).hexdigest() == before
    tuned = load_model_dir(first.model_dir)
    assert tuned.card["kind"] == "finetune" and tuned.card["finetune_rows"] == 60
    assert np.isfinite(tuned.predict(pd.read_csv(new_rows))["predicted_strength"]).all()
    kinds = [r.kind for r in Leaderboard(searched / "leaderboard.db").retrains("concrete")]
    assert "finetune" in kinds


@pytest.mark.slow
def test_finetune_refuses_rows_of_another_schema(searched: Path, tmp_path: Path) -> None:
    rows = pd.read_csv(CONCRETE).head(40).drop(columns=["age"]).assign(colour="red")
    path = tmp_path / "other.csv"
    rows.to_csv(path, index=False)
    with pytest.raises(UserError, match="does not have the model's columns: missing age; unexpected colour"):
        finetune(searched / "concrete" / "best", path)
    assert not (searched / "concrete" / "best-v4").exists()
