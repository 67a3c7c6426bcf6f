"""SQL building blocks shared by the segment field builders (fields.py, derived.py).

Every helper returns a two-valued boolean (never NULL) so that `{"not": X}` stays the exact
complement of X; see rules.py.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

from sqlalchemy import Float, Select, Table, and_, exists, false, func, not_, or_, select, union_all
from sqlalchemy.sql.elements import ColumnElement

from loyalist.db import Base
from loyalist.segments.rules import Context


def table(name: str) -> Table:
    """A table of any domain, from the shared metadata (models are loaded on first use)."""
    if name not in Base.metadata.tables:
        from loyalist import registry

        registry.load_all_models()
    return Base.metadata.tables[name]


def has_table(name: str) -> bool:
    if name not in Base.metadata.tables:
        from loyalist import registry

        registry.load_all_models()
    return name in Base.metadata.tables


def customers_table() -> Table:
    return table("customers")


# --------------------------------------------------------------------------- membership forms

def member(ctx: Context, t: Any, *conds: Any, owner: str = "customer_id") -> ColumnElement[bool]:
    """"The customer has a row in `t` matching `conds`", in one of two SQL forms:
    - bulk (default): `customers.id IN (SELECT customer_id FROM t WHERE ...)`: uncorrelated, so
      PostgreSQL evaluates it once - a semi-join under AND, a hashed set under OR/NOT;
    - correlated (`ctx.correlated`, for one customer at a time): `EXISTS (... WHERE t.customer_id
      = customers.id ...)`, an index probe instead of building the whole set; also for a conjunct
      of the whole rule (`ctx.conjunct`), where PostgreSQL turns (NOT) EXISTS into a semi-/anti-
      join: "did not buy" then probes the few candidate customers instead of hashing all buyers.
    A builder that ORs several memberships must clear `conjunct` first (EXISTS under OR would be
    a subplan per customer)."""
    c = customers_table()
    if ctx.correlated or ctx.conjunct:
        return exists().where(t.c[owner] == c.c.id, *conds)
    return c.c.id.in_(select(t.c[owner]).where(*conds))


def in_any(ctx: Context, *parts: Select[Any]) -> ColumnElement[bool]:
    """"customers.id is in one of these sets", each a SELECT whose first column is a customer id
    (plain or GROUP BY customer_id .. HAVING). Bulk: one `IN (part UNION ALL part ..)`, so the
    planner makes a single semi-join or hashed set of it; correlated: `EXISTS` per part with the
    customer pinned, an index probe each."""
    c = customers_table()
    if ctx.correlated:
        return or_(*[p.where(p.selected_columns[0] == c.c.id).exists() for p in parts])
    if len(parts) == 1:
        return c.c.id.in_(parts[0])
    return c.c.id.in_(union_all(*parts))


# --------------------------------------------------------------------------- row tests (mergeable)

@dataclass(frozen=True)
class RowTest:
    """A condition of the form "the customer's row in `table` satisfies cond" (negated: "does
    not"), on a table with AT MOST ONE ROW PER CUSTOMER (customer_purchase_summary,
    customer_scores). Such conditions can be merged: several of them on the same table under one
    `all`/`any` become one scan or semi-join instead of one per condition (rules._parts):
    with r the customer's row, if any,
        all: member(P1) and .. and not member(N1) ..  = member(P1 and .. and not N1 ..)   (some P)
                                                      = not member(N1 or ..)             (no P)
        any: member(P1) or .. or not member(N1) ..    = not member(N1 and .. and not P1 ..) (some N)
                                                      = member(P1 or ..)                 (no N)
    which needs one row at most (two rows could satisfy P1 and P2 separately). `cond` builds
    the row condition for a given alias; it may be NULL on a row (false), so it is wrapped in
    COALESCE wherever it is negated."""

    table: str
    alias: str
    cond: Callable[[Any], ColumnElement[bool]]
    negated: bool = False

    def __invert__(self) -> RowTest:
        return replace(self, negated=not self.negated)


def realise(ctx: Context, test: RowTest) -> ColumnElement[bool]:
    """The SQL of one row test on its own (the same form every single condition always had)."""
    t = table(test.table).alias(test.alias)
    has = member(ctx, t, test.cond(t))
    return ~has if test.negated else has


def _truth(cond: ColumnElement[bool]) -> ColumnElement[bool]:
    return func.coalesce(cond, false())


def merged(ctx: Context, kind: str, tests: list[RowTest]) -> ColumnElement[bool]:
    """Row tests on the same one-row-per-customer table combined by `all` or `any` (see RowTest)."""
    assert tests and len({x.table for x in tests}) == 1
    t = table(tests[0].table).alias(tests[0].alias)
    pos = [x.cond(t) for x in tests if not x.negated]
    neg = [x.cond(t) for x in tests if x.negated]
    if kind == "all":
        if pos:
            return member(ctx, t, *pos, *[not_(_truth(n)) for n in neg])
        return ~member(ctx, t, or_(*neg))
    if neg:
        return ~member(ctx, t, *neg, *[not_(_truth(p)) for p in pos])
    return member(ctx, t, or_(*pos))


# --------------------------------------------------------------------------- value binding

def num_expr(ctx: Context, col: Any, kind: str) -> Any:
    """Money is text on SQLite (types.MoneyType): compare it as a number there."""
    if kind == "money" and ctx.dialect == "sqlite":
        return col.cast(Float)
    return col


def num(ctx: Context, kind: str, value: Any) -> Any:
    if kind in ("money", "number"):
        return float(value) if ctx.dialect == "sqlite" else Decimal(value)
    if kind == "probability":
        return float(value)
    return value


def conv(ctx: Context, kind: str, value: Any) -> Any:
    if isinstance(value, tuple):
        return tuple(num(ctx, kind, v) for v in value)
    return num(ctx, kind, value)


def cmp(expr: Any, op: str, value: Any) -> ColumnElement[bool]:
    """A comparison that is never NULL: a missing value makes it FALSE."""
    if op == "eq":
        c = expr == value
    elif op == "ne":
        c = expr != value
    elif op == "lt":
        c = expr < value
    elif op == "le":
        c = expr <= value
    elif op == "gt":
        c = expr > value
    elif op == "ge":
        c = expr >= value
    elif op == "between":
        c = and_(expr >= value[0], expr <= value[1])
    elif op == "in":
        c = expr.in_(list(value))
    elif op == "not_in":
        c = expr.not_in(list(value))
    elif op == "contains":
        c = func.lower(expr).contains(value.lower(), autoescape=True)
    else:
        raise AssertionError(op)
    return and_(expr.is_not(None), c)


def day_start(day: dt.date) -> dt.datetime:
    return dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC)


def time_cmp(expr: Any, ctx: Context, op: str, value: Any) -> ColumnElement[bool]:
    """Dates compare by whole UTC days; within_days/before_days are relative to the evaluation time."""
    one = dt.timedelta(days=1)
    if op == "within_days":
        c = and_(expr >= ctx.now - dt.timedelta(days=value), expr <= ctx.now)
    elif op == "before_days":
        c = expr < ctx.now - dt.timedelta(days=value)
    elif op == "eq":
        c = and_(expr >= day_start(value), expr < day_start(value) + one)
    elif op == "ne":
        c = or_(expr < day_start(value), expr >= day_start(value) + one)
    elif op == "lt":
        c = expr < day_start(value)
    elif op == "le":
        c = expr < day_start(value) + one
    elif op == "gt":
        c = expr >= day_start(value) + one
    elif op == "ge":
        c = expr >= day_start(value)
    elif op == "between":
        c = and_(expr >= day_start(value[0]), expr < day_start(value[1]) + one)
    else:
        raise AssertionError(op)
    return and_(expr.is_not(None), c)
