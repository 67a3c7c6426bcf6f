"""The derived tables (purchase summaries, current consent) give exactly the original answers.

Random populations (seeded, so a failure reproduces) are written through the real write paths
(purchases.service record_purchase/record_return, customers merge, consent rows folded in random
order); then
- the incrementally maintained tables equal a rebuild from the source rows (`differences` is
  empty, and stays empty after `rebuild`), and
- every purchase/consent condition, at evaluation times chosen on the awkward instants (a
  purchase's own time, a month start, before everything, after everything), selects exactly the
  customers a plain Python computation over the raw rows selects — in bulk (`member_ids`) and
  one customer at a time (`matches`).
"""

from __future__ import annotations

import random
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from sqlalchemy import insert, select

from loyalist import clock
from loyalist.customers import consent_state
from loyalist.customers import service as customers
from loyalist.errors import ValidationFailed
from loyalist.purchases import service as purchases
from loyalist.purchases import summary
from loyalist.segments import queries
from loyalist.segments import service as segments

from .conftest import t

NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
DAY = timedelta(days=1)
CHANNELS = ("email", "sms", "push")


def _moment(rng: random.Random) -> datetime:
    """Mostly spread over ~14 months before NOW, sometimes on a month start or after NOW."""
    kind = rng.random()
    if kind < 0.15:
        months_back = rng.randint(0, 13)
        y, m = NOW.year, NOW.month - months_back
        while m < 1:
            y, m = y - 1, m + 12
        return datetime(y, m, 1, tzinfo=UTC)
    if kind < 0.25:
        return NOW + timedelta(days=rng.randint(0, 20), seconds=rng.randint(0, 86399))
    return NOW - timedelta(seconds=rng.randint(0, 420 * 86400))


def _money(rng: random.Random) -> Decimal:
    return Decimal(rng.randint(0, 300_000)) / Decimal(1000)  # up to 3 decimals, zero included


def populate(session, actor, seed: int, rolling_day: date | None = None) -> dict:
    """Random purchases, then (optionally) the rolling spend computed as of `rolling_day`, then
    returns, consent decisions, merges and a backdated purchase, which must keep it in step."""
    rng = random.Random(seed)
    cust = t("customers")
    ids = [session.execute(insert(cust).values(status="active", created_at=NOW - 500 * DAY, updated_at=NOW,
                                               external_id=f"s{seed}-{i}").returning(cust.c.id)).scalar_one()
           for i in range(30)]
    nets = {}
    for n in range(160):
        cid = rng.choice(ids[:24])  # a few customers never buy
        ref = f"s{seed}-o{n}"
        nets[ref] = _money(rng)
        purchases.record_purchase(session, customer_id=cid, order_ref=ref, occurred_at=_moment(rng),
                                  currency="DKK", net_amount=nets[ref], store="S1")
    if rolling_day is not None:
        with clock.frozen_at(NOW):
            summary.refresh_rolling(session, day=rolling_day)
        day = datetime(rolling_day.year, rolling_day.month, rolling_day.day, tzinfo=UTC)
        for n, back in enumerate((timedelta(0), DAY, 29 * DAY, 30 * DAY, 89 * DAY + timedelta(seconds=1), 200 * DAY)):
            ref = f"s{seed}-b{n}"  # backdated after the refresh, on and around the window edges
            nets[ref] = _money(rng)
            purchases.record_purchase(session, customer_id=rng.choice(ids[:24]), order_ref=ref,
                                      occurred_at=day - back, currency="DKK", net_amount=nets[ref])
    for ref in rng.sample(sorted(r for r, net in nets.items() if net > 0), 30):
        part = (nets[ref] * Decimal(rng.random())).quantize(Decimal("0.0001"))
        purchases.record_return(session, order_ref=ref, occurred_at=NOW, amount=part if part > 0 else None)
        if part > 0 and rng.random() < 0.3:
            purchases.record_return(session, order_ref=ref, occurred_at=NOW)  # the rest
    # consent decisions: ties on recorded_at, decisions after NOW, folded in random order
    hist = t("customer_consents")
    rows = []
    for _ in range(90):
        cid = rng.choice(ids)
        at = NOW - timedelta(days=rng.choice([0, 1, 5, 30, 30, 200])) + timedelta(days=rng.choice([0, 0, 0, 3]))
        rows.append({"customer_id": cid, "channel": rng.choice(CHANNELS), "granted": rng.random() < 0.6,
                     "recorded_at": at, "source": "portal"})
    stored = [dict(r, id=session.execute(insert(hist).values(**r).returning(hist.c.id)).scalar_one()) for r in rows]
    rng.shuffle(stored)
    for chunk in (stored[:40], stored[40:41], stored[41:]):
        consent_state.apply_consents(session, chunk)
    # merges fold summaries and consent states (the survivor keeps buying afterwards)
    with clock.frozen_at(NOW):
        for survivor, duplicate in ((ids[0], ids[1]), (ids[2], ids[25]), (ids[3], ids[26])):
            customers.merge_customers(session, survivor_id=survivor, duplicate_id=duplicate, actor=actor)
    purchases.record_purchase(session, customer_id=ids[0], order_ref=f"s{seed}-late", occurred_at=NOW - 2 * DAY,
                              currency="DKK", net_amount=Decimal("12.3456"))
    session.execute(cust.update().where(cust.c.id == ids[4]).values(status="closed"))
    session.flush()
    return {"ids": ids, "rng": rng}


def reference(session) -> tuple[list[int], dict[int, list[tuple[datetime, Decimal]]], dict]:
    """Active customers, their purchases (time, net - refunded) and consent history, read raw."""
    cust, p, h = t("customers"), t("purchases"), t("customer_consents")
    active = sorted(session.scalars(select(cust.c.id).where(cust.c.status == "active")))
    bought: dict[int, list[tuple[datetime, Decimal]]] = {}
    for cid, at, net, refunded in session.execute(select(p.c.customer_id, p.c.occurred_at, p.c.net_amount,
                                                         p.c.refunded_amount)):
        bought.setdefault(cid, []).append((at, net - refunded))
    history: dict = {}
    for row in session.execute(select(h.c.id, h.c.customer_id, h.c.channel, h.c.granted, h.c.recorded_at)):
        history.setdefault(row.customer_id, []).append(row)
    return active, bought, history


def compare(op: str, x, value) -> bool:
    if op == "eq":
        return x == value
    if op == "ne":
        return x != value
    if op == "lt":
        return x < value
    if op == "le":
        return x <= value
    if op == "gt":
        return x > value
    if op == "ge":
        return x >= value
    if op == "between":
        return value[0] <= x <= value[1]
    if op == "in":
        return x in value
    if op == "not_in":
        return x not in value
    raise AssertionError(op)


def expected(leaf: dict, as_of: datetime, data) -> set[int]:
    active, bought, history = data
    field, op, value, window = leaf["field"], leaf["op"], leaf.get("value"), leaf.get("window_days")
    out = set()
    for cid in active:
        rows = [(at, v) for at, v in bought.get(cid, []) if at <= as_of and (window is None or
                                                                             at > as_of - window * DAY)]
        if field == "purchases_count":
            ok = compare(op, len(rows), tuple(value) if isinstance(value, list) else value)
        elif field == "spend":
            total = sum((v for _, v in rows), Decimal(0))
            want = tuple(Decimal(x) for x in value) if isinstance(value, list) else Decimal(value)
            ok = compare(op, total, want)
        elif field == "last_purchase_days":
            age = None if not rows else (as_of - max(at for at, _ in rows)) // DAY
            if op in ("is_null", "is_not_null"):
                ok = (age is None) == (op == "is_null")
            else:
                ok = age is not None and compare(op, age, tuple(value) if isinstance(value, list) else value)
        elif field == "consent":
            latest: dict[str, tuple] = {}
            for r in history.get(cid, []):
                if r.recorded_at <= as_of and (r.channel not in latest or
                                               (r.recorded_at, r.id) > latest[r.channel][:2]):
                    latest[r.channel] = (r.recorded_at, r.id, r.granted)
            granted = {ch for ch, (_, _, g) in latest.items() if g}
            wanted = set(value) if isinstance(value, list) else {value}
            has = bool(granted & wanted)
            ok = has if op in ("eq", "in") else not has
        else:
            raise AssertionError(field)
        if ok:
            out.add(cid)
    return out


def leaves(rng: random.Random, data, as_of: datetime) -> list[dict]:
    _, bought, _ = data
    spends = sorted({sum((v for at, v in rows if at <= as_of), Decimal(0)) for rows in bought.values()})
    money = [str(x) for x in rng.sample(spends, min(4, len(spends)))] + ["0", "0.0005", "-1"]
    out: list[dict] = []
    for window in (None, 13, 31, 45, 90, 400):
        extra = {} if window is None else {"window_days": window}
        for op, value in (("ge", 1), ("eq", 0), ("ge", 2), ("lt", 3), ("between", [1, 4]), ("not_in", [1])):
            out.append({"field": "purchases_count", "op": op, "value": value, **extra})
        for op in ("ge", "lt", "eq", "ne"):
            out.append({"field": "spend", "op": op, "value": rng.choice(money), **extra})
        lo, hi = sorted(rng.sample(money[:4] or ["0", "1"], 2)) if len(money) > 5 else ("0", "1")
        lo, hi = sorted((Decimal(lo), Decimal(hi)))
        out.append({"field": "spend", "op": "between", "value": [str(lo), str(hi)], **extra})
        out.append({"field": "spend", "op": "in", "value": money[:2], **extra})
    for op, value in (("ge", 180), ("le", 30), ("eq", 0), ("eq", 1), ("between", [2, 40]), ("gt", 100),
                      ("lt", 7), ("ne", 3), ("in", [0, 5, 31]), ("not_in", [0, 1])):
        out.append({"field": "last_purchase_days", "op": op, "value": value})
    out += [{"field": "last_purchase_days", "op": "is_null"}, {"field": "last_purchase_days", "op": "is_not_null"}]
    for op, value in (("eq", "email"), ("ne", "email"), ("in", ["email", "sms"]), ("not_in", ["sms", "push"]),
                      ("eq", "push")):
        out.append({"field": "consent", "op": op, "value": value})
    return out


@pytest.mark.parametrize("seed", [1, 2])
def test_derived_tables_equal_rebuild_and_answers_equal_raw(session, actor, seed) -> None:
    state = populate(session, actor, seed)
    rng: random.Random = state["rng"]
    assert summary.differences(session) == []
    assert consent_state.differences(session) == []

    data = reference(session)
    _, bought, _ = data
    times = sorted({at for rows in bought.values() for at, _ in rows})
    as_ofs = [NOW, datetime(2026, 5, 1, tzinfo=UTC), rng.choice(times), rng.choice(times) + 90 * DAY,
              NOW - 3000 * DAY]
    sample_ids = rng.sample(data[0], 6)
    for as_of in as_ofs:
        for leaf in leaves(rng, data, as_of):
            want = expected(leaf, as_of, data)
            got = set(segments.member_ids(session, rule=leaf, as_of=as_of))
            assert got == want, (leaf, as_of, sorted(got ^ want))
            if rng.random() < 0.2:
                negated = set(segments.member_ids(session, rule={"not": leaf}, as_of=as_of))
                assert negated == set(data[0]) - want, ("not", leaf, as_of)
            if rng.random() < 0.05:
                for cid in sample_ids:
                    assert segments.matches(session, customer_id=cid, rule=leaf, as_of=as_of) == (cid in want), \
                        (leaf, as_of, cid)

    # a rebuild gives the same rows the writes maintained
    summary.rebuild(session)
    consent_state.rebuild(session)
    assert summary.differences(session) == []
    assert consent_state.differences(session) == []


def test_differences_notice_a_drifted_row(session, actor) -> None:
    populate(session, actor, 7)
    s, cur = t("customer_purchase_summary"), t("customer_consent_current")
    some = session.scalars(select(s.c.customer_id).limit(1)).one()
    session.execute(s.update().where(s.c.customer_id == some).values(spend_units=s.c.spend_units + 1))
    session.execute(cur.update().values(granted=~cur.c.granted))
    found = summary.differences(session)
    assert found and str(some) in found[0]
    assert consent_state.differences(session)
    summary.rebuild(session)
    consent_state.rebuild(session)
    assert summary.differences(session) == [] and consent_state.differences(session) == []


ROLLING_WINDOWS = (30, 90, 365)


def window_leaves(rng: random.Random, data, as_of: datetime) -> list[dict]:
    _, bought, _ = data
    out: list[dict] = []
    for window in ROLLING_WINDOWS:
        spends = sorted({sum((v for at, v in rows if as_of - window * DAY < at <= as_of), Decimal(0))
                         for rows in bought.values()})
        money = [str(x) for x in rng.sample(spends, min(3, len(spends)))] + ["0", "0.0005"]
        extra = {"window_days": window}
        for op, value in (("ge", 1), ("eq", 0), ("ge", 2), ("lt", 3), ("between", [1, 4])):
            out.append({"field": "purchases_count", "op": op, "value": value, **extra})
        for op in ("ge", "lt", "eq", "ne", "gt", "le"):
            out.append({"field": "spend", "op": op, "value": rng.choice(money), **extra})
        lo, hi = sorted(Decimal(x) for x in rng.sample(money, 2))
        out.append({"field": "spend", "op": "between", "value": [str(lo), str(hi)], **extra})
    return out


def _uses_rolling(session, leaf: dict, as_of: datetime) -> bool:
    sql = str(queries.rule_predicate(session, leaf, as_of=as_of).compile())
    return "customer_purchase_rolling" in sql


@pytest.mark.parametrize(("seed", "day"), [(3, date(2026, 6, 15)), (4, date(2026, 5, 1)), (5, date(2026, 3, 7))])
def test_rolling_spend_is_exact_at_awkward_times(session, actor, seed, day) -> None:
    """Given the rolling spend computed as of `day`, then refunds, merges and purchases backdated
    into its windows written through the services, when windowed count/spend conditions are
    evaluated at instants around the day and the window edges (a purchase's own time, that time
    plus the window, just before/after the day, before the day, a whole window later), then the
    members are exactly those of a plain Python sum over the raw rows; and the table still equals
    a recomputation."""
    with clock.frozen_at(NOW + 21 * DAY):  # after every fact; the refresh inside runs at NOW
        state = populate(session, actor, seed, rolling_day=day)
    rng: random.Random = state["rng"]
    assert summary.differences(session) == []
    assert summary.rolling_state(session)  # computed, and kept in step by the writes since

    data = reference(session)
    _, bought, _ = data
    d = datetime(day.year, day.month, day.day, tzinfo=UTC)
    times = sorted({at for rows in bought.values() for at, _ in rows})
    near = [x for x in times if d - 29 * DAY < x < d + 29 * DAY]
    before = [x for x in times if d - 89 * DAY < x < d]
    as_ofs = [d, d + timedelta(microseconds=1), d - timedelta(microseconds=1), d + 29 * DAY + timedelta(hours=23),
              d - 29 * DAY, rng.choice(near), rng.choice(before) + 90 * DAY, rng.choice(before) + 30 * DAY,
              d + 400 * DAY, NOW]
    sample_ids = rng.sample(data[0], 5)
    used = 0
    for as_of in as_ofs:
        for leaf in window_leaves(rng, data, as_of):
            want = expected(leaf, as_of, data)
            got = set(segments.member_ids(session, rule=leaf, as_of=as_of))
            assert got == want, (leaf, as_of, sorted(got ^ want))
            used += _uses_rolling(session, leaf, as_of)
            if rng.random() < 0.25:
                negated = set(segments.member_ids(session, rule={"not": leaf}, as_of=as_of))
                assert negated == set(data[0]) - want, ("not", leaf, as_of)
            if rng.random() < 0.05:
                for cid in sample_ids:
                    assert segments.matches(session, customer_id=cid, rule=leaf, as_of=as_of) == (cid in want)
    assert used > 100  # most evaluations above went through the rolling table
    assert not _uses_rolling(session, {"field": "spend", "op": "ge", "value": 1, "window_days": 90}, d + 90 * DAY)
    assert not _uses_rolling(session, {"field": "spend", "op": "ge", "value": 1, "window_days": 60}, d)

    summary.rebuild(session, rolling_day=day)
    assert summary.differences(session) == []


def test_rolling_spend_differences_and_refresh_rules(session, actor) -> None:
    with clock.frozen_at(NOW + 21 * DAY):
        state = populate(session, actor, 8, rolling_day=date(2026, 6, 1))
    r = t("customer_purchase_rolling")
    some = session.execute(select(r.c.window_days, r.c.customer_id).limit(1)).one()
    session.execute(r.update().where(r.c.window_days == some.window_days, r.c.customer_id == some.customer_id)
                    .values(spend_units=r.c.spend_units + 1))
    found = summary.differences(session)
    assert found and all("rolling row" in line for line in found) and str(some.customer_id) in found[0]
    with clock.frozen_at(NOW):
        with pytest.raises(ValidationFailed) as exc:
            summary.refresh_rolling(session, day=date(2026, 6, 16))  # after today: writers could miss it
        assert exc.value.field == "day"
        result = segments.refresh_rolling_spend(session, actor=actor, day=date(2026, 6, 15))
    assert result["as_of"] == "2026-06-15T00:00:00+00:00"
    assert summary.differences(session) == []
    # a live purchase (after the midnight of now + 1 h) takes no lock and touches no rolling row;
    # one backdated into the windows does
    rolling_rows = set(session.execute(select(r)).all())
    with clock.frozen_at(NOW):
        purchases.record_purchase(session, customer_id=state["ids"][5], order_ref="live", occurred_at=NOW,
                                  currency="DKK", net_amount=Decimal("10"))
    assert set(session.execute(select(r)).all()) == rolling_rows
    with clock.frozen_at(NOW):
        purchases.record_purchase(session, customer_id=state["ids"][5], order_ref="backdated",
                                  occurred_at=NOW - 3 * DAY, currency="DKK", net_amount=Decimal("10"))
    assert set(session.execute(select(r)).all()) != rolling_rows
    assert summary.differences(session) == []
    audit = t("audit_log")
    assert session.scalar(select(audit.c.after).where(audit.c.action == "segments.refresh_rolling")) == result


MERGED = [
    # several conditions on customer_purchase_summary under all / any / not (merged into one scan)
    {"all": [{"field": "last_purchase_days", "op": "ge", "value": 20}, {"field": "spend", "op": "ge", "value": "100"}]},
    {"all": [{"field": "last_purchase_days", "op": "le", "value": 60},
             {"not": {"field": "spend", "op": "ge", "value": "150"}},
             {"field": "purchases_count", "op": "ge", "value": 2}]},
    {"all": [{"not": {"field": "last_purchase_days", "op": "le", "value": 30}},
             {"not": {"field": "spend", "op": "gt", "value": "50"}}]},
    {"any": [{"field": "last_purchase_days", "op": "between", "value": [0, 10]},
             {"field": "spend", "op": "lt", "value": "20"}]},
    {"any": [{"not": {"field": "last_purchase_days", "op": "is_not_null"}},
             {"field": "purchases_count", "op": "eq", "value": 3},
             {"not": {"field": "spend", "op": "le", "value": "200"}}]},
    {"not": {"all": [{"field": "last_purchase_days", "op": "gt", "value": 5},
                     {"field": "purchases_count", "op": "lt", "value": 4}]}},
    {"all": [{"field": "purchases_count", "op": "eq", "value": 0}, {"field": "last_purchase_days", "op": "is_null"}]},
    {"all": [{"any": [{"field": "spend", "op": "ge", "value": "100"},
                      {"not": {"field": "last_purchase_days", "op": "lt", "value": 40}}]},
             {"field": "last_purchase_days", "op": "ne", "value": 3},
             {"field": "spend", "op": "ge", "value": "30", "window_days": 90}]},
]


def truth(rule: dict, as_of: datetime, data) -> set[int]:
    """Plain Python evaluation of a rule tree from the per-leaf reference sets."""
    if "all" in rule:
        out = set(data[0])
        for child in rule["all"]:
            out &= truth(child, as_of, data)
        return out
    if "any" in rule:
        return set().union(*(truth(child, as_of, data) for child in rule["any"]))
    if "not" in rule:
        return set(data[0]) - truth(rule["not"], as_of, data)
    if rule["field"] == "last_purchase_days" and rule["op"] == "ne":
        return expected({**rule, "op": "is_not_null", "value": None}, as_of, data) - \
            expected({**rule, "op": "eq"}, as_of, data)
    return expected(rule, as_of, data)


@pytest.mark.parametrize("seed", [11, 12])
def test_merged_conditions_on_the_summary_keep_and_or_not(session, actor, seed) -> None:
    """Given random purchases (some customers' last purchase after the evaluation time, so the
    merged scan takes its recomputation branch), conditions on the same summary row merged into
    one membership give exactly the Python truth of the rule tree, in bulk, negated, and one
    customer at a time; and the summary table is read once per group."""
    state = populate(session, actor, seed)
    data = reference(session)
    rng: random.Random = state["rng"]
    times = sorted({at for rows in data[1].values() for at, _ in rows})
    for as_of in (NOW, rng.choice(times), NOW - 60 * DAY):
        for rule in MERGED:
            want = truth(rule, as_of, data)
            assert set(segments.member_ids(session, rule=rule, as_of=as_of)) == want, (rule, as_of)
            assert set(segments.member_ids(session, rule={"not": rule}, as_of=as_of)) == set(data[0]) - want
            for cid in rng.sample(data[0], 4):
                assert segments.matches(session, customer_id=cid, rule=rule, as_of=as_of) == (cid in want)
    sql = str(queries.rule_predicate(session, MERGED[1], as_of=NOW).compile())
    assert sql.count("FROM customer_purchase_summary") == 1, sql


def test_rolling_job_refreshes_once_a_day(session, actor) -> None:
    from loyalist.segments import jobs

    populate(session, actor, 9)
    with clock.frozen_at(NOW):
        first = jobs.refresh_rolling(session)
        again = jobs.refresh_rolling(session, as_of=NOW + timedelta(hours=1))
        capped = jobs.refresh_rolling(session, as_of=NOW + 10 * DAY)  # never after today
    with clock.frozen_at(NOW + DAY):
        next_day = jobs.refresh_rolling(session)
    assert first["as_of"] == "2026-06-15T00:00:00+00:00" and first["customers"]
    assert again == capped == {"as_of": "2026-06-15T00:00:00+00:00", "skipped": "already computed for this day"}
    assert next_day["as_of"] == "2026-06-16T00:00:00+00:00"
    assert summary.differences(session) == []
