"""Leaderboard tables and the HTML report, read from the store only.

Example:
    >>> from autokeras_lab.report import format_leaderboard
    >>> print(format_leaderboard([], fmt="table", metric="rmse"))
    (no trials yet)
"""

from autokeras_lab.report._html import build_report, write_report
from autokeras_lab.report._table import (
    FORMATS,
    TABLE_WIDTH,
    format_leaderboard,
    leaderboard_rows,
)

__all__ = ["FORMATS", "TABLE_WIDTH", "build_report", "format_leaderboard", "leaderboard_rows",
           "write_report"]
