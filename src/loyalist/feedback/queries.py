"""Read side: the themes view (most frequent reasons per period and their trend)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.errors import ValidationFailed
from loyalist.feedback.analyzer import SENTIMENTS
from loyalist.feedback.models import FeedbackItem, FeedbackItemTag
from loyalist.feedback.schemas import ThemeRow, ThemesRead

PERIODS = ("week", "month")


def period_bounds(period: str, as_of: datetime) -> tuple[datetime, datetime, datetime]:
    """(previous start, start, end) of the calendar week (Monday) or month containing `as_of`, in UTC."""
    at = as_of.astimezone(UTC)
    if period == "week":
        start = datetime(at.year, at.month, at.day, tzinfo=UTC) - timedelta(days=at.weekday())
        return start - timedelta(days=7), start, start + timedelta(days=7)
    if period == "month":
        start = datetime(at.year, at.month, 1, tzinfo=UTC)
        end = datetime(at.year + (at.month == 12), at.month % 12 + 1, 1, tzinfo=UTC)
        prev = datetime(at.year - (at.month == 1), (at.month - 2) % 12 + 1, 1, tzinfo=UTC)
        return prev, start, end
    raise ValidationFailed(f"period: must be one of {list(PERIODS)}", field="period")


def _counts(session: Session, start: datetime, end: datetime, language: str | None,
            sentiment: str | None) -> tuple[int, dict[str, int]]:
    items = select(func.count()).select_from(FeedbackItem).where(FeedbackItem.occurred_at >= start,
                                                                 FeedbackItem.occurred_at < end)
    tags = (select(FeedbackItemTag.code, func.count()).where(FeedbackItemTag.occurred_at >= start,
                                                             FeedbackItemTag.occurred_at < end)
            .group_by(FeedbackItemTag.code))
    if language is not None:
        items = items.where(FeedbackItem.language == language)
        tags = tags.where(FeedbackItemTag.language == language)
    if sentiment is not None:
        items = items.where(FeedbackItem.sentiment == sentiment)
        tags = tags.where(FeedbackItemTag.sentiment == sentiment)
    total = session.scalar(items) or 0
    return total, {code: int(n) for code, n in session.execute(tags).all()}


def themes(session: Session, *, period: str = "month", as_of: datetime | None = None, language: str | None = None,
           sentiment: str | None = None, limit: int = 20) -> ThemesRead:
    """Reasons in the period containing `as_of`, most frequent first, with the share of items that
    carry each reason and the change of that share against the previous period."""
    if as_of is None:
        as_of = clock.now()
    elif as_of.tzinfo is None:
        raise ValidationFailed("as_of: must include a timezone", field="as_of")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValidationFailed(f"sentiment: must be one of {list(SENTIMENTS)}", field="sentiment")
    if not 1 <= limit <= 100:
        raise ValidationFailed("limit: must be between 1 and 100", field="limit")
    prev_start, start, end = period_bounds(period, as_of)
    total, counts = _counts(session, start, end, language, sentiment)
    prev_total, prev_counts = _counts(session, prev_start, start, language, sentiment)
    rows = []
    for code in sorted(set(counts) | set(prev_counts), key=lambda c: (-counts.get(c, 0), -prev_counts.get(c, 0), c)):
        n, p = counts.get(code, 0), prev_counts.get(code, 0)
        share = round(n / total, 4) if total else 0.0
        prev_share = round(p / prev_total, 4) if prev_total else 0.0
        rows.append(ThemeRow(code=code, count=n, share=share, previous_count=p, previous_share=prev_share,
                             trend=round(share - prev_share, 4)))
    return ThemesRead(period=period, start=start, end=end, previous_start=prev_start,  # type: ignore[arg-type]
                      language=language, total_items=total, previous_total_items=prev_total, rows=rows[:limit])
