"""Everything that ranks, selects or exports picks the best trial by the metric's own
direction, on every task kind, for minimised and maximised metrics alike.

Each case runs the commands a user types (in this process, on the shared Ray
runtime, tiny budgets) and checks them against the stored values with plain
``min``/``max``, independent of the package's own ranking code.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from autokeras_lab.cli import main
from autokeras_lab.leaderboard import Leaderboard, TrialRecord
from autokeras_lab.types import Direction

pytestmark = pytest.mark.slow

CASES = {  # id: (experiment, metric)
    "regression-rmse": ("concrete", "rmse"),
    "regression-mae": ("concrete", "mae"),
    "binary-accuracy": ("moons", "accuracy"),
    "binary-log_loss": ("moons", "log_loss"),
    "multiclass-accuracy": ("iris", "accuracy"),
    "multiclass-log_loss": ("iris", "log_loss"),
}
BEST = {"rmse": min, "mae": min, "log_loss": min, "accuracy": max}
TRIALS = 7  # more than the five the search evaluates on the test split


def _run(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    code = main(list(argv))
    captured = capsys.readouterr()
    assert code == 0, captured.err[-3000:]
    return captured.out


def _printed_rank_one(out: str) -> int:
    """The trial number in rank 1 of the leaderboard table ``search`` printed."""
    lines = out.splitlines()
    header = next(i for i, line in enumerate(lines) if line.startswith("rank"))
    columns = lines[header].split()
    first = lines[header + 2].split()
    assert first[columns.index("rank")] == "1"
    return int(first[columns.index("trial")])


def _report_rank_one(page: str) -> tuple[int, float]:
    """Rank 1's trial number in the report's table, and the headline's best value."""
    table = page[page.index('<table id="leaderboard">'):]
    head = re.findall(r"<th[^>]*>(.*?)</th>", table.split("</thead>")[0])
    first_row = re.search(r"<tbody><tr[^>]*>(.*?)</tr>", table)
    assert first_row is not None
    cells = re.findall(r"<td[^>]*>(.*?)</td>", first_row.group(1))
    headline = re.search(r'<div class="card"><b>([^<]*)</b><span>best validation', page)
    assert headline is not None
    return int(cells[head.index("trial")]), float(headline.group(1))


@pytest.mark.parametrize(("experiment", "metric"), CASES.values(), ids=CASES.keys())
def test_every_ranking_hands_over_the_best_trial(
    ray_session, tmp_path: Path, capsys: pytest.CaptureFixture[str], experiment: str,
    metric: str,
) -> None:
    best_of = BEST[metric]
    runs = str(tmp_path)
    out = _run(capsys, "search", experiment, "--metric", metric, "--trials", str(TRIALS),
               "--max-epochs", "4", "--seed", "0", "--runs-dir", runs)
    assert out.count("best model:") == 1, out

    board = Leaderboard(tmp_path / "leaderboard.db")
    [search] = board.searches(experiment)
    assert (search.metric, search.direction) == (metric, "max" if best_of is max else "min")
    trials = {t.number: t for t in board.trials(experiment, direction=Direction.MIN)}
    scored = [t for t in trials.values() if t.best_val is not None]
    values = [t.best_val for t in scored]
    assert len(scored) == TRIALS and len(set(values)) > 1, values  # a wrong order would show
    best = best_of(values)

    def better_or_equal(a: TrialRecord, b: TrialRecord) -> bool:
        return best_of(a.best_val, b.best_val) == a.best_val

    # search's printed leaderboard
    assert trials[_printed_rank_one(out)].best_val == best

    # leaderboard --format json: rank 1 first, every row at least as good as the next
    rows = json.loads(_run(capsys, "leaderboard", experiment, "--format", "json",
                           "--top", "100", "--runs-dir", runs))
    assert rows[0]["best_val"] == best
    ordered = [row["best_val"] for row in rows]
    assert ordered == sorted(ordered, reverse=best_of is max)

    # the exported model is the best trial, in the search's directory and the experiment's
    for card_path in (tmp_path / experiment / "best" / "card.json",
                      tmp_path / experiment / "searches" / search.search_id / "best" / "card.json"):
        card = json.loads(card_path.read_text())
        exported = next(t for t in scored if t.trial_id == card["trial_id"])
        assert exported.best_val == best
        assert card["metrics"][f"val_{metric}"] == best and card["direction"] == search.direction
    assert search.best_trial_id == card["trial_id"]

    # the held-out test evaluation ran on the top trials, none better left out
    evaluated = [t for t in scored if t.test_metric is not None]
    left_out = [t for t in scored if t.test_metric is None]
    assert len(evaluated) == 5 and len(left_out) == TRIALS - 5
    assert all(better_or_equal(e, o) for e in evaluated for o in left_out)

    # the report: rank 1 of its table and its headline
    number, headline = _report_rank_one((tmp_path / experiment / "report.html").read_text())
    assert trials[number].best_val == best
    assert headline == pytest.approx(best, rel=1e-3)

    # retrain --top 2 retrains the two best configurations
    _run(capsys, "retrain", experiment, "--top", "2", "--seeds", "1", "--epochs", "1",
         "--runs-dir", runs)
    picked = {r.source_trial_id for r in board.retrains(experiment) if r.kind == "run"}
    picked_values = sorted(t.best_val for t in scored if t.trial_id in picked)
    assert picked_values == sorted(sorted(values, reverse=best_of is max)[:2])

    # --warm-start proposes the best earlier configuration first
    _run(capsys, "search", experiment, "--metric", metric, "--warm-start", "--trials", "1",
         "--max-epochs", "1", "--seed", "1", "--runs-dir", runs, "--no-report")
    warm = [s for s in board.searches(experiment) if s.search_id != search.search_id]
    [first] = board.trials(experiment, search_id=warm[0].search_id, direction=Direction.MIN)
    assert first.config in [t.config for t in scored if t.best_val == best]
