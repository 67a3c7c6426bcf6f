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

Windows (`spend`/`purchases_count` with `window_days`) cover `(T - N days, T]`: the whole UTC
calendar months inside it come from `customer_purchase_months` (one row per customer and month),
the partial months at the two edges from `purchases` by `ix_purchases_occurred_spend` (both
index-only on PostgreSQL).
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
from loyalist.segments.sqlparts import cmp, in_any, member, table

UNITS = 10_000  # purchases.summary stores money as integer 0.0001 units


def _summary() -> Any:
    return table("customer_purchase_summary").alias("seg_ps")


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


def bought_by(ctx: Context) -> ColumnElement[bool]:
    """The customer has a purchase at or before T (exact: the first purchase is kept)."""
    s = _summary()
    return member(ctx, s, s.c.first_purchase_at <= ctx.now)


# --------------------------------------------------------------------------- count and spend

def aggregate(kind: str) -> Any:
    """purchases_count / spend, all time or in the last `window_days`: 0 without purchases."""
    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        if kind == "integer":
            if (leaf.op, leaf.value) in (("ge", 1), ("gt", 0), ("ne", 0)):
                return _bought_in(ctx, leaf.window_days)
            if (leaf.op, leaf.value) in (("eq", 0), ("lt", 1), ("le", 0)):
                return ~_bought_in(ctx, leaf.window_days)
            value = leaf.value
        else:
            value = _units_value(ctx, leaf.value)
        sets = _window_sets if leaf.window_days else _lifetime_sets
        if holds(leaf.op, leaf.value, 0):
            return ~sets(ctx, leaf, kind, lambda e: not_(cmp(e, leaf.op, value)))
        return sets(ctx, leaf, kind, lambda e: cmp(e, leaf.op, value))
    return build


def _lifetime_sets(ctx: Context, leaf: Leaf, kind: str, pred: Any) -> ColumnElement[bool]:
    """Customers with a summary row whose all-time value as of T satisfies `pred`: the row's own
    value when its last purchase is not after T, else recomputed from their purchases up to T
    (a correlated subquery PostgreSQL runs only for those rows). One scan of one table, so the
    planner estimates it like any filter and keeps the semi-join."""
    s, p = _summary(), _purchases()
    fresh_col = s.c.purchase_count if kind == "integer" else s.c.spend_units
    agg = func.count() if kind == "integer" else func.coalesce(func.sum(_row_units(ctx, p)), 0)
    recomputed = select(agg).where(p.c.customer_id == s.c.customer_id, p.c.occurred_at <= ctx.now).scalar_subquery()
    fresh = s.c.last_purchase_at <= ctx.now
    return member(ctx, s, or_(and_(fresh, pred(fresh_col)), and_(~fresh, pred(recomputed))))


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
    if ctx.dialect == "postgresql" and not ctx.correlated:
        return _window_sets(ctx, leaf, "integer", lambda e: e >= 1)
    months, edges = _window_parts(ctx, leaf)
    return in_any(ctx, *[q.with_only_columns(q.selected_columns[0]) for q in (months, edges) if q is not None])


def _window_sets(ctx: Context, leaf: Leaf, kind: str, pred: Any) -> ColumnElement[bool]:
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

def last_purchase_days(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    """Whole days since the last purchase up to T: age in [lo, hi] <=> the last purchase as of T
    lies in (T - (hi+1) days, T - lo days]; an index range on summary.last_purchase_at."""
    if leaf.op == "is_null":
        return ~bought_by(ctx)
    if leaf.op == "is_not_null":
        return bought_by(ctx)

    def age_between(lo: int, hi: int | None) -> ColumnElement[bool]:
        lo = max(lo, 0)
        if hi is not None and hi < lo:
            return false()
        s, p = _summary(), _purchases("seg_lp")
        upper = ctx.now - dt.timedelta(days=lo)
        lower = None if hi is None else ctx.now - dt.timedelta(days=hi + 1)

        def within(col: Any) -> list[Any]:
            return [col <= upper] + ([] if lower is None else [col > lower])
        latest = (select(func.max(p.c.occurred_at)).where(p.c.customer_id == s.c.customer_id,
                                                          p.c.occurred_at <= ctx.now).scalar_subquery())
        fresh = s.c.last_purchase_at <= ctx.now
        return member(ctx, s, or_(and_(fresh, *within(s.c.last_purchase_at)), and_(~fresh, *within(latest))))

    v = leaf.value
    if leaf.op in ("ne", "in", "not_in"):
        ctx = replace(ctx, conjunct=False)  # ORs of memberships: keep the hashed IN sets
    if leaf.op == "eq":
        return age_between(v, v)
    if leaf.op == "ne":
        return or_(age_between(0, v - 1), age_between(v + 1, None))
    if leaf.op == "lt":
        return age_between(0, v - 1)
    if leaf.op == "le":
        return age_between(0, v)
    if leaf.op == "gt":
        return age_between(v + 1, None)
    if leaf.op == "ge":
        return age_between(v, None)
    if leaf.op == "between":
        return age_between(v[0], v[1])
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
