"""Read-side selects of the scores domain: the operational history the analytics run on.

Documented exception (docs/architecture.md): scores reads other domains' tables (`purchases`,
`customers`, `ledger_*`, `cases`, `survey_responses`, `interactions`) with SQLAlchemy Core
through `Base.metadata`, read-only and set-based (one statement per source, never one per
customer), because no combination of those domains' service functions reads a whole customer
base at once. A renamed column breaks tests/scores/test_side_table.py.

Times are converted in SQL (epoch seconds or UTC day numbers, identical on SQLite and
PostgreSQL whatever the session time zone) and vectorised in pandas: going through the column
types row by row costs ~10 s per 50,000 rows.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import pandas as pd
from sqlalchemy import BigInteger, Float, Table, cast, func, inspect, literal, literal_column, null, select, union_all
from sqlalchemy.orm import Session

from loyalist.db import Base

GONE = ("merged", "erased")  # profiles whose history lives elsewhere or must not be analysed
# timeline kinds that are not engagement: purchases/returns are the purchase history itself
NOT_ENGAGEMENT = ("purchase", "return")


def table(name: str) -> Table:
    from loyalist import registry

    if name not in Base.metadata.tables:
        registry.load_all_models()
    return Base.metadata.tables[name]


def _epoch_seconds(session: Session, column: Any) -> Any:
    if session.get_bind().dialect.name == "sqlite":
        return cast((func.julianday(column) - 2440587.5) * 86400.0, Float)
    return cast(func.extract("epoch", column), Float)


def _epoch_day(session: Session, column: Any) -> Any:
    """UTC day number (days since 1970-01-01) of a timestamp, for per-day aggregation in SQL."""
    if session.get_bind().dialect.name == "sqlite":
        # stored as naive UTC text; julianday of a time after 1970 is positive, so CAST floors
        return cast(func.julianday(column) - literal_column("2440587.5"), BigInteger)
    # constants inlined: PostgreSQL matches a GROUP BY expression to the select list textually,
    # and two bound parameters ($1, $2) of the same value do not match
    return cast(func.floor(func.extract("epoch", column) / literal_column("86400.0")), BigInteger)


def purchases_frame(session: Session, as_of: datetime) -> pd.DataFrame:
    """customer_id, occurred_at (naive UTC), amount (net - refunded) of every purchase up to `as_of`
    by a customer who is neither merged nor erased."""
    p, c = table("purchases"), table("customers")
    if session.get_bind().dialect.name == "sqlite":
        amount = cast(p.c.net_amount, Float) - cast(p.c.refunded_amount, Float)
    else:
        amount = cast(p.c.net_amount - p.c.refunded_amount, Float)
    query = (select(p.c.customer_id, _epoch_seconds(session, p.c.occurred_at), amount)
             .join(c, c.c.id == p.c.customer_id)
             .where(p.c.occurred_at <= as_of, c.c.status.not_in(GONE)))
    frame = pd.DataFrame(session.execute(query).all(), columns=["customer_id", "epoch", "amount"])
    when = pd.to_datetime(frame["epoch"].astype("float64").round(3), unit="s")
    return pd.DataFrame({
        "customer_id": frame["customer_id"].astype("int64"),
        "occurred_at": when.astype("datetime64[us]"),
        "amount": frame["amount"].astype("float64"),
    })


def side_events_frame(session: Session, as_of: datetime) -> pd.DataFrame:
    """The dated side table of the churn model (analytics.churn.SIDE_FEATURES) up to `as_of`:
    customer_id, occurred_at (naive UTC), kind, value; customers neither merged nor erased.

    - points: per customer and UTC day, the sum of the postings to the customer's accounts
      (available + pending) of entries that occurred that day; their running sum is the balance.
    - complaint: per customer and day, the number of cases opened (created) that day.
    - engagement: per customer and day, inbound timeline interactions other than purchases and
      returns (calls, visits, emails, reviews, portal use, survey answers, ...).
    - nps: every survey answer with an NPS score, at its submission time (the latest one before
      a cut is the customer's score then; erased answers are left out).
    - enrolled: the customer profile's creation, the day the customer joined the programme.
    Rows aggregated per day are dated at midnight UTC of that day. A source whose table does not
    exist (a database holding only purchases) gives no rows."""
    present = set(inspect(session.connection()).get_table_names())
    c = table("customers")
    live = select(c.c.id).where(c.c.status.not_in(GONE))

    acc, post, entry = table("ledger_accounts"), table("ledger_postings"), table("ledger_entries")
    day = _epoch_day(session, entry.c.occurred_at)
    points = (select(acc.c.customer_id.label("customer_id"), day.label("day"), cast(null(), Float).label("epoch"),
                     literal("points").label("kind"), cast(func.sum(post.c.amount), Float).label("value"))
              .select_from(post.join(acc, acc.c.id == post.c.account_id).join(entry, entry.c.id == post.c.entry_id))
              .where(acc.c.customer_id.in_(live), entry.c.occurred_at <= as_of)
              .group_by(acc.c.customer_id, day))

    cases = table("cases")
    day = _epoch_day(session, cases.c.created_at)
    complaints = (select(cases.c.customer_id, day, cast(null(), Float), literal("complaint"),
                         cast(func.count(), Float))
                  .where(cases.c.customer_id.in_(live), cases.c.created_at <= as_of)
                  .group_by(cases.c.customer_id, day))

    inter = table("interactions")
    day = _epoch_day(session, inter.c.occurred_at)
    engagement = (select(inter.c.customer_id, day, cast(null(), Float), literal("engagement"),
                         cast(func.count(), Float))
                  .where(inter.c.customer_id.in_(live), inter.c.occurred_at <= as_of,
                         inter.c.direction == "inbound", inter.c.kind.not_in(NOT_ENGAGEMENT))
                  .group_by(inter.c.customer_id, day))

    resp = table("survey_responses")
    nps = (select(resp.c.customer_id, cast(null(), BigInteger), _epoch_seconds(session, resp.c.submitted_at),
                  literal("nps"), cast(resp.c.nps, Float))
           .where(resp.c.customer_id.in_(live), resp.c.nps.is_not(None), resp.c.erased_at.is_(None),
                  resp.c.submitted_at <= as_of))

    enrolled = (select(c.c.id, cast(null(), BigInteger), _epoch_seconds(session, c.c.created_at),
                       literal("enrolled"), cast(literal_column("1.0"), Float))
                .where(c.c.status.not_in(GONE), c.c.created_at <= as_of))

    sources = [(points, ("ledger_accounts", "ledger_postings", "ledger_entries")), (complaints, ("cases",)),
               (engagement, ("interactions",)), (nps, ("survey_responses",)), (enrolled, ())]
    parts = [q for q, needs in sources if "customers" in present and set(needs) <= present]
    rows = session.execute(union_all(*parts)).all() if parts else []
    frame = pd.DataFrame(rows, columns=["customer_id", "day", "epoch", "kind", "value"])
    if frame.empty:
        return pd.DataFrame({"customer_id": pd.Series(dtype="int64"),
                             "occurred_at": pd.Series(dtype="datetime64[us]"),
                             "kind": pd.Series(dtype="object"), "value": pd.Series(dtype="float64")})
    by_day = pd.to_datetime(pd.to_numeric(frame["day"]).astype("float64") * 86400.0, unit="s")
    by_time = pd.to_datetime(pd.to_numeric(frame["epoch"]).astype("float64").round(3), unit="s")
    when = by_time.where(frame["epoch"].notna(), by_day)
    out = pd.DataFrame({"customer_id": frame["customer_id"].astype("int64"),
                        "occurred_at": when.astype("datetime64[us]"), "kind": frame["kind"].astype(str),
                        "value": frame["value"].astype("float64")})
    # a fixed order: "last" ties and every later step see the same input on every run
    return out.sort_values(["customer_id", "occurred_at", "kind", "value"], kind="mergesort").reset_index(drop=True)
