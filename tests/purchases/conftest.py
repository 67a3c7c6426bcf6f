"""Fixtures for purchases tests: customers are made through the customers service."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from sqlalchemy.orm import Session

from loyalist.types import Actor


@pytest.fixture
def make_customer(session: Session, actor: Actor) -> Callable[..., int]:
    from loyalist.customers import service as customers

    counter = iter(range(1, 10_000))

    def _make(external_id: str | None = None, **extra: object) -> int:
        ext = external_id or f"cust-{next(counter)}"
        return customers.ensure_customer(session, external_id=ext, actor=actor, **extra)  # type: ignore[arg-type]

    return _make
