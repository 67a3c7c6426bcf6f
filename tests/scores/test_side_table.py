"""The churn model's dated side table read from the operational tables: points postings, cases,
NPS answers, enrolment and inbound interactions, each as of its own cut (no later information
in training), in the model's features and reasons, and the value-at-risk order.

The seeded history: customers buy at random (gaps of 1 + exponential(25) days, so a quiet
month says little); "leavers" stop at their own day, and in
the 10 weeks before it they complain (a case), answer NPS 2, redeem all their points and stop
using the app, while stayers answer NPS 9, keep their points and open the app every 10 days.
So complaints, low NPS and a low balance really predict churn, and a purchase-only model cannot
see it (a leaver's purchases look like a stayer's until the day they stop)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal

import numpy as np
import pandas as pd
import pytest
from sqlalchemy import insert, select

from loyalist.analytics.churn import churn_features, side_features
from loyalist.scores import queries, service

from .conftest import t

START = datetime(2023, 1, 2, 10, tzinfo=UTC)
END = datetime(2024, 12, 31, 12, tzinfo=UTC)
NEW_FEATURES = {"points_balance", "complaints_365", "nps_score", "engagement_90", "is_member"}


def _seed(session, *, n: int = 120, seed: int = 7) -> dict[int, bool]:
    """The history above; returns {customer id: leaves}. The first quarter of the customers enrol
    (profile created) 560 days after their first purchase, between the training and the
    validation cut; the others on it."""
    rng = np.random.default_rng(seed)
    customers, purchases, accounts = t("customers"), t("purchases"), t("ledger_accounts")
    issued = session.execute(insert(accounts).values(code="issued", kind="issued", customer_id=None, balance=None,
                                                     created_at=START).returning(accounts.c.id)).scalar_one()
    survey = t("surveys")
    survey_id = session.execute(insert(survey).values(
        name="nps", kind="nps", version=1, default_locale="en", locales=["en"], title={"en": "NPS"}, questions=[],
        status="active", link_valid_days=14, max_reminders=0, award_points=False, response_count=0,
        created_at=START, updated_at=START).returning(survey.c.id)).scalar_one()
    span = (END - START).days
    leaves: dict[int, bool] = {}
    rows: dict[str, list[dict]] = {"purchases": [], "entries": [], "cases": [], "nps": [], "inter": []}
    for i in range(n):
        first = START + timedelta(days=int(rng.integers(0, 60)), hours=int(rng.integers(0, 8)))
        leaver = i % 2 == 0
        stop = START + timedelta(days=int(rng.integers(span - 300, span + 60))) if leaver else END + timedelta(days=1)
        created = first + timedelta(days=560) if i < n // 4 else first
        cid = session.execute(insert(customers).values(external_id=f"side-{i}", status="active", created_at=created,
                                                       updated_at=created).returning(customers.c.id)).scalar_one()
        leaves[cid] = leaver and stop <= END
        acc = session.execute(insert(accounts).values(code=f"customer:{cid}:available", kind="customer",
                                                      customer_id=cid, balance=0, created_at=first)
                              .returning(accounts.c.id)).scalar_one()
        day, k, balance = first, 0, 0
        while day < min(stop, END):
            amount = Decimal(int(rng.integers(20, 60)))
            rows["purchases"].append({"customer_id": cid, "order_ref": f"side-{i}-{k}", "occurred_at": day,
                                      "currency": "EUR", "gross_amount": amount, "discount_amount": Decimal(0),
                                      "net_amount": amount, "refunded_amount": Decimal(0), "store": None})
            rows["entries"].append((cid, acc, "earn", int(amount), day))
            balance += int(amount)
            if not leaver or day < stop - timedelta(days=70):
                if k % 3 == 0:  # app use while happy
                    rows["inter"].append((cid, day + timedelta(days=2)))
            if k % 8 == 0 and (not leaver or day < stop - timedelta(days=120)):
                rows["nps"].append((cid, day + timedelta(hours=3), 9))
            day += timedelta(hours=int(24 * (1 + rng.exponential(25))))
            k += 1
        if leaver:  # the warning signs, all before the last purchase
            for when in (stop - timedelta(days=int(rng.integers(40, 70))), stop - timedelta(days=20)):
                rows["cases"].append((cid, when))
            rows["nps"].append((cid, stop - timedelta(days=35), 2))
            drain = stop - timedelta(days=30)
            if balance and drain < END:
                rows["entries"].append((cid, acc, "redeem", -balance, drain))
    _insert_entries(session, rows["entries"], issued)
    session.execute(insert(purchases), rows["purchases"])
    session.execute(insert(t("cases")), [
        {"customer_id": cid, "channel": "phone", "category": "quality", "severity": "high", "subject": "broken",
         "description": "it broke", "state": "new", "sla_policy": "standard", "escalation_level": 0,
         "reopen_count": 0, "created_by": "test", "created_at": when, "updated_at": when}
        for cid, when in rows["cases"] if when <= END])
    session.execute(insert(t("survey_responses")), [
        {"survey_id": survey_id, "survey_version": 1, "customer_id": cid, "channel": "web", "locale": "en",
         "answers": {}, "nps": score, "exit_reasons": [], "tags": [], "submitted_at": when, "actor": "test"}
        for cid, when, score in rows["nps"] if when <= END])
    _interactions(session, [(cid, when) for cid, when in rows["inter"] if when <= END])
    session.flush()
    return leaves


def _insert_entries(session, entries, issued: int, *, batch: str = "seed") -> None:
    """Ledger entries with their two postings (customer account, `issued`), set-based."""
    e, p = t("ledger_entries"), t("ledger_postings")
    session.execute(insert(e), [
        {"customer_id": cid, "kind": kind, "points": points, "reason": kind, "source": "test",
         "idempotency_key": f"{batch}-{n}", "payload_hash": "0" * 64, "actor_kind": "system", "actor_name": "test",
         "occurred_at": when, "created_at": when} for n, (cid, _, kind, points, when) in enumerate(entries)])
    ids = dict(session.execute(select(e.c.idempotency_key, e.c.id).where(
        e.c.source == "test", e.c.idempotency_key.like(f"{batch}-%"))).all())
    session.execute(insert(p), [
        row for n, (_, acc, _, points, _) in enumerate(entries)
        for row in ({"entry_id": ids[f"{batch}-{n}"], "account_id": acc, "amount": points},
                    {"entry_id": ids[f"{batch}-{n}"], "account_id": issued, "amount": -points})])


def _interactions(session, rows, *, kind: str = "portal", direction: str = "inbound") -> None:
    if rows:
        session.execute(insert(t("interactions")), [
            {"customer_id": cid, "occurred_at": when, "recorded_at": when, "kind": kind, "channel": "app",
             "direction": direction, "summary": "opened the app"} for cid, when in rows])


def test_side_table_reads_each_source_set_based(session) -> None:
    """By hand for one customer: points postings per UTC day, enrolment and only inbound
    non-purchase interactions; merged profiles and the system account left out."""
    c, accounts = t("customers"), t("ledger_accounts")
    when = datetime(2024, 3, 5, 23, 30, tzinfo=UTC)
    a, gone = (session.execute(insert(c).values(status=s, created_at=when, updated_at=when).returning(c.c.id))
               .scalar_one() for s in ("active", "merged"))
    issued = session.execute(insert(accounts).values(code="issued", kind="issued", customer_id=None, balance=None,
                                                     created_at=when).returning(accounts.c.id)).scalar_one()
    acc = {cid: session.execute(insert(accounts).values(code=f"customer:{cid}:available", kind="customer",
                                                        customer_id=cid, balance=0, created_at=when)
                                .returning(accounts.c.id)).scalar_one() for cid in (a, gone)}
    _insert_entries(session, [(a, acc[a], "earn", 100, when), (a, acc[a], "redeem", -30, when + timedelta(hours=1)),
                              (a, acc[a], "earn", 7, when + timedelta(days=3)), (gone, acc[gone], "earn", 5, when)],
                    issued, batch="hand")
    _interactions(session, [(a, when), (a, when + timedelta(minutes=5)), (gone, when)])
    _interactions(session, [(a, when)], kind="purchase")
    _interactions(session, [(a, when)], kind="message", direction="outbound")
    frame = queries.side_events_frame(session, when + timedelta(days=1))
    assert set(frame["customer_id"]) == {a}
    got = {(k, str(ts), v) for k, ts, v in frame[["kind", "occurred_at", "value"]].itertuples(index=False)}
    assert got == {("points", "2024-03-05 00:00:00", 100.0), ("points", "2024-03-06 00:00:00", -30.0),
                   ("engagement", "2024-03-05 00:00:00", 2.0), ("enrolled", "2024-03-05 23:30:00", 1.0)}
    later = queries.side_events_frame(session, when + timedelta(days=5))
    assert later.loc[later["kind"] == "points", "value"].sum() == 77.0


@pytest.fixture
def history(session):
    leaves = _seed(session)
    return leaves


def test_dated_features_predict_churn_and_explain_it(session, actor, history) -> None:
    purchases = queries.purchases_frame(session, END)
    events = service.churn_side_table(session, as_of=END)
    with_side, metrics, _, source = service.compute(purchases, as_of=END, events=events)
    _, plain, _, _ = service.compute(purchases, as_of=END)
    assert source == "supervised"
    assert NEW_FEATURES <= set(metrics["churn_model"]["features"])
    assert not NEW_FEATURES & set(plain["churn_model"]["features"])
    # validated on the later period: the dated features carry signal the purchases do not
    assert metrics["churn_model"]["auc"] > 0.85
    assert metrics["churn_model"]["auc"] > plain["churn_model"]["auc"] + 0.05
    risky = with_side.sort_values("churn_risk", ascending=False, kind="stable").head(20)
    drivers = {r["feature"] for reasons in risky["churn_reasons"] for r in reasons}
    assert drivers & (NEW_FEATURES - {"is_member"}), drivers
    for reasons in risky["churn_reasons"]:
        for r in reasons:
            assert r["text"].startswith(r["label"] + ": ") and r["contribution"] >= 0.005

    result = service.refresh(session, as_of=END, actor=actor)
    assert NEW_FEATURES <= set(result.metrics["churn_model"]["features"])
    stored = service.list_scores(session, order="value_at_risk", limit=500).items
    assert len(stored) == len(history)
    values = [s.value_at_risk for s in stored]
    assert values == sorted(values, key=lambda v: (v is None, -(v or 0)))
    assert any(r.feature in NEW_FEATURES for s in stored[:20] for r in s.churn_reasons)


def test_a_value_recorded_after_the_training_cut_does_not_reach_it(session, history) -> None:
    """Training features as of the cut are the same with or without rows dated after it; the
    later cut sees them."""
    cut = pd.Timestamp("2024-07-04")  # END - 2 x 90 days, the model's training cut
    purchases = queries.purchases_frame(session, END)
    before = service.churn_side_table(session, as_of=END)
    stayer = next(cid for cid, leaves in history.items() if not leaves)
    after = datetime(2024, 7, 4, 23, 59, 59, tzinfo=UTC) + timedelta(seconds=1)  # the first instant after the cut
    accounts = t("ledger_accounts")
    acc = session.scalar(select(accounts.c.id).where(accounts.c.customer_id == stayer))
    issued = session.scalar(select(accounts.c.id).where(accounts.c.code == "issued"))
    _insert_entries(session, [(stayer, acc, "redeem", -10_000, after)], issued, batch="late")
    session.execute(insert(t("cases")), [{
        "customer_id": stayer, "channel": "phone", "category": "quality", "severity": "high", "subject": "late",
        "description": "late", "state": "new", "sla_policy": "standard", "escalation_level": 0, "reopen_count": 0,
        "created_by": "test", "created_at": after, "updated_at": after}])
    survey_id = session.scalar(select(t("surveys").c.id))
    session.execute(insert(t("survey_responses")).values(
        survey_id=survey_id, survey_version=1, customer_id=stayer, channel="web", locale="en", answers={}, nps=0,
        exit_reasons=[], tags=[], submitted_at=after, actor="test"))
    _interactions(session, [(stayer, after)] * 3)
    session.flush()
    changed = service.churn_side_table(session, as_of=END)
    assert len(changed) > len(before)

    import ibis

    table = ibis.duckdb.connect().create_table("purchases", purchases)
    side_cols = sorted(NEW_FEATURES)
    a = churn_features(table, as_of=cut, events=before).set_index("customer_id")
    b = churn_features(table, as_of=cut, events=changed).set_index("customer_id")
    # side features are integer-valued pandas sums and single answers: exact
    pd.testing.assert_frame_equal(a[side_cols], b[side_cols])
    assert a.loc[stayer, "complaints_365"] == 0 and a.loc[stayer, "nps_score"] == 9
    next_day = cut + pd.Timedelta(days=1)
    later = side_features(changed, as_of=next_day).set_index("_key").loc[str(stayer)]
    was = side_features(before, as_of=next_day).set_index("_key").loc[str(stayer)]
    assert (later["complaints_365"], later["nps_score"]) == (1.0, 0.0)
    assert (later["engagement_90"] - was["engagement_90"], later["points_balance"] - was["points_balance"]) == (
        3.0, -10_000.0)
