"""The accrual hot path: a bounded number of SQL statements, no write to a shared row, and
process-local caches (rules, API keys) that never serve a change made in this process late.

Statement counts are deterministic where timings are not (the machine is shared): they are the
regression guard for throughput. The numbers are what the path needs today plus a small margin;
raising one needs a reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select
from tests.statements import statements

from loyalist import clock
from loyalist.customers import service as customers
from loyalist.events import service
from loyalist.events.schemas import RuleCreate
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerAccount
from loyalist.staff import service as staff
from loyalist.staff.schemas import Role

# POST /v1/events, purchase, known customer, one points-per-amount rule, no tiers, + the test's
# savepoint pair. SQLite (no round trips to save) runs each write alone: customer, event,
# purchase, 2 summary upserts, rule award, ledger (accounts, lock, entry, postings, balance, lot,
# movement, audit), timeline, event outcome, audit. PostgreSQL: customer, event, purchase (its
# ON CONFLICT is the duplicate check), 2 summary upserts, rule award, accounts, the ledger's writes
# as ONE statement of data-modifying CTEs, its audit row, and the timeline + event outcome + audit
# as one more (db.execute_together); the tier query is skipped while no tier exists (cached).
MAX_STATEMENTS_PER_ACCRUAL = {"sqlite": 21, "postgresql": 12}
# ledger.earn for a customer with accounts: accounts, lock, entry, postings, balance, lot,
# movement, timeline, audit on SQLite; accounts, the CTE statement, timeline + audit on PostgreSQL.
MAX_STATEMENTS_PER_EARN = {"sqlite": 9, "postgresql": 3}


@pytest.fixture(autouse=True)
def _midday() -> Iterator[None]:
    """Fix the clock at midday: in the last hour before UTC midnight a live purchase also takes
    the rolling-spend lock and reads the windows (2 more statements on PostgreSQL; see
    purchases/summary._rolling_windows), so an unfrozen run between 23:00 and 24:00 UTC would
    measure that rarer path against the common one's budget."""
    with clock.frozen_at(datetime(2026, 6, 1, 12, 0, tzinfo=UTC)):
        yield


def _purchase(n: int) -> dict[str, str]:
    return {"type": "purchase", "idempotency_key": f"hot-{n}", "customer_external_id": "hot-1",
            "order_ref": f"HOT-{n}", "net_amount": "12.34", "currency": "EUR"}


def test_one_accrual_through_the_api_stays_under_the_statement_budget(engine, client, session_factory, actor) -> None:
    with session_factory() as s, s.begin():
        service.create_rule(s, data=RuleCreate(name="1 per EUR", kind="points_per_amount"), actor=actor)
        customers.ensure_customer(s, external_id="hot-1", actor=actor)
    assert client.post("/v1/events", json=_purchase(0)).status_code == 201  # warm: accounts, caches
    with statements(engine) as seen:
        response = client.post("/v1/events", json=_purchase(1))
    assert response.status_code == 201 and response.json()["points"] == 12
    assert len(seen) <= MAX_STATEMENTS_PER_ACCRUAL[engine.dialect.name], "\n".join(seen)
    # Only the customer's own account row is updated: no shared counterparty row.
    updates = [s for s in seen if "UPDATE ledger_accounts" in s]
    assert len(updates) == 1 and all(s.count("UPDATE ledger_accounts") == 1 for s in updates)
    # Rules and the API key came from the process caches.
    assert not [s for s in seen if "FROM earning_rules" in s or "FROM api_keys" in s]


def test_earn_stays_under_the_statement_budget_and_leaves_system_accounts_uncached(
        engine, session, actor) -> None:
    cid = customers.ensure_customer(session, external_id="hot-2", actor=actor)
    ledger.earn(session, customer_id=cid, points=5, source="pos", idempotency_key="warm", reason="r", actor=actor)
    with statements(engine) as seen:
        entry = ledger.earn(session, customer_id=cid, points=7, source="pos", idempotency_key="k", reason="r",
                            actor=actor)
    assert len(seen) <= MAX_STATEMENTS_PER_EARN[engine.dialect.name], "\n".join(seen)
    assert entry == ledger.get_entry(session, entry.id)  # built in memory, equal to a read-back
    assert session.scalar(select(LedgerAccount.balance).where(LedgerAccount.code == "issued")) is None
    assert ledger.account_balances(session)["issued"] == -12
    assert ledger.reconcile(session).ok


def test_a_rule_change_applies_at_once_in_this_process(client, session_factory, actor) -> None:
    with session_factory() as s, s.begin():
        customers.ensure_customer(s, external_id="hot-1", actor=actor)
    created = client.post("/v1/rules", json={"name": "1 per EUR", "kind": "points_per_amount"})
    assert created.status_code == 201, created.text
    assert client.post("/v1/events", json=_purchase(0)).json()["points"] == 12  # rules now cached
    changed = client.patch(f"/v1/rules/{created.json()['id']}", json={"params": {"points": 2}})
    assert changed.status_code == 200, changed.text
    assert client.post("/v1/events", json=_purchase(1)).json()["points"] == 24
    assert client.delete(f"/v1/rules/{created.json()['id']}").status_code == 200
    assert client.post("/v1/events", json=_purchase(2)).json()["points"] == 0


def test_a_revoked_key_is_refused_at_once_in_this_process(client, make_key) -> None:
    key = make_key(Role.integration)
    headers = {"Authorization": f"Bearer {key}"}
    assert client.get("/v1/events", headers=headers).status_code != 401  # the check is now cached
    key_id = next(k["id"] for k in client.get("/v1/api-keys").json() if key.split("_")[1] == k["prefix"])
    assert client.delete(f"/v1/api-keys/{key_id}").status_code == 200
    assert client.get("/v1/events", headers=headers).status_code == 401


def test_cached_key_check_expires(session_factory, make_key) -> None:
    key = make_key(Role.analyst)
    calls = []

    def opener():  # type: ignore[no-untyped-def]
        calls.append(1)
        return session_factory()

    for _ in range(3):
        staff.authenticate_api_key_cached(opener, key, database="t", max_age=60)
    assert len(calls) == 1
    for _ in range(2):
        staff.authenticate_api_key_cached(opener, key, database="t", max_age=0)
    assert len(calls) == 3


@pytest.mark.parametrize("max_age", [0.0, 60.0])
def test_the_writing_session_never_reads_cached_rules(session, actor, max_age) -> None:
    assert service.active_rule_specs(session, max_age=max_age) == []
    service.create_rule(session, data=RuleCreate(name="r", kind="points_per_amount"), actor=actor)
    assert [r.name for r in service.active_rule_specs(session, max_age=max_age)] == ["r"]


@pytest.mark.parametrize(("available", "expires"), [
    ("2026-01-05T10:00:00+00:00", None),
    ("2026-01-05T10:00:00.123456+00:00", "2027-01-05T10:00:00+00:00"),
])
def test_bulk_credit_hash_equals_the_ledgers(available, expires) -> None:
    from datetime import datetime

    from loyalist.events import bulk

    available_at = datetime.fromisoformat(available)
    expires_at = None if expires is None else datetime.fromisoformat(expires)
    for rules in ([3], [1, 2, 10]):
        assert bulk.ledger_credit_hash(
            customer_id=42, points=1234, available_at=available_at, expires_at=expires_at, reference_id="77",
            payload={"rules": rules},
        ) == ledger.credit_payload_hash(
            kind="earn", customer_id=42, points=1234, available_at=available_at, expires_at=expires_at,
            reference_type="event", reference_id="77", payload={"rules": rules})
