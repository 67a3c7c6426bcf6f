"""Earning rules: declarative, stored in the database, managed by managers."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter

from loyalist.api.deps import Permit, SessionDep
from loyalist.events import service
from loyalist.events.schemas import RuleCreate, RuleRead, RuleUpdate
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["rules"])


@router.get("/rules", response_model=list[RuleRead])
def list_rules(session: SessionDep, actor: Annotated[Actor, Permit("rules:read")],
               active: bool | None = None) -> list[RuleRead]:
    return service.list_rules(session, active=active)


@router.post("/rules", status_code=201, response_model=RuleRead)
def create_rule(body: RuleCreate, session: SessionDep, actor: Annotated[Actor, Permit("rules:write")]) -> RuleRead:
    return service.create_rule(session, data=body, actor=actor)


@router.get("/rules/{rule_id}", response_model=RuleRead)
def get_rule(rule_id: int, session: SessionDep, actor: Annotated[Actor, Permit("rules:read")]) -> RuleRead:
    return service.get_rule(session, rule_id)


@router.patch("/rules/{rule_id}", response_model=RuleRead)
def update_rule(rule_id: int, body: RuleUpdate, session: SessionDep,
                actor: Annotated[Actor, Permit("rules:write")]) -> RuleRead:
    return service.update_rule(session, rule_id=rule_id, data=body, actor=actor)


@router.delete("/rules/{rule_id}", response_model=RuleRead)
def delete_rule(rule_id: int, session: SessionDep, actor: Annotated[Actor, Permit("rules:write")]) -> RuleRead:
    """Deletes an unused rule; a rule that has awarded points is deactivated instead."""
    return service.delete_rule(session, rule_id=rule_id, actor=actor)
