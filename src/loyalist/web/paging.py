"""Offset pagination for console lists, in two shapes the `_macros.html` pagers render.

- `Window`: the domain query fetched `limit + 1` rows at `offset`; the extra row only says
  that a next page exists, so no COUNT runs over a table that may grow large.
- `Slice`: for small configuration lists whose service offers no paging (rewards, earning rules,
  staff, API keys): the page is cut from the full list, with its total.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

PAGE = 25


@dataclass(frozen=True)
class Window:
    items: list[Any]
    offset: int
    limit: int
    more: bool
    href: Callable[[int], str]

    @property
    def prev_href(self) -> str | None:
        return self.href(max(0, self.offset - self.limit)) if self.offset > 0 else None

    @property
    def next_href(self) -> str | None:
        return self.href(self.offset + self.limit) if self.more else None

    @property
    def first(self) -> int:
        return self.offset + 1 if self.items else 0

    @property
    def last(self) -> int:
        return self.offset + len(self.items)


def window(rows: Sequence[Any], *, offset: int, href: Callable[[int], str], limit: int = PAGE) -> Window:
    """`rows` came from a query with LIMIT `limit + 1` OFFSET `offset`."""
    return Window(items=list(rows[:limit]), offset=offset, limit=limit, more=len(rows) > limit, href=href)


@dataclass(frozen=True)
class Slice:
    items: list[Any]
    total: int
    offset: int
    limit: int


def cut(rows: Sequence[Any], *, offset: int, limit: int = PAGE) -> Slice:
    return Slice(items=list(rows[offset:offset + limit]), total=len(rows), offset=offset, limit=limit)
