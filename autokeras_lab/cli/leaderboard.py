"""``leaderboard EXPERIMENT``: the ranked trials from the stored leaderboard."""

from __future__ import annotations

import argparse
from typing import Any

from autokeras_lab.cli._types import add_runs_dir, add_search_id, positive_int


def add_parser(commands: Any) -> None:
    from autokeras_lab.report import FORMATS
    from autokeras_lab.types import TrialStatus

    parser = commands.add_parser(
        "leaderboard", help="show the ranked trials of an experiment",
        description="Show the ranked trials of an experiment from the leaderboard file.",
    )
    parser.add_argument("experiment", help="experiment name")
    parser.add_argument("--top", type=positive_int, default=10, help="rows to show (default 10)")
    parser.add_argument("--format", choices=FORMATS, default="table", help="output format")
    parser.add_argument("--wide", action="store_true",
                        help="every column in the table, however wide (default: 100 characters)")
    add_search_id(parser, "only this search")
    parser.add_argument("--status", choices=tuple(TrialStatus), type=TrialStatus, action="append",
                        help="only trials with this status (repeatable)")
    add_runs_dir(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autokeras_lab.leaderboard import find_search
    from autokeras_lab.report import TABLE_WIDTH, format_leaderboard

    board, latest = find_search(args.runs_dir, args.experiment, args.search)
    trials = board.trials(
        args.experiment,
        search_id=args.search,
        statuses=tuple(args.status) if args.status else None,
        direction=latest.direction,
    )
    ensembles = [] if args.status else board.ensembles(
        args.experiment, search_id=args.search, direction=latest.direction)
    print(format_leaderboard(trials, fmt=args.format, metric=latest.metric,
                             ensembles=ensembles, top=args.top,
                             width=None if args.wide else TABLE_WIDTH))
    return 0
