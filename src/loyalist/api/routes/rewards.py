"""Rewards catalogue, redemptions and the voucher flow at the till (validate, consume)."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Body, Header

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers_service
from loyalist.errors import ValidationFailed
from loyalist.rewards import service
from loyalist.rewards.schemas import (
    CancelRequest,
    ConsumeRequest,
    ExpiryResult,
    RedeemRequest,
    RedemptionRead,
    RewardCreate,
    RewardRead,
    RewardUpdate,
    VoucherCheck,
    VoucherRead,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["rewards"])


@router.get("/rewards", response_model=list[RewardRead])
def list_rewards(session: SessionDep, actor: Annotated[Actor, Permit("rewards:read")],
                 active: bool | None = None, eligible_for: int | None = None) -> list[RewardRead]:
    """`eligible_for=<customer id>`: only what that customer could redeem now (tier, stock, limits)."""
    if eligible_for is not None:
        customers_service.get_customer(session, eligible_for)
    return service.list_rewards(session, active=active, eligible_for=eligible_for)


@router.post("/rewards", status_code=201, response_model=RewardRead)
def create_reward(body: RewardCreate, session: SessionDep,
                  actor: Annotated[Actor, Permit("rewards:write")]) -> RewardRead:
    return service.create_reward(session, data=body, actor=actor)


@router.get("/rewards/{reward_id}", response_model=RewardRead)
def get_reward(reward_id: int, session: SessionDep, actor: Annotated[Actor, Permit("rewards:read")]) -> RewardRead:
    return service.get_reward(session, reward_id)


@router.patch("/rewards/{reward_id}", response_model=RewardRead)
def update_reward(reward_id: int, body: RewardUpdate, session: SessionDep,
                  actor: Annotated[Actor, Permit("rewards:write")]) -> RewardRead:
    return service.update_reward(session, reward_id=reward_id, data=body, actor=actor)


@router.delete("/rewards/{reward_id}", response_model=RewardRead)
def deactivate_reward(reward_id: int, session: SessionDep,
                      actor: Annotated[Actor, Permit("rewards:write")]) -> RewardRead:
    """Withdraw from the catalogue (kept for history; issued vouchers stay valid)."""
    return service.deactivate_reward(session, reward_id=reward_id, actor=actor)


@router.post("/customers/{customer_id}/redemptions", status_code=201, response_model=RedemptionRead)
def redeem(customer_id: int, body: RedeemRequest, session: SessionDep,
           actor: Annotated[Actor, Permit("rewards:redeem")],
           idempotency_key: Annotated[str | None, Header(alias="Idempotency-Key")] = None) -> RedemptionRead:
    """Spend points on a reward and get a voucher. Retrying with the same key returns the
    same redemption (no second charge)."""
    key = idempotency_key or body.idempotency_key
    if not key:
        raise ValidationFailed("idempotency_key: send the Idempotency-Key header or the body field",
                               field="idempotency_key")
    return service.redeem_reward(session, customer_id=customer_id, reward_id=body.reward_id,
                                 idempotency_key=key, actor=actor)


@router.get("/customers/{customer_id}/redemptions", response_model=list[RedemptionRead])
def list_redemptions(customer_id: int, session: SessionDep,
                     actor: Annotated[Actor, Permit("rewards:read")]) -> list[RedemptionRead]:
    customers_service.get_customer(session, customer_id)
    return service.list_redemptions(session, customer_id)


@router.get("/customers/{customer_id}/vouchers", response_model=list[VoucherRead])
def list_vouchers(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("rewards:read")],
                  status: Literal["issued", "consumed", "void", "expired"] | None = None) -> list[VoucherRead]:
    customers_service.get_customer(session, customer_id)
    return service.list_vouchers(session, customer_id, status=status)


@router.get("/redemptions/{redemption_id}", response_model=RedemptionRead)
def get_redemption(redemption_id: int, session: SessionDep,
                   actor: Annotated[Actor, Permit("rewards:read")]) -> RedemptionRead:
    return service.get_redemption(session, redemption_id)


@router.post("/redemptions/{redemption_id}/cancel", response_model=RedemptionRead)
def cancel_redemption(redemption_id: int, session: SessionDep, actor: Annotated[Actor, Permit("rewards:redeem")],
                      body: Annotated[CancelRequest | None, Body()] = None) -> RedemptionRead:
    """Before the voucher is used: void it, refund the points, return the stock unit."""
    reason = body.reason if body else "cancelled by staff"
    return service.cancel_redemption(session, redemption_id=redemption_id, actor=actor, reason=reason)


@router.post("/vouchers/expire", response_model=ExpiryResult)
def expire_vouchers(session: SessionDep, actor: Annotated[Actor, Permit("rewards:write")],
                    refund: bool = False) -> ExpiryResult:
    """Run the expiry job now (by default without refund; see the rewards service doc)."""
    return service.expire_vouchers(session, actor=actor, refund=refund)


@router.get("/vouchers/{code}", response_model=VoucherCheck)
def validate_voucher(code: str, session: SessionDep,
                     actor: Annotated[Actor, Permit("rewards:read")]) -> VoucherCheck:
    """Look a code up without using it: status, reward, customer, expiry."""
    return service.validate_voucher(session, code=code)


@router.post("/vouchers/{code}/consume", response_model=VoucherRead)
def consume_voucher(code: str, session: SessionDep, actor: Annotated[Actor, Permit("vouchers:consume")],
                    body: Annotated[ConsumeRequest | None, Body()] = None) -> VoucherRead:
    """Use the voucher; exactly once (a second attempt is 409 invalid_state)."""
    return service.consume_voucher(session, code=code, actor=actor, store=body.store if body else None,
                                   order_ref=body.order_ref if body else None)
