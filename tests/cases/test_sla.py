"""Business-hours arithmetic, hand-computed (calendar Mon-Fri 09:00-17:00 unless stated)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from loyalist.cases.sla import Calendar, add_business_minutes, add_business_seconds, business_seconds_between

UTC_CAL = Calendar()


def d(day: int, hour: int, minute: int = 0, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, minute, tzinfo=UTC)


@pytest.mark.parametrize(("start", "minutes", "due"), [
    (d(2, 10), 60, d(2, 11)),             # Monday, inside hours
    (d(2, 16), 60, d(2, 17)),             # ends exactly at closing, not the next morning
    (d(2, 17), 1, d(3, 9, 1)),            # at closing: the next business minute is Tuesday 09:00
    (d(5, 20), 30, d(6, 9, 30)),          # Thursday night -> Friday morning
    (d(6, 16), 480, d(9, 16)),            # Friday 16:00: 1 h Friday + 7 h Monday
    (d(7, 10), 60, d(9, 10)),             # Saturday: the clock starts on Monday 09:00
    (d(2, 9), 2400, d(6, 17)),            # 40 business hours = Monday 09:00 to Friday 17:00
    (d(2, 3), 0, d(2, 3)),                # zero budget is due at once, even at night
])
def test_add_business_minutes(start: datetime, minutes: int, due: datetime) -> None:
    assert add_business_minutes(start, minutes, UTC_CAL) == due


def test_holiday_is_skipped() -> None:
    cal = Calendar(holidays=frozenset({date(2026, 3, 9)}))
    # Friday 16:00 + 8 h: 1 h Friday, Monday is a holiday, 7 h Tuesday.
    assert add_business_minutes(d(6, 16), 480, cal) == d(10, 16)


def test_lunch_break_and_midnight_close() -> None:
    cal = Calendar(week={0: ((540, 720), (780, 1020)), 5: ((1200, 1440),)})
    # Monday 11:30 + 60: 30 min before lunch, 30 after 13:00.
    assert add_business_minutes(d(2, 11, 30), 60, cal) == d(2, 13, 30)
    # Saturday 23:30 + 60: 30 min to midnight, then Monday 09:00 + 30.
    assert add_business_minutes(d(7, 23, 30), 60, cal) == d(9, 9, 30)


def test_business_timezone_and_daylight_saving() -> None:
    cph = Calendar(timezone="Europe/Copenhagen")
    # Friday 27 March 15:00 UTC is 16:00 CET: 1 h left that day. Summer time starts Sunday 29
    # March, so Monday 09:00 CEST is 07:00 UTC; the second hour ends at 08:00 UTC.
    assert add_business_minutes(d(27, 15), 120, cph) == d(30, 8)


def test_seconds_between() -> None:
    assert business_seconds_between(d(6, 16), d(9, 10), UTC_CAL) == 2 * 3600
    assert business_seconds_between(d(7, 8), d(7, 20), UTC_CAL) == 0        # all Saturday
    assert business_seconds_between(d(2, 12), d(6, 17), UTC_CAL) == 37 * 3600
    assert business_seconds_between(d(3, 10), d(2, 10), UTC_CAL) == 0       # end before start
    # Round trip: adding what lies between gives the end back (when the end is in hours).
    assert add_business_seconds(d(2, 12), 37 * 3600, UTC_CAL) == d(6, 17)


def test_bad_calendars_are_refused() -> None:
    with pytest.raises(ValueError, match="interval"):
        Calendar(week={0: ((600, 500),)})
    with pytest.raises(ValueError, match="overlap"):
        Calendar(week={0: ((540, 720), (700, 800))})
    with pytest.raises(ValueError, match="no business hours"):
        add_business_minutes(d(2, 9), 10, Calendar(week={}))
    with pytest.raises(ValueError, match="aware"):
        add_business_minutes(datetime(2026, 3, 2, 9), 10, UTC_CAL)
