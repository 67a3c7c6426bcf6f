"""Event ingestion: single, batch (all-or-nothing), dry-run; event list; customer purchases."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers
from loyalist.events import service
from loyalist.events.schemas import BatchIn, BatchResult, EventIn, EventPage, EventResult
from loyalist.purchases import service as purchases
from loyalist.purchases.schemas import PurchasePage
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["events"])


@router.post("/events", status_code=201, response_model=EventResult,
             responses={200: {"description": "Replay of an event already recorded (same key, same payload)"},
                        409: {"description": "Idempotency key reused with another payload"}})
def post_event(body: EventIn, request: Request, response: Response, session: SessionDep,
               actor: Annotated[Actor, Permit("events:write")]) -> EventResult:
    """Record one event and award its points: 201 when new, 200 with `replayed: true` for a replay."""
    result = service.ingest(session, data=body, actor=actor, settings=request.app.state.settings)
    if result.replayed:
        response.status_code = 200
    return result


@router.post("/events/batch", response_model=BatchResult)
def post_batch(body: BatchIn, request: Request, session: SessionDep,
               actor: Annotated[Actor, Permit("events:write")]) -> BatchResult:
    """Up to 1000 events in ONE transaction, all-or-nothing: if any item fails, nothing is kept
    (`committed: false`) and each failed item reports its `index` and the `field` at fault."""
    return service.ingest_batch(session, items=body.events, actor=actor, settings=request.app.state.settings)


@router.post("/events/dry-run", response_model=EventResult)
def dry_run(body: EventIn, request: Request, session: SessionDep,
            actor: Annotated[Actor, Permit("events:dry_run")]) -> EventResult:
    """Points and the rules that would fire (with their arithmetic, and why others would not);
    writes nothing."""
    return service.dry_run(session, data=body, actor=actor, settings=request.app.state.settings)


@router.get("/events", response_model=EventPage)
def list_events(session: SessionDep, actor: Annotated[Actor, Permit("events:dry_run")],
                customer_id: int | None = None, type: str | None = None,
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0)] = 0) -> EventPage:
    if customer_id is not None:
        customer_id = customers.resolve_customer_id(session, customer_id=customer_id)
    return service.list_events(session, customer_id=customer_id, type=type, limit=limit, offset=offset)


@router.get("/customers/{customer_id}/purchases", response_model=PurchasePage)
def customer_purchases(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("purchases:read")],
                       limit: Annotated[int, Query(ge=1, le=500)] = 50,
                       offset: Annotated[int, Query(ge=0)] = 0) -> PurchasePage:
    cid = customers.resolve_customer_id(session, customer_id=customer_id)
    return purchases.list_purchases(session, cid, limit=limit, offset=offset)
