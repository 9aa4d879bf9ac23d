"""Command line: ``python -m autokeras_lab COMMAND ...``.

Each subcommand lives in its own module with ``add_parser`` and ``run``; heavy
libraries are imported only inside ``run``, so ``--help`` answers at once.
"""

from __future__ import annotations

import argparse
import shlex
import sys
from collections.abc import Sequence
from typing import NoReturn

from autokeras_lab._env import quiet
from autokeras_lab.cli import export, leaderboard, listing, predict, report, retrain, search
from autokeras_lab.errors import AutoKerasLabError, FatalSearchError, UserError

__all__ = ["main"]

COMMANDS = (search, leaderboard, report, retrain, predict, export, listing)


class _Parser(argparse.ArgumentParser):
    """Bad flags get one line, not a usage dump: ``prog: error: ...`` and exit 2."""

    def error(self, message: str) -> NoReturn:
        self.exit(2, f"{self.prog}: error: {message} (see --help)\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="autokeras_lab",
        description="Hyperparameter search for tf.keras models on Ray Tune + Optuna.",
    )
    commands = parser.add_subparsers(dest="command", required=True, parser_class=_Parser)
    for module in COMMANDS:
        module.add_parser(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit code (2 for bad input)."""
    words = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(words)
    # The command recorded with a search, so it can be run again.
    args.command_line = shlex.join(["python", "-m", "autokeras_lab", *words])
    quiet()  # a terminal gets one progress line, not the libraries' chatter
    try:
        return int(args.handler(args))
    except UserError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except FatalSearchError as exc:
        print(f"search stopped: {exc}", file=sys.stderr)
        return 1
    except AutoKerasLabError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        return 130
