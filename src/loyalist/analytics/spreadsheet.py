"""CSV cells a spreadsheet will not run as formulas.

Why: exported files are opened in Excel or LibreOffice, and a cell that starts with = + - @ (or a
tab or carriage return) is executed there. Customer ids, names and reasons come from uploaded or
typed data, so every text cell of every CSV export passes through `neutralise`. Lives in
`analytics` (which depends on nothing of ours) so that both the analytics report and the
domains' exports can use the one definition.
"""

from __future__ import annotations

from typing import Any

FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


def neutralise(value: Any) -> str:
    """The cell as text, with a leading apostrophe when it would start a formula."""
    text = "" if value is None else str(value)
    return "'" + text if text.startswith(FORMULA_START) else text
