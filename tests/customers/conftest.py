"""Fixtures for customer tests."""

from __future__ import annotations

from collections.abc import Callable
from itertools import count
from typing import Any

import pytest

from loyalist.customers import service
from loyalist.customers.schemas import CustomerCreate, CustomerRead


@pytest.fixture
def make_customer(session, actor) -> Callable[..., CustomerRead]:  # type: ignore[no-untyped-def]
    """Create a customer through the service (so every side effect happens as in production)."""
    seq = count(1)

    def _make(**fields: Any) -> CustomerRead:
        fields.setdefault("external_id", f"auto-{next(seq)}")
        return service.create_customer(session, data=CustomerCreate(**fields), actor=actor)

    return _make
