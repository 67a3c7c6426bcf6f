"""Tier definitions, a customer's tier (status, progress, history) and the re-evaluation job."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Body

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers_service
from loyalist.tiers import service
from loyalist.tiers.schemas import (
    CustomerTierView,
    ReevaluateRequest,
    ReevaluationResult,
    TierCreate,
    TierRead,
    TierUpdate,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["tiers"])


@router.get("/tiers", response_model=list[TierRead])
def list_tiers(session: SessionDep, actor: Annotated[Actor, Permit("tiers:read")],
               active: bool | None = None) -> list[TierRead]:
    return service.list_tiers(session, active=active)


@router.post("/tiers", status_code=201, response_model=TierRead)
def create_tier(body: TierCreate, session: SessionDep, actor: Annotated[Actor, Permit("tiers:write")]) -> TierRead:
    return service.create_tier(session, data=body, actor=actor)


@router.post("/tiers/reevaluate", response_model=ReevaluationResult)
def reevaluate(session: SessionDep, actor: Annotated[Actor, Permit("tiers:write")],
               body: Annotated[ReevaluateRequest | None, Body()] = None) -> ReevaluationResult:
    """Run the re-evaluation job now (upgrades, grace periods, downgrades after grace)."""
    return service.reevaluate_all(session, as_of=body.as_of if body else None, actor=actor)


@router.get("/tiers/{tier_id}", response_model=TierRead)
def get_tier(tier_id: int, session: SessionDep, actor: Annotated[Actor, Permit("tiers:read")]) -> TierRead:
    return service.get_tier(session, tier_id)


@router.patch("/tiers/{tier_id}", response_model=TierRead)
def update_tier(tier_id: int, body: TierUpdate, session: SessionDep,
                actor: Annotated[Actor, Permit("tiers:write")]) -> TierRead:
    return service.update_tier(session, tier_id=tier_id, data=body, actor=actor)


@router.delete("/tiers/{tier_id}", response_model=TierRead)
def deactivate_tier(tier_id: int, session: SessionDep, actor: Annotated[Actor, Permit("tiers:write")]) -> TierRead:
    """Retire the tier (kept for history); holders move down at re-evaluation after grace."""
    return service.deactivate_tier(session, tier_id=tier_id, actor=actor)


@router.get("/customers/{customer_id}/tier", response_model=CustomerTierView)
def customer_tier(customer_id: int, session: SessionDep,
                  actor: Annotated[Actor, Permit("tiers:read")]) -> CustomerTierView:
    customers_service.get_customer(session, customer_id)  # 404 naming customer_id
    return service.customer_view(session, customer_id)
