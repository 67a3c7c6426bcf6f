"""Read-side queries of the surveys domain used by the console and reports."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import column, func, select, table
from sqlalchemy.orm import Session

from loyalist.surveys.models import SurveyInvitation, SurveyResponse


def invitation_status_counts(session: Session, survey_id: int) -> dict[str, int]:
    """sent / answered / skipped -> count for one survey."""
    rows = session.execute(select(SurveyInvitation.status, func.count()).where(
        SurveyInvitation.survey_id == survey_id).group_by(SurveyInvitation.status)).all()
    return {status: int(n) for status, n in rows}


def skip_reason_counts(session: Session, survey_id: int) -> dict[str, int]:
    """Why invitations were refused (fatigue, already_invited, inactive) -> count."""
    rows = session.execute(select(SurveyInvitation.skip_reason, func.count()).where(
        SurveyInvitation.survey_id == survey_id, SurveyInvitation.status == "skipped")
        .group_by(SurveyInvitation.skip_reason)).all()
    return {str(reason): int(n) for reason, n in rows}


def last_contacted(session: Session, customer_id: int) -> datetime | None:
    """When the customer was last invited to or answered any survey (the fatigue clock)."""
    invited = session.scalar(select(func.max(SurveyInvitation.created_at)).where(
        SurveyInvitation.customer_id == customer_id, SurveyInvitation.status != "skipped"))
    answered = session.scalar(select(func.max(SurveyResponse.submitted_at)).where(
        SurveyResponse.customer_id == customer_id))
    values = [v for v in (invited, answered) if v is not None]
    return max(values) if values else None


# Read-only view of the purchases table (owned by `purchases`): the store of each customer's
# latest purchase, for many customers in one query. It belongs in `purchases` as a bulk twin of
# `list_purchases(limit=1)`; it lives here while that module is being reworked on another branch.
_PURCHASES = table("purchases", column("id"), column("customer_id"), column("occurred_at"), column("store"))


def last_store_by_customer(session: Session, customer_ids: list[int]) -> dict[int, str | None]:
    """customer -> store of their newest purchase (newest by occurred_at, then id, as
    `purchases.list_purchases` orders); customers without purchases are absent."""
    out: dict[int, str | None] = {}
    wanted = sorted(set(customer_ids))
    for start in range(0, len(wanted), 1000):
        ranked = select(_PURCHASES.c.customer_id, _PURCHASES.c.store, func.row_number().over(
            partition_by=_PURCHASES.c.customer_id,
            order_by=(_PURCHASES.c.occurred_at.desc(), _PURCHASES.c.id.desc())).label("n")).where(
            _PURCHASES.c.customer_id.in_(wanted[start:start + 1000])).subquery()
        out.update({int(c): s for c, s in session.execute(
            select(ranked.c.customer_id, ranked.c.store).where(ranked.c.n == 1))})
    return out
