"""Argument types that reject bad values with a message naming the expectation."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _number(
    convert: Callable[[str], float], accept: Callable[[float], bool], expected: str
) -> Callable[[str], float]:
    def parse(text: str) -> float:
        try:
            value = convert(text)
        except ValueError:
            value = None
        if value is None or not accept(value):
            raise argparse.ArgumentTypeError(f"expected {expected}, received {text!r}")
        return value

    return parse


positive_int = _number(int, lambda v: v > 0, "a positive whole number")
non_negative_int = _number(int, lambda v: v >= 0, "a whole number >= 0")
positive_float = _number(float, lambda v: v > 0, "a positive number")
non_negative_float = _number(float, lambda v: 0 <= v < float("inf"), "a number >= 0")


def add_runs_dir(parser: Any) -> None:
    parser.add_argument("--runs-dir", type=Path, default=Path("runs"),
                        help="leaderboard, checkpoints and exports (default: ./runs)")


def add_search_id(parser: Any, help_text: str) -> None:
    parser.add_argument("--search", default=None, metavar="ID", help=help_text)


def add_unsafe(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--unsafe", action="store_true",
        help="load a model that carries Python code (a Lambda layer); only for models "
        "from a source you trust (safe mode refuses them by default)",
    )
