"""A small hand-built population with every fact a segment field reads, at fixed times.

Rows are inserted with SQLAlchemy Core so the timestamps (purchase ages, join dates, consent
order) are exact; the services' own behaviour is tested in their domains.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert

from loyalist import registry
from loyalist.db import Base

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
ACTIVE = frozenset("ABCE")


def t(name: str):
    if name not in Base.metadata.tables:
        registry.load_all_models()
    return Base.metadata.tables[name]


def _customer(session, **values) -> int:
    base = {"status": "active", "created_at": NOW - timedelta(days=400), "updated_at": NOW}
    return session.execute(insert(t("customers")).values(**(base | values)).returning(t("customers").c.id)).scalar_one()


def build(session) -> dict[str, int]:
    ids: dict[str, int] = {}
    ids["A"] = _customer(session, external_id="ext-a", first_name="Anna", last_name="Berg", email="anna@example.com",
                         locale="en", preferred_channel="email", created_at=datetime(2024, 1, 10, 9, tzinfo=UTC),
                         birthday=date(1990, 3, 5))
    ids["B"] = _customer(session, external_id="ext-b", first_name="Boris", last_name="Orlov", phone="+4520000001",
                         locale="ru", preferred_channel="sms", created_at=datetime(2025, 6, 1, 15, tzinfo=UTC),
                         birthday=date(1985, 12, 24))
    ids["C"] = _customer(session, external_id="ext-c", first_name="=HYPERLINK(\"http://x\")", last_name="Dahl",
                         email="clara@example.com", locale="da", created_at=NOW - timedelta(days=14))
    ids["D"] = _customer(session, external_id="ext-d", first_name="Dmitri", email="d@example.com", locale="en",
                         preferred_channel="email", status="merged", birthday=date(1990, 3, 1))
    ids["E"] = _customer(session, external_id="ext-e", first_name="Erik", last_name="-1+2", email="erik@example.com",
                         created_at=datetime(2023, 3, 3, tzinfo=UTC), birthday=date(2000, 3, 29))
    A, B, C, D, E = (ids[k] for k in "ABCDE")

    addr = t("customer_addresses")

    def address(cid: int, city: str, country: str, ended: datetime | None = None) -> dict:
        return {"customer_id": cid, "label": "home", "city": city, "country": country,
                "valid_from": NOW - timedelta(days=300), "valid_to": ended, "source": "staff"}
    session.execute(insert(addr), [
        address(A, "Copenhagen", "DK"), address(B, "Odense", "DK", NOW - timedelta(days=30)),
        address(B, "Malmö", "SE"), address(D, "Copenhagen", "DK"), address(E, "Aarhus", "DK")])
    session.execute(insert(t("customer_tags")), [
        {"customer_id": cid, "tag": tag, "created_at": NOW}
        for cid, tag in ((A, "vip"), (A, "newsletter"), (C, "newsletter"), (D, "vip"), (E, "vip"))])
    session.execute(insert(t("customer_values")), [
        {"customer_id": A, "value": "discounts"}, {"customer_id": C, "value": "personal_attention"},
        {"customer_id": C, "value": "greetings"}, {"customer_id": D, "value": "discounts"}])
    consent = t("customer_consents")
    at = NOW - timedelta(days=60)
    session.execute(insert(consent), [
        {"customer_id": A, "channel": "email", "granted": True, "recorded_at": at, "source": "portal"},
        {"customer_id": B, "channel": "email", "granted": True, "recorded_at": at, "source": "portal"},
        {"customer_id": B, "channel": "email", "granted": False, "recorded_at": at + timedelta(days=1),
         "source": "portal"},
        {"customer_id": B, "channel": "sms", "granted": True, "recorded_at": at, "source": "portal"},
        {"customer_id": D, "channel": "email", "granted": True, "recorded_at": at, "source": "portal"},
        # withdrawn and granted again at the same instant: the later row (higher id) wins
        {"customer_id": E, "channel": "email", "granted": False, "recorded_at": at, "source": "portal"},
        {"customer_id": E, "channel": "email", "granted": True, "recorded_at": at, "source": "portal"},
    ])
    tiers = t("tiers")
    tier_ids = {}
    for rank, code in enumerate(("silver", "gold"), start=1):
        tier_ids[code] = session.execute(insert(tiers).values(
            code=code, name=code.title(), rank=rank, metric="points", window_days=365, threshold=Decimal(rank * 100),
            multiplier=Decimal("1"), benefits=[], grace_days=30, active=True, created_at=NOW, updated_at=NOW
        ).returning(tiers.c.id)).scalar_one()
    session.execute(insert(t("customer_tiers")), [
        {"customer_id": cid, "tier_id": tier_ids[code], "since": NOW, "evaluated_at": NOW}
        for cid, code in ((A, "gold"), (B, "silver"), (D, "gold"), (E, "gold"))])
    session.execute(insert(t("ledger_accounts")), [
        {"code": f"customer:{cid}:available", "kind": "customer", "customer_id": cid, "balance": bal, "created_at": NOW}
        for cid, bal in ((A, 500), (B, 50), (D, 900), (E, 0))] + [
        {"code": f"customer:{A}:pending", "kind": "customer_pending", "customer_id": A, "balance": 7000,
         "created_at": NOW}])
    scores = t("customer_scores")
    score_rows = [
        (A, "champions", 0.1, 0.95, Decimal("300.00"), Decimal("180.00")),
        (B, "at risk", 0.8, 0.3, Decimal("20.50"), Decimal("70.00")),
        (D, "champions", 0.1, 0.9, Decimal("999.00"), Decimal("999.00")),
        (E, "lost", 0.95, None, None, Decimal("1020.00")),
    ]
    session.execute(insert(scores), [
        {"customer_id": cid, "recency_days": 5, "purchase_days": 1, "last_purchase_on": NOW, "rfm_r": 1, "rfm_f": 1,
         "rfm_m": 1, "rfm_score": "111", "rfm_segment": seg, "p_alive": pa, "churn_risk": cr,
         "previous_churn_risk": None, "churn_source": "supervised", "churn_reasons": [],
         "expected_purchases_90d": None, "predicted_clv": clv, "historical_clv": hist, "model": "BG/NBD",
         "computed_at": NOW} for cid, seg, cr, pa, clv, hist in score_rows])
    purchases = t("purchases")
    rows = [
        (A, 5, "CPH-1", "50.00", "0"), (A, 10, "CPH-1", "60.00", "0"), (A, 20, "CPH-1", "70.00", "0"),
        (B, 200, "MAL-2", "100.00", "30.00"),
        (D, 1, "CPH-1", "5000.00", "0"),
        (E, 400, "CPH-1", "1000.00", "0"), (E, 100, "CPH-1", "20.00", "0"),
        # a purchase after the evaluation time never counts
        (C, -3, "CPH-1", "999.00", "0"),
    ]
    session.execute(insert(purchases), [
        {"customer_id": cid, "order_ref": f"o-{i}", "occurred_at": NOW - timedelta(days=days, hours=1),
         "currency": "DKK", "gross_amount": Decimal(net), "discount_amount": Decimal(0),
         "net_amount": Decimal(net),
         "refunded_amount": Decimal(ref), "store": store} for i, (cid, days, store, net, ref) in enumerate(rows)])
    inter = t("interactions")

    def answer(cid: int, days: int, category: str | None, kind: str = "survey_answer") -> dict:
        return {"customer_id": cid, "occurred_at": NOW - timedelta(days=days), "recorded_at": NOW, "kind": kind,
                "channel": "email", "direction": "inbound", "summary": "answer",
                "data": {"nps_category": category} if category else {"question": "free text"}}
    session.execute(insert(inter), [
        answer(A, 100, "detractor"), answer(A, 10, "promoter"), answer(A, 1, None),
        answer(B, 50, "detractor"), answer(B, 5, "promoter", kind="note"),
        answer(D, 5, "promoter"), answer(E, 20, "passive"),
        answer(C, -2, "promoter"),  # after the evaluation time
    ])
    if "cases" in Base.metadata.tables:
        def case(cid: int, state: str) -> dict:
            return {"customer_id": cid, "channel": "email", "category": "delivery", "severity": "normal",
                    "subject": "late parcel", "description": "late", "state": state, "sla_policy": "standard",
                    "escalation_level": 0, "reopen_count": 0, "created_by": "test", "created_at": NOW,
                    "updated_at": NOW}
        session.execute(insert(t("cases")), [case(A, "new"), case(A, "in_progress"), case(A, "closed"),
                                             case(B, "resolved"), case(D, "new"), case(E, "waiting_for_customer")])
    session.flush()
    rebuild_derived(session)
    return ids


def rebuild_derived(session) -> None:
    """Rows above went in with Core, past the services that keep the derived tables in step
    (purchase summaries, current consent): recompute those from the inserted rows."""
    from loyalist.customers import consent_state
    from loyalist.purchases import summary

    summary.rebuild(session)
    consent_state.rebuild(session)
    session.flush()


@pytest.fixture
def people(session) -> dict[str, int]:
    return build(session)
