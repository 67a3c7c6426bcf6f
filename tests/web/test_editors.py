"""Rewards and earning-rule editors (field errors, nothing saved on error), the earning dry-run
(writes nothing), the audit log filters and API key management."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.conftest import STAFF_ACTOR
from tests.web.conftest import csrf_of

from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.events import service as events
from loyalist.ledger import service as ledger
from loyalist.rewards import service as rewards
from loyalist.staff import service as staff_service
from loyalist.web.routes.admin import mask

REWARD = {"kind": "gift", "name": "Tote bag", "cost_points": "300", "voucher_validity_days": "30", "active": "1"}


def test_reward_editor_creates_and_reports_field_errors(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/rewards/new").text)
    bad = c.post("/console/rewards/new", data={**REWARD, "cost_points": "0", "name": "", "csrf_token": token})
    assert bad.status_code == 400
    assert '<p class="field-error" id="e-name">required</p>' in bad.text
    assert '<p class="field-error" id="e-cost_points">must be at least 1</p>' in bad.text
    with session_factory() as s:
        assert rewards.list_rewards(s) == []
    ok = c.post("/console/rewards/new", data={**REWARD, "csrf_token": token}, follow_redirects=False)
    assert ok.status_code == 303
    with session_factory() as s:
        [row] = rewards.list_rewards(s)
    assert (row.name, row.cost_points, row.active, row.stock) == ("Tote bag", 300, True, None)
    # A cross-field rule of the service (valid_until before valid_from) lands at its field.
    edit = c.post(f"/console/rewards/{row.id}", data={**REWARD, "valid_from": "2030-01-02T00:00",
                                                      "valid_until": "2030-01-01T00:00", "csrf_token": token})
    assert edit.status_code == 400 and 'id="e-valid_until"' in edit.text
    with session_factory() as s:
        assert rewards.get_reward(s, row.id).valid_from is None
    assert c.get("/console/rewards").text.count(f'href="/console/rewards/{row.id}"') == 1


def test_rule_editor_validates_json_and_params(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/rules/new").text)
    base = {"name": "1 point per 10", "kind": "points_per_amount", "active": "1", "priority": "0",
            "conditions": "{}", "pending_days": "0", "csrf_token": token}
    broken = c.post("/console/rules/new", data={**base, "params": "{points: 1"})
    assert broken.status_code == 400 and 'id="e-params"' in broken.text and "not valid JSON" in broken.text
    wrong = c.post("/console/rules/new", data={**base, "params": '{"points": 0, "per_amount": 10}'})
    assert wrong.status_code == 400 and 'id="e-params"' in wrong.text
    with session_factory() as s:
        assert events.list_rules(s) == []
    ok = c.post("/console/rules/new", data={**base, "params": '{"points": 1, "per_amount": 10}'},
                follow_redirects=False)
    assert ok.status_code == 303
    with session_factory() as s:
        [rule] = events.list_rules(s)
    assert rule.params["points"] == 1 and rule.event_types == ["purchase"]


def test_dry_run_shows_the_points_and_writes_nothing(console_as, session_factory) -> None:
    from loyalist.events.schemas import RuleCreate

    with session_factory() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(first_name="Dry"), actor=STAFF_ACTOR).id
        events.create_rule(s, data=RuleCreate(name="per 10", kind="points_per_amount",
                                              params={"points": 1, "per_amount": 10}), actor=STAFF_ACTOR)
    c = console_as("analyst")
    with session_factory() as s:
        audit_before = s.scalar(select(func.count()).select_from(AuditEntry))
    page = c.get("/console/rules")
    r = c.post("/console/rules-dry-run", data={"customer_id": str(cid), "type": "purchase", "net_amount": "125",
                                               "currency": "DKK", "csrf_token": csrf_of(page.text)})
    assert r.status_code == 200, r.text
    assert '<span data-testid="dry-points">12</span>' in r.text
    with session_factory() as s:
        assert ledger.get_balance(s, cid).available == 0
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == audit_before
    missing = c.post("/console/rules-dry-run", data={"customer_id": "", "type": "purchase",
                                                     "csrf_token": csrf_of(page.text)})
    assert missing.status_code == 400 and 'id="e-dry-customer_id"' in missing.text


def test_audit_log_filters_by_actor_and_action(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/rewards/new").text)
    c.post("/console/rewards/new", data={**REWARD, "csrf_token": token})
    page = c.get("/console/audit", params={"actor": "manager user", "action": "reward.create"})
    assert page.status_code == 200
    assert page.text.count("<td>reward.create</td>") == 1
    assert "<td>reward.create</td>" not in c.get("/console/audit", params={"actor": "nobody"}).text


def test_admin_creates_and_revokes_an_api_key(console_as, session_factory) -> None:
    c = console_as("admin")
    token = csrf_of(c.get("/console/settings").text)
    bad = c.post("/console/settings/api-keys", data={"name": "", "role": "emperor", "csrf_token": token})
    assert bad.status_code == 400 and 'id="e-key-name"' in bad.text
    r = c.post("/console/settings/api-keys", data={"name": "till system", "role": "integration", "csrf_token": token})
    key = r.text.split('data-testid="new-key">')[1].split("<")[0]
    assert key.startswith("lk_")
    with session_factory() as s:
        [row] = [k for k in staff_service.list_api_keys(s) if k.name == "till system"]
        assert staff_service.authenticate_api_key(s, key).role == "integration"
    assert key not in c.get("/console/settings").text  # shown once only
    c.post(f"/console/settings/api-keys/{row.id}/revoke", data={"csrf_token": token})
    with session_factory() as s:
        assert [k for k in staff_service.list_api_keys(s) if k.id == row.id][0].revoked_at is not None
    # a manager sees settings but not the keys
    m = console_as("manager").get("/console/settings")
    assert m.status_code == 200 and "Create a key" not in m.text


def test_settings_mask_secrets() -> None:
    assert mask("secret_key", "abc") == "•••••• (set)"
    assert mask("smtp_password", "pw") == "•••••• (set)"
    assert mask("database_url", "postgresql+psycopg://app:pw@db:5432/x") == "postgresql+psycopg://app:••••••@db:5432/x"
    assert mask("timezone", "Europe/Copenhagen") == "Europe/Copenhagen"
