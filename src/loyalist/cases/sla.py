"""Business-hours arithmetic for SLAs. Pure: no database, no clock, no settings.

Why it exists: "respond within 4 hours" means four *working* hours. A complaint that arrives on
Friday at 16:00 with a 480-minute budget is due on Monday at 16:00 (one hour on Friday, seven on
Monday), not on Saturday at midnight. Holidays are whole days without business hours.

The calendar is a weekly pattern in the business timezone: for each weekday (0 = Monday) a list
of opening intervals as minutes after local midnight (``(540, 1020)`` is 09:00-17:00; 1440 means
midnight at the end of the day). Intervals are turned into UTC instants per local date, so the
arithmetic stays right across daylight-saving changes (an interval is wall-clock time).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

Interval = tuple[int, int]

# Monday to Friday, 09:00-17:00: the calendar used until staff configure one.
DEFAULT_WEEK: dict[int, tuple[Interval, ...]] = {d: ((9 * 60, 17 * 60),) for d in range(5)}

# Search horizon: a budget that cannot be spent within ten years means the calendar is empty.
_MAX_DAYS = 3660


@dataclass(frozen=True)
class Calendar:
    timezone: str = "UTC"
    week: Mapping[int, Sequence[Interval]] = field(default_factory=lambda: dict(DEFAULT_WEEK))
    holidays: frozenset[date] = frozenset()

    def __post_init__(self) -> None:
        ZoneInfo(self.timezone)  # unknown zone -> ZoneInfoNotFoundError (a ValueError)
        for weekday, intervals in self.week.items():
            if weekday not in range(7):
                raise ValueError(f"weekday must be 0..6, got {weekday}")
            previous_end = -1
            for start, end in sorted(intervals):
                if not 0 <= start < end <= 1440:
                    raise ValueError(f"interval {start}-{end}: need 0 <= start < end <= 1440")
                if start < previous_end:
                    raise ValueError(f"weekday {weekday}: intervals overlap")
                previous_end = end

    @property
    def has_hours(self) -> bool:
        return any(self.week.get(d) for d in range(7))


def _local_day_intervals(cal: Calendar, day: date) -> list[tuple[datetime, datetime]]:
    """The business intervals of one local date as aware UTC instants (empty on holidays)."""
    if day in cal.holidays:
        return []
    tz = ZoneInfo(cal.timezone)
    midnight = datetime(day.year, day.month, day.day, tzinfo=tz)
    out = []
    for start, end in sorted(cal.week.get(day.weekday(), ())):
        # Wall-clock addition on the same tzinfo, then to UTC: 09:00 local stays 09:00 across DST.
        s = (midnight + timedelta(minutes=start)).astimezone(UTC)
        e = (midnight + timedelta(minutes=end)).astimezone(UTC)
        if end == 1440:
            nxt = day + timedelta(days=1)
            e = datetime(nxt.year, nxt.month, nxt.day, tzinfo=tz).astimezone(UTC)
        out.append((s, e))
    return out


def _intervals_from(cal: Calendar, instant: datetime) -> Iterator[tuple[datetime, datetime]]:
    """Business intervals ending after `instant`, in time order (the first one clipped)."""
    if instant.tzinfo is None:
        raise ValueError("instant must be timezone-aware")
    instant = instant.astimezone(UTC)
    day = instant.astimezone(ZoneInfo(cal.timezone)).date() - timedelta(days=1)
    for _ in range(_MAX_DAYS):
        for s, e in _local_day_intervals(cal, day):
            if e > instant:
                yield max(s, instant), e
        day += timedelta(days=1)
    raise ValueError("the calendar has no business hours within ten years")


def add_business_seconds(start: datetime, seconds: int, cal: Calendar) -> datetime:
    """The instant at which `seconds` of business time after `start` have passed.

    Zero seconds returns `start` itself (a budget already spent is due now, even at night)."""
    if seconds < 0:
        raise ValueError("seconds must be >= 0")
    if seconds == 0:
        return start.astimezone(UTC)
    if not cal.has_hours:
        raise ValueError("the calendar has no business hours")
    remaining = timedelta(seconds=seconds)
    for s, e in _intervals_from(cal, start):
        if remaining <= e - s:
            return s + remaining
        remaining -= e - s
    raise AssertionError("unreachable")  # pragma: no cover


def add_business_minutes(start: datetime, minutes: int, cal: Calendar) -> datetime:
    return add_business_seconds(start, minutes * 60, cal)


def business_seconds_between(start: datetime, end: datetime, cal: Calendar) -> int:
    """Business time between two instants (0 when `end` is not after `start`)."""
    if end <= start or not cal.has_hours:
        return 0
    total = timedelta()
    for s, e in _intervals_from(cal, start):
        if s >= end:
            break
        total += min(e, end) - s
    return int(total.total_seconds())
