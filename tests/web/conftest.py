"""Console test helpers: staff users with passwords, and a TestClient signed in as a role."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable

import pytest
from argon2 import PasswordHasher
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from loyalist.staff import service as staff_service
from loyalist.staff.models import StaffUser
from loyalist.staff.schemas import Role, StaffCreate
from loyalist.types import SYSTEM

PASSWORD = "correct horse battery staple"
CSRF_RE = re.compile(r'name="csrf_token" value="([^"]*)"')


def csrf_of(html: str) -> str:
    match = CSRF_RE.search(html)
    assert match, "page has no CSRF field"
    return match.group(1)


@functools.cache
def password_hash() -> str:
    """argon2 is deliberately slow: the tests use a cheap-parameter hash (verification reads the
    parameters from the hash itself), so a sign-in costs milliseconds instead of a second."""
    return PasswordHasher(time_cost=1, memory_cost=1024, parallelism=1).hash(PASSWORD)


@pytest.fixture
def staff(session_factory: sessionmaker[Session]) -> dict[str, int]:
    """One staff user per role (email <role>@shop.test), committed to the test transaction."""
    ids: dict[str, int] = {}
    with session_factory() as s, s.begin():
        for role in (Role.admin, Role.manager, Role.agent, Role.analyst):
            row = staff_service.create_staff(
                s, data=StaffCreate(email=f"{role.value}@shop.test", name=f"{role.value.title()} User",
                                    role=role), actor=SYSTEM)
            user = s.get(StaffUser, row.id)
            assert user is not None
            user.password_hash = password_hash()
            ids[role.value] = row.id
    return ids


def sign_in(client: TestClient, email: str, password: str = PASSWORD, next_url: str = "/console/"):  # type: ignore[no-untyped-def]
    page = client.get("/console/login")
    assert page.status_code == 200
    return client.post("/console/login", data={"email": email, "password": password, "next": next_url,
                                               "csrf_token": csrf_of(page.text)}, follow_redirects=False)


@pytest.fixture
def staff_in_session(session: Session) -> dict[str, int]:
    """The same users inside the test's `session` (for service-level tests)."""
    ids: dict[str, int] = {}
    for role in (Role.admin, Role.agent):
        row = staff_service.create_staff(session, data=StaffCreate(email=f"{role.value}@shop.test",
                                                                   name=f"{role.value.title()} User", role=role),
                                         actor=SYSTEM)
        user = session.get(StaffUser, row.id)
        assert user is not None
        user.password_hash = password_hash()
        ids[role.value] = row.id
    session.flush()
    return ids


@pytest.fixture
def console_as(app, staff) -> Callable[[str], TestClient]:  # type: ignore[no-untyped-def]
    """A client signed in to the console as the staff user of `role`."""
    clients: list[TestClient] = []

    def _make(role: str) -> TestClient:
        c = TestClient(app, raise_server_exceptions=True)
        clients.append(c)
        response = sign_in(c, f"{role}@shop.test")
        assert response.status_code == 303, response.text
        return c

    yield _make  # type: ignore[misc]
    for c in clients:
        c.close()
