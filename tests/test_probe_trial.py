"""scripts/probe_trial.py: the paired comparison it prints, for minimised and maximised
metrics, and the one-line errors it gives bad input (its training run is smoke-tested
in tests/test_scripts.py)."""

from __future__ import annotations

import pytest

from tests.helpers import load_script

probe = load_script("probe_trial")


def _row(text: str, name: str) -> list[str]:
    return next(line.split() for line in text.splitlines() if line.startswith(name))


def test_a_change_is_counted_better_by_the_metric_s_direction() -> None:
    results = {"plr_mlp": [4.0, 4.2, 4.4], "change.py": [3.9, 4.3, 4.2]}
    lower = probe.summary(results, ["plr_mlp", "change.py"], lower_is_better=True)
    # differences -0.1, +0.1, -0.2: mean -0.0667, better on 2 of 3 where lower is better
    assert _row(lower, "change") == ["change", "4.1333", "-0.0667", "±", "0.0882", "2/3"]
    assert _row(lower, "plr_mlp") == ["plr_mlp", "4.2000"]
    higher = probe.summary(results, ["plr_mlp", "change.py"], lower_is_better=False)
    assert _row(higher, "change")[-1] == "1/3"  # an accuracy: only the +0.1 is better


@pytest.mark.parametrize(("args", "message"), [
    (["--config", "not json"], "--config is neither JSON nor a JSON file"),
    (["--config", "[1, 2]"], "--config must be a JSON object"),
    (["--config", "{}", "--spaces", "plr_mlp,plr_mlp"], "a space named twice"),
    (["--config", "{}", "--split", "0"], "--split 0: splits count from 1"),
    (["--config", '{"wdith": 64}'], "plr_mlp has no hyperparameters wdith"),
], ids=["not-json", "not-an-object", "space-twice", "split-0", "unknown-hyperparameter"])
def test_bad_input_gets_one_line_and_exit_2(capsys, args, message) -> None:
    assert probe.main(args) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
