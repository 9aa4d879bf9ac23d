"""``leaderboard EXPERIMENT``: the ranked trials from the stored leaderboard."""

from __future__ import annotations

import argparse
from typing import Any

from autokeras_lab.cli._types import add_runs_dir, add_search_id, positive_int


def add_parser(commands: Any) -> None:
    from autokeras_lab.leaderboard import STATUSES
    from autokeras_lab.report import FORMATS

    parser = commands.add_parser(
        "leaderboard", help="show the ranked trials of an experiment",
        description="Show the ranked trials of an experiment from the leaderboard file.",
    )
    parser.add_argument("experiment", help="experiment name")
    parser.add_argument("--top", type=positive_int, default=10, help="rows to show (default 10)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    add_search_id(parser, "only this search")
    parser.add_argument("--status", choices=STATUSES, action="append",
                        help="only trials with this status (repeatable)")
    add_runs_dir(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autokeras_lab.errors import UserError
    from autokeras_lab.leaderboard import Leaderboard, leaderboard_path
    from autokeras_lab.report import format_leaderboard

    path = leaderboard_path(args.runs_dir)
    if not path.is_file():
        raise UserError(
            f"no leaderboard at {path}; run `python -m autokeras_lab search "
            f"{args.experiment}` first or pass --runs-dir"
        )
    board = Leaderboard(path)
    searches = board.searches(args.experiment)
    if not searches:
        known = board.experiments()
        raise UserError(
            f"no searches of experiment {args.experiment!r} in {path}; "
            f"experiments there: {', '.join(known) or '(none)'}"
        )
    if args.search and args.search not in {s.search_id for s in searches}:
        raise UserError(
            f"no search {args.search!r} in experiment {args.experiment!r}; searches: "
            + ", ".join(s.search_id for s in searches)
        )
    direction, metric = searches[-1].direction, searches[-1].metric
    trials = board.trials(
        args.experiment,
        search_id=args.search,
        statuses=tuple(args.status) if args.status else None,
        direction=direction,
    )
    print(format_leaderboard(trials[: args.top], fmt=args.format, metric=metric))
    return 0
