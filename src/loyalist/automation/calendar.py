"""Date arithmetic of the date triggers: local days per timezone and the Feb 29 rule.

Why: a birthday is a date in the customer's life, not an instant. "Today" differs by timezone
(at 11:00 UTC on 1 March it is already 2 March in Auckland and still 1 March in Los Angeles),
so each customer's day is computed in their own timezone (`customers.timezone`, else the
business timezone from settings). A 29 February birthday or join date is celebrated on
28 February in years without that day (the last day of the birth month, the common convention;
1 March would move it into another month).
"""

from __future__ import annotations

import calendar as _cal
from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def zone(name: str | None, fallback: str) -> ZoneInfo:
    """The customer's zone; an unknown or empty name falls back to the business timezone."""
    for candidate in (name, fallback, "UTC"):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo("UTC")


def local_day(instant: datetime, tz: ZoneInfo) -> date:
    return instant.astimezone(tz).date()


def window(instant: datetime, tz: ZoneInfo, catch_up_days: int) -> list[date]:
    """The local days a date trigger may still fire for: today and `catch_up_days` before it."""
    today = local_day(instant, tz)
    return [today - timedelta(days=n) for n in range(catch_up_days, -1, -1)]


def observed(month: int, day: int, year: int) -> date:
    """The day a recurring (month, day) is observed in `year` (29 Feb -> 28 Feb in common years)."""
    if month == 2 and day == 29 and not _cal.isleap(year):
        return date(year, 2, 28)
    return date(year, month, day)


def month_days_on(target: date) -> set[tuple[int, int]]:
    """Every (month, day) observed on `target`: itself, plus (2, 29) on 28 Feb of a common year."""
    pairs = {(target.month, target.day)}
    if target.month == 2 and target.day == 28 and not _cal.isleap(target.year):
        pairs.add((2, 29))
    return pairs


def falls_on(month: int, day: int, target: date) -> bool:
    return observed(month, day, target.year) == target
