"""Read side of segments: the member query of a segment or a rule, as one SQL statement."""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy import Select, select, text
from sqlalchemy.orm import Session

from loyalist.segments import rules
from loyalist.segments.fields import customers_table
from loyalist.segments.models import SegmentMember
from loyalist.segments.sqlparts import table

ELIGIBLE_STATUSES = ("active",)


def rule_predicate(session: Session, rule: dict[str, Any], *, as_of: dt.datetime, correlated: bool = False) -> Any:
    node = rules.parse(rule)
    rolling = () if correlated else rolling_state(session, _windows_used(node))
    ctx = rules.Context(dialect=session.get_bind().dialect.name, now=as_of, correlated=correlated, rolling=rolling)
    return rules.compile_rule(node, ctx)


def _windows_used(node: rules.Node) -> set[int]:
    """Window lengths of the rule's windowed count/spend conditions."""
    if isinstance(node, rules.Leaf):
        return {node.window_days} if node.window_days and node.field in ("spend", "purchases_count") else set()
    if isinstance(node, rules.Not):
        return _windows_used(node.child)
    return set().union(*(_windows_used(c) for c in node.children)) if node.children else set()


def rolling_state(session: Session, windows: set[int]) -> tuple[tuple[int, dt.datetime], ...]:
    """((window_days, as_of day), ..) of the stored rolling spend for these windows (read-only,
    through the shared metadata: the documented exception). Only a hint for the compiler, which
    chooses the rolling form when the day is near enough; the SQL itself reads the day from the
    same table in the same statement, so a refresh committed in between cannot mix two days."""
    if not windows:
        return ()
    st = table("customer_purchase_rolling_state")
    rows = session.execute(select(st.c.window_days, st.c.as_of).where(st.c.window_days.in_(sorted(windows))))
    return tuple(sorted((int(d), at) for d, at in rows))


def tune(session: Session) -> None:
    """Transaction-local settings for one evaluation on PostgreSQL:
    - work_mem 256 MB, so the hashed id sets stay hashed (with the default 4 MB a set of a few
      hundred thousand ids would not be, and a NOT IN under OR/NOT would be re-scanned per customer);
    - jit off: a segment over 1M customers has plan costs far above jit_above_cost, and compiling
      its ~140 expressions took 4.3 of 7.9 s in a measured windowed-spend count, for hash joins
      that JIT does not speed up."""
    if session.get_bind().dialect.name == "postgresql":
        session.execute(text("SET LOCAL work_mem = '256MB'"))
        session.execute(text("SET LOCAL jit = off"))


def static_predicate(segment_id: int) -> Any:
    c = customers_table()
    return c.c.id.in_(select(SegmentMember.customer_id).where(SegmentMember.segment_id == segment_id))


def member_query(predicate: Any, *columns: Any) -> Select[Any]:
    """SELECT <columns or customers.id> FROM customers WHERE active AND <predicate>."""
    c = customers_table()
    return select(*(columns or (c.c.id,))).select_from(c).where(c.c.status.in_(ELIGIBLE_STATUSES), predicate)
