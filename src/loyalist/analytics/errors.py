"""Errors raised by the analytics package.

Analytics depends on nothing else of ours, so it has its own small error type; the CLI and the
API translate it (exit code 2 / HTTP 422). Messages name the file, the column and the rows.
"""

from __future__ import annotations


class AnalyticsInputError(ValueError):
    """The input cannot be analysed as given; `message` says what to change."""

    def __init__(self, message: str, *, column: str | None = None, rows: list[int] | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.column = column
        self.rows = rows or []
