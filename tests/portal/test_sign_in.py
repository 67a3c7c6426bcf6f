"""Signing in to the portal by emailed code and magic link; what is refused and why."""

from __future__ import annotations

import re
from datetime import timedelta

from sqlalchemy import func, select
from tests.portal.conftest import csrf_of, last_code

from loyalist import clock
from loyalist.customer_auth import service as customer_auth
from loyalist.customer_auth.models import PortalSession, PortalSignIn
from loyalist.messaging import service as messaging


def _request(client, email: str):  # type: ignore[no-untyped-def]
    form = client.get("/portal/sign-in")
    return client.post("/portal/sign-in", data={"email": email, "csrf": csrf_of(form.text)})


def test_code_sign_in_shows_the_customers_own_balance(world, sign_in) -> None:
    client = sign_in("alice@example.com", world.alice)
    home = client.get("/portal/home")
    assert home.status_code == 200
    assert 'data-testid="balance">500 ' in home.text
    assert "welcome gift" in home.text
    assert home.headers["X-Frame-Options"] == "DENY"
    cookie = [h for h in home.request.headers.get("cookie", "").split(";") if "loyalist_portal=" in h]
    assert cookie


def test_unknown_email_gets_the_same_answer_and_no_message(world, portal, session_factory) -> None:
    unknown = _request(portal, "nobody@example.com")
    known = _request(portal, "ALICE@example.com ")
    assert unknown.status_code == known.status_code == 200
    strip = re.compile(r'value="[^"]*"')
    assert strip.sub("", unknown.text) == strip.sub("", known.text).replace("ALICE@example.com ", "")
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(PortalSignIn)) == 1
        assert messaging.list_messages(s, customer_id=world.alice).total == 1


def test_the_sign_in_email_is_in_the_customers_language(world, portal, session_factory) -> None:
    _request(portal, "bob@example.com")
    with session_factory() as s:
        msg = messaging.list_messages(s, customer_id=world.bob).items[0]
    assert msg.subject.startswith("Код для входа")
    assert msg.category == "transactional"
    assert "/portal/sign-in/link?token=" in (msg.text or "")


def test_wrong_codes_are_counted_and_lock_the_code(world, portal, session_factory) -> None:
    page = _request(portal, "alice@example.com")
    good = last_code(session_factory, world.alice)
    bad = f"{(int(good) + 1) % 10**6:06d}"
    for left in (4, 3, 2, 1):
        r = portal.post("/portal/sign-in/code", data={"email": "alice@example.com", "code": bad,
                                                      "csrf": csrf_of(page.text)})
        assert r.status_code == 422 and f": {left}." in r.text
    form = {"email": "alice@example.com", "csrf": csrf_of(page.text)}
    r = portal.post("/portal/sign-in/code", data={**form, "code": bad})
    assert "Too many wrong codes" in r.text
    r = portal.post("/portal/sign-in/code", data={**form, "code": good}, follow_redirects=False)
    assert r.status_code == 422 and "Too many wrong codes" in r.text
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(PortalSession)) == 0


def test_a_code_expires_and_is_single_use(world, portal, session_factory) -> None:
    page = _request(portal, "alice@example.com")
    code = last_code(session_factory, world.alice)
    with clock.frozen_at(clock.now() + customer_auth.CODE_TTL + timedelta(seconds=1)):
        r = portal.post("/portal/sign-in/code", data={"email": "alice@example.com", "code": code,
                                                      "csrf": csrf_of(page.text)})
        assert r.status_code == 422 and "expired" in r.text
    page = _request(portal, "alice@example.com")
    code = last_code(session_factory, world.alice)
    ok = portal.post("/portal/sign-in/code", data={"email": "alice@example.com", "code": code,
                                                   "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert ok.status_code == 303
    again = portal.post("/portal/sign-in/code", data={"email": "alice@example.com", "code": code,
                                                      "csrf": csrf_of(page.text)}, follow_redirects=False)
    assert again.status_code == 422 and "already used" in again.text


def test_magic_link_needs_a_click_and_works_once(world, portal, app, session_factory) -> None:
    from fastapi.testclient import TestClient

    _request(portal, "alice@example.com")
    with session_factory() as s:
        text = messaging.list_messages(s, customer_id=world.alice).items[0].text or ""
    token = re.search(r"token=([^\s]+)", text).group(1)  # type: ignore[union-attr]
    from urllib.parse import unquote

    token = unquote(token)
    confirm = portal.get(f"/portal/sign-in/link?token={token}")
    assert confirm.status_code == 200
    with session_factory() as s:  # GET alone (a mail scanner's prefetch) consumed nothing
        assert s.scalar(select(func.count()).select_from(PortalSession)) == 0
    r = portal.post("/portal/sign-in/link", data={"token": token, "csrf": csrf_of(confirm.text)},
                    follow_redirects=False)
    assert r.status_code == 303 and r.headers["location"] == "/portal/home"
    other = TestClient(app)
    confirm = other.get(f"/portal/sign-in/link?token={token}")
    replay = other.post("/portal/sign-in/link", data={"token": token, "csrf": csrf_of(confirm.text)},
                        follow_redirects=False)
    assert replay.status_code == 403
    tampered = token[:-3] + ("AAA" if not token.endswith("AAA") else "BBB")
    bad = other.post("/portal/sign-in/link", data={"token": tampered, "csrf": csrf_of(confirm.text)},
                     follow_redirects=False)
    assert bad.status_code == 403
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(PortalSession)) == 1


def test_sign_in_forms_refuse_a_missing_csrf_token(world, portal, session_factory) -> None:
    r = portal.post("/portal/sign-in", data={"email": "alice@example.com"})
    assert r.status_code == 403
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(PortalSignIn)) == 0


def test_codes_per_hour_are_limited_without_telling(world, portal, session_factory) -> None:
    for _ in range(customer_auth.MAX_CODES_PER_HOUR + 2):
        assert _request(portal, "alice@example.com").status_code == 200
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(PortalSignIn)) == customer_auth.MAX_CODES_PER_HOUR


def test_pages_redirect_to_sign_in_without_a_session(world, portal) -> None:
    for path in ("/portal/home", "/portal/history", "/portal/rewards", "/portal/vouchers", "/portal/profile",
                 "/portal/preferences", "/portal/export", "/portal/close"):
        r = portal.get(path, follow_redirects=False)
        assert r.status_code == 303 and r.headers["location"] == "/portal/sign-in", path
    r = portal.get("/portal/home", cookies={"loyalist_portal": "forged"}, follow_redirects=False)
    assert r.status_code == 303


def test_sign_in_attempts_are_rate_limited_per_client(world, portal, session_factory) -> None:
    from loyalist.portal.auth_routes import SIGN_IN_ATTEMPTS

    page = _request(portal, "alice@example.com")
    form = {"email": "nobody@example.com", "code": "000000", "csrf": csrf_of(page.text)}
    for _ in range(SIGN_IN_ATTEMPTS[0]):
        assert portal.post("/portal/sign-in/code", data=form).status_code == 422
    refused = portal.post("/portal/sign-in/code", data=form)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) > 0
    assert "Too many attempts" in refused.text
    # even the right code is refused while limited: guessing cannot continue
    right = {"email": "alice@example.com", "code": last_code(session_factory, world.alice), "csrf": csrf_of(page.text)}
    assert portal.post("/portal/sign-in/code", data=right).status_code == 429


def test_only_demo_mode_shows_the_code_on_screen(world, portal, monkeypatch) -> None:
    from loyalist import config

    page = _request(portal, "alice@example.com")
    assert "demo-code" not in page.text
    monkeypatch.setenv("LOYALIST_DEMO_MODE", "true")
    config.get_settings.cache_clear()
    try:
        page = _request(portal, "alice@example.com")
        assert 'data-testid="demo-code"' in page.text
    finally:
        monkeypatch.delenv("LOYALIST_DEMO_MODE")
        config.get_settings.cache_clear()
