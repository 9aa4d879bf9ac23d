"""``report EXPERIMENT``: one self-contained HTML page of a search, with plots."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from autokeras_lab.cli._types import add_runs_dir, add_search_id


def add_parser(commands: Any) -> None:
    parser = commands.add_parser(
        "report", help="write the HTML report of a search",
        description="Write one self-contained HTML file (plots embedded) for a search.",
    )
    parser.add_argument("experiment", help="experiment name")
    parser.add_argument("--out", type=Path, default=None,
                        help="where to write it (default: RUNS/EXPERIMENT/report.html)")
    add_search_id(parser, "which search (default: the latest)")
    add_runs_dir(parser)
    parser.set_defaults(handler=run)


def run(args: argparse.Namespace) -> int:
    from autokeras_lab.report import write_report

    path = write_report(args.runs_dir, args.experiment, out=args.out, search_id=args.search)
    print(f"report: {path}")
    return 0
