"""Ledger test helpers: customers, a frozen clock, row counts, the consistency check."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.ledger import service as ledger

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
_seq = itertools.count(1)


@pytest.fixture
def frozen() -> Iterator[Callable[[datetime], None]]:
    """Freeze the clock at T0; call the fixture's value to move it."""
    state: dict[str, object] = {}

    def move(instant: datetime) -> None:
        cm = state.pop("cm", None)
        if cm is not None:
            cm.__exit__(None, None, None)  # type: ignore[attr-defined]
        cm = clock.frozen_at(instant)
        cm.__enter__()
        state["cm"] = cm

    move(T0)
    yield move
    cm = state.pop("cm", None)
    if cm is not None:
        cm.__exit__(None, None, None)  # type: ignore[attr-defined]


def new_customer(session: Session, actor, name: str = "Ada") -> int:  # type: ignore[no-untyped-def]
    n = next(_seq)
    return customers.create_customer(
        session, data=CustomerCreate(first_name=name, email=f"ledger{n}-{id(session)}@example.com"), actor=actor
    ).id


@pytest.fixture
def customer_id(session: Session, actor) -> int:  # type: ignore[no-untyped-def]
    return new_customer(session, actor)


def ledger_rows(session: Session) -> tuple[int, int, int, int]:
    """Counts of every ledger table, to assert that a refused action wrote nothing."""
    from loyalist.ledger.models import LedgerEntry, LedgerPosting, LotMovement, PointLot

    return tuple(  # type: ignore[return-value]
        session.scalar(select(func.count()).select_from(m)) for m in (LedgerEntry, LedgerPosting, PointLot, LotMovement)
    )


def assert_consistent(session: Session) -> None:
    report = ledger.reconcile(session)
    assert report.mismatches == []
    assert report.ok and report.global_sum == 0
