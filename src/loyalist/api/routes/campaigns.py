"""Campaigns: create, launch (holdout drawn, treatment served), members and measured results."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter

from loyalist.api.deps import Permit, SessionDep
from loyalist.campaigns import service
from loyalist.campaigns.schemas import (
    CampaignCreate,
    CampaignRead,
    CampaignResults,
    CampaignUpdate,
    LaunchResult,
    MemberRead,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["campaigns"])

Status = Literal["draft", "scheduled", "running", "finished", "cancelled"]


@router.get("/campaigns", response_model=list[CampaignRead])
def list_campaigns(session: SessionDep, actor: Annotated[Actor, Permit("campaigns:read")],
                   status: Status | None = None) -> list[CampaignRead]:
    return service.list_campaigns(session, status=status)


@router.post("/campaigns", status_code=201, response_model=CampaignRead)
def create_campaign(body: CampaignCreate, session: SessionDep,
                    actor: Annotated[Actor, Permit("campaigns:write")]) -> CampaignRead:
    return service.create_campaign(session, data=body, actor=actor)


@router.get("/campaigns/{campaign_id}", response_model=CampaignRead)
def get_campaign(campaign_id: int, session: SessionDep,
                 actor: Annotated[Actor, Permit("campaigns:read")]) -> CampaignRead:
    return service.get_campaign(session, campaign_id)


@router.patch("/campaigns/{campaign_id}", response_model=CampaignRead)
def update_campaign(campaign_id: int, body: CampaignUpdate, session: SessionDep,
                    actor: Annotated[Actor, Permit("campaigns:write")]) -> CampaignRead:
    return service.update_campaign(session, campaign_id=campaign_id, data=body, actor=actor)


@router.post("/campaigns/{campaign_id}/cancel", response_model=CampaignRead)
def cancel_campaign(campaign_id: int, session: SessionDep,
                    actor: Annotated[Actor, Permit("campaigns:write")]) -> CampaignRead:
    return service.cancel_campaign(session, campaign_id=campaign_id, actor=actor)


@router.post("/campaigns/{campaign_id}/launch", response_model=LaunchResult)
def launch(campaign_id: int, session: SessionDep, actor: Annotated[Actor, Permit("campaigns:write")]) -> LaunchResult:
    """Idempotent: launching again returns the first launch's figures (`already_launched`)."""
    return service.launch(session, campaign_id=campaign_id, actor=actor)


@router.get("/campaigns/{campaign_id}/members", response_model=list[MemberRead])
def members(campaign_id: int, session: SessionDep, actor: Annotated[Actor, Permit("campaigns:read")],
            group: Literal["treatment", "control"] | None = None, limit: int = 100,
            offset: int = 0) -> list[MemberRead]:
    return service.list_members(session, campaign_id, group=group, limit=limit, offset=offset)


@router.get("/campaigns/{campaign_id}/results", response_model=CampaignResults)
def results(campaign_id: int, session: SessionDep, actor: Annotated[Actor, Permit("campaigns:read")],
            as_of: datetime | None = None) -> CampaignResults:
    return service.results(session, campaign_id=campaign_id, as_of=as_of)
