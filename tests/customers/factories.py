"""Small builders for customer tests."""

from __future__ import annotations

from typing import Any

from loyalist.customers import service
from loyalist.customers.schemas import CustomerCreate, CustomerRead
from loyalist.types import Actor


def make_customer(session: Any, actor: Actor, **fields: Any) -> CustomerRead:
    fields.setdefault("external_id", f"ext-{fields.get('email') or fields.get('phone') or id(fields)}")
    return service.create_customer(session, data=CustomerCreate(**fields), actor=actor)
