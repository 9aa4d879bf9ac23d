"""The quality benchmark keeps its runs as it goes and resumes from them: a run of
hours that dies, or a second sitting, must not redo the searches already scored."""

from __future__ import annotations

import io
import json
import re

import pytest

from tests.helpers import load_script

quality = load_script("benchmark_quality")


def test_runs_are_saved_as_they_finish_and_a_resumed_run_keeps_them(tmp_path, monkeypatch):
    saved = tmp_path / "runs.json"
    first = quality.run(["concrete"], ["hgb"], n_splits=2, budget=None, save=saved,
                        out=io.StringIO())
    assert [(r["split"], r["tool"]) for r in json.loads(saved.read_text())] == [
        (0, "hgb"), (1, "hgb")]

    def must_not_rerun(*args, **kwargs):
        raise AssertionError("a run kept in the --json file was redone")

    monkeypatch.setitem(quality.RUNNERS, "hgb", must_not_rerun)
    done = quality.resumable(saved, budget=None, search_args=(), grid_epochs=100)
    shown = io.StringIO()
    again = quality.run(["concrete"], ["hgb"], n_splits=2, budget=None, done=done,
                        save=saved, out=shown)
    assert again == first
    assert "kept from the --json file" in shown.getvalue()
    assert json.loads(saved.read_text()) == first


def test_a_split_not_yet_run_is_run_and_the_kept_ones_stay_in_the_file(tmp_path):
    saved = tmp_path / "runs.json"
    quality.run(["concrete"], ["hgb"], n_splits=1, budget=None, save=saved, out=io.StringIO())
    done = quality.resumable(saved, budget=None, search_args=(), grid_epochs=100)
    records = quality.run(["concrete"], ["hgb"], n_splits=3, budget=None, done=done,
                          save=saved, out=io.StringIO())
    assert records[0] == done[0]
    assert [r["split"] for r in json.loads(saved.read_text())] == [0, 1, 2]


def test_later_splits_alone_are_the_rows_a_run_of_all_of_them_has(monkeypatch, capsys):
    seen = []

    def records_its_rows(train, test, target, **_):
        seen.append(sorted(test.index))
        return {"scores": {"rmse": 1.0}}

    monkeypatch.setitem(quality.RUNNERS, "rows", records_its_rows)
    every = quality.run(["concrete"], ["rows"], n_splits=3, budget=None, out=io.StringIO())
    later = quality.run(["concrete"], ["rows"], n_splits=3, budget=None, first_split=2,
                        out=io.StringIO())
    assert [r["split"] for r in every] == [0, 1, 2] and [r["split"] for r in later] == [1, 2]
    assert seen[3:] == seen[1:3] and seen[0] != seen[1]
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--tools", "hgb", "--splits", "3", "--first-split", "4"])
    assert exit_.value.code == 2
    assert "--first-split 4 is not a split of --splits 3" in capsys.readouterr().err


def test_a_seed_a_split_is_the_splits_index_in_our_flags(monkeypatch) -> None:
    """``--search-args "--seed {split}"``: each split's search its own random start-up,
    and the runs record the flags as given, so that a resumed run checks them."""
    seen = []

    def records_its_flags(train, test, target, search_args=(), **_):
        seen.append(search_args)
        return {"scores": {"rmse": 1.0}}

    monkeypatch.setitem(quality.RUNNERS, "flags", records_its_flags)
    records = quality.run(["concrete"], ["flags"], n_splits=3, budget=None, first_split=2,
                          search_args=("--cv", "5", "--seed", "{split}"), out=io.StringIO())
    assert seen == [("--cv", "5", "--seed", "1"), ("--cv", "5", "--seed", "2")]
    assert {tuple(r["settings"]["search_args"]) for r in records} == {
        ("--cv", "5", "--seed", "{split}")}


def test_kept_runs_leave_their_files_to_look_into_and_others_leave_none(
        tmp_path, monkeypatch):
    seen = []

    def writes_a_file(train, test, target, *, work, **_):
        (work / "leaderboard.db").write_text("what the search stored")
        seen.append(work)
        return {"scores": {"rmse": 1.0}}

    monkeypatch.setitem(quality.RUNNERS, "hgb", writes_a_file)
    quality.run(["concrete"], ["hgb"], n_splits=2, budget=None, keep=tmp_path / "kept",
                out=io.StringIO())
    assert seen == [tmp_path / "kept" / "concrete-1-hgb", tmp_path / "kept" / "concrete-2-hgb"]
    assert all((work / "leaderboard.db").is_file() for work in seen)
    quality.run(["concrete"], ["hgb"], n_splits=1, budget=None, out=io.StringIO())
    assert not seen[-1].parent.samefile(tmp_path / "kept") and not seen[-1].exists()


def test_runs_made_with_other_settings_are_refused_not_averaged_in(tmp_path, capsys):
    saved = tmp_path / "runs.json"
    quality.run(["concrete"], ["hgb"], n_splits=1, budget=None, save=saved, out=io.StringIO())
    before = saved.read_text()
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--datasets", "concrete", "--tools", "hgb", "--splits", "1",
                      "--time-budget", "120", "--json", str(saved), "--resume"])
    assert exit_.value.code == 2
    assert re.search(r"other settings.*pass the same flags", capsys.readouterr().err)
    assert saved.read_text() == before


def test_a_table_cut_to_fewer_rows_is_the_same_rows_for_every_tool_and_run(tmp_path, capsys):
    saved = tmp_path / "runs.json"
    records = quality.run(["concrete"], ["hgb", "lightgbm"], n_splits=2, budget=None, rows=300,
                          save=saved, out=io.StringIO())
    assert all(r["settings"]["rows"] == 300 for r in records)
    from autokeras_lab.data import load_dataset

    concrete = load_dataset("concrete").frame
    cut = quality.sample(concrete, 300)
    assert len(cut) == 300 and cut.equals(quality.sample(concrete, 300))
    assert quality.sample(concrete, 5000) is concrete
    # a resumed run must be of the same size: the whole table's runs are not these
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--datasets", "concrete", "--tools", "hgb", "--splits", "2",
                      "--json", str(saved), "--resume"])
    assert exit_.value.code == 2 and "other settings" in capsys.readouterr().err
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--datasets", "concrete", "--tools", "hgb", "--rows", "5"])
    assert exit_.value.code == 2 and "--rows 5 is too few" in capsys.readouterr().err


def test_resume_without_a_json_file_is_a_clear_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--tools", "hgb", "--resume", "--json", str(tmp_path / "none.json")])
    assert exit_.value.code == 2
    assert "--resume needs --json" in capsys.readouterr().err


@pytest.mark.slow
@pytest.mark.parametrize("tool", ["catboost", "lightgbm", "xgboost"])
@pytest.mark.parametrize("dataset", ["concrete", "car", "breast_cancer"],
                         ids=["regression", "multiclass-categorical", "binary"])
def test_each_gradient_boosting_comparator_scores_the_held_out_rows(tool, dataset, tmp_path):
    """Each library on its defaults, text columns handled its own way, probabilities
    in our class order: a sane score on every task kind."""
    [record] = quality.run([dataset], [tool], n_splits=1, budget=None, out=io.StringIO())
    scores = record["scores"]
    if dataset == "concrete":
        assert 2.0 < scores["rmse"] < 8.0  # MPa; a constant guess is about 16
    else:
        assert scores["accuracy"] > 0.85 and 0 < scores["log_loss"] < 0.5


FAKE_AUTOGLUON = '''
import pandas as pd

class TabularPredictor:
    """Stands in for AutoGluon's: the majority class / the mean, as AutoGluon returns them."""
    def __init__(self, label, problem_type, eval_metric, path, verbosity):
        self.label, self.problem = label, problem_type
    def fit(self, train, presets, time_limit):
        assert presets == "best_quality" and time_limit == 42.0
        self.y = train[self.label]
        return self
    def predict(self, test):
        return pd.Series([self.y.mean()] * len(test), name=self.label)
    def predict_proba(self, test):
        shares = self.y.value_counts(normalize=True)
        return pd.DataFrame([shares.to_dict()] * len(test))
'''


@pytest.mark.parametrize("dataset", ["concrete", "car"], ids=["regression", "multiclass"])
def test_the_autogluon_wiring_runs_in_its_own_interpreter(dataset, tmp_path, monkeypatch):
    """The rows go out as CSV, the predictor is fitted with best_quality and our budget in
    the interpreter named, and its predictions come back scored in our class order.
    (A stand-in TabularPredictor: the real one needs an environment of its own, and
    docs/benchmarks.md has its measured runs.)"""
    import sys

    fake = tmp_path / "fake" / "autogluon" / "tabular"
    fake.mkdir(parents=True)
    (fake.parent / "__init__.py").write_text("")
    (fake / "__init__.py").write_text(FAKE_AUTOGLUON)
    monkeypatch.setenv("PYTHONPATH", str(tmp_path / "fake"))
    [record] = quality.run([dataset], ["autogluon"], n_splits=1, budget=42.0,
                           autogluon_python=sys.executable, out=io.StringIO())
    if dataset == "concrete":
        assert 14.0 < record["scores"]["rmse"] < 19.0  # the mean's error
    else:
        assert record["scores"]["accuracy"] == pytest.approx(0.70, abs=0.03)  # "unacc"
    with pytest.raises(RuntimeError, match="needs --autogluon-python"):
        quality.run([dataset], ["autogluon"], n_splits=1, budget=42.0, out=io.StringIO())


def test_the_summary_says_what_the_refit_handed_over_on_how_many_splits() -> None:
    def ours(dataset: str, split: int, handed: str, **values: float) -> dict:
        return {"dataset": dataset, "tool": "ours", "split": split, "seconds": 300,
                "scores": {"rmse": 4.0}, "metric": "rmse",
                "refit": {"handed_over": handed,
                          **{f"val_rmse_{kind}": v for kind, v in values.items()}}}

    table = quality.summarise([
        ours("concrete", 0, "refitted", original=4.0, original_unseen=4.2, refitted=3.8),
        ours("concrete", 1, "original", original=3.5, original_unseen=3.6, refitted=3.7),
        ours("concrete", 2, "refitted", original=4.5, original_unseen=4.6, refitted=4.1),
        # a record from before December 2026: "both" and no unseen-rows figure
        ours("diabetes", 0, "both", original=55.0, refitted=56.0, both=54.0),
    ])
    lines = table.splitlines()
    head = lines.index("| metric | original | original_unseen | refitted | handed over |")
    assert lines[head + 2] == ("| rmse | 4 ± 0.29 | 4.133 ± 0.29 | 3.867 ± 0.12 | "
                               "refitted 2/3, original 1/3 |")
    older = lines.index("| metric | original | refitted | both | handed over |")
    assert lines[older + 2] == "| rmse | 55 | 56 | 54 | both 1/1 |"
    assert "on rows the choice did not see" in table


def test_compare_pairs_two_runs_split_by_split(tmp_path, capsys) -> None:
    def run(values: list[float]) -> list[dict]:
        return [{"dataset": "concrete", "tool": "ours", "split": k, "scores": {"rmse": v}}
                for k, v in enumerate(values)]

    before, after = tmp_path / "before.json", tmp_path / "after.json"
    before.write_text(json.dumps(run([4.0, 3.0, 5.0])))
    after.write_text(json.dumps(run([3.8, 3.1, 4.6])[:3] + run([9.0] * 4)[3:]))
    assert quality.main(["--compare", str(before), str(after)]) == 0
    row = capsys.readouterr().out.strip().splitlines()[-1]
    # differences -0.2, +0.1, -0.4: the split without a partner is left out
    assert row == "| concrete | ours | rmse | 3 | 4 ± 0.58 | 3.833 ± 0.43 | -0.1667 ± 0.15 | 2/3 |"
    after.write_text(json.dumps([{"dataset": "car", "tool": "ours", "split": 0,
                                  "scores": {"log_loss": 0.1}}]))
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--compare", str(before), str(after)])
    assert exit_.value.code == 2 and "share no split" in capsys.readouterr().err


def test_the_budget_curve_says_from_which_budget_ours_is_ahead(tmp_path, capsys) -> None:
    def runs(tool: str, budget: float | None, values: list[float]) -> list[dict]:
        return [{"dataset": "concrete", "tool": tool, "split": k, "scores": {"rmse": v},
                 "settings": {"budget": budget, "search_args": [], "grid_epochs": 100}}
                for k, v in enumerate(values)]

    files = {60: runs("ours", 60.0, [4.4, 4.0]) + runs("autogluon", 60.0, [3.9, 3.7]),
             120: runs("ours", 120.0, [3.8, 3.6]) + runs("autogluon", 120.0, [3.6, 3.6]),
             # the default budget is recorded as none; CatBoost has no budget
             300: runs("ours", None, [3.5, 3.3]) + runs("autogluon", None, [3.6, 3.5])
             + runs("catboost", None, [3.9, 3.7])}
    paths = []
    for budget, records in files.items():
        paths.append(tmp_path / f"b{budget}.json")
        paths[-1].write_text(json.dumps(records))
    assert quality.main(["--curve", *map(str, paths)]) == 0
    out = capsys.readouterr().out
    assert "| concrete | rmse | 60 s | 4.2 ± 0.2 | 3.8 ± 0.1 | 3.8 ± 0.1 |" in out
    assert "| concrete | rmse | 300 s | 3.4 ± 0.1 | 3.55 ± 0.05 | 3.8 ± 0.1 |" in out
    # behind AutoGluon at 120 s (3.7 against 3.6), ahead at 300 s; ahead of CatBoost's
    # 3.8 at 120 s and 300 s, not at 60 s
    assert "concrete, rmse: ours is ahead of autogluon from 300 s; catboost from 120 s." in out
    del files[300]
    # behind both at the largest budget: ahead at a smaller one does not count
    paths[-1].write_text(json.dumps(runs("ours", None, [4.5, 4.5])
                                    + runs("catboost", None, [3.9, 3.7])))
    assert quality.main(["--curve", *map(str, paths)]) == 0
    assert "ours is ahead of autogluon at no budget measured; catboost at no budget" in (
        capsys.readouterr().out)
    paths[0].write_text(json.dumps(runs("catboost", None, [3.9])))
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--curve", str(paths[0])])
    assert exit_.value.code == 2 and "no search of ours" in capsys.readouterr().err
