"""Adapters to the domains that land after the console (surveys, cases, tasks, scores, ...).

Each function returns None when its domain is not installed or has nothing yet; the page then
shows a "no data yet" state. Keeping these calls in one module means a domain's API change
touches one place of the console.
"""

from __future__ import annotations

import importlib
from types import ModuleType
from typing import Any

from sqlalchemy.orm import Session

from loyalist.errors import NotFound


def service(name: str) -> ModuleType | None:
    """`loyalist.<name>.service`, or None when that domain is not installed."""
    try:
        return importlib.import_module(f"loyalist.{name}.service")
    except ModuleNotFoundError:
        return None


def nps_trend(session: Session) -> list[dict[str, Any]] | None:
    """Monthly NPS over all surveys (period, responses, nps) from the surveys domain."""
    svc = service("surveys")
    if svc is None:
        return None
    result = svc.results(session, period="month")
    rows = [{"period": g.group, "responses": g.nps_n, "nps": g.nps} for g in result.trend if g.nps_n]
    return rows or None


def case_sla(session: Session) -> dict[str, Any] | None:
    """Case SLA compliance over the last 30 days from the cases domain (None: no cases yet)."""
    svc = service("cases")
    if svc is None:
        return None
    return svc.sla_summary(session) or None


def themes(session: Session, *, period: str = "month", language: str | None = None,
           sentiment: str | None = None) -> Any:
    """Feedback reasons of the current period with their trend (feedback's read side)."""
    if service("feedback") is None:
        return None
    queries = importlib.import_module("loyalist.feedback.queries")
    return queries.themes(session, period=period, language=language, sentiment=sentiment)


OFFERS_PAGE = 10  # offers shown per page on the 360


def customer_sections(session: Session, customer_id: int, *, allowed: Any, offers_offset: int = 0) -> dict[str, Any]:
    """The 360 parts owned by domains above the loyalty core. A key is absent when the role may
    not see it; its value is None when the domain is not installed or has nothing for the customer.

    Offers are paged in the database: `OFFERS_PAGE + 1` rows from `offers_offset` (the extra row
    only says that there is more), never every offer a long-time customer was ever given."""
    out: dict[str, Any] = {}
    if allowed("scores:read"):
        svc = service("scores")
        try:
            out["scores"] = svc.get_scores(session, customer_id) if svc else None
        except NotFound:
            out["scores"] = None
    if allowed("cases:read"):
        svc = service("cases")
        out["cases"] = svc.list_cases(session, customer_id=customer_id, limit=20).items if svc else None
        out["flags"] = svc.list_flags(session, customer_id=customer_id, limit=20).items if svc else None
    if allowed("surveys:read"):
        svc = service("surveys")
        out["surveys"] = svc.list_responses(session, customer_id=customer_id, limit=10) if svc else None
    if allowed("tasks:read"):
        svc = service("tasks")
        out["tasks"] = svc.list_tasks(session, customer_id=customer_id, limit=20).items if svc else None
    if allowed("offers:read"):
        svc = service("offers")
        out["offers"] = svc.list_customer_offers(session, customer_id, limit=OFFERS_PAGE + 1,
                                                 offset=offers_offset) if svc else None
    if allowed("feedback:read"):
        svc = service("feedback")
        out["feedback"] = svc.list_items(session, customer_id=customer_id, limit=10).items if svc else None
    return out
