"""The pure date rules: observed day of 29 Feb, the days a (month, day) is observed on, local days."""

from __future__ import annotations

from datetime import UTC, date, datetime

from loyalist.automation import calendar


def test_feb_29_is_observed_on_feb_28_in_common_years():
    assert calendar.observed(2, 29, 2027) == date(2027, 2, 28)
    assert calendar.observed(2, 29, 2028) == date(2028, 2, 29)
    assert calendar.observed(2, 29, 2100) == date(2100, 2, 28)  # century rule: 2100 is not a leap year
    assert calendar.observed(2, 29, 2000) == date(2000, 2, 29)
    assert calendar.month_days_on(date(2027, 2, 28)) == {(2, 28), (2, 29)}
    assert calendar.month_days_on(date(2028, 2, 28)) == {(2, 28)}
    assert calendar.month_days_on(date(2028, 2, 29)) == {(2, 29)}
    assert calendar.falls_on(2, 29, date(2027, 2, 28)) is True
    assert calendar.falls_on(2, 29, date(2027, 3, 1)) is False


def test_local_day_and_window_per_zone():
    instant = datetime(2027, 3, 1, 12, 0, tzinfo=UTC)
    assert calendar.local_day(instant, calendar.zone("Pacific/Auckland", "UTC")) == date(2027, 3, 2)
    assert calendar.local_day(instant, calendar.zone("America/Los_Angeles", "UTC")) == date(2027, 3, 1)
    assert calendar.window(instant, calendar.zone(None, "Europe/Copenhagen"), 2) == [
        date(2027, 2, 27), date(2027, 2, 28), date(2027, 3, 1)]
    # an unknown zone name falls back to the business zone
    assert calendar.zone("Mars/Olympus", "Asia/Tokyo").key == "Asia/Tokyo"
