"""Fixtures for events tests: customers, rules and an `ingest` shortcut."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session

from loyalist.config import Settings
from loyalist.db import Base
from loyalist.events import service
from loyalist.events.schemas import EventIn, EventResult, RuleCreate, RuleRead
from loyalist.types import Actor


@pytest.fixture
def settings() -> Settings:
    return Settings(database_url="sqlite://", timezone="Europe/Copenhagen", default_currency="EUR")


@pytest.fixture
def make_customer(session: Session, actor: Actor) -> Callable[..., int]:
    from loyalist.customers import service as customers

    counter = iter(range(1, 10_000))

    def _make(external_id: str | None = None) -> int:
        return customers.ensure_customer(session, external_id=external_id or f"c-{next(counter)}", actor=actor)

    return _make


@pytest.fixture
def rule(session: Session, actor: Actor) -> Callable[..., RuleRead]:
    def _make(**fields: Any) -> RuleRead:
        fields.setdefault("name", f"{fields['kind']}-{fields.get('priority', 0)}")
        return service.create_rule(session, data=RuleCreate.model_validate(fields), actor=actor)

    return _make


@pytest.fixture
def ingest(session: Session, actor: Actor, settings: Settings) -> Callable[..., EventResult]:
    def _ingest(**fields: Any) -> EventResult:
        return service.ingest(session, data=EventIn.model_validate(fields), actor=actor, settings=settings)

    return _ingest


@pytest.fixture
def row_counts(session: Session) -> Callable[[], dict[str, int]]:
    def _counts() -> dict[str, int]:
        session.flush()
        return {t.name: session.scalar(select(func.count()).select_from(t)) or 0
                for t in Base.metadata.sorted_tables}

    return _counts
