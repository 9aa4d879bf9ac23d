"""The end of a search run: the top trials evaluated on the held-out test split, the
best one exported, the search closed on the leaderboard."""

from __future__ import annotations

import time

from autokeras_lab.errors import FatalSearchError
from autokeras_lab.search._run import SearchResult, SearchRun

TEST_EVALUATED_TOP = 5


def finish(run: SearchRun, status: str, started: float) -> SearchResult:
    """Evaluate the top trials on the test split, export the best and close the search.

    Raises:
        FatalSearchError: no trial produced a model.
    """
    from autokeras_lab.export import evaluate_on_test, export_best

    setup, board = run.setup, run.board
    trials = run.trials()
    ranked = [t for t in trials if t.checkpoint_path and t.best_val is not None]
    if not ranked:
        board.finish_search(run.search_id, status="failed")
        reasons = {t.failure_reason for t in trials if t.failure_reason}
        raise FatalSearchError(
            f"no trial of search {run.search_id} produced a model"
            + (f" (failures: {'; '.join(sorted(reasons))[:300]})" if reasons else "")
            + "; raise --max-epochs or --time-budget, or check the search space"
        )
    for trial in ranked[:TEST_EVALUATED_TOP]:
        if trial.test_metric is None:  # a resumed search keeps earlier evaluations
            test = evaluate_on_test(trial, setup.prepared, setup.builder)
            board.set_test_metrics(run.search_id, trial.trial_id, test,
                                   main=setup.experiment.metric)
    trials = run.trials()
    best = next(t for t in trials if t.trial_id == ranked[0].trial_id)
    export_dir = export_best(
        best, board.find(run.experiment_name, run.search_id), prepared=setup.prepared,
        builder=setup.builder, runs_dir=run.layout.root,
    )
    board.finish_search(run.search_id, status=status, best_trial_id=best.trial_id,
                        export_dir=str(export_dir))
    return SearchResult(
        search_id=run.search_id,
        experiment=run.experiment_name,
        metric=setup.experiment.metric,
        direction=run.direction,
        status=status,
        wall_seconds=time.perf_counter() - started,
        trials=trials,
        leaderboard_path=board.path,
        export_dir=export_dir,
        best_trial_id=best.trial_id,
    )
