"""Portal fixtures: two customers with points, a reward, and a client that signs in by code.

The code is read from the outbox message the sign-in wrote (the browser test reads it from a
real SMTP server instead)."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn, CustomerCreate
from loyalist.ledger import service as ledger
from loyalist.messaging import service as messaging
from loyalist.rewards import service as rewards
from loyalist.rewards.schemas import RewardCreate
from loyalist.types import Actor

STAFF = Actor(kind="staff", id=None, name="portal-test", role="admin")


@dataclass
class World:
    alice: int
    bob: int
    reward: int


@pytest.fixture
def world(session_factory: sessionmaker[Session]) -> World:
    with session_factory() as s, s.begin():
        alice = customers.create_customer(s, actor=STAFF, data=CustomerCreate(
            external_id="A-1", first_name="Alice", email="alice@example.com", locale="en",
            consents=[ConsentIn(channel="email", granted=True, source="staff")])).id
        bob = customers.create_customer(s, actor=STAFF, data=CustomerCreate(
            external_id="B-1", first_name="Борис", email="bob@example.com", locale="ru")).id
        for cid, pts in ((alice, 500), (bob, 900)):
            ledger.earn(s, customer_id=cid, points=pts, source="test", idempotency_key=f"seed-{cid}",
                        reason="welcome gift", actor=STAFF)
        reward = rewards.create_reward(s, actor=STAFF, data=RewardCreate(
            kind="free_product", name="Free coffee", cost_points=200)).id
    return World(alice=alice, bob=bob, reward=reward)


def last_code(session_factory: sessionmaker[Session], customer_id: int) -> str:
    with session_factory() as s:
        page = messaging.list_messages(s, customer_id=customer_id, limit=500)
        mine = sorted((m for m in page.items if (m.source_type or "") == "portal_sign_in"), key=lambda m: -m.id)
        texts = [m.text or "" for m in mine]
    assert texts, "no sign-in email in the outbox"
    found = re.search(r"\b(\d{6})\b", texts[0])
    assert found
    return found.group(1)


def csrf_of(html: str) -> str:
    found = re.search(r'name="csrf" value="([^"]+)"', html)
    assert found, "form without a csrf field"
    return found.group(1)


@pytest.fixture
def portal(app) -> TestClient:  # type: ignore[no-untyped-def]
    return TestClient(app, raise_server_exceptions=True, base_url="http://testserver")


@pytest.fixture
def sign_in(app, session_factory) -> Callable[[str, int], TestClient]:  # type: ignore[no-untyped-def]
    def _sign_in(email: str, customer_id: int) -> TestClient:
        c = TestClient(app, raise_server_exceptions=True)
        form = c.get("/portal/sign-in")
        r = c.post("/portal/sign-in", data={"email": email, "csrf": csrf_of(form.text)})
        assert r.status_code == 200
        r = c.post("/portal/sign-in/code", data={"email": email, "code": last_code(session_factory, customer_id),
                                                 "csrf": csrf_of(r.text)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/portal/home"
        return c

    return _sign_in
