"""Points ledger endpoints: balances and history, POS redemptions, staff corrections, ledger jobs.

Every write needs an idempotency key (body field `idempotency_key` or the `Idempotency-Key`
header): a retried request returns the first result, a reused key with another body is a 409.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Header, Query, Request

from loyalist import clock
from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers_service
from loyalist.errors import ValidationFailed
from loyalist.ledger import service
from loyalist.ledger.schemas import (
    AdjustmentCreate,
    BalanceRead,
    CompensationCreate,
    EntryPage,
    EntryRead,
    ExpireRequest,
    ExpiryRunResult,
    LiabilityReport,
    LotRead,
    ReconciliationReport,
    RedemptionCreate,
    ReversalCreate,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["ledger"])

IdempotencyHeader = Annotated[str | None, Header(alias="Idempotency-Key", max_length=200)]


def _key(body_key: str | None, header_key: str | None) -> str:
    key = body_key or header_key
    if not key or not key.strip():
        raise ValidationFailed("idempotency_key: send the Idempotency-Key header or the body field",
                               field="idempotency_key")
    if body_key and header_key and body_key != header_key:
        raise ValidationFailed("idempotency_key: body field and header differ", field="idempotency_key")
    return key


@router.get("/customers/{customer_id}/points", response_model=BalanceRead)
def get_points(customer_id: int, session: SessionDep,
               actor: Annotated[Actor, Permit("ledger:read")]) -> BalanceRead:
    customers_service.get_customer(session, customer_id)
    return service.get_balance(session, customer_id)


@router.get("/customers/{customer_id}/points/entries", response_model=EntryPage)
def list_entries(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("ledger:read")],
                 limit: Annotated[int, Query(ge=1, le=500)] = 50,
                 offset: Annotated[int, Query(ge=0)] = 0) -> EntryPage:
    customers_service.get_customer(session, customer_id)
    return service.list_entries(session, customer_id, limit=limit, offset=offset)


@router.get("/customers/{customer_id}/points/lots", response_model=list[LotRead])
def list_lots(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("ledger:read")],
              open_only: bool = False) -> list[LotRead]:
    customers_service.get_customer(session, customer_id)
    return service.list_lots(session, customer_id, open_only=open_only)


@router.post("/customers/{customer_id}/points/redemptions", status_code=201, response_model=EntryRead)
def redeem(customer_id: int, body: RedemptionCreate, session: SessionDep,
           actor: Annotated[Actor, Permit("ledger:redeem")],
           idempotency_key: IdempotencyHeader = None) -> EntryRead:
    """Pay with points (e.g. at the till). 409 `insufficient_points` when the available balance is short."""
    return service.redeem(session, customer_id=customer_id, points=body.points, source=body.source,
                          idempotency_key=_key(body.idempotency_key, idempotency_key), reason=body.reason,
                          actor=actor, reference_type=body.reference_type, reference_id=body.reference_id,
                          payload=body.payload, channel=body.channel)


@router.post("/customers/{customer_id}/points/adjustments", status_code=201, response_model=EntryRead)
def adjust(customer_id: int, body: AdjustmentCreate, session: SessionDep,
           actor: Annotated[Actor, Permit("ledger:adjust")],
           idempotency_key: IdempotencyHeader = None) -> EntryRead:
    return service.adjust(session, customer_id=customer_id, points=body.points, reason=body.reason, actor=actor,
                          idempotency_key=_key(body.idempotency_key, idempotency_key))


@router.post("/customers/{customer_id}/points/compensations", status_code=201, response_model=EntryRead)
def compensate(customer_id: int, body: CompensationCreate, session: SessionDep,
               actor: Annotated[Actor, Permit("ledger:compensate")],
               idempotency_key: IdempotencyHeader = None) -> EntryRead:
    return service.compensate(session, customer_id=customer_id, points=body.points, reason=body.reason,
                              actor=actor, idempotency_key=_key(body.idempotency_key, idempotency_key),
                              expires_at=body.expires_at, reference_type=body.reference_type,
                              reference_id=body.reference_id)


@router.post("/points/entries/{entry_id}/reversal", status_code=201, response_model=EntryRead)
def reverse(entry_id: int, body: ReversalCreate, session: SessionDep,
            actor: Annotated[Actor, Permit("ledger:adjust")],
            idempotency_key: IdempotencyHeader = None) -> EntryRead:
    """Refund a redemption or claw back a credit; the original entry stays and is referenced."""
    return service.reverse(session, entry_id=entry_id, actor=actor, reason=body.reason,
                           idempotency_key=_key(body.idempotency_key, idempotency_key), policy=body.policy)


@router.get("/ledger/liability", response_model=LiabilityReport)
def liability(request: Request, session: SessionDep, actor: Annotated[Actor, Permit("ledger:read")],
              point_value: Annotated[Decimal | None, Query(ge=0)] = None) -> LiabilityReport:
    value = point_value if point_value is not None else request.app.state.settings.point_value
    return service.liability(session, point_value=value)


@router.post("/ledger/check", response_model=ReconciliationReport)
def check(session: SessionDep, actor: Annotated[Actor, Permit("ledger:admin")]) -> ReconciliationReport:
    return service.reconcile(session)


@router.post("/ledger/expire", response_model=ExpiryRunResult)
def expire(session: SessionDep, actor: Annotated[Actor, Permit("ledger:admin")],
           body: ExpireRequest | None = None) -> ExpiryRunResult:
    """Expire due lots, then release matured pending lots (both re-runnable)."""
    as_of = (body.as_of if body is not None else None) or clock.now()
    count = service.expire_due(session, as_of=as_of, actor=actor)
    released = service.release_pending(session, as_of=as_of, actor=actor)
    return ExpiryRunResult(as_of=as_of, lots_expired=count, lots_released=released)
