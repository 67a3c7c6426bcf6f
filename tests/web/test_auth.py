"""Console sign-in, sessions, CSRF and lockout, through real HTTP requests."""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta

from fastapi.testclient import TestClient
from sqlalchemy import func, select
from tests.web.conftest import PASSWORD, csrf_of, sign_in

from loyalist import clock, csrf
from loyalist.staff import sessions as sessions_module
from loyalist.staff.models import StaffSession, StaffUser
from loyalist.staff.sessions import ABSOLUTE_TIMEOUT, IDLE_TIMEOUT
from loyalist.web.auth import COOKIE


def _sessions(session_factory) -> list[StaffSession]:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return list(s.scalars(select(StaffSession).order_by(StaffSession.id)))


def test_sign_in_sets_a_hardened_cookie_and_stores_only_its_hash(app, staff, session_factory) -> None:
    with TestClient(app) as c:
        response = sign_in(c, "agent@shop.test", next_url="/console/customers")
        assert response.status_code == 303
        assert response.headers["location"] == "/console/customers"
        cookie_header = [h for h in response.headers.get_list("set-cookie") if h.startswith(COOKIE + "=")][0]
        assert "HttpOnly" in cookie_header and "SameSite=lax" in cookie_header and "Path=/console" in cookie_header
        token = c.cookies.get(COOKIE)
        rows = _sessions(session_factory)
        assert len(rows) == 1
        assert rows[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
        assert token != rows[0].token_hash
        # the page's CSRF token is derived from the cookie token, and is not the token itself
        page_token = csrf_of(c.get("/console/customers").text)
        assert page_token == csrf.session_token("console", token) and token not in page_token
        assert rows[0].staff_id == staff["agent"]
        assert rows[0].expires_at - rows[0].created_at == ABSOLUTE_TIMEOUT
        page = c.get("/console/customers")
        assert page.status_code == 200
        assert "Agent User" in page.text


def test_next_must_stay_inside_the_console(app, staff) -> None:
    with TestClient(app) as c:
        response = sign_in(c, "agent@shop.test", next_url="https://evil.example/")
        assert response.headers["location"] == "/console/"


def test_wrong_password_is_reported_at_the_field_and_locks_after_five(app, staff, session_factory) -> None:
    with TestClient(app) as c:
        for _attempt in range(5):
            r = sign_in(c, "manager@shop.test", password="wrong password!")
            assert r.status_code == 401
            assert 'id="e-password"' in r.text and "invalid email or password" in r.text
            assert 'aria-invalid="true"' in r.text
        locked = sign_in(c, "manager@shop.test", password=PASSWORD)
        assert locked.status_code == 401
        assert "account locked" in locked.text
        assert COOKIE not in c.cookies
    with session_factory() as s:
        user = s.scalar(select(StaffUser).where(StaffUser.email == "manager@shop.test"))
        assert user is not None and user.locked_until is not None
    assert _sessions(session_factory) == []


def test_sign_in_without_the_form_token_is_refused(app, staff, session_factory) -> None:
    with TestClient(app) as c:
        c.get("/console/login")
        r = c.post("/console/login", data={"email": "admin@shop.test", "password": PASSWORD, "csrf_token": "forged"},
                   follow_redirects=False)
        assert r.status_code == 403
        assert COOKIE not in c.cookies
    assert _sessions(session_factory) == []


def test_missing_fields_are_named(app, staff) -> None:
    with TestClient(app) as c:
        page = c.get("/console/login")
        r = c.post("/console/login", data={"email": "", "password": "", "csrf_token": csrf_of(page.text)})
        assert r.status_code == 400
        assert 'id="e-email"' in r.text and 'id="e-password"' in r.text


def test_signed_out_pages_redirect_to_login(app) -> None:
    with TestClient(app) as c:
        r = c.get("/console/customers?q=ann", follow_redirects=False)
        assert r.status_code == 303
        assert r.headers["location"] == "/console/login?next=%2Fconsole%2Fcustomers%3Fq%3Dann"


def test_idle_and_absolute_expiry(app, staff, session_factory) -> None:
    start = clock.now()
    with TestClient(app) as c:
        with clock.frozen_at(start):
            assert sign_in(c, "admin@shop.test").status_code == 303
        # Active use keeps the session alive past the idle limit...
        for minutes in (20, 40, 60):
            with clock.frozen_at(start + timedelta(minutes=minutes)):
                assert c.get("/console/customers", follow_redirects=False).status_code == 200
        # ...but not past the idle limit without a request,
        with clock.frozen_at(start + timedelta(minutes=60) + IDLE_TIMEOUT):
            r = c.get("/console/customers", follow_redirects=False)
            assert r.status_code == 303 and "expired=1" in r.headers["location"]
    with TestClient(app) as c:
        with clock.frozen_at(start):
            assert sign_in(c, "admin@shop.test").status_code == 303
        # ...and never past the absolute limit, however active (last seen a minute before it).
        with session_factory() as s, s.begin():
            row = s.scalars(select(StaffSession).order_by(StaffSession.id.desc())).first()
            assert row is not None
            row.last_seen_at = start + ABSOLUTE_TIMEOUT - timedelta(minutes=1)
        with clock.frozen_at(start + ABSOLUTE_TIMEOUT - timedelta(seconds=30)):
            assert c.get("/console/customers", follow_redirects=False).status_code == 200
        with clock.frozen_at(start + ABSOLUTE_TIMEOUT):
            assert c.get("/console/customers", follow_redirects=False).status_code == 303


def test_logout_revokes_the_session(app, staff, session_factory) -> None:
    with TestClient(app) as c:
        sign_in(c, "agent@shop.test")
        token = c.cookies.get(COOKIE)
        page = c.get("/console/customers")
        r = c.post("/console/logout", data={"csrf_token": csrf_of(page.text)}, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/console/login"
        assert _sessions(session_factory)[0].revoked_at is not None
        # The old cookie, replayed, opens nothing.
        c.cookies.set(COOKIE, token, path="/console")
        assert c.get("/console/customers", follow_redirects=False).status_code == 303


def test_logout_needs_the_csrf_token(app, staff, session_factory) -> None:
    with TestClient(app) as c:
        sign_in(c, "agent@shop.test")
        r = c.post("/console/logout", data={}, follow_redirects=False)
        assert r.status_code == 403
        assert _sessions(session_factory)[0].revoked_at is None


def test_a_deactivated_user_is_signed_out(app, staff, session_factory) -> None:
    with TestClient(app) as c:
        sign_in(c, "agent@shop.test")
        with session_factory() as s, s.begin():
            user = s.get(StaffUser, staff["agent"])
            assert user is not None
            user.active = False
        assert c.get("/console/customers", follow_redirects=False).status_code == 303


def test_security_headers(app, staff) -> None:
    with TestClient(app) as c:
        r = c.get("/console/login")
        csp = r.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp and "frame-ancestors 'none'" in csp
        assert r.headers["x-frame-options"] == "DENY"
        assert r.headers["x-content-type-options"] == "nosniff"
        assert r.headers["cache-control"] == "no-store"
        # no inline scripts or styles anywhere on the page (the CSP would block them)
        assert "<script>" not in r.text and "style=" not in r.text


def test_session_count_is_one_per_sign_in(app, staff, session_factory) -> None:
    with TestClient(app) as a, TestClient(app) as b:
        sign_in(a, "admin@shop.test")
        sign_in(b, "admin@shop.test")
        assert a.cookies.get(COOKIE) != b.cookies.get(COOKIE)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(StaffSession)) == 2


def test_purge_removes_only_sessions_that_ended_a_week_ago(session, staff_in_session) -> None:
    from loyalist.staff.jobs import JOBS

    start = clock.now()
    with clock.frozen_at(start):
        live, _ = sessions_module.login(session, email="agent@shop.test", password=PASSWORD)
        old, _ = sessions_module.login(session, email="agent@shop.test", password=PASSWORD)
        sessions_module.logout(session, token=old)
    with clock.frozen_at(start + timedelta(days=7, minutes=1)):
        assert JOBS["staff.purge_sessions"](session) == 1  # only the logged-out one so far
    with clock.frozen_at(start + timedelta(days=7, minutes=31)):
        # logged out at start, idle-expired at start + 30 min: both ended more than a week ago
        assert JOBS["staff.purge_sessions"](session) == 1
    assert session.scalar(select(func.count()).select_from(StaffSession)) == 0


def test_logins_from_one_address_are_rate_limited(app, staff) -> None:
    from fastapi.testclient import TestClient

    from loyalist.web.routes.session import LOGIN_ATTEMPTS

    client = TestClient(app)
    codes = []
    for _ in range(LOGIN_ATTEMPTS[0] + 1):
        form = client.get("/console/login")
        token = re.search(r'name="csrf_token" value="([^"]*)"', form.text).group(1)  # type: ignore[union-attr]
        codes.append(client.post("/console/login", data={"email": "nobody@shop.test", "password": "x",
                                                         "csrf_token": token}).status_code)
    assert set(codes[:-1]) == {401} and codes[-1] == 429
