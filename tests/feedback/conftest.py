from __future__ import annotations

import pytest

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.feedback import hooks


def make_customer(session, actor, name: str = "Olga") -> int:
    return customers.create_customer(session, data=CustomerCreate(first_name=name, last_name="Test"), actor=actor).id


@pytest.fixture
def fired():
    """Capture needs-answer hook calls for the duration of a test."""
    calls: list[int] = []

    def _capture(session, *, item, actor) -> None:
        calls.append(item.id)

    hooks.register_needs_answer(_capture)
    yield calls
    hooks.unregister_needs_answer(_capture)
