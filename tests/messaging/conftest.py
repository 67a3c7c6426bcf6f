"""Fixtures: real SMTP/HTTP receivers, settings pointing at them, customers with consent."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.config import Settings
from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn, CustomerCreate
from loyalist.db import make_session_factory, unit_of_work
from loyalist.messaging.schemas import MessagingPolicy
from loyalist.messaging.testing import HttpReceiver, SmtpServer
from loyalist.types import Actor

# a Tuesday at noon UTC: outside quiet hours in Europe, inside them in Tokyo (21:00)
NOON = datetime(2026, 3, 10, 12, 0, tzinfo=UTC)


@pytest.fixture
def smtp() -> Iterator[SmtpServer]:
    with SmtpServer() as server:
        yield server


@pytest.fixture
def gateway() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


@pytest.fixture
def settings(smtp: SmtpServer, gateway: HttpReceiver) -> Settings:
    return Settings(smtp_host="127.0.0.1", smtp_port=smtp.port, sms_gateway_url=f"{gateway.url}/sms",
                    sms_gateway_token="gw-token", mail_from="Shop <shop@example.org>",
                    public_base_url="https://loyal.example.org")


@pytest.fixture
def policy() -> MessagingPolicy:
    return MessagingPolicy(backoff_base_seconds=60, backoff_max_seconds=3600, max_attempts=3, lease_seconds=120)


@pytest.fixture
def frozen() -> Iterator[datetime]:
    with clock.frozen_at(NOON) as now:
        yield now


def make_customer(session: Session, actor: Actor, *, email: str | None = "anna@example.com",
                  phone: str | None = None, consent: tuple[str, ...] = ("email", "sms"), **extra: object) -> int:
    data = CustomerCreate(email=email, phone=phone, first_name=extra.pop("first_name", "Anna"),  # type: ignore[arg-type]
                          consents=[ConsentIn(channel=c, granted=True, source="api") for c in consent],
                          **extra)  # type: ignore[arg-type]
    return customers.create_customer(session, data=data, actor=actor).id


def committed(engine: Engine):  # type: ignore[no-untyped-def]
    """A unit of work on the real engine (for worker tests that need commits)."""
    return unit_of_work(make_session_factory(engine))
