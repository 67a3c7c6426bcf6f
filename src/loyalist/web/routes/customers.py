"""Customer search and the customer 360 page, with the staff actions that belong to one customer
(log a note or call, goodwill points)."""

from __future__ import annotations

import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from loyalist.customers import service as customers
from loyalist.customers.schemas import STATUSES
from loyalist.errors import DomainError, NotFound
from loyalist.interactions import service as interactions
from loyalist.interactions.schemas import CHANNELS, KINDS, InteractionCreate
from loyalist.ledger import service as ledger
from loyalist.purchases import service as purchases
from loyalist.rewards import service as rewards
from loyalist.staff.sessions import ConsoleSession
from loyalist.tiers import service as tiers
from loyalist.web import auth, domains, paging
from loyalist.web.auth import DbDep, needs
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
PAGE = 25


@router.get("/customers")
def search(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("customers:read"))],
           q: str = "", status: str = "", tag: str = "",
           offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    errors: dict[str, str] = {}
    page = None
    try:
        page = customers.list_customers(db, q=q or None, status=status or None, tag=tag or None,
                                        limit=PAGE, offset=offset)
    except DomainError as exc:
        errors = errors_of(exc)
    return render(request, "customers.html", title="Customers", page=page, errors=errors,
                  form={"q": q, "status": status, "tag": tag}, statuses=STATUSES,
                  page_href=lambda o: url(request, "/customers", q=q, status=status, tag=tag, offset=o))


def _customer_or_404(db: Any, customer_id: int) -> Any:
    try:
        return customers.get_customer(db, customer_id)
    except NotFound:
        raise
    except DomainError as exc:  # a merged/erased id still resolves through get_customer's own rules
        raise NotFound(exc.message, field="customer_id") from exc


def customer_context(request: Request, db: Any, me: ConsoleSession, customer_id: int, *,
                     kind: str = "", offset: int = 0, offers_offset: int = 0) -> dict[str, Any]:
    """Everything the 360 page shows, each part read through its domain's service."""
    customer = _customer_or_404(db, customer_id)
    ctx: dict[str, Any] = {"c": customer, "kind": kind, "kinds": sorted(KINDS), "channels": sorted(CHANNELS)}
    timeline = interactions.list_timeline(db, customer_id, kinds=[kind] if kind else None, limit=PAGE, offset=offset)
    ctx["timeline"] = timeline
    ctx["timeline_href"] = lambda o: url(request, f"/customers/{customer_id}", kind=kind, offset=o) + "#timeline"
    if auth.allows(me, "ledger:read"):
        ctx["balance"] = ledger.get_balance(db, customer_id)
        ctx["lots"] = ledger.list_lots(db, customer_id, open_only=True)
        ctx["entries"] = ledger.list_entries(db, customer_id, limit=10, offset=0)
    if auth.allows(me, "tiers:read"):
        ctx["tier"] = tiers.customer_view(db, customer_id)
    if auth.allows(me, "rewards:read"):
        ctx["vouchers"] = rewards.list_vouchers(db, customer_id)
    if auth.allows(me, "purchases:read"):
        ctx["purchases"] = purchases.list_purchases(db, customer_id, limit=5, offset=0)
    ctx["extra"] = domains.customer_sections(db, customer_id, allowed=lambda p: auth.allows(me, p),
                                             offers_offset=offers_offset)
    if ctx["extra"].get("offers") is not None:
        ctx["offers_win"] = paging.window(
            ctx["extra"]["offers"], offset=offers_offset, limit=domains.OFFERS_PAGE,
            href=lambda o: url(request, f"/customers/{customer_id}", kind=kind, offset=offset,
                               offers_offset=o) + "#h-offers")
        ctx["extra"]["offers"] = ctx["offers_win"].items
    ctx["note_form"] = {"kind": "note", "channel": "phone"}
    ctx["note_errors"], ctx["comp_errors"] = {}, {}
    ctx["comp_form"] = {"idempotency_key": secrets.token_urlsafe(12)}
    return ctx


@router.get("/customers/{customer_id}")
def customer_360(request: Request, customer_id: int, db: DbDep,
                 me: Annotated[ConsoleSession, Depends(needs("customers:read"))],
                 kind: str = "", offset: Annotated[int, Query(ge=0)] = 0,
                 offers_offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    if kind and kind not in KINDS:
        return render(request, "customer.html", status_code=400, title="Customer",
                      errors={"kind": f"unknown kind {kind!r}"},
                      **customer_context(request, db, me, customer_id))
    ctx = customer_context(request, db, me, customer_id, kind=kind, offset=offset, offers_offset=offers_offset)
    return render(request, "customer.html", title=ctx["c"].name or f"Customer {customer_id}", **ctx)


@router.post("/customers/{customer_id}/notes")
async def log_note(request: Request, customer_id: int, db: DbDep,
                   me: Annotated[ConsoleSession, Depends(needs("interactions:write"))]) -> Response:
    form = dict(await request.form())
    r = Reader(form)
    summary = r.text("summary", required=True, max_len=4000)
    kind = r.text("kind", required=True)
    channel = r.text("channel", required=True)
    try:
        r.check()
        data = InteractionCreate(kind=kind or "", channel=channel or "", summary=summary or "",
                                 direction="internal" if kind == "note" else "inbound")
        interactions.log_interaction(db, customer_id=_customer_or_404(db, customer_id).id, data=data, actor=me.actor)
    except (FormInvalid, DomainError, ValueError) as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        db.begin()
        ctx = customer_context(request, db, me, customer_id)
        ctx["note_form"] = form
        ctx.pop("note_errors")
        return render(request, "customer.html", status_code=400, title="Customer",
                      note_errors=_errors(exc), **ctx)
    return RedirectResponse(url(request, f"/customers/{customer_id}", flash="Logged on the timeline.") + "#timeline",
                            status_code=303)


@router.post("/customers/{customer_id}/compensation")
async def compensate(request: Request, customer_id: int, db: DbDep,
                     me: Annotated[ConsoleSession, Depends(needs("ledger:compensate"))]) -> Response:
    form = dict(await request.form())
    r = Reader(form)
    points = r.integer("points", required=True, minimum=1)
    reason = r.text("reason", required=True, max_len=500)
    key = r.text("idempotency_key", required=True, max_len=100)
    try:
        r.check()
        ledger.compensate(db, customer_id=_customer_or_404(db, customer_id).id, points=points or 0,
                          reason=reason or "", actor=me.actor, idempotency_key=f"console:{key}")
    except (FormInvalid, DomainError) as exc:
        if isinstance(exc, NotFound):
            raise
        db.rollback()
        db.begin()
        ctx = customer_context(request, db, me, customer_id)
        ctx["comp_form"] = form
        ctx.pop("comp_errors")
        return render(request, "customer.html", status_code=400, title="Customer",
                      comp_errors=errors_of(exc), **ctx)
    return RedirectResponse(url(request, f"/customers/{customer_id}", flash=f"{points} points credited.") + "#points",
                            status_code=303)


def _errors(exc: Exception) -> dict[str, str]:
    if isinstance(exc, ValueError) and not isinstance(exc, DomainError):
        from pydantic import ValidationError

        if isinstance(exc, ValidationError):
            return errors_of(exc)
        return {"__all__": str(exc)}
    return errors_of(exc)
