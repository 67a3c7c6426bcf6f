"""The field catalogue of segment rules: each field's type, operators and SQL.

Every builder returns a two-valued boolean correlated on `customers.id` (see rules.py). Other
domains' tables are read here with SQLAlchemy Core through `Base.metadata`, read-only: the
documented exception for segments in docs/architecture.md (a segment is one SQL statement over
many domains' data, which no combination of their service functions could express).

Semantics worth knowing (also in docs/segments.md):
- `ne` / `not_in` on a single-valued field mean "has a value and it differs"; `{"not": ...}`
  is the exact complement (it also includes customers without a value).
- On set-like fields (tag, values, consent, store) `eq`/`in` mean "has (any of)" and
  `ne`/`not_in` mean "has none of".
- Counts and sums (points_balance, purchases_count, spend, open_cases) are 0 for customers
  without rows; last_purchase_days is unknown (null) for customers who never bought.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import and_, exists, extract, func, not_, or_, select, true
from sqlalchemy.sql.elements import ColumnElement

from loyalist.analytics.rfm import SEGMENTS
from loyalist.customers.schemas import CONTACT_CHANNELS, CUSTOMER_VALUES
from loyalist.segments import derived
from loyalist.segments.rules import Context, Leaf, holds
from loyalist.segments.sqlparts import RowTest, customers_table, has_table, realise, table
from loyalist.segments.sqlparts import cmp as _cmp
from loyalist.segments.sqlparts import conv as _conv
from loyalist.segments.sqlparts import member as _member
from loyalist.segments.sqlparts import num_expr as _num_expr
from loyalist.segments.sqlparts import time_cmp as _time_cmp

SCALAR_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between", "in", "not_in")
NULL_OPS = ("is_null", "is_not_null")
SET_OPS = ("eq", "ne", "in", "not_in")
NPS_CATEGORIES = ("promoter", "passive", "detractor")


Builder = Callable[[Context, Leaf], ColumnElement[bool]]


@dataclass(frozen=True)
class FieldSpec:
    name: str
    kind: str  # text | enum | bool | integer | month | number | money | probability | datetime
    ops: tuple[str, ...]
    description: str
    build: Builder
    choices: tuple[str, ...] | None = None
    window: bool = False
    normalise: Callable[[str], str] | None = None
    requires: str | None = None  # table that must exist for the field to be offered
    unavailable_reason: str = ""
    # The condition as a RowTest on a one-row-per-customer table (or None for some operators),
    # so that rules._parts can merge several conditions on the same table into one scan.
    row_test: Callable[[Context, Leaf], RowTest | None] | None = None

    def describe(self) -> dict[str, Any]:
        return {"name": self.name, "type": self.kind, "ops": list(self.ops), "description": self.description,
                "choices": list(self.choices) if self.choices else None, "window_days": self.window}


# --------------------------------------------------------------------------- builders

def _column(name: str, *, kind: str = "text", transform: Callable[[Any], Any] | None = None) -> Builder:
    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        c = customers_table()
        expr = c.c[name] if transform is None else transform(c.c[name])
        if leaf.op == "is_null":
            return expr.is_(None)
        if leaf.op == "is_not_null":
            return expr.is_not(None)
        if kind == "datetime":
            return _time_cmp(expr, ctx, leaf.op, leaf.value)
        return _cmp(expr, leaf.op, leaf.value)
    return build


def _present(name: str) -> Builder:
    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        col = customers_table().c[name]
        present = and_(col.is_not(None), col != "")
        wanted = leaf.value if leaf.op == "eq" else not leaf.value
        return present if wanted else not_(present)
    return build


def _address(name: str, *, upper: bool = False) -> Builder:
    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        a = table("customer_addresses").alias("seg_addr")
        current = a.c.valid_to.is_(None)
        col = a.c[name]
        if leaf.op == "is_null":
            return ~_member(ctx, a, current, col.is_not(None))
        if leaf.op == "is_not_null":
            return _member(ctx, a, current, col.is_not(None))
        expr = func.upper(col) if upper else func.lower(col)
        value = leaf.value
        if leaf.op != "contains":
            value = tuple(v.upper() if upper else v.lower() for v in value) if isinstance(value, tuple) \
                else (value.upper() if upper else value.lower())
        cond = _cmp(expr, leaf.op, value)
        if leaf.op in ("eq", "in"):
            # Same rows (the value is normalised, so col = v implies f(col) = v), but PostgreSQL has
            # statistics for the column and none for f(col): without this OR a country condition
            # was estimated at 1 % of its size and planned as a nested loop over customers.
            cond = or_(_cmp(col, leaf.op, value), cond)
        return _member(ctx, a, current, cond)
    return build


def _set_field(table_name: str, column: str, *, extra: Callable[[Context, Any, Leaf], list[Any]] | None = None,
               owner: str = "customer_id") -> Builder:
    """Fields where a customer has a set of values (tags, values, consents, stores)."""
    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        t = table(table_name).alias(f"seg_{table_name}")
        conds = extra(ctx, t, leaf) if extra else []
        if leaf.op in ("is_null", "is_not_null"):
            any_row = _member(ctx, t, *conds, owner=owner)
            return ~any_row if leaf.op == "is_null" else any_row
        values = leaf.value if isinstance(leaf.value, tuple) else (leaf.value,)
        has = _member(ctx, t, *conds, t.c[column].in_(list(values)), owner=owner)
        return has if leaf.op in ("eq", "in") else ~has
    return build


def _purchase_window(ctx: Context, p: Any, leaf: Leaf) -> list[Any]:
    conds = [p.c.occurred_at <= ctx.now]
    if leaf.window_days:
        conds.append(p.c.occurred_at > ctx.now - dt.timedelta(days=leaf.window_days))
    return conds


def _tier(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    ct, t = table("customer_tiers").alias("seg_ct"), table("tiers").alias("seg_tier")
    base = [ct.c.tier_id == t.c.id]
    if leaf.op == "is_null":
        return ~_member(ctx, ct, *base)
    if leaf.op == "is_not_null":
        return _member(ctx, ct, *base)
    return _member(ctx, ct, *base, _cmp(t.c.code, leaf.op, leaf.value))


def _score_test(column: str, kind: str) -> Callable[[Context, Leaf], RowTest]:
    """A score condition: a test on the customer's one `customer_scores` row."""
    def test(ctx: Context, leaf: Leaf) -> RowTest:
        def cond(s: Any) -> ColumnElement[bool]:
            col = s.c[column]
            if leaf.op in ("is_null", "is_not_null"):
                return col.is_not(None)
            if kind == "enum":
                return _cmp(col, leaf.op, leaf.value)
            return _cmp(_num_expr(ctx, col, kind), leaf.op, _conv(ctx, kind, leaf.value))
        found = RowTest("customer_scores", "seg_score", cond)
        return ~found if leaf.op == "is_null" else found
    return test


def _score(column: str, kind: str) -> Builder:
    test = _score_test(column, kind)

    def build(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
        return realise(ctx, test(ctx, leaf))
    return build


def _points(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    """Available points (the customer's 'customer' ledger account; 0 without one)."""
    a = table("ledger_accounts").alias("seg_acct")
    mine = a.c.kind == "customer"
    predicate = _cmp(a.c.balance, leaf.op, leaf.value)
    if holds(leaf.op, leaf.value, 0):
        return ~_member(ctx, a, mine, ~predicate)
    return _member(ctx, a, mine, predicate)


def _nps(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    """The category of the customer's latest NPS answer on the timeline (kind survey_answer,
    data.nps_category)."""
    i, later = table("interactions").alias("seg_nps"), table("interactions").alias("seg_nps_later")
    cat, later_cat = i.c.data["nps_category"].as_string(), later.c.data["nps_category"].as_string()
    newer = exists().where(later.c.customer_id == i.c.customer_id, later.c.kind == "survey_answer",
                           later_cat.is_not(None), later.c.occurred_at <= ctx.now,
                           or_(later.c.occurred_at > i.c.occurred_at,
                               and_(later.c.occurred_at == i.c.occurred_at, later.c.id > i.c.id)))
    base = [i.c.kind == "survey_answer", cat.is_not(None), i.c.occurred_at <= ctx.now]
    if leaf.op == "is_null":
        return ~_member(ctx, i, *base)
    if leaf.op == "is_not_null":
        return _member(ctx, i, *base)
    return _member(ctx, i, *base, ~newer, _cmp(cat, leaf.op, leaf.value))


def _open_states() -> tuple[str, ...]:
    from loyalist.cases import service as cases_service

    return tuple(sorted(cases_service.OPEN_STATES))


def _open_cases(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    """Cases of the customer in an open state (new .. waiting_for_customer); 0 without any."""
    c, k = customers_table(), table("cases").alias("seg_case")
    open_ = [k.c.state.in_(_open_states()), k.c.customer_id.is_not(None)]
    if (leaf.op, leaf.value) in (("ge", 1), ("gt", 0), ("ne", 0)):
        return _member(ctx, k, *open_)
    if (leaf.op, leaf.value) in (("eq", 0), ("lt", 1), ("le", 0)):
        return ~_member(ctx, k, *open_)
    predicate = _cmp(func.count(), leaf.op, leaf.value)
    grouped = select(k.c.customer_id).where(*open_).group_by(k.c.customer_id)
    if holds(leaf.op, leaf.value, 0):
        return c.c.id.not_in(grouped.having(~predicate))
    return c.c.id.in_(grouped.having(predicate))


def _tag_normalise(value: str) -> str:
    from loyalist.customers.service import normalise_tag

    return normalise_tag(value)


def _always(ctx: Context, leaf: Leaf) -> ColumnElement[bool]:
    return true()


NUMERIC = SCALAR_OPS
NUMERIC_NULL = SCALAR_OPS + NULL_OPS
TEXT_OPS = ("eq", "ne", "in", "not_in", "contains", "is_null", "is_not_null")
DATE_OPS = ("eq", "ne", "lt", "le", "gt", "ge", "between", "within_days", "before_days")


def _specs() -> list[FieldSpec]:
    return [
        FieldSpec("locale", "text", ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
                  "Preferred language (e.g. en, da, ru, uk)", _column("locale"), normalise=str.lower),
        FieldSpec("preferred_channel", "enum", ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
                  "Preferred contact channel", _column("preferred_channel"), choices=tuple(sorted(CONTACT_CHANNELS))),
        FieldSpec("joined", "datetime", DATE_OPS, "When the customer joined (created_at)", _column(
            "created_at", kind="datetime")),
        FieldSpec("created_at", "datetime", DATE_OPS, "Same as joined", _column("created_at", kind="datetime")),
        FieldSpec("birthday_month", "month", ("eq", "ne", "in", "not_in", "between", "is_null", "is_not_null"),
                  "Month of the birthday (1-12)", _column("birthday", transform=lambda col: extract("month", col))),
        FieldSpec("has_email", "bool", ("eq", "ne"), "An email address is on file", _present("email")),
        FieldSpec("has_phone", "bool", ("eq", "ne"), "A phone number is on file", _present("phone")),
        FieldSpec("country", "text", ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
                  "Country (ISO 2 letters) of a current address", _address("country", upper=True)),
        FieldSpec("city", "text", TEXT_OPS, "City of a current address (case-insensitive)", _address("city")),
        FieldSpec("tag", "text", SET_OPS + NULL_OPS, "Has the tag (eq/in) or none of them (ne/not_in); "
                  "is_null: no tags at all", _set_field("customer_tags", "tag"), normalise=_tag_normalise),
        FieldSpec("values", "enum", SET_OPS + NULL_OPS, "What the customer values",
                  _set_field("customer_values", "value"), choices=tuple(sorted(CUSTOMER_VALUES))),
        FieldSpec("consent", "enum", SET_OPS, "Currently consents to the channel (latest decision is a grant)",
                  derived.consent, choices=tuple(sorted(CONTACT_CHANNELS))),
        FieldSpec("tier", "text", TEXT_OPS, "Code of the current tier", _tier, normalise=str.lower),
        FieldSpec("points_balance", "integer", NUMERIC, "Available points (0 without an account)", _points),
        FieldSpec("rfm_segment", "enum", ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
                  "RFM segment of the latest scores", _score("rfm_segment", "enum"), choices=SEGMENTS,
                  row_test=_score_test("rfm_segment", "enum")),
        FieldSpec("churn_risk", "probability", NUMERIC_NULL, "Churn risk 0..1 of the latest scores",
                  _score("churn_risk", "probability"), row_test=_score_test("churn_risk", "probability")),
        FieldSpec("p_alive", "probability", NUMERIC_NULL, "P(alive) 0..1 of the latest scores",
                  _score("p_alive", "probability"), row_test=_score_test("p_alive", "probability")),
        FieldSpec("predicted_clv", "money", NUMERIC_NULL, "Predicted 12-month CLV", _score("predicted_clv", "money"),
                  row_test=_score_test("predicted_clv", "money")),
        FieldSpec("historical_clv", "money", NUMERIC_NULL, "Net revenue to date (latest scores)",
                  _score("historical_clv", "money"), row_test=_score_test("historical_clv", "money")),
        FieldSpec("last_purchase_days", "integer", NUMERIC_NULL, "Whole days since the last purchase "
                  "(null: never bought)", derived.last_purchase_days, row_test=derived.last_purchase_test),
        FieldSpec("purchases_count", "integer", NUMERIC, "Purchases (optionally in the last window_days)",
                  derived.aggregate("integer"), window=True, row_test=derived.aggregate_test("integer")),
        FieldSpec("spend", "money", NUMERIC, "Net spend, refunds deducted (optionally in the last window_days)",
                  derived.aggregate("money"), window=True, row_test=derived.aggregate_test("money")),
        FieldSpec("store", "text", SET_OPS, "Bought at the store (optionally in the last window_days)",
                  _set_field("purchases", "store", extra=_purchase_window), window=True),
        FieldSpec("nps_category", "enum", ("eq", "ne", "in", "not_in", "is_null", "is_not_null"),
                  "Category of the latest NPS answer", _nps, choices=NPS_CATEGORIES),
        FieldSpec("open_cases", "integer", NUMERIC, "Open service cases (0 without any)", _open_cases,
                  requires="cases", unavailable_reason="the cases domain is not installed"),
    ]


CATALOGUE: dict[str, FieldSpec] = {spec.name: spec for spec in _specs()}


def available_fields() -> dict[str, FieldSpec]:
    return {name: spec for name, spec in CATALOGUE.items() if spec.requires is None or has_table(spec.requires)}
