"""Console pages: every route declares a permission, roles see exactly what the API table grants,
forms refuse forged posts and show field errors, and the case recovery flow reaches the ledger."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import func, select
from tests.web.conftest import csrf_of

from loyalist.api.permissions import roles_for
from loyalist.config import Settings
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.ledger import service as ledger
from loyalist.web import charts
from loyalist.web.auth import permission_of

# Pages reachable before signing in, or by any signed-in staff member.
UNGUARDED = {"/login"}
ANY_STAFF = {"/logout"}


def _console_routes() -> list[APIRoute]:
    from loyalist.api.app import create_app, iter_api_routes

    root = create_app(Settings(database_url="sqlite://"))
    mount = next(r for r in root.routes if getattr(r, "path", None) == "/console")
    return [route for _, route in iter_api_routes(mount.app)]  # type: ignore[attr-defined]


def test_every_console_route_declares_a_permission() -> None:
    routes = _console_routes()
    assert len(routes) >= 15
    missing = []
    for route in routes:
        declared, permission = permission_of(route)
        if route.path in UNGUARDED:
            assert not declared
            continue
        if not declared or (permission is None and route.path not in ANY_STAFF):
            missing.append(f"{sorted(route.methods)} {route.path}")
    assert missing == []


GET_PAGES = [(r.path, permission_of(r)[1]) for r in _console_routes()
             if "GET" in r.methods and "{" not in r.path and r.path not in UNGUARDED]


@pytest.mark.parametrize("role", ["admin", "manager", "agent", "analyst"])
def test_roles_see_what_the_permission_table_grants(console_as, role: str) -> None:
    client = console_as(role)
    outcomes = []
    for path, permission in GET_PAGES:
        allowed = permission is None or role in {r.value for r in roles_for(permission)}
        status = client.get("/console" + path, follow_redirects=False).status_code
        if allowed and status != 200 or not allowed and status != 403:
            outcomes.append(f"{role} {path} ({permission}): {status}")
    assert outcomes == []


def _customer(session_factory, **fields) -> int:  # type: ignore[no-untyped-def]
    from tests.conftest import STAFF_ACTOR

    with session_factory() as s, s.begin():
        return customers.create_customer(
            s, data=CustomerCreate(first_name="Ada", last_name="Lovelace", email="ada@example.com", **fields),
            actor=STAFF_ACTOR).id


def _balance(session_factory, customer_id: int) -> int:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return ledger.get_balance(s, customer_id).available


def test_search_finds_by_name_and_the_360_shows_the_profile(console_as, session_factory) -> None:
    cid = _customer(session_factory, phone="+4520123456", external_id="EXT-77")
    client = console_as("agent")
    for q in ("lovelace", "ada@example", "20123456", "EXT-77"):
        page = client.get("/console/customers", params={"q": q})
        assert f'href="/console/customers/{cid}"' in page.text, q
    assert f'href="/console/customers/{cid}"' not in client.get("/console/customers", params={"q": "nobody"}).text
    page = client.get(f"/console/customers/{cid}")
    assert page.status_code == 200
    assert "Ada Lovelace" in page.text and "ada@example.com" in page.text
    assert client.get("/console/customers/999999999").status_code == 404
    assert client.get(f"/console/customers/{cid}", params={"kind": "bogus"}).status_code == 400


def test_compensation_without_csrf_is_refused_and_changes_nothing(console_as, session_factory) -> None:
    cid = _customer(session_factory)
    client = console_as("manager")
    form = {"points": "50", "reason": "sorry", "idempotency_key": "k1"}
    assert client.post(f"/console/customers/{cid}/compensation", data=form).status_code == 403
    forged = {**form, "csrf_token": "x" * 43}
    assert client.post(f"/console/customers/{cid}/compensation", data=forged).status_code == 403
    assert _balance(session_factory, cid) == 0
    token = csrf_of(client.get(f"/console/customers/{cid}").text)
    ok = client.post(f"/console/customers/{cid}/compensation", data={**form, "csrf_token": token},
                     follow_redirects=False)
    assert ok.status_code == 303
    assert _balance(session_factory, cid) == 50
    # A double submit of the same form (same idempotency key) credits once.
    client.post(f"/console/customers/{cid}/compensation", data={**form, "csrf_token": token})
    assert _balance(session_factory, cid) == 50


def test_field_errors_are_shown_next_to_the_field(console_as, session_factory) -> None:
    cid = _customer(session_factory)
    client = console_as("manager")
    token = csrf_of(client.get(f"/console/customers/{cid}").text)
    r = client.post(f"/console/customers/{cid}/compensation",
                    data={"points": "ten", "reason": "", "idempotency_key": "k2", "csrf_token": token})
    assert r.status_code == 400
    assert re.search(r'id="f-comp-points"[^>]*aria-invalid="true" aria-describedby="e-comp-points"', r.text)
    assert '<p class="field-error" id="e-comp-points">must be a whole number</p>' in r.text
    assert '<p class="field-error" id="e-comp-reason">required</p>' in r.text
    assert 'value="ten"' in r.text  # what was typed is kept
    assert _balance(session_factory, cid) == 0


def test_an_agent_may_not_reach_manager_actions(console_as, session_factory) -> None:
    cid = _customer(session_factory)
    client = console_as("analyst")
    page = client.get(f"/console/customers/{cid}")
    assert "Credit points" not in page.text
    r = client.post(f"/console/customers/{cid}/compensation",
                    data={"points": "5", "reason": "x", "idempotency_key": "k", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 403
    assert _balance(session_factory, cid) == 0


def test_timeline_note_lands_on_the_timeline_and_filters_by_kind(console_as, session_factory) -> None:
    cid = _customer(session_factory)
    client = console_as("agent")
    token = csrf_of(client.get(f"/console/customers/{cid}").text)
    bad = client.post(f"/console/customers/{cid}/notes", data={"kind": "note", "channel": "phone", "summary": "",
                                                               "csrf_token": token})
    assert bad.status_code == 400 and 'id="e-note-summary"' in bad.text
    client.post(f"/console/customers/{cid}/notes",
                data={"kind": "call", "channel": "phone", "summary": "Called about the parcel", "csrf_token": token})
    calls = client.get(f"/console/customers/{cid}", params={"kind": "call"}).text
    assert "Called about the parcel" in calls
    assert "Called about the parcel" not in client.get(f"/console/customers/{cid}", params={"kind": "visit"}).text


def test_chart_markup_is_accessible() -> None:
    svg = charts.line_chart(["2024-01", "2024-02"], {"Retention": [0.5, 0.6], "Churn": [0.5, 0.4]},
                            title="Retention", desc="Monthly retention", fmt=charts.fmt_pct, y_max=1.0)
    assert 'role="img"' in svg and 'aria-labelledby="retention-t retention-d"' in svg
    assert '<title id="retention-t">Retention</title>' in svg and "<desc id=\"retention-d\">" in svg
    assert "<td>60.0%</td>" in svg  # the text alternative holds the exact numbers
    heat = charts.heatmap(["2024-01"], ["0", "1"], [[1.0, 0.25]], title="Cohorts", desc="d")
    assert "<td>100.0%</td><td>25.0%</td>" in heat
    hist = charts.histogram([1.0, 2.0, 2.5, 100.0], title="CLV", desc="d", bins=4)
    assert hist.count("<rect") == 4


def test_main_colour_pairs_have_enough_contrast() -> None:
    css = (charts.__file__.rsplit("/", 1)[0] + "/static/console.css")
    text = open(css, encoding="utf-8").read()
    colours = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6})", text))
    pairs = [("ink", "paper"), ("muted", "paper"), ("accent", "paper"), ("danger", "paper"), ("ok", "paper"),
             ("ink", "soft"), ("muted", "soft"), ("warn-ink", "warn-bg"), ("accent", "soft")]
    for fg, bg in pairs:
        assert charts.contrast(colours[fg], colours[bg]) >= 4.5, (fg, bg)
    assert charts.contrast("#ffffff", colours["accent"]) >= 4.5  # button text
    assert charts.contrast("#ffffff", colours["bar"]) >= 4.5  # header links
    assert charts.contrast("#ffffff", colours["danger"]) >= 4.5  # danger button text


def test_dashboard_says_no_data_yet_instead_of_inventing_numbers(console_as) -> None:
    from loyalist.web import metrics

    metrics.clear_cache()
    page = console_as("analyst").get("/console/")
    assert page.status_code == 200
    assert "No purchases recorded yet" in page.text
    assert "No data yet: NPS appears" in page.text or "NPS trend" in page.text


def test_session_rows_are_the_only_writes_of_browsing(console_as, session_factory) -> None:
    """GET pages never write domain rows: browsing leaves the audit log as it was (sign-in aside)."""
    from loyalist.audit.models import AuditEntry

    client = console_as("admin")
    with session_factory() as s:
        before = s.scalar(select(func.count()).select_from(AuditEntry))
    for path, _ in GET_PAGES:
        client.get("/console" + path)
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == before


POST_ROUTES = [(re.sub(r"\{[^}]+\}", "999999999", r.path), permission_of(r)[1]) for r in _console_routes()
               if "POST" in r.methods and r.path not in UNGUARDED | ANY_STAFF]


def test_every_form_refuses_roles_without_its_permission(console_as, session_factory) -> None:
    """Posting with a valid CSRF token is still 403 for a role outside the permission, and the
    audit log (every staff mutation writes one) is unchanged."""
    from loyalist.audit.models import AuditEntry

    assert len(POST_ROUTES) >= 10
    outcomes = []
    for role in ("agent", "analyst"):
        client = console_as(role)
        token = csrf_of(client.get("/console/customers").text)
        with session_factory() as s:
            before = s.scalar(select(func.count()).select_from(AuditEntry))
        for path, permission in POST_ROUTES:
            assert permission is not None
            if role in {r.value for r in roles_for(permission)}:
                continue
            status = client.post("/console" + path, data={"csrf_token": token}).status_code
            if status != 403:
                outcomes.append(f"{role} POST {path} ({permission}): {status}")
        with session_factory() as s:
            assert s.scalar(select(func.count()).select_from(AuditEntry)) == before
    assert outcomes == []


def test_dashboard_figures_come_from_the_purchases(console_as, session_factory) -> None:
    """Two customers bought in the last 90 days, one only 200 days ago, one two years ago."""
    from datetime import timedelta
    from decimal import Decimal

    from tests.conftest import STAFF_ACTOR

    from loyalist import clock
    from loyalist.purchases import service as purchases
    from loyalist.web import metrics

    now = clock.now()
    days_ago = {"a": [10, 40, 70, 400], "b": [5, 380], "c": [200, 230], "d": [700]}
    with session_factory() as s, s.begin():
        for name, offsets in days_ago.items():
            cid = customers.create_customer(s, data=CustomerCreate(first_name=name), actor=STAFF_ACTOR).id
            for i, d in enumerate(offsets):
                purchases.record_purchase(s, customer_id=cid, order_ref=f"{name}-{i}", currency="DKK",
                                          occurred_at=now - timedelta(days=d), net_amount=Decimal("100"))
    metrics.clear_cache()
    page = console_as("analyst").get("/console/")
    assert page.status_code == 200
    kpi = r'<span class="label">Active customers \((\d+) days\)</span><span class="value">([\d,]+)</span>'
    active = re.findall(kpi, page.text)
    assert dict(active) == {"365": "3", "90": "2"}
    # lost: bought 365-730 days ago, not since (d) -> 1 customer
    assert re.search(r'Customers lost last year</span><span class="value">1</span>', page.text)
    assert '<title id="monthly-retention-and-churn-t">' in page.text
    assert '<title id="cohort-retention-t">' in page.text
    metrics.clear_cache()


class _Fields(HTMLParser):
    """Collects form controls, label targets and element ids of a page."""

    def __init__(self) -> None:
        super().__init__()
        self.controls: list[str] = []
        self.labels: set[str] = set()
        self.ids: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        if a.get("id"):
            self.ids.append(a["id"] or "")
        if tag == "label" and a.get("for"):
            self.labels.add(a["for"] or "")
        if tag in {"input", "select", "textarea"} and a.get("type") not in {"hidden", "submit"}:
            self.controls.append(a.get("id") or f"<{tag} name={a.get('name')} without id>")


def test_every_form_control_has_a_label_and_ids_are_unique(console_as, session_factory) -> None:
    cid = _customer(session_factory)
    client = console_as("admin")
    pages = [p for p, _ in GET_PAGES] + [f"/customers/{cid}"]
    problems = []
    for path in pages:
        parser = _Fields()
        parser.feed(client.get("/console" + path).text)
        problems += [f"{path}: {c} has no label" for c in parser.controls if c not in parser.labels]
        problems += [f"{path}: duplicate id {i}" for i in {i for i in parser.ids if parser.ids.count(i) > 1}]
    assert problems == []
