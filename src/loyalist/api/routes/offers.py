"""Offers: definitions, issuing, the customer's offers, code redemption at the till, points claims,
event RSVPs and product recommendations."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter

from loyalist.api.deps import Permit, SessionDep
from loyalist.offers import service
from loyalist.offers.schemas import (
    AudienceIssueResult,
    BirthdayRunResult,
    CustomerOffer,
    IssuedOfferRead,
    IssueRequest,
    OfferCreate,
    OfferRead,
    OfferUpdate,
    Recommendation,
    RedeemCodeRequest,
    RsvpRead,
    RsvpRequest,
    RsvpSummary,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["offers"])

Kind = Literal["birthday", "regulars_exclusive", "recommendation", "event_invitation", "generic"]


@router.get("/offers", response_model=list[OfferRead])
def list_offers(session: SessionDep, actor: Annotated[Actor, Permit("offers:read")], kind: Kind | None = None,
                active: bool | None = None) -> list[OfferRead]:
    return service.list_offers(session, kind=kind, active=active)


@router.post("/offers", status_code=201, response_model=OfferRead)
def create_offer(body: OfferCreate, session: SessionDep, actor: Annotated[Actor, Permit("offers:write")]) -> OfferRead:
    return service.create_offer(session, data=body, actor=actor)


@router.get("/offers/{offer_id}", response_model=OfferRead)
def get_offer(offer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:read")]) -> OfferRead:
    return service.get_offer(session, offer_id)


@router.patch("/offers/{offer_id}", response_model=OfferRead)
def update_offer(offer_id: int, body: OfferUpdate, session: SessionDep,
                 actor: Annotated[Actor, Permit("offers:write")]) -> OfferRead:
    return service.update_offer(session, offer_id=offer_id, data=body, actor=actor)


@router.get("/offers/{offer_id}/audience", response_model=list[int])
def audience(offer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:read")]) -> list[int]:
    """Ids of the customers the offer may go to now (segment/rule and regulars criteria)."""
    return service.audience_ids(session, offer_id)


@router.post("/offers/{offer_id}/issue", status_code=201, response_model=IssuedOfferRead)
def issue(offer_id: int, body: IssueRequest, session: SessionDep,
          actor: Annotated[Actor, Permit("offers:write")]) -> IssuedOfferRead:
    """Give the offer to one customer (idempotent on issue_key; default key manual:<offer>:<customer>)."""
    key = body.issue_key or f"manual:{offer_id}:{body.customer_id}"
    return service.issue_offer(session, offer_id=offer_id, customer_id=body.customer_id, actor=actor, issue_key=key)


@router.post("/offers/{offer_id}/issue-audience", response_model=AudienceIssueResult)
def issue_audience(offer_id: int, session: SessionDep,
                   actor: Annotated[Actor, Permit("offers:write")]) -> AudienceIssueResult:
    return service.issue_to_audience(session, offer_id=offer_id, actor=actor)


@router.post("/offers/birthday-run", response_model=BirthdayRunResult)
def birthday_run(session: SessionDep, actor: Annotated[Actor, Permit("offers:write")]) -> BirthdayRunResult:
    """Run the birthday job now (also run daily by the worker)."""
    return service.issue_birthday_offers(session, actor=actor)


@router.get("/offers/{offer_id}/rsvps", response_model=RsvpSummary)
def rsvps(offer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:read")]) -> RsvpSummary:
    return service.rsvp_summary(session, offer_id)


@router.post("/offers/{offer_id}/rsvps", response_model=RsvpRead)
def answer(offer_id: int, body: RsvpRequest, session: SessionDep,
           actor: Annotated[Actor, Permit("offers:write")]) -> RsvpRead:
    return service.rsvp(session, offer_id=offer_id, customer_id=body.customer_id, response=body.response,
                        actor=actor)


@router.get("/offer-issues/{issue_id}", response_model=IssuedOfferRead)
def get_issue(issue_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:read")]) -> IssuedOfferRead:
    return service.get_issue(session, issue_id)


@router.post("/offer-issues/{issue_id}/claim", response_model=IssuedOfferRead)
def claim(issue_id: int, body: IssueRequest, session: SessionDep,
          actor: Annotated[Actor, Permit("offers:write")]) -> IssuedOfferRead:
    """Credit a bonus-points offer (once)."""
    return service.claim(session, issue_id=issue_id, customer_id=body.customer_id, actor=actor)


@router.post("/offer-issues/{issue_id}/void", response_model=IssuedOfferRead)
def void(issue_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:write")]) -> IssuedOfferRead:
    return service.void_issue(session, issue_id=issue_id, actor=actor)


@router.post("/offer-codes/{code}/redeem", response_model=IssuedOfferRead)
def redeem(code: str, body: RedeemCodeRequest, session: SessionDep,
           actor: Annotated[Actor, Permit("offers:write")]) -> IssuedOfferRead:
    """Use an offer code at the till (exactly once)."""
    return service.redeem_code(session, code=code, actor=actor, order_amount=body.order_amount,
                               order_ref=body.order_ref)


@router.get("/customers/{customer_id}/offers", response_model=list[CustomerOffer])
def customer_offers(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:read")],
                    status: Literal["issued", "redeemed", "expired", "void"] | None = None, limit: int = 100,
                    offset: int = 0) -> list[CustomerOffer]:
    """The customer's offers, newest first, a page of `limit` (1-1000) from `offset`."""
    return service.list_customer_offers(session, customer_id, status=status, limit=limit, offset=offset)


@router.get("/customers/{customer_id}/recommendations", response_model=list[Recommendation])
def customer_recommendations(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("offers:read")],
                             limit: int = 3) -> list[Recommendation]:
    return service.recommendations(session, customer_id, limit=limit)
