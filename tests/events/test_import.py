"""Bulk import: same outcome as the per-event path, idempotent re-run, line-numbered errors."""

from __future__ import annotations

import csv
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.errors import DomainError
from loyalist.events import bulk, service
from loyalist.events.models import Event, RuleAward
from loyalist.events.schemas import EventIn, RuleCreate
from loyalist.interactions.models import Interaction
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting, PointLot

HEADER = ["event_type", "idempotency_key", "customer_external_id", "occurred_at", "order_ref", "currency", "store",
          "channel", "net_amount", "amount", "sku", "category", "quantity", "unit_price", "discount",
          "referred_external_id", "data"]


def rows_for(prefix: str) -> list[dict[str, str]]:
    """A small realistic history for customers `<prefix>-1..3` (order refs prefixed too)."""
    c1, c2, c3 = (f"{prefix}-{i}" for i in (1, 2, 3))
    return [
        {"event_type": "purchase", "idempotency_key": f"{prefix}-p1", "customer_external_id": c1,
         "occurred_at": "2026-02-02T09:00:00Z", "order_ref": f"{prefix}-O1", "currency": "EUR", "store": "S1",
         "channel": "in_store", "sku": "A", "category": "coffee", "quantity": "2", "unit_price": "10.00",
         "discount": "1.00"},
        {"event_type": "purchase", "idempotency_key": f"{prefix}-p1", "customer_external_id": c1,
         "occurred_at": "2026-02-02T09:00:00Z", "order_ref": f"{prefix}-O1", "currency": "EUR", "store": "S1",
         "channel": "in_store", "sku": "B", "category": "tea", "quantity": "1", "unit_price": "26.99"},
        {"event_type": "purchase", "idempotency_key": f"{prefix}-p2", "customer_external_id": c1,
         "occurred_at": "2026-02-02T22:30:00Z", "order_ref": f"{prefix}-O2", "currency": "EUR",
         "net_amount": "80.00"},
        {"event_type": "purchase", "idempotency_key": f"{prefix}-p3", "customer_external_id": c2,
         "occurred_at": "2026-02-20T10:00:00+01:00", "order_ref": f"{prefix}-O3", "currency": "EUR",
         "net_amount": "15.50"},
        {"event_type": "review", "idempotency_key": f"{prefix}-r1", "customer_external_id": c2,
         "occurred_at": "2026-02-21T10:00:00Z", "data": '{"rating": 5}'},
        {"event_type": "referral", "idempotency_key": f"{prefix}-ref1", "customer_external_id": c2,
         "occurred_at": "2026-02-22T10:00:00Z", "referred_external_id": c3},
        {"event_type": "return", "idempotency_key": f"{prefix}-ret1", "customer_external_id": c1,
         "occurred_at": "2026-02-25T10:00:00Z", "order_ref": f"{prefix}-O1", "sku": "A", "quantity": "1"},
        {"event_type": "purchase", "idempotency_key": f"{prefix}-p4", "customer_external_id": c3,
         "occurred_at": "2026-02-26T10:00:00Z", "order_ref": f"{prefix}-O4", "currency": "EUR",
         "net_amount": "33.00"},
    ]


def write_csv(path: Path, rows: list[dict[str, str]]) -> Path:
    with path.open("w", newline="") as fh:
        writer = csv.DictWriter(fh, fieldnames=HEADER)
        writer.writeheader()
        writer.writerows(rows)
    return path


@pytest.fixture(autouse=True)
def _frozen():
    with clock.frozen_at(datetime(2026, 3, 1, 12, 0, tzinfo=UTC)):
        yield


@pytest.fixture
def rules(session, actor):
    for body in (
        {"name": "1/EUR", "kind": "points_per_amount", "pending_days": 14, "expiry_months": 12,
         "cap_per_day": 60},
        {"name": "coffee x2", "kind": "multiplier", "params": {"factor": "2"},
         "conditions": {"categories": ["coffee"]}},
        {"name": "review", "kind": "fixed_points", "event_types": ["review"], "params": {"points": 10},
         "budget_total": 1000},
        {"name": "referral", "kind": "referral_bonus", "params": {"referrer_points": 50, "referred_points": 20}},
    ):
        service.create_rule(session, data=RuleCreate.model_validate(body), actor=actor)


def _api_path(session, actor, settings, rows) -> None:
    columns = {h: [r.get(h) or None for r in rows] for h in HEADER}
    events, _ = bulk.parse(columns)
    for ev in events:
        service.ingest(session, data=bulk.to_event_in(ev), actor=actor, settings=settings, create_customers=True)


def _shape(session, prefix: str) -> dict:
    """Everything about the prefix's customers that must not depend on the path taken."""
    from loyalist.customers import service as customers

    out = {}
    for i in (1, 2, 3):
        cid = customers.resolve_customer_id(session, external_id=f"{prefix}-{i}")
        bal = ledger.get_balance(session, cid)
        postings = sorted(
            (code.split(":")[-1] if code.startswith("customer:") else code, amount, kind, reason)
            for code, amount, kind, reason in session.execute(
                select(LedgerAccount.code, LedgerPosting.amount, LedgerEntry.kind, LedgerEntry.reason)
                .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
                .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
                .where(LedgerEntry.customer_id == cid)))
        lots = sorted(session.execute(select(PointLot.points, PointLot.remaining, PointLot.pending,
                                             PointLot.available_at, PointLot.expires_at)
                                      .where(PointLot.customer_id == cid)).all())
        timeline = sorted(session.execute(select(Interaction.kind, Interaction.summary, Interaction.channel)
                                          .where(Interaction.customer_id == cid,
                                                 Interaction.source_type == "event")).all())
        awards = sorted(session.scalars(select(RuleAward.points).where(RuleAward.customer_id == cid)))
        out[i] = (bal.available, bal.pending, bal.lifetime_earned, postings, lots, timeline, awards)
    return json.loads(json.dumps(out, default=str).replace(f"{prefix}-", ""))


def test_bulk_equals_api(session, actor, settings, rules, tmp_path) -> None:
    _api_path(session, actor, settings, rows_for("api"))
    columns, first = bulk.read_file(write_csv(tmp_path / "e.csv", rows_for("bulk")))
    report = bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)
    assert (report.rows, report.events, report.created, report.replayed, report.via_single_path) == (8, 7, 7, 0, 1)
    api, blk = _shape(session, "api"), _shape(session, "bulk")
    assert blk == api
    # concrete numbers: c1: floor(19x2 + 26.99)=64 capped at 60 (day cap), second purchase same local day
    # (23:30 Copenhagen) -> 0 ; return of 1 coffee (9.50 of 45.99): floor(60*9.5/45.99) = 12 clawed back
    assert api["1"][:3] == [48, 0, 48]
    assert api["2"][:3] == [60, 15, 75]


def test_reimport_replays_and_api_sees_the_same_event(session, actor, settings, rules, tmp_path, row_counts) -> None:
    path = write_csv(tmp_path / "e.csv", rows_for("x"))
    columns, first = bulk.read_file(path)
    bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)
    before = row_counts()
    again = bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)
    assert (again.created, again.replayed) == (0, 7)
    after = row_counts()
    assert {k: v for k, v in after.items() if k != "audit_log"} == {k: v for k, v in before.items()
                                                                     if k != "audit_log"}
    # The API recognises an imported event as the same payload ("25" == "25.00", zones normalised).
    from loyalist.customers import service as customers

    cid = customers.resolve_customer_id(session, external_id="x-2")
    replay = service.ingest(session, data=EventIn(type="purchase", idempotency_key="x-p3", source="import",
                                                  customer_external_id="x-2", order_ref="x-O3", currency="EUR",
                                                  net_amount="15.5", occurred_at="2026-02-20T09:00:00Z"),
                            actor=actor, settings=settings)
    assert replay.replayed and replay.customer_id == cid and replay.points == 15


@pytest.mark.parametrize(("bad", "line", "field"), [
    ({"occurred_at": "2026-02-02 09:00"}, 3, "occurred_at"),
    ({"unit_price": "ten"}, 3, "unit_price"),
    ({"quantity": "0"}, 3, "quantity"),
    ({"event_type": "Bad Type"}, 3, "event_type"),
    ({"store": "S2"}, 3, "store"),  # disagrees with line 2 of the same event
])
def test_malformed_line_names_line_and_column_and_imports_nothing(session, actor, settings, rules, tmp_path,
                                                                   row_counts, bad, line, field) -> None:
    rows = rows_for("m")
    rows = [rows[0], {**rows[1], **bad}] + rows[2:]
    columns, first = bulk.read_file(write_csv(tmp_path / "bad.csv", rows))
    before = row_counts()
    with pytest.raises(DomainError) as err:
        bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)
    assert (err.value.line, err.value.field) == (line, field)
    assert f"line {line}" in err.value.message
    assert row_counts() == before


def test_late_error_rolls_back_everything_through_the_cli(committed_engine, tmp_path, monkeypatch) -> None:
    """A bad line found only while writing (unknown order in a return) leaves nothing behind."""
    from typer.testing import CliRunner

    from loyalist.cli.main import app
    from loyalist.db import set_engine

    set_engine(committed_engine)
    rows = rows_for("cli")
    rows.append({"event_type": "return", "idempotency_key": "cli-bad", "customer_external_id": "cli-1",
                 "occurred_at": "2026-02-27T10:00:00Z", "order_ref": "NOPE"})
    path = write_csv(tmp_path / "late.csv", rows)
    result = CliRunner().invoke(app, ["import", "events", str(path)])
    assert result.exit_code == 2, result.output
    assert "line 10" in result.output
    with committed_engine.connect() as conn:
        assert conn.scalar(select(func.count()).select_from(Event)) == 0
    ok = CliRunner().invoke(app, ["import", "events", str(write_csv(tmp_path / "ok.csv", rows_for("cli")))])
    assert ok.exit_code == 0, ok.output
    assert "new 7, replayed 0" in ok.output
    again = CliRunner().invoke(app, ["import", "events", str(tmp_path / "ok.csv")])
    assert "new 0, replayed 7" in again.output


def test_import_counts_caps_and_tiers_recorded_before_it(session, actor, settings, rules, tmp_path) -> None:
    """Given a customer who already earned 50 of the 60-point day cap and holds a x2 tier, when
    the same day's next purchase is imported, the import caps it at the 10 left and applies the
    tier (its counters and tiers are read in bulk up front), exactly as the per-event path does."""
    from decimal import Decimal

    from loyalist.customers import service as customers
    from loyalist.tiers import service as tiers
    from loyalist.tiers.schemas import TierCreate

    service.create_rule(session, data=RuleCreate.model_validate(
        {"name": "tier", "kind": "multiplier", "params": {"use_tier_multiplier": True}}), actor=actor)
    tiers.create_tier(session, data=TierCreate(code="gold", name="Gold", rank=1, metric="spend", window_days=365,
                                               threshold=Decimal("40"), multiplier=Decimal("2"), grace_days=0,
                                               benefits=[]), actor=actor)

    def later(prefix: str) -> list[dict[str, str]]:
        return [
            {"event_type": "purchase", "idempotency_key": f"{prefix}-b", "customer_external_id": f"{prefix}-1",
             "occurred_at": "2026-02-02T09:00:00Z", "order_ref": f"{prefix}-B", "currency": "EUR",
             "net_amount": "20.00"},
            {"event_type": "purchase", "idempotency_key": f"{prefix}-c", "customer_external_id": f"{prefix}-1",
             "occurred_at": "2026-02-10T09:00:00Z", "order_ref": f"{prefix}-C", "currency": "EUR",
             "net_amount": "12.00"},
        ]

    for prefix in ("api", "bulk"):  # the same history before: 50 points today, and gold
        _api_path(session, actor, settings, [
            {"event_type": "purchase", "idempotency_key": f"{prefix}-a", "customer_external_id": f"{prefix}-1",
             "occurred_at": "2026-02-02T08:00:00Z", "order_ref": f"{prefix}-A", "currency": "EUR",
             "net_amount": "50.00"}])
        cid = customers.resolve_customer_id(session, external_id=f"{prefix}-1")
        assert tiers.current_tier(session, cid).code == "gold"
    _api_path(session, actor, settings, later("api"))
    columns, first = bulk.read_file(write_csv(tmp_path / "e.csv", later("bulk")))
    report = bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)

    assert (report.created, report.points) == (2, 10 + 24)
    points = {p: sorted(session.scalars(select(RuleAward.points).where(
        RuleAward.customer_id == customers.resolve_customer_id(session, external_id=f"{p}-1"))))
        for p in ("api", "bulk")}
    assert points["bulk"] == points["api"] == [10, 24, 50]


def _outcomes(session, prefix: str) -> list[dict]:
    """Each event's stored points and outcome, with the ids that differ between two imports of
    the same history (event, purchase, entry and customer ids, key prefixes) taken out."""
    out = []
    for points, outcome in session.execute(select(Event.points, Event.outcome)
                                           .where(Event.idempotency_key.like(f"{prefix}-%"))
                                           .order_by(Event.idempotency_key)):  # ids: PostgreSQL allocates ahead
        o = dict(outcome)
        for k in ("event_id", "customer_id", "purchase_id", "ledger_entry_ids"):
            o.pop(k)
        o["idempotency_key"] = o["idempotency_key"].replace(f"{prefix}-", "")
        o["awards"] = [a["points"] for a in o["awards"]]
        o["rules"] = [{k: v for k, v in r.items() if k != "customer_id"} for r in o["rules"]]
        out.append((points, list(outcome), o))
    return out


def test_bulk_stores_the_outcome_the_api_stores(session, actor, settings, rules, tmp_path) -> None:
    """The bulk engine path builds plain outcome dicts and assembles the JSON text itself; what
    it stores (points, every rule's verdict, arithmetic and reason, key order) is what the
    per-event path stores for the same history."""
    _api_path(session, actor, settings, rows_for("api"))
    columns, first = bulk.read_file(write_csv(tmp_path / "e.csv", rows_for("bulk")))
    bulk.import_events(session, columns=columns, actor=actor, settings=settings, first_line=first)
    api, blk = _outcomes(session, "api"), _outcomes(session, "bulk")
    assert len(api) == 7
    assert blk == api
    reasons = {r["reason"] for _, _, o in api for r in o["rules"]}
    assert "event type 'purchase' not in ['review']" in reasons  # not-fired verdicts are stored too
