"""Administration: API keys, staff users, audit log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loyalist.api.deps import Permit, SessionDep
from loyalist.audit import service as audit_service
from loyalist.audit.schemas import AuditPage
from loyalist.staff import service as staff_service
from loyalist.staff.schemas import ApiKeyCreate, ApiKeyCreated, ApiKeyRead, StaffCreate, StaffRead
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["admin"])


@router.post("/api-keys", status_code=201, response_model=ApiKeyCreated)
def create_key(body: ApiKeyCreate, session: SessionDep,
               actor: Annotated[Actor, Permit("keys:admin")]) -> ApiKeyCreated:
    return staff_service.create_api_key(session, name=body.name, role=body.role, actor=actor)


@router.get("/api-keys", response_model=list[ApiKeyRead])
def list_keys(session: SessionDep, actor: Annotated[Actor, Permit("keys:admin")]) -> list[ApiKeyRead]:
    return staff_service.list_api_keys(session)


@router.delete("/api-keys/{key_id}", response_model=ApiKeyRead)
def revoke_key(key_id: int, session: SessionDep,
               actor: Annotated[Actor, Permit("keys:admin")]) -> ApiKeyRead:
    return staff_service.revoke_api_key(session, key_id=key_id, actor=actor)


@router.post("/staff", status_code=201, response_model=StaffRead)
def create_staff(body: StaffCreate, session: SessionDep,
                 actor: Annotated[Actor, Permit("staff:admin")]) -> StaffRead:
    return staff_service.create_staff(session, data=body, actor=actor)


@router.get("/staff", response_model=list[StaffRead])
def list_staff(session: SessionDep, actor: Annotated[Actor, Permit("staff:read")]) -> list[StaffRead]:
    return staff_service.list_staff(session)


@router.get("/audit", response_model=AuditPage)
def list_audit(
    session: SessionDep,
    actor: Annotated[Actor, Permit("audit:read")],
    target_type: str | None = None,
    target_id: str | None = None,
    action: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0)] = 0,
) -> AuditPage:
    return audit_service.list_entries(session, target_type=target_type, target_id=target_id,
                                      action=action, limit=limit, offset=offset)
