"""The quality benchmark keeps its runs as it goes and resumes from them: a run of
hours that dies, or a second sitting, must not redo the searches already scored."""

from __future__ import annotations

import importlib.util
import io
import json
import re
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "scripts" / "benchmark_quality.py"
spec = importlib.util.spec_from_file_location("benchmark_quality", SCRIPT)
assert spec is not None and spec.loader is not None
quality = importlib.util.module_from_spec(spec)
spec.loader.exec_module(quality)


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


def test_resume_without_a_json_file_is_a_clear_usage_error(tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        quality.main(["--tools", "hgb", "--resume", "--json", str(tmp_path / "none.json")])
    assert exit_.value.code == 2
    assert "--resume needs --json" in capsys.readouterr().err
