"""Field builders that read the derived per-customer tables instead of the raw histories.

Purchases aggregates read `customer_purchase_summary` / `customer_purchase_months`
(purchases.summary) and consent reads `customer_consent_current` (customers.consent_state):
both are kept in step in the writing transaction, so at 1M customers a condition becomes an
index range or a scan of one narrow row per customer instead of a GROUP BY over 5M purchases or
an anti-join over the consent history.

Exactness at any evaluation time `T` (`as_of`): the derived rows describe *everything stored*,
which is the state as of T for every customer whose latest fact is not after T. Each builder
therefore scans the derived table once with
    (fresh AND condition on the derived row) OR (stale AND condition on a recomputation)
where fresh is `last_purchase_at <= T` / `recorded_at <= T`, and the recomputation (a correlated
subquery over the raw rows, exactly the original definition) only runs for the normally absent
stale rows. A single filtered scan keeps PostgreSQL's row estimates right; `IN (fresh UNION ALL
stale)` was estimated at 200 rows and planned as a nested loop over all customers.
`tests/segments/test_derived.py` holds every builder to a plain Python computation on random data.

Windows (`spend`/`purchases_count` with `window_days`) cover `(T - N days, T]`. For N in the
rolling windows (30/90/365) with a stored day D less than N days from T, the value is
    rolling(D) - purchases in (D - N, T - N] + purchases in (D, T]
(signed intervals: with T before D the edges subtract (T, D] and add (T - N, D - N]); only the two
edge windows of |T - D| each read `purchases`, by `ix_purchases_occurred_spend`. Otherwise the
whole UTC calendar months inside the window come from `customer_purchase_months` (one row per
customer and month), the partial months at the two edges from `purchases` (both index-only on
PostgreSQL).

Conditions on `customer_purchase_summary` (all-time count/spend, bought at all, last purchase
age) are `RowTest`s, so several of them under one `all`/`any` merge into one scan (sqlparts).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import replace
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    BigInteger,
    Float,
    Integer,
    and_,
    case,
    cast,
    exists,
    false,
    func,
    literal,
    not_,
    or_,
    select,
    union_all,
)
from sqlalchemy.sql.elements import ColumnElement

from loyalist.segments.rules import Context, Leaf, holds
from loyalist.segments.sqlparts import RowTest, cmp, in_any, member, realise, table

UNITS = 10_000  # purchases.summary stores money as integer 0.0001 units


def _purchases(name: str = "seg_p") -> Any:
    return table("purchases").alias(name)


def _units_value(ctx: Context, value: Any) -> Any:
    """A money value of a rule as 0.0001 units (exact Decimal on PostgreSQL)."""
    if isinstance(value, tuple):
        return tuple(_units_value(ctx, v) for v in value)
    scaled = Decimal(value) * UNITS
    return float(scaled) if ctx.dialect == "sqlite" else scaled


def _row_units(ctx: Context, p: Any) -> Any:
    """Net spend of one purchase row in units. PostgreSQL: exact NUMERIC; SQLite (money as text):
    rounded to an integer per row, so sums are exact integers as in the summary tables."""
    if ctx.dialect == "sqlite":
        return cast(func.round((cast(p.c.net_amount, Float) - cast(p.c.refunded_amount, Float)) * UNITS), Integer)
    return cast((p.c.net_amount - p.c.refunded_amount) * UNITS, BigInteger)


def _summary_test(cond: Any) -> RowTest:
    """A condition on the customer's `customer_purchase_summary` row (one per buyer)."""
    return RowTest("customer_purchase_summary", "seg_ps", cond)


def bought_test(ctx: Context) -> RowTest:
    """The customer has a purchase at or before T (exact: the first purchase is kept)."""
    return _summary_test(lambda s: s.c.first_purchase_at <= ctx.now)


def bought_by(ctx: Context) -> ColumnElement[bool]:
    return realise(ctx, bought_test(ctx))


# --------------------------------------------------------------------------- count and spend

def aggregate_test(kind: str) -> Any:
    """The all-time purchases_count / spend conditions as row tests on the summary (None for
    windowed ones, which read other tables)."""
    def test(ctx: Context, leaf: Leaf) -> RowTest | None:
        if leaf.window_days:
            return None
        if kind == "integer":
            if (leaf.op, leaf.value) in (("ge", 1), ("gt", 0), ("ne", 0)):
                return bought_test(ctx)
            if (leaf.op, leaf.value) in (("eq", 0), ("lt", 1), ("le", 0)):
                return ~bought_test(ctx)
            value = leaf.value
        else:
            value = _units_value(ctx, leaf.value)
        if holds(leaf.op, leaf.value, 0):
            return ~_lifetime_test(ctx, kind, lambda e: not_(cmp(e, leaf.op, value)))
        return _lifetime_test(ctx, kind, lambda e: cmp(e, leaf.op, value))
    return test


def aggregate(kind: str) -> Any:
    """purchases_count / spend, all time or in the last `window_days`: 0 without purchases."""
    lifetime = aggregate_test(kind)

    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        if not leaf.window_days:
            test = lifetime(ctx, leaf)
            assert test is not None
            return realise(ctx, test)
        if kind == "integer":
            if (leaf.op, leaf.value) in (("ge", 1), ("gt", 0), ("ne", 0)):
                return _bought_in(ctx, leaf.window_days)
            if (leaf.op, leaf.value) in (("eq", 0), ("lt", 1), ("le", 0)):
                return ~_bought_in(ctx, leaf.window_days)
            value = leaf.value
        else:
            value = _units_value(ctx, leaf.value)
        if holds(leaf.op, leaf.value, 0):
            return ~_window_sets(ctx, leaf, kind, lambda e: not_(cmp(e, leaf.op, value)))
        return _window_sets(ctx, leaf, kind, lambda e: cmp(e, leaf.op, value))
    return build


def _lifetime_test(ctx: Context, kind: str, pred: Any) -> RowTest:
    """Customers with a summary row whose all-time value as of T satisfies `pred`: the row's own
    value when its last purchase is not after T, else recomputed from their purchases up to T
    (a correlated subquery PostgreSQL runs only for those rows). One scan of one table, so the
    planner estimates it like any filter and keeps the semi-join."""
    def cond(s: Any) -> ColumnElement[bool]:
        p = _purchases()
        fresh_col = s.c.purchase_count if kind == "integer" else s.c.spend_units
        agg = func.count() if kind == "integer" else func.coalesce(func.sum(_row_units(ctx, p)), 0)
        recomputed = (select(agg).where(p.c.customer_id == s.c.customer_id, p.c.occurred_at <= ctx.now)
                      .scalar_subquery())
        fresh = s.c.last_purchase_at <= ctx.now
        return or_(and_(fresh, pred(fresh_col)), and_(~fresh, pred(recomputed)))
    return _summary_test(cond)


def month_start(at: dt.datetime) -> dt.datetime:
    utc = at.astimezone(dt.UTC)
    return dt.datetime(utc.year, utc.month, 1, tzinfo=dt.UTC)


def next_month(start: dt.datetime) -> dt.datetime:
    return start.replace(year=start.year + 1, month=1) if start.month == 12 else start.replace(month=start.month + 1)


def window_split(now: dt.datetime, days: int) -> tuple[dt.datetime, dt.datetime, dt.datetime | None,
                                                       dt.datetime | None]:
    """(since, until, first_full, end_full) for the window (since, until]: the whole months
    [first_full, end_full) lie inside it (None when there are none); the rest are edges."""
    since = now - dt.timedelta(days=days)
    first_full = next_month(month_start(since))
    end_full = month_start(now)
    if first_full >= end_full:
        return since, now, None, None
    return since, now, first_full, end_full


def _window_parts(ctx: Context, leaf: Leaf) -> tuple[Any | None, Any]:
    """(whole months, edge purchases): SELECTs of (customer_id, n, u) whose rows add up to the
    window's purchase count and net spend units; the first is None when no month is whole."""
    assert leaf.window_days
    since, until, first_full, end_full = window_split(ctx.now, leaf.window_days)
    p = _purchases("seg_pw")
    edge = [p.c.occurred_at > since, p.c.occurred_at <= until]
    months = None
    if first_full is not None and end_full is not None:
        edge.append(or_(p.c.occurred_at < first_full, p.c.occurred_at >= end_full))
        m = table("customer_purchase_months").alias("seg_pm")
        months = select(m.c.customer_id, m.c.purchase_count.label("n"), m.c.spend_units.label("u")).where(
            m.c.month >= first_full.date(), m.c.month < end_full.date())
    edges = select(p.c.customer_id, literal(1).label("n"), _row_units(ctx, p).label("u")).where(*edge)
    return months, edges


def _bought_in(ctx: Context, window_days: int | None) -> ColumnElement[bool]:
    if not window_days:
        return bought_by(ctx)
    leaf = Leaf("purchases_count", "ge", 1, window_days, "")
    if (ctx.dialect == "postgresql" and not ctx.correlated) or _use_rolling(ctx, window_days):
        return _window_sets(ctx, leaf, "integer", lambda e: e >= 1)
    months, edges = _window_parts(ctx, leaf)
    return in_any(ctx, *[q.with_only_columns(q.selected_columns[0]) for q in (months, edges) if q is not None])


def _use_rolling(ctx: Context, window_days: int) -> bool:
    """The stored rolling spend serves this window: computed for its length, and its day less
    than one window away from T (beyond that the edges would be as large as the window)."""
    as_of = ctx.rolling_as_of(window_days)
    return (not ctx.correlated and as_of is not None
            and abs(ctx.now - as_of) < dt.timedelta(days=window_days))


def _rolling_parts(ctx: Context, window_days: int) -> tuple[Any, Any]:
    """(rolling rows, signed edge purchases): SELECTs of (customer_id, n, u) whose sums per
    customer are the count and spend units in (T - N, T]:
        rolling(D) + S(D, T] - S(D - N, T - N]
    with S(a, b] the purchases in (a, b] when a <= b and minus those in (b, a] otherwise. D and
    D - N are read from `customer_purchase_rolling_state` inside the statement, so the rows and
    the day always belong to the same refresh; each edge is one range [least, greatest] whose
    sign depends on the side of D (D - N) a purchase lies."""
    n = window_days
    r = table("customer_purchase_rolling").alias("seg_roll")
    st = table("customer_purchase_rolling_state")
    day = select(st.c.as_of).where(st.c.window_days == n).scalar_subquery()
    start = select(st.c.window_start).where(st.c.window_days == n).scalar_subquery()
    lo, hi = (func.least, func.greatest) if ctx.dialect == "postgresql" else (func.min, func.max)
    typ = st.c.as_of.type
    t_now = literal(ctx.now, typ)
    t_then = literal(ctx.now - dt.timedelta(days=n), typ)
    rows = select(r.c.customer_id, r.c.purchase_count.label("n"), r.c.spend_units.label("u")).where(
        r.c.window_days == n)
    edges = []
    for name, anchor, moving, later in (("seg_re_new", day, t_now, 1), ("seg_re_old", start, t_then, -1)):
        p = _purchases(name)
        sign = case((p.c.occurred_at > anchor, later), else_=-later)
        edges.append(select(p.c.customer_id, sign.label("n"), (sign * _row_units(ctx, p)).label("u")).where(
            p.c.occurred_at > lo(anchor, moving), p.c.occurred_at <= hi(anchor, moving)))
    return rows, union_all(*edges)


def _rolling_sets(ctx: Context, leaf: Leaf, kind: str, pred: Any) -> ColumnElement[bool]:
    assert leaf.window_days
    rows, edges = _rolling_parts(ctx, leaf.window_days)
    col = "n" if kind == "integer" else "u"
    if ctx.dialect == "postgresql":
        # One rolling row per customer, FULL JOINed with the (small) grouped edges, so the planner
        # knows the sizes; customers without a row but with purchases since D come from the edges.
        rs, es = rows.subquery("seg_rr"), edges.subquery("seg_re")
        # sum() of bigint is numeric in PostgreSQL: cast back, so the per-row addition stays integer
        e_agg = (select(es.c.customer_id, cast(func.sum(es.c[col]), BigInteger).label("v"))
                 .group_by(es.c.customer_id).subquery("seg_rea"))
        total = func.coalesce(rs.c[col], 0) + func.coalesce(e_agg.c.v, 0)
        joined = (select(func.coalesce(rs.c.customer_id, e_agg.c.customer_id))
                  .select_from(rs.join(e_agg, rs.c.customer_id == e_agg.c.customer_id, full=True))
                  .where(pred(total)))
        return in_any(ctx, joined)
    every = union_all(rows, edges.subquery("seg_re").select()).subquery("seg_rolling")
    grouped = select(every.c.customer_id).group_by(every.c.customer_id).having(pred(func.sum(every.c[col])))
    return in_any(ctx, grouped)


def _window_sets(ctx: Context, leaf: Leaf, kind: str, pred: Any) -> ColumnElement[bool]:
    assert leaf.window_days
    if _use_rolling(ctx, leaf.window_days):
        return _rolling_sets(ctx, leaf, kind, pred)
    months, edges = _window_parts(ctx, leaf)
    col = "n" if kind == "integer" else "u"
    if ctx.dialect == "postgresql" and not ctx.correlated and months is not None:
        # Each side grouped on its own, then FULL JOINed: PostgreSQL estimates a GROUP BY over a
        # UNION ALL at 200 groups and then nested-loops over customers; here it knows the sizes.
        # (SQLite before 3.39 has no FULL JOIN, and small SQLite bases do not need it.)
        ms, es = months.subquery("seg_wm"), edges.subquery("seg_we")
        m_agg = select(ms.c.customer_id, func.sum(ms.c[col]).label("v")).group_by(ms.c.customer_id).subquery("seg_wma")
        e_agg = select(es.c.customer_id, func.sum(es.c[col]).label("v")).group_by(es.c.customer_id).subquery("seg_wea")
        total = func.coalesce(m_agg.c.v, 0) + func.coalesce(e_agg.c.v, 0)
        joined = (select(func.coalesce(m_agg.c.customer_id, e_agg.c.customer_id))
                  .select_from(m_agg.join(e_agg, m_agg.c.customer_id == e_agg.c.customer_id, full=True))
                  .where(pred(total)))
        return in_any(ctx, joined)
    rows = (edges if months is None else union_all(months, edges)).subquery("seg_window")
    grouped = select(rows.c.customer_id).group_by(rows.c.customer_id).having(pred(func.sum(rows.c[col])))
    return in_any(ctx, grouped)


# --------------------------------------------------------------------------- last purchase age

def _age_test(ctx: Context, lo: int, hi: int | None) -> RowTest:
    """Whole days since the last purchase up to T in [lo, hi] <=> the last purchase as of T lies
    in (T - (hi+1) days, T - lo days]; an index range on summary.last_purchase_at."""
    lo = max(lo, 0)
    if hi is not None and hi < lo:
        return _summary_test(lambda s: false())

    def cond(s: Any) -> ColumnElement[bool]:
        p = _purchases("seg_lp")
        upper = ctx.now - dt.timedelta(days=lo)
        lower = None if hi is None else ctx.now - dt.timedelta(days=hi + 1)

        def within(col: Any) -> list[Any]:
            return [col <= upper] + ([] if lower is None else [col > lower])
        latest = (select(func.max(p.c.occurred_at)).where(p.c.customer_id == s.c.customer_id,
                                                          p.c.occurred_at <= ctx.now).scalar_subquery())
        fresh = s.c.last_purchase_at <= ctx.now
        return or_(and_(fresh, *within(s.c.last_purchase_at)), and_(~fresh, *within(latest)))
    return _summary_test(cond)


def last_purchase_test(ctx: Context, leaf: Leaf) -> RowTest | None:
    """last_purchase_days as one row test on the summary (None for ne/in/not_in, which are ORs)."""
    v = leaf.value
    if leaf.op == "is_null":
        return ~bought_test(ctx)
    if leaf.op == "is_not_null":
        return bought_test(ctx)
    bounds = {"eq": lambda: (v, v), "lt": lambda: (0, v - 1), "le": lambda: (0, v), "gt": lambda: (v + 1, None),
              "ge": lambda: (v, None), "between": lambda: (v[0], v[1])}.get(leaf.op)
    return None if bounds is None else _age_test(ctx, *bounds())


def last_purchase_days(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    """Whole days since the last purchase up to T (null: no purchase by T)."""
    test = last_purchase_test(ctx, leaf)
    if test is not None:
        return realise(ctx, test)

    def age_between(lo: int, hi: int | None) -> ColumnElement[bool]:
        return realise(ctx, _age_test(ctx, lo, hi))

    v = leaf.value
    ctx = replace(ctx, conjunct=False)  # ne/in/not_in: ORs of memberships, keep the hashed IN sets
    if leaf.op == "ne":
        return or_(age_between(0, v - 1), age_between(v + 1, None))
    if leaf.op in ("in", "not_in"):
        hit = or_(false(), *[age_between(x, x) for x in v])
        return hit if leaf.op == "in" else and_(bought_by(ctx), not_(hit))
    raise AssertionError(leaf.op)


# --------------------------------------------------------------------------- consent

def _latest_in_history(ctx: Context, h: Any) -> list[Any]:
    """`h` is the latest decision of its (customer, channel) recorded at or before T."""
    later = table("customer_consents").alias("seg_consent_later")
    newer = exists().where(later.c.customer_id == h.c.customer_id, later.c.channel == h.c.channel,
                           later.c.recorded_at <= ctx.now,
                           or_(later.c.recorded_at > h.c.recorded_at,
                               and_(later.c.recorded_at == h.c.recorded_at, later.c.id > h.c.id)))
    return [h.c.recorded_at <= ctx.now, ~newer]


def consent(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    """Currently consents (latest decision as of T is a grant) to any of the channels."""
    channels = list(leaf.value if isinstance(leaf.value, tuple) else (leaf.value,))
    cur = table("customer_consent_current").alias("seg_cc")
    h = table("customer_consents").alias("seg_consent")
    # A current row recorded after T is that pair's state too late: recompute the pair from history.
    granted_then = exists().where(h.c.customer_id == cur.c.customer_id, h.c.channel == cur.c.channel,
                                  h.c.granted.is_(True), *_latest_in_history(ctx, h))
    fresh = cur.c.recorded_at <= ctx.now
    has = member(ctx, cur, cur.c.channel.in_(channels),
                 or_(and_(fresh, cur.c.granted.is_(True)), and_(~fresh, granted_then)))
    return has if leaf.op in ("eq", "in") else ~has
