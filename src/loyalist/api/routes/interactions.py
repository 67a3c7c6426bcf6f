"""A customer's timeline: read it (filtered, paginated) and log calls/visits/notes by hand."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

from fastapi import APIRouter, Query

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers
from loyalist.errors import InvalidState
from loyalist.interactions import service
from loyalist.interactions.schemas import InteractionCreate, InteractionPage, InteractionRead
from loyalist.types import Actor

router = APIRouter(prefix="/v1/customers", tags=["interactions"])


@router.get("/{customer_id}/timeline", response_model=InteractionPage)
def timeline(
    customer_id: int,
    session: SessionDep,
    actor: Annotated[Actor, Permit("customers:read")],
    kind: Annotated[list[str] | None, Query(description="repeat to filter on several kinds")] = None,
    channel: Annotated[list[str] | None, Query()] = None,
    since: Annotated[datetime | None, Query(description="inclusive, with timezone")] = None,
    until: Annotated[datetime | None, Query(description="exclusive, with timezone")] = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> InteractionPage:
    customers.get_customer(session, customer_id)  # 404 for an unknown customer, not an empty page
    return service.list_timeline(session, customer_id, kinds=kind, channels=channel, since=since, until=until,
                                 limit=limit, offset=offset)


@router.post("/{customer_id}/interactions", status_code=201, response_model=InteractionRead)
def log_interaction(
    customer_id: int,
    body: InteractionCreate,
    session: SessionDep,
    actor: Annotated[Actor, Permit("interactions:write")],
) -> InteractionRead:
    """Staff log a call, visit, note...; a merged id is logged on the surviving customer."""
    target = customers.resolve_customer_id(session, customer_id=customer_id)
    if customers.get_customer(session, target).status == "erased":
        raise InvalidState(f"customer {customer_id} is erased", field="customer_id")
    return service.log_interaction(session, customer_id=target, data=body, actor=actor)
