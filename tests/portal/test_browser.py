"""The portal in a real browser (Debian Chromium, headless) against a real server and SMTP server.

Judged flow (issue 6): sign in with the emailed code read from the SMTP server, redeem a reward,
see the voucher, change consent; the pages fit a 375 px wide screen with no horizontal scrolling,
and the sign-in form works from the keyboard alone. Screenshots land in tests/artifacts/.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from tests.portal.live import ARTIFACTS, CHROMIUM, CHROMIUM_ARGS, live_server

from loyalist.cases import service as cases
from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn, CustomerCreate
from loyalist.db import make_session_factory
from loyalist.ledger import service as ledger
from loyalist.rewards import service as rewards
from loyalist.rewards.schemas import RewardCreate
from loyalist.types import Actor

pytestmark = pytest.mark.browser
STAFF = Actor(kind="staff", id=None, name="browser-test", role="admin")

if not Path(CHROMIUM).exists():  # pragma: no cover - CI installs it; say so loudly elsewhere
    pytest.skip("Debian chromium is not installed (.ci/run installs it)", allow_module_level=True)


def _seed(engine) -> dict[str, int]:  # type: ignore[no-untyped-def]
    factory = make_session_factory(engine)
    with factory() as s, s.begin():
        alice = customers.create_customer(s, actor=STAFF, data=CustomerCreate(
            external_id="A-1", first_name="Alice", email="alice@example.com", locale="en",
            consents=[ConsentIn(channel="email", granted=True, source="staff")])).id
        bob = customers.create_customer(s, actor=STAFF, data=CustomerCreate(
            external_id="B-1", first_name="Bo", email="bo@example.com", locale="da")).id
        ledger.earn(s, customer_id=alice, points=450, source="test", idempotency_key="seed-a",
                    reason="welcome gift", actor=STAFF)
        reward = rewards.create_reward(s, actor=STAFF, data=RewardCreate(
            kind="free_product", name="Free coffee", description="Any size", cost_points=200)).id
        bobs_case = cases.open_case(s, customer_id=bob, channel="phone", category="product", severity="normal",
                                    subject="Bo's private complaint", description="Cup broke", actor=STAFF).id
    return {"alice": alice, "bob": bob, "reward": reward, "bobs_case": bobs_case}


def _no_horizontal_scroll(page) -> None:  # type: ignore[no-untyped-def]
    width = page.evaluate("() => document.documentElement.scrollWidth")
    assert width <= 375, f"{page.url} is {width}px wide at a 375px viewport"


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(ARTIFACTS / f"portal-{name}.png"), full_page=True)


def test_customer_signs_in_with_the_emailed_code_redeems_and_changes_consent(tmp_path) -> None:
    from playwright.sync_api import sync_playwright

    with live_server(tmp_path) as server, sync_playwright() as p:
        ids = _seed(server.engine)
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            context = browser.new_context(viewport={"width": 375, "height": 740}, locale="en-GB")
            page = context.new_page()
            page.goto(f"{server.url}/portal/sign-in")
            _shot(page, "sign-in")
            _no_horizontal_scroll(page)
            # keyboard only: tab to the email field, type, Enter submits
            page.keyboard.press("Tab")  # skip link
            page.keyboard.press("Tab")
            assert page.evaluate("() => document.activeElement.id") == "email"
            page.keyboard.type("alice@example.com")
            page.keyboard.press("Enter")
            page.wait_for_selector("#code")
            server.deliver()
            bodies = server.mailbox.bodies_to("alice@example.com")
            assert len(bodies) == 1
            code = re.search(r"\b(\d{6})\b", bodies[0]).group(1)  # type: ignore[union-attr]
            page.fill("#code", code)
            page.click("button[type=submit]")
            page.wait_for_url("**/portal/home")
            assert page.inner_text("[data-testid=balance]").startswith("450")
            _shot(page, "home")
            _no_horizontal_scroll(page)

            page.click("text=Rewards")
            page.wait_for_url("**/portal/rewards")
            page.click("button[aria-label='Redeem: Free coffee']")
            voucher = page.inner_text("[data-testid=voucher-code]")
            code_text = re.search(r"code is (\S+)\.", voucher).group(1)  # type: ignore[union-attr]
            assert page.inner_text("[data-testid=balance]") == "250"
            _shot(page, "rewards")
            _no_horizontal_scroll(page)
            page.click("text=Vouchers")
            assert code_text in page.inner_text("main")
            _shot(page, "vouchers")
            _no_horizontal_scroll(page)

            page.click("text=Messages and consent")
            page.check("#consent-sms")
            page.uncheck("#consent-email")
            page.click("form.card >> nth=0 >> button[type=submit]")
            page.wait_for_selector(".notice")
            _shot(page, "preferences")
            _no_horizontal_scroll(page)
            factory = make_session_factory(server.engine)
            with factory() as s:
                assert customers.has_consent(s, ids["alice"], "sms")
                assert not customers.has_consent(s, ids["alice"], "email")
                assert ledger.get_balance(s, ids["alice"]).available == 250
                assert ledger.get_balance(s, ids["bob"]).available == 0

            page.click("text=Complaints and requests")
            page.select_option("#category", "delivery")
            page.fill("#subject", "Parcel arrived late")
            page.fill("#description", "Ordered on Monday, it came on Friday.")
            page.click("form.card button[type=submit]")
            page.wait_for_selector("[data-testid=case-state]")
            assert page.inner_text("[data-testid=case-state]") == "Received"
            _shot(page, "case")
            _no_horizontal_scroll(page)
            with factory() as s:
                [mine] = cases.list_cases_for_customer(s, ids["alice"])
                assert (mine.subject, mine.category) == ("Parcel arrived late", "delivery")
            # another customer's case: refused, and nothing of it shows
            response = page.goto(f"{server.url}/portal/complaints/{ids['bobs_case']}")
            assert response is not None and response.status == 404
            assert "private complaint" not in page.content()
            _shot(page, "refused")

            for path, name in (("/portal/history", "history"), ("/portal/profile", "profile"),
                               ("/portal/close", "close")):
                page.goto(server.url + path)
                _shot(page, name)
                _no_horizontal_scroll(page)
            # every input on the profile page has a label
            page.goto(server.url + "/portal/profile")
            unlabelled = page.evaluate("""() => Array.from(
                document.querySelectorAll('input:not([type=hidden]), select, textarea'))
                .filter(el => !(el.id && document.querySelector('label[for="' + el.id + '"]'))).map(el => el.name)""")
            assert unlabelled == []
        finally:
            browser.close()
