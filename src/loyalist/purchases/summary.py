"""Per-customer purchase summaries, kept in step with `purchases` in the writing transaction.

Why: a segment such as "spent 500 in total and last bought 180 days ago" aggregated the 5M-row
purchases table on every evaluation (29 s at 1M customers). Two derived tables answer it instead:

- `customer_purchase_summary`: first/last purchase time, purchase count and net spend per customer;
- `customer_purchase_months`: purchase count and net spend per customer per UTC calendar month of
  the purchase, for windowed aggregates ("spend in the last 90 days": the whole months inside the
  window from here, the two partial edge months from `purchases`).

Every write that changes what they summarise calls exactly one function here, in its own
transaction: `apply_purchases` (new purchases, one statement per table for any number of rows),
`apply_refund` (a return lowers the spend of the purchase's month, as `spend_in_window` counts it),
`move_customer` (merge). `rebuild` recomputes both from `purchases`; `differences` compares the
stored rows with a recomputation (`loyalist segments verify-summaries`, and the tests).

A third table, `customer_purchase_rolling`, holds each customer's count and spend over the last
30/90/365 days as of a stored day D: `refresh_rolling` recomputes it set-based (a daily job), and
the same three write functions keep it exact between refreshes for the (rare) facts that fall
into (D - window, D]: backdated purchases, refunds of older purchases, merges. See
`_rolling_windows` for how a write and a concurrent refresh are ordered on PostgreSQL.

Money is stored as integer 0.0001 units (see CustomerPurchaseSummary): `units(Decimal)` converts.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import delete, func, insert, select, text
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.errors import ValidationFailed
from loyalist.purchases.models import (
    CustomerPurchaseMonth,
    CustomerPurchaseRolling,
    CustomerPurchaseRollingState,
    CustomerPurchaseSummary,
    Purchase,
)
from loyalist.types import MONEY_QUANTUM

SUMMARY = CustomerPurchaseSummary.__table__
MONTHS = CustomerPurchaseMonth.__table__
PURCHASES = Purchase.__table__
ROLLING = CustomerPurchaseRolling.__table__
ROLLING_STATE = CustomerPurchaseRollingState.__table__
UNITS_PER_MONEY = 10_000  # 1 / MONEY_QUANTUM
ROLLING_WINDOWS = (30, 90, 365)
# PostgreSQL advisory lock ordering rolling-spend writers (shared) against a refresh (exclusive).
ROLLING_LOCK = 4_711_300_365
# A write whose facts all lie after the UTC midnight of (its clock + this margin) cannot fall into
# any rolling window a concurrent refresh may choose (see _rolling_windows).
WRITE_MARGIN = timedelta(hours=1)


def units(amount: Decimal) -> int:
    """Money as an exact integer count of 0.0001 (the money quantum)."""
    return int(Decimal(amount).quantize(MONEY_QUANTUM) * UNITS_PER_MONEY)


def from_units(value: int) -> Decimal:
    return (Decimal(value) / UNITS_PER_MONEY).quantize(MONEY_QUANTUM)


def month_of(at: datetime) -> date:
    """First day of the UTC calendar month of `at` (the bucket a purchase belongs to)."""
    utc = at.astimezone(UTC)
    return date(utc.year, utc.month, 1)


@dataclass
class _Agg:
    first: datetime
    last: datetime
    count: int = 0
    spend: int = 0

    def add(self, at: datetime, spend: int) -> None:
        self.first, self.last = min(self.first, at), max(self.last, at)
        self.count += 1
        self.spend += spend


def _aggregate(rows: Iterable[Mapping[str, Any]]) -> tuple[dict[int, _Agg], dict[tuple[date, int], list[int]]]:
    per_customer: dict[int, _Agg] = {}
    per_month: dict[tuple[date, int], list[int]] = {}
    for r in rows:
        cid, at = int(r["customer_id"]), r["occurred_at"]
        spend = units(r["net_amount"]) - units(r.get("refunded_amount") or 0)
        per_customer.setdefault(cid, _Agg(at, at)).add(at, spend)
        bucket = per_month.setdefault((month_of(at), cid), [0, 0])
        bucket[0] += 1
        bucket[1] += spend
    return per_customer, per_month


def _insert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
    return insert


_UPSERTS: dict[str, tuple[Any, Any]] = {}


def _upserts(dialect: str) -> tuple[Any, Any]:
    """The summary and month upserts, built once per dialect (building them per purchase cost more
    CPU than sending them)."""
    if dialect not in _UPSERTS:
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import insert
        else:
            from sqlalchemy.dialects.sqlite import insert  # type: ignore[assignment]
        lower, upper = (func.least, func.greatest) if dialect == "postgresql" else (func.min, func.max)
        stmt = insert(SUMMARY)
        new = stmt.excluded
        stmt = stmt.on_conflict_do_update(index_elements=["customer_id"], set_={
            "first_purchase_at": lower(SUMMARY.c.first_purchase_at, new.first_purchase_at),
            "last_purchase_at": upper(SUMMARY.c.last_purchase_at, new.last_purchase_at),
            "purchase_count": SUMMARY.c.purchase_count + new.purchase_count,
            "spend_units": SUMMARY.c.spend_units + new.spend_units})
        mstmt = insert(MONTHS)
        mnew = mstmt.excluded
        mstmt = mstmt.on_conflict_do_update(index_elements=["customer_id", "month"], set_={
            "purchase_count": MONTHS.c.purchase_count + mnew.purchase_count,
            "spend_units": MONTHS.c.spend_units + mnew.spend_units})
        _UPSERTS[dialect] = (stmt, mstmt)
    return _UPSERTS[dialect]


def _write(session: Session, per_customer: dict[int, _Agg], per_month: dict[tuple[date, int], list[int]]) -> None:
    """Add aggregates to the stored rows (INSERT .. ON CONFLICT DO UPDATE). Rows are sent sorted
    by key so that concurrent writers lock them in the same order and cannot deadlock."""
    if not per_customer:
        return
    stmt, mstmt = _upserts(session.get_bind().dialect.name)
    session.execute(stmt, _params([{"customer_id": cid, "first_purchase_at": a.first, "last_purchase_at": a.last,
                                    "purchase_count": a.count, "spend_units": a.spend}
                                   for cid, a in sorted(per_customer.items())]))
    session.execute(mstmt, _params([{"month": m, "customer_id": cid, "purchase_count": c, "spend_units": s}
                                    for (m, cid), (c, s) in sorted(per_month.items())]))


def _params(rows: list[dict[str, Any]]) -> list[dict[str, Any]] | dict[str, Any]:
    """One row as plain parameters, so the accrual hot path takes the plain execute path instead
    of executemany's batching machinery, which buys nothing for a single row."""
    return rows[0] if len(rows) == 1 else rows


def apply_purchases(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """New purchases (mappings with customer_id, occurred_at, net_amount and optionally
    refunded_amount) enter the summaries: one upsert per table whatever the number of rows
    (plus one for the rolling spend when some purchase falls into its windows)."""
    rows = list(rows)
    _write(session, *_aggregate(rows))
    if rows:
        _rolling_add(session, [(int(r["customer_id"]), r["occurred_at"],
                                units(r["net_amount"]) - units(r.get("refunded_amount") or 0)) for r in rows])


def apply_purchase(session: Session, purchase: Purchase) -> None:
    """`apply_purchases` for one ORM row."""
    apply_purchases(session, [{"customer_id": purchase.customer_id, "occurred_at": purchase.occurred_at,
                               "net_amount": purchase.net_amount, "refunded_amount": purchase.refunded_amount}])


def apply_refund(session: Session, *, customer_id: int, purchase_occurred_at: datetime, amount: Decimal) -> None:
    """A refund of `amount` against a purchase made at `purchase_occurred_at` (the refund lowers
    that purchase's value, so it counts in the purchase's month, not the refund's)."""
    delta = units(amount)
    session.execute(SUMMARY.update().where(SUMMARY.c.customer_id == customer_id)
                    .values(spend_units=SUMMARY.c.spend_units - delta))
    session.execute(MONTHS.update().where(MONTHS.c.customer_id == customer_id,
                                          MONTHS.c.month == month_of(purchase_occurred_at))
                    .values(spend_units=MONTHS.c.spend_units - delta))
    for days, (since, as_of) in sorted(_rolling_windows(session, purchase_occurred_at).items()):
        if since < purchase_occurred_at <= as_of:
            session.execute(ROLLING.update().where(ROLLING.c.window_days == days, ROLLING.c.customer_id == customer_id)
                            .values(spend_units=ROLLING.c.spend_units - delta))


def move_customer(session: Session, *, from_customer_id: int, to_customer_id: int) -> None:
    """After a merge moved the duplicate's purchases to the survivor: fold its summary rows into
    the survivor's and drop them."""
    s = session.execute(select(SUMMARY).where(SUMMARY.c.customer_id == from_customer_id)).mappings().first()
    if s is None:
        return
    months = session.execute(select(MONTHS).where(MONTHS.c.customer_id == from_customer_id)).mappings().all()
    session.execute(delete(MONTHS).where(MONTHS.c.customer_id == from_customer_id))
    session.execute(delete(SUMMARY).where(SUMMARY.c.customer_id == from_customer_id))
    _write(session,
           {to_customer_id: _Agg(s["first_purchase_at"], s["last_purchase_at"], s["purchase_count"], s["spend_units"])},
           {(m["month"], to_customer_id): [m["purchase_count"], m["spend_units"]] for m in months})
    windows = sorted(_rolling_windows(session, None))
    if windows:
        mine = [ROLLING.c.window_days.in_(windows), ROLLING.c.customer_id == from_customer_id]  # the PK
        rolling = session.execute(select(ROLLING).where(*mine)).mappings().all()
        session.execute(delete(ROLLING).where(*mine))
        _write_rolling(session, {(r["window_days"], to_customer_id): [r["purchase_count"], r["spend_units"]]
                                 for r in rolling})


# --------------------------------------------------------------------------- rolling spend

def day_start(at: datetime) -> datetime:
    """The UTC midnight starting the day of `at`."""
    utc = at.astimezone(UTC)
    return datetime(utc.year, utc.month, utc.day, tzinfo=UTC)


def rolling_state(session: Session) -> dict[int, tuple[datetime, datetime]]:
    """The stored rolling windows: {window_days: (window_start, as_of)}; empty when never refreshed."""
    rows = session.execute(select(ROLLING_STATE.c.window_days, ROLLING_STATE.c.window_start, ROLLING_STATE.c.as_of))
    return {int(r.window_days): (r.window_start, r.as_of) for r in rows}


def _rolling_windows(session: Session, earliest: datetime | None) -> dict[int, tuple[datetime, datetime]]:
    """The rolling windows a write whose facts lie at or after `earliest` (None: any time) must
    keep in step, {} when it cannot touch any.

    Ordering with a concurrent refresh (PostgreSQL; SQLite runs one writer at a time): a refresh
    takes the advisory lock exclusively before it reads `purchases`, and picks a day D no later
    than the UTC midnight of its clock. A writer that may touch a window takes the lock shared
    before it reads D, so either the refresh waits for the writer's commit and sees its rows, or
    the writer waits for the refresh and applies its rows against the new D. A writer skips the
    lock only when all its facts lie after the midnight of (its clock + WRITE_MARGIN): a refresh
    that starts while it is still open (less than the margin later) chooses a D before them. So
    live purchases never wait for a refresh; backdated ones, refunds and merges may."""
    if earliest is not None and earliest > day_start(clock.now() + WRITE_MARGIN):
        return {}
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SELECT pg_advisory_xact_lock_shared(:k)"), {"k": ROLLING_LOCK})
    return rolling_state(session)


def _rolling_add(session: Session, rows: list[tuple[int, datetime, int]]) -> None:
    """(customer_id, occurred_at, spend units) of new purchases into the windows they fall in."""
    windows = _rolling_windows(session, min(at for _, at, _ in rows))
    per: dict[tuple[int, int], list[int]] = {}
    for cid, at, spend in rows:
        for days, (since, as_of) in windows.items():
            if since < at <= as_of:
                bucket = per.setdefault((days, cid), [0, 0])
                bucket[0] += 1
                bucket[1] += spend
    _write_rolling(session, per)


def _write_rolling(session: Session, per: dict[tuple[int, int], list[int]]) -> None:
    """Add (count, spend) to rolling rows keyed (window_days, customer_id), sorted (lock order)."""
    if not per:
        return
    stmt = _insert(session)(ROLLING)
    new = stmt.excluded
    stmt = stmt.on_conflict_do_update(index_elements=["window_days", "customer_id"], set_={
        "purchase_count": ROLLING.c.purchase_count + new.purchase_count,
        "spend_units": ROLLING.c.spend_units + new.spend_units})
    session.execute(stmt, [{"window_days": d, "customer_id": cid, "purchase_count": c, "spend_units": u}
                           for (d, cid), (c, u) in sorted(per.items())])


def _pg_rolling_select(windows: dict[int, tuple[datetime, datetime]]) -> tuple[str, dict[str, Any]]:
    """One index range scan of purchases over the longest window, a filtered aggregate per
    window, unpivoted to (window_days, customer_id, purchase_count, spend_units) rows."""
    days = sorted(windows)
    as_of = windows[days[0]][1]
    params: dict[str, Any] = {"as_of": as_of, "since": min(since for since, _ in windows.values())}
    aggs, values = [], []
    spend = "CAST(sum((net_amount - refunded_amount) * 10000) FILTER (WHERE occurred_at > :s{i}) AS BIGINT)"
    for i, d in enumerate(days):
        params[f"s{i}"] = windows[d][0]
        aggs.append(f"count(*) FILTER (WHERE occurred_at > :s{i}) AS n{i}, {spend.format(i=i)} AS u{i}")
        values.append(f"({int(d)}, a.n{i}, a.u{i})")
    sql = (f"SELECT w.days AS window_days, a.customer_id, w.n AS purchase_count, w.u AS spend_units FROM "
           f"(SELECT customer_id, {', '.join(aggs)} FROM purchases "
           f"WHERE occurred_at > :since AND occurred_at <= :as_of "
           f"GROUP BY customer_id) a CROSS JOIN LATERAL (VALUES {', '.join(values)}) AS w(days, n, u) WHERE w.n > 0 "
           f"ORDER BY 1, 2")  # in primary-key order: sequential index inserts, heap clustered per window
    return sql, params


def _rolling_python(session: Session, windows: dict[int, tuple[datetime, datetime]]) -> dict[tuple[int, int],
                                                                                              list[int]]:
    """The rolling rows recomputed with exact Decimal arithmetic (SQLite keeps money as text)."""
    if not windows:
        return {}
    as_of = next(iter(windows.values()))[1]
    since = min(s for s, _ in windows.values())
    rows = session.execute(select(PURCHASES.c.customer_id, PURCHASES.c.occurred_at, PURCHASES.c.net_amount,
                                  PURCHASES.c.refunded_amount)
                           .where(PURCHASES.c.occurred_at > since, PURCHASES.c.occurred_at <= as_of))
    per: dict[tuple[int, int], list[int]] = {}
    for cid, at, net, refunded in rows:
        for days, (start, _) in windows.items():
            if at > start:
                bucket = per.setdefault((days, int(cid)), [0, 0])
                bucket[0] += 1
                bucket[1] += units(net) - units(refunded)
    return per


def refresh_rolling(session: Session, *, day: date | None = None,
                    windows: tuple[int, ...] = ROLLING_WINDOWS) -> dict[int, int]:
    """Recompute the rolling spend as of the UTC midnight starting `day` (default today), i.e.
    over (D - N days, D] for each window N; returns {window_days: customers}. The day may not be
    after today: writers rely on D never being after the midnight of the current time."""
    today = day_start(clock.now())
    as_of = today if day is None else datetime(day.year, day.month, day.day, tzinfo=UTC)
    if as_of > today:
        raise ValidationFailed(f"day: {as_of.date()} is after today ({today.date()}, UTC)", field="day")
    if not windows or any(isinstance(d, bool) or not isinstance(d, int) or not 0 < d <= 36_500 for d in windows):
        raise ValidationFailed("windows: whole numbers of days between 1 and 36500", field="windows")
    pg = session.get_bind().dialect.name == "postgresql"
    if pg:
        session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": ROLLING_LOCK})
        # the grouping sorts/hashes a year of purchases: in memory, and no JIT for one statement
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL jit = off"))
    session.execute(delete(ROLLING))
    session.execute(delete(ROLLING_STATE))
    now = clock.now()
    state = {d: (as_of - timedelta(days=d), as_of) for d in sorted(set(windows))}
    session.execute(insert(ROLLING_STATE), [{"window_days": d, "window_start": s, "as_of": a, "refreshed_at": now}
                                            for d, (s, a) in state.items()])
    if pg:
        sql, params = _pg_rolling_select(state)
        session.execute(text("INSERT INTO customer_purchase_rolling (window_days, customer_id, purchase_count, "
                             "spend_units) " + sql), params)
    else:
        _write_rolling(session, _rolling_python(session, state))
    counts = dict(session.execute(select(ROLLING.c.window_days, func.count()).group_by(ROLLING.c.window_days)).all())
    return {d: int(counts.get(d, 0)) for d in state}


def _rolling_differences(session: Session, limit: int) -> list[str]:
    """Rolling rows that differ from a recomputation at the stored day (PostgreSQL: EXCEPT in SQL)."""
    state = rolling_state(session)
    if not state:
        stray = session.execute(select(ROLLING).limit(limit)).all()
        return [f"rolling row without a refresh: {tuple(r)}" for r in stray]
    have = {(r.window_days, r.customer_id, r.purchase_count, r.spend_units) for r in session.execute(select(ROLLING))} \
        if session.get_bind().dialect.name != "postgresql" else set()
    if session.get_bind().dialect.name == "postgresql":
        want_sql, params = _pg_rolling_select(state)
        have_sql = "SELECT window_days, customer_id, purchase_count, spend_units FROM customer_purchase_rolling"
        out = []
        for side, a, b in (("missing or wrong", want_sql, have_sql), ("unexpected", have_sql, want_sql)):
            rows = session.execute(text(f"({a}) EXCEPT ({b}) LIMIT {int(limit)}"), params).all()
            out += [f"rolling row {side}: {tuple(r)}" for r in rows]
        return out[:limit]
    want = {(d, cid, c, u) for (d, cid), (c, u) in _rolling_python(session, state).items()}
    out = [f"rolling row missing or wrong: {r}" for r in sorted(want - have)]
    out += [f"rolling row unexpected: {r}" for r in sorted(have - want)]
    return out[:limit]


# --------------------------------------------------------------------------- rebuild and verification

_PG_SUMMARY = """
SELECT customer_id, min(occurred_at) AS first_purchase_at, max(occurred_at) AS last_purchase_at,
       count(*) AS purchase_count, CAST(sum((net_amount - refunded_amount) * 10000) AS BIGINT) AS spend_units
  FROM purchases GROUP BY customer_id"""
_PG_MONTHS = """
SELECT CAST(date_trunc('month', occurred_at AT TIME ZONE 'UTC') AS DATE) AS month, customer_id,
       count(*) AS purchase_count, CAST(sum((net_amount - refunded_amount) * 10000) AS BIGINT) AS spend_units
  FROM purchases GROUP BY 1, customer_id"""


def _recompute_python(session: Session) -> tuple[dict[int, _Agg], dict[tuple[date, int], list[int]]]:
    """The summaries recomputed from `purchases` with exact Decimal arithmetic (SQLite keeps money
    as text, so summing it in SQL would go through binary floats)."""
    rows = session.execute(select(PURCHASES.c.customer_id, PURCHASES.c.occurred_at, PURCHASES.c.net_amount,
                                  PURCHASES.c.refunded_amount)).mappings()
    return _aggregate(rows)


def rebuild(session: Session, *, rolling_day: date | None = None) -> int:
    """Recompute both tables from `purchases` (after a restore, a direct load or a failed check),
    and the rolling spend as of `rolling_day` (default today); returns the number of customers
    summarised. PostgreSQL does it in three INSERT .. SELECTs."""
    session.execute(delete(MONTHS))
    session.execute(delete(SUMMARY))
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("INSERT INTO customer_purchase_summary (customer_id, first_purchase_at, "
                             "last_purchase_at, purchase_count, spend_units)" + _PG_SUMMARY))
        session.execute(text("INSERT INTO customer_purchase_months (month, customer_id, purchase_count, "
                             "spend_units)" + _PG_MONTHS))
    else:
        per_customer, per_month = _recompute_python(session)
        _write(session, per_customer, per_month)
    refresh_rolling(session, day=rolling_day)
    return int(session.scalar(select(func.count()).select_from(SUMMARY)) or 0)


def _stored(session: Session) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    summary = {(r.customer_id, r.first_purchase_at, r.last_purchase_at, r.purchase_count, r.spend_units)
               for r in session.execute(select(SUMMARY))}
    months = {(r.month, r.customer_id, r.purchase_count, r.spend_units) for r in session.execute(select(MONTHS))}
    return summary, months


def differences(session: Session, *, limit: int = 20) -> list[str]:
    """Stored rows that differ from a recomputation from `purchases` (empty when they agree).
    PostgreSQL compares in SQL (EXCEPT both ways); SQLite in Python with exact money."""
    if session.get_bind().dialect.name == "postgresql":
        out = []
        for label, want, have in (
                ("summary", _PG_SUMMARY, "SELECT customer_id, first_purchase_at, last_purchase_at, purchase_count, "
                                         "spend_units FROM customer_purchase_summary"),
                ("month", _PG_MONTHS, "SELECT month, customer_id, purchase_count, spend_units "
                                      "FROM customer_purchase_months")):
            for side, a, b in (("missing or wrong", want, have), ("unexpected", have, want)):
                rows = session.execute(text(f"({a}) EXCEPT ({b}) LIMIT {int(limit)}")).all()
                out += [f"{label} row {side}: {tuple(r)}" for r in rows]
        return (out + _rolling_differences(session, limit))[:limit]
    per_customer, per_month = _recompute_python(session)
    want_s = {(cid, a.first, a.last, a.count, a.spend) for cid, a in per_customer.items()}
    want_m = {(m, cid, c, s) for (m, cid), (c, s) in per_month.items()}
    have_s, have_m = _stored(session)
    out = [f"summary row missing or wrong: {r}" for r in sorted(want_s - have_s)]
    out += [f"summary row unexpected: {r}" for r in sorted(have_s - want_s)]
    out += [f"month row missing or wrong: {r}" for r in sorted(want_m - have_m)]
    out += [f"month row unexpected: {r}" for r in sorted(have_m - want_m)]
    return (out + _rolling_differences(session, limit))[:limit]
