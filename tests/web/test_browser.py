"""The staff console in a real browser (Debian Chromium, headless) against a real uvicorn server.

Flow judged by the issue: staff signs in with the keyboard only, finds a customer, opens the 360,
opens the customer's case, records the apology, an action and a points compensation, resolves
it, and sees the compensation on the customer's balance. A manager builds a segment (live count
while typing), an offer, a survey with its signed links, and a campaign, launches it and reads
its uplift; the editors are checked for labels, keyboard reach and contrast. Screenshots of each
main page go to tests/artifacts/screenshots/.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.web.conftest import PASSWORD, password_hash

from loyalist.config import Settings
from loyalist.db import make_engine
from loyalist.migrate import upgrade
from loyalist.registry import load_all_models

pytestmark = pytest.mark.browser

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "screenshots"
CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync"]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _seed(url: str) -> dict[str, int]:
    """A small shop: staff, a few customers with purchases, a reward, and one new complaint case."""
    from sqlalchemy.orm import Session

    from loyalist.cases import service as cases
    from loyalist.cases.schemas import CaseCreate
    from loyalist.customers import service as customers
    from loyalist.customers.schemas import CustomerCreate
    from loyalist.rewards import service as rewards
    from loyalist.rewards.schemas import RewardCreate
    from loyalist.staff import service as staff
    from loyalist.staff.models import StaffUser
    from loyalist.staff.schemas import Role, StaffCreate
    from loyalist.types import SYSTEM

    engine = make_engine(url)
    load_all_models()
    upgrade(engine)
    with Session(engine) as s, s.begin():
        for role in (Role.admin, Role.agent):
            row = staff.create_staff(s, data=StaffCreate(email=f"{role.value}@shop.test", name=f"{role.value.title()}",
                                                         role=role), actor=SYSTEM)
            user = s.get(StaffUser, row.id)
            assert user is not None
            user.password_hash = password_hash()
        names = [("Olga", "Berg"), ("Mads", "Holm"), ("Iryna", "Koval"), ("Tom", "Reed"), ("Sara", "Lund")]
        ids = [customers.create_customer(s, data=CustomerCreate(first_name=f, last_name=last,
                                                                email=f"{f.lower()}@example.com"), actor=SYSTEM).id
               for f, last in names]
        rewards.create_reward(s, data=RewardCreate(kind="gift", name="Tote bag", cost_points=300), actor=SYSTEM)
        case = cases.create_case(s, data=CaseCreate(customer_id=ids[0], channel="phone", category="delivery",
                                                    subject="Parcel arrived broken",
                                                    description="The vase was in pieces."), actor=SYSTEM)
    engine.dispose()
    return {"customer": ids[0], "case": case.id, "second": ids[1]}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, int]]]:
    import uvicorn

    from loyalist.api.app import create_app

    url = f"sqlite:///{tmp_path_factory.mktemp('console') / 'console.db'}"
    ids = _seed(url)
    port = _free_port()
    app = create_app(Settings(database_url=url))
    srv = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=srv.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not srv.started:
        assert time.monotonic() < deadline, "server did not start"
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}", ids
    srv.should_exit = True
    thread.join(timeout=10)
    app.state.engine.dispose()


@pytest.fixture(scope="module")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    if not Path(CHROMIUM).exists():
        pytest.skip("Debian chromium is not installed")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _shot(page, name: str) -> None:  # type: ignore[no-untyped-def]
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"console-{name}.png"), full_page=True)


def test_staff_recovers_a_complaint_in_the_browser(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    # CSP violations and script errors (HTTP 403/404 of a page or the favicon are not what this checks)
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # Keyboard-only sign-in: the email field has focus, Tab reaches the password, Enter submits.
    page.goto(f"{base}/console/")
    assert page.url.startswith(f"{base}/console/login")
    _shot(page, "login")
    assert page.evaluate("document.activeElement.id") == "f-email"
    page.keyboard.type("agent@shop.test")
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.id") == "f-password"
    page.keyboard.type(PASSWORD)
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.textContent") == "Sign in"
    page.keyboard.press("Enter")
    page.wait_for_url(f"{base}/console/")
    # agents hold no analytics permission: the dashboard says so, and navigation offers their pages
    assert page.get_by_role("heading", name="Not allowed").is_visible()

    page.get_by_role("link", name="Customers").click()
    page.get_by_label("Name, email, phone or external id").fill("berg")
    page.get_by_role("button", name="Search").click()
    _shot(page, "customers")
    page.get_by_role("link", name="Olga Berg").click()
    page.wait_for_url(f"{base}/console/customers/{ids['customer']}")
    assert page.get_by_test_id("balance").inner_text() == "0"
    _shot(page, "customer-360")

    page.get_by_role("link", name="Cases").click()
    _shot(page, "cases")
    page.get_by_role("link", name=f"#{ids['case']}").click()
    page.get_by_label("Apology as given to the customer").fill("We are very sorry about the broken vase.")
    page.get_by_role("button", name="Record apology").click()
    page.get_by_label("What was done").fill("Replacement sent by courier")
    page.get_by_role("button", name="Record action").click()
    page.get_by_label("Points (for a points compensation)").fill("250")
    page.locator("#f-comp-description").fill("Goodwill points for the trouble")
    page.get_by_role("button", name="Record compensation").click()
    assert page.get_by_role("status").inner_text() == "Compensation recorded (250 points)."
    page.locator("#f-res-resolution").fill("Replacement delivered and customer compensated")
    page.get_by_role("button", name="Resolve case").click()
    assert page.get_by_test_id("case-state").inner_text() == "resolved"
    _shot(page, "case")

    page.get_by_role("link", name="Olga Berg").click()
    assert page.get_by_test_id("balance").inner_text() == "250"
    assert page.get_by_text("Goodwill points for the trouble").first.is_visible()
    assert errors == []  # no CSP violations or script errors
    page.close()


def test_admin_pages_render_in_the_browser(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, _ = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    page.goto(f"{base}/console/login")
    page.get_by_label("Email").fill("admin@shop.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")
    assert page.get_by_role("heading", name="Dashboard").is_visible()
    _shot(page, "dashboard")
    for name in ("rewards", "rules", "audit", "settings", "tasks", "surveys", "feedback", "segments", "campaigns",
                 "offers"):
        response = page.goto(f"{base}/console/{name}")
        assert response is not None and response.status == 200, name
        _shot(page, name)
    page.close()


# Every visible control of the page's forms, with whether a <label> names it, and the colours of
# text that carries meaning (labels, buttons, field errors) against its effective background.
_A11Y_JS = """
() => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const bg = el => { for (let e = el; e; e = e.parentElement) { const c = rgb(getComputedStyle(e).backgroundColor);
    if (c.length === 3 || (c.length === 4 && c[3] > 0)) return c.slice(0, 3); } return [255, 255, 255]; };
  const controls = [...document.querySelectorAll('main input, main select, main textarea')]
    .filter(e => e.type !== 'hidden' && e.offsetParent !== null)
    .map(e => ({id: e.id, labelled: e.labels !== null && e.labels.length > 0}));
  const texts = [...document.querySelectorAll('main label, main button, main .field-error, main .help, main legend')]
    .filter(e => e.offsetParent !== null)
    .map(e => ({text: e.textContent.trim().slice(0, 40), fg: rgb(getComputedStyle(e).color).slice(0, 3), bg: bg(e)}));
  return {controls, texts};
}
"""


# The keyboard stops of a form in DOM order, as Tab should visit them: visible, enabled controls,
# buttons, links and <summary> without a negative tabindex and not inside a closed <details>; a
# radio group is one stop (its checked radio, else its first). A stop is named by its id, else
# by tag, name, value and text.
_KEY_JS = """e => e.id ? '#' + e.id : e.tagName.toLowerCase() + '[' + (e.name || '') + '=' + (e.value || '') + ']'
  + ((e.tagName === 'A' || e.tagName === 'SUMMARY' || e.tagName === 'BUTTON') ? ':' + e.textContent.trim() : '')"""
_STOPS_JS = """(sel) => {
  const key = KEY;
  const form = document.querySelector(sel);
  const stops = [...form.querySelectorAll('input:not([type=hidden]), select, textarea, button, a[href], summary')]
    .filter(e => !e.disabled && e.tabIndex >= 0 && e.checkVisibility())
    .filter(e => { const d = e.closest('details:not([open])');
      return !d || e.parentElement === d && e.tagName === 'SUMMARY'; })
    .filter(e => { if (e.type !== 'radio') return true;
      const group = [...form.querySelectorAll('input[type=radio]')].filter(r => r.name === e.name);
      return group.some(r => r.checked) ? e.checked : group[0] === e; });
  stops[0].focus();
  return stops.map(key);
}""".replace("KEY", _KEY_JS)


def _tab_order(page, form_selector: str) -> None:  # type: ignore[no-untyped-def]
    """Walk the real Tab order from the form's first stop until focus leaves the form: the
    focused controls, in order, must be exactly the form's stops in DOM order (which the layout
    keeps as the reading order: no positive tabindex, no CSS reordering)."""
    expected = page.evaluate(_STOPS_JS, form_selector)
    walked = [page.evaluate(f"({_KEY_JS})(document.activeElement)")]
    for _ in range(4 * len(expected)):
        page.keyboard.press("Tab")
        if not page.evaluate(f"document.activeElement.closest({form_selector!r}) !== null"):
            break
        here = page.evaluate(f"({_KEY_JS})(document.activeElement)")
        if here != walked[-1]:  # a date/time input takes one Tab per part (day, month, ...): one control
            walked.append(here)
    assert walked == expected, (form_selector, walked, expected)
    assert len(expected) > 5


def _check_accessible(page, form_selector: str) -> None:  # type: ignore[no-untyped-def]
    """Labels tied to every control, enough contrast, and the real Tab order is the DOM order."""
    from loyalist.web.charts import contrast

    found = page.evaluate(_A11Y_JS)
    assert [c["id"] for c in found["controls"] if not c["labelled"]] == []
    def hexa(c: list[float]) -> str:
        return "#" + "".join(f"{int(v):02x}" for v in c)

    low = [t["text"] for t in found["texts"] if contrast(hexa(t["fg"]), hexa(t["bg"])) < 4.5]
    assert low == []
    _tab_order(page, form_selector)


def test_manager_builds_a_segment_offer_survey_and_campaign(server, browser) -> None:  # type: ignore[no-untyped-def]
    base, ids = server
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text)
            if m.type == "error" and "Failed to load resource" not in m.text else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.on("dialog", lambda d: d.accept())  # the launch confirmation
    page.goto(f"{base}/console/login")
    page.get_by_label("Email").fill("admin@shop.test")
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.wait_for_url(f"{base}/console/")

    # Segment: the count follows the rule while it is typed (the segments engine via JSON).
    page.goto(f"{base}/console/segments/new")
    _check_accessible(page, "form[data-segment-editor]")
    page.get_by_label("Name").fill("Reachable by email")
    page.get_by_label("Rule (JSON)").fill('{"all": [{"field": "has_email", "op": "eq", "value": true}]}')
    page.get_by_test_id("preview-count").wait_for()
    assert page.get_by_test_id("preview-count").inner_text() == "5"
    _shot(page, "segment-editor")
    page.get_by_role("button", name="Create segment").click()
    assert page.get_by_role("status").first.inner_text() == "Segment “Reachable by email” created."

    # Offer: a service rule (points offers need points) lands next to the field, then it saves.
    page.goto(f"{base}/console/offers/new")
    _check_accessible(page, "main form")
    page.get_by_label("Name").fill("Welcome back bonus")
    page.get_by_label("Reward type").select_option("points")
    page.get_by_role("button", name="Create offer").click()
    assert page.locator("#e-points").inner_text() == "required for a points offer"
    assert page.locator("#f-points").get_attribute("aria-invalid") == "true"
    _shot(page, "offer-editor-error")
    page.get_by_label("Bonus points (points offers)").fill("150")
    page.get_by_role("button", name="Create offer").click()
    page.wait_for_url(f"{base}/console/offers?*")
    _shot(page, "offers")

    # Survey from the NPS template (four languages) as question rows; a row is added and removed
    # by server round trips (no script), then Enter in the name field saves (the hidden default
    # button is "save", not the first row's "move" or "remove").
    page.goto(f"{base}/console/surveys/new")
    _check_accessible(page, "main form[method=post]")
    assert page.locator("fieldset.question").count() == 4
    page.get_by_role("button", name="Add a question").click()
    assert page.locator("#f-q-4-key").input_value() == "q5"
    # a type change shows that type's parts at once (console.js), no round trip
    url_before = page.url
    assert not page.locator("#f-q-4-opt-0-code").is_visible() and not page.locator("#f-q-4-min").is_visible()
    page.locator("#f-q-4-type").select_option("single_choice")
    assert page.locator("#f-q-4-opt-0-code").is_visible() and not page.locator("#f-q-4-min").is_visible()
    page.locator("#f-q-4-type").select_option("rating")
    assert page.locator("#f-q-4-min").is_visible() and not page.locator("#f-q-4-opt-0-code").is_visible()
    page.locator("#f-q-4-type").select_option("free_text")
    assert not page.locator("#f-q-4-min").is_visible() and page.url == url_before
    page.get_by_label("Text (en)").last.fill("Anything else?")
    page.get_by_role("button", name="Move question 5 up").click()
    assert page.locator("#f-q-3-text_en").input_value() == "Anything else?"
    page.get_by_role("button", name="Remove question 4").click()
    assert page.locator("fieldset.question").count() == 4
    page.locator("#f-name").fill("Quarterly NPS")
    _shot(page, "survey-editor")
    page.locator("#f-name").press("Enter")
    page.get_by_label("Send personal links to customers (numbers, comma separated)").fill(
        f"{ids['customer']}, {ids['second']}")
    page.get_by_role("button", name="Send personal links").click()
    assert page.get_by_test_id("signed-link").count() == 2
    assert "/v1/public/surveys/i/" in page.get_by_test_id("signed-link").first.inner_text()
    _shot(page, "survey-links")

    # Campaign: audience segment, offer, 20 % holdout; launch; uplift with intervals.
    page.goto(f"{base}/console/campaigns/new")
    _check_accessible(page, "main form")
    # the walk is a real check: a positive tabindex (focus jumps out of reading order) fails it
    page.evaluate("document.querySelector('#f-control_percent').setAttribute('tabindex', '2')")
    with pytest.raises(AssertionError):
        _tab_order(page, "main form")
    page.evaluate("document.querySelector('#f-control_percent').removeAttribute('tabindex')")
    page.get_by_label("Name").fill("Win back")
    page.get_by_label("Audience segment").select_option(label="Reachable by email")
    page.get_by_label("Offer", exact=True).select_option(label="Welcome back bonus")
    page.get_by_label("Holdout: percent of the audience kept as control").fill("20")
    _shot(page, "campaign-editor")
    page.get_by_role("button", name="Create campaign").click()
    assert page.get_by_test_id("campaign-status").inner_text() == "draft"
    page.get_by_role("button", name="Launch now").click()
    page.get_by_test_id("campaign-status").filter(has_text="running").wait_for()
    treated = int(page.get_by_test_id("treatment-customers").inner_text())
    held = int(page.get_by_test_id("control-customers").inner_text())
    assert treated + held == 5 and held >= 1
    assert "95% interval" in page.get_by_test_id("uplift-conversion").inner_text()
    _shot(page, "campaign-results")
    assert errors == []
    page.close()
