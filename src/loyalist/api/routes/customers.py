"""Customers: profiles, addresses, consents, tags, values, merge, GDPR export/erasure, 360 view."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service
from loyalist.customers.schemas import (
    AddressIn,
    AddressRead,
    ConsentIn,
    ConsentRead,
    Customer360,
    CustomerCreate,
    CustomerExport,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
    DuplicateGroup,
    MergeIn,
    MergeResult,
    TagIn,
    ValuesIn,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1/customers", tags=["customers"])

Reader = Annotated[Actor, Permit("customers:read")]
Writer = Annotated[Actor, Permit("customers:write")]


@router.post("", status_code=201, response_model=CustomerRead)
def create_customer(body: CustomerCreate, session: SessionDep, actor: Writer) -> CustomerRead:
    return service.create_customer(session, data=body, actor=actor)


@router.get("", response_model=CustomerPage)
def list_customers(
    session: SessionDep,
    actor: Reader,
    q: Annotated[str | None, Query(max_length=200, description="substring of name/email/phone/external id")] = None,
    tag: str | None = None,
    status: str | None = None,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=10**9)] = 0,
) -> CustomerPage:
    return service.list_customers(session, q=q, tag=tag, status=status, limit=limit, offset=offset)


@router.get("/duplicates", response_model=list[DuplicateGroup])
def find_duplicates(session: SessionDep, actor: Annotated[Actor, Permit("customers:merge")]) -> list[DuplicateGroup]:
    return service.find_duplicates(session)


@router.get("/by-external-id/{external_id}", response_model=CustomerRead)
def get_by_external_id(external_id: str, session: SessionDep, actor: Reader) -> CustomerRead:
    return service.get_customer_by_external_id(session, external_id)


@router.get("/{customer_id}", response_model=CustomerRead)
def get_customer(customer_id: int, session: SessionDep, actor: Reader) -> CustomerRead:
    return service.get_customer(session, customer_id)


@router.patch("/{customer_id}", response_model=CustomerRead)
def update_customer(customer_id: int, body: CustomerUpdate, session: SessionDep, actor: Writer) -> CustomerRead:
    return service.update_customer(session, customer_id=customer_id, data=body, actor=actor)


@router.get("/{customer_id}/360", response_model=Customer360)
def customer_360(customer_id: int, session: SessionDep, actor: Reader,
                 recent: Annotated[int, Query(ge=1, le=200)] = 20) -> Customer360:
    return service.customer_360(session, customer_id, recent=recent)


@router.get("/{customer_id}/addresses", response_model=list[AddressRead])
def list_addresses(customer_id: int, session: SessionDep, actor: Reader, history: bool = True) -> list[AddressRead]:
    return service.list_addresses(session, customer_id, history=history)


@router.post("/{customer_id}/addresses", status_code=201, response_model=AddressRead)
def set_address(customer_id: int, body: AddressIn, session: SessionDep, actor: Writer) -> AddressRead:
    return service.set_address(session, customer_id=customer_id, data=body, actor=actor)


@router.get("/{customer_id}/consents", response_model=list[ConsentRead])
def list_consents(customer_id: int, session: SessionDep, actor: Reader, history: bool = False,
                  channel: str | None = None) -> list[ConsentRead]:
    return service.list_consents(session, customer_id, history=history, channel=channel)


@router.post("/{customer_id}/consents", status_code=201, response_model=ConsentRead)
def set_consent(customer_id: int, body: ConsentIn, session: SessionDep, actor: Writer) -> ConsentRead:
    return service.set_consent(session, customer_id=customer_id, data=body, actor=actor)


@router.post("/{customer_id}/tags", response_model=list[str])
def add_tag(customer_id: int, body: TagIn, session: SessionDep, actor: Writer) -> list[str]:
    return service.add_tag(session, customer_id=customer_id, tag=body.tag, actor=actor)


@router.delete("/{customer_id}/tags/{tag}", response_model=list[str])
def remove_tag(customer_id: int, tag: str, session: SessionDep, actor: Writer) -> list[str]:
    return service.remove_tag(session, customer_id=customer_id, tag=tag, actor=actor)


@router.put("/{customer_id}/values", response_model=CustomerRead)
def set_values(customer_id: int, body: ValuesIn, session: SessionDep, actor: Writer) -> CustomerRead:
    return service.set_values(session, customer_id=customer_id, values=body.values, note=body.note, actor=actor)


@router.post("/{customer_id}/merge", response_model=MergeResult)
def merge(customer_id: int, body: MergeIn, session: SessionDep,
          actor: Annotated[Actor, Permit("customers:merge")]) -> MergeResult:
    """Merge `duplicate_id` into this customer (the survivor)."""
    return service.merge_customers(session, survivor_id=customer_id, duplicate_id=body.duplicate_id, actor=actor)


@router.get("/{customer_id}/export", response_model=CustomerExport)
def export(customer_id: int, session: SessionDep,
           actor: Annotated[Actor, Permit("customers:export")]) -> CustomerExport:
    return CustomerExport.model_validate(service.export_customer(session, customer_id))


@router.post("/{customer_id}/erase", response_model=CustomerRead)
def erase(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("customers:erase")]) -> CustomerRead:
    return service.erase_customer(session, customer_id=customer_id, actor=actor)
