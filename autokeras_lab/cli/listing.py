"""``datasets`` and ``spaces``: what is available, one line each."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(commands: Any) -> None:
    datasets = commands.add_parser(
        "datasets", help="list the built-in data sets",
        description="List the built-in data sets and the bundled experiments.",
    )
    datasets.set_defaults(handler=run_datasets)
    spaces = commands.add_parser(
        "spaces", help="list the search spaces",
        description="List the search-space modules in search_spaces/.",
    )
    spaces.set_defaults(handler=run_spaces)


def _print(rows: dict[str, str]) -> None:
    width = max(map(len, rows), default=0)
    for name, description in rows.items():
        print(f"{name.ljust(width)}  {description}")


def run_datasets(args: argparse.Namespace) -> int:
    from autokeras_lab.config import available_experiments
    from autokeras_lab.data import available_datasets

    _print(available_datasets())
    print(f"\nexperiments: {', '.join(available_experiments())} "
          "(python -m autokeras_lab search NAME)")
    print("any CSV: python -m autokeras_lab search --csv FILE --target COLUMN")
    return 0


def run_spaces(args: argparse.Namespace) -> int:
    from autokeras_lab.spaces import available_spaces

    _print(available_spaces())
    return 0
