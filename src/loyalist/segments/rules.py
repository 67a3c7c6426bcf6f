"""The segment rule language: parse and validate JSON rules, compile them to one SQL predicate.

A rule is JSON: groups `{"all": [...]}`, `{"any": [...]}`, `{"not": {...}}` and leaves
`{"field": "...", "op": "...", "value": ..., "window_days": N}` (window only for fields that take
one). Every error names its path in the rule ("rule.all[2].value: expected a number") so the
console can point at the offending condition.

Why the tree is compiled to one SQLAlchemy boolean over `customers.id`: a segment is evaluated
by the database in a single statement (EXISTS / IN subqueries that the planner turns into
semi- and anti-joins), never by loading customers into Python. Every leaf is *two-valued*
(TRUE or FALSE, never NULL), so `{"not": X}` is exactly the complement of X among active
customers, including those whose value is unknown.

Safety: field names come only from the catalogue (`fields.CATALOGUE`), operators from a fixed
set, and every value is a bound parameter; no user text is ever spliced into SQL.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, replace
from decimal import Decimal, InvalidOperation
from typing import Any

from sqlalchemy import and_, false, not_, or_, true
from sqlalchemy.sql.elements import ColumnElement

from loyalist.errors import ValidationFailed

OPS = ("eq", "ne", "lt", "le", "gt", "ge", "in", "not_in", "between", "contains", "is_null", "is_not_null",
       "within_days", "before_days")
MAX_DEPTH = 12
MAX_LEAVES = 200
MAX_LIST = 1000
MAX_TEXT = 200
MAX_DAYS = 36_500


@dataclass(frozen=True)
class Leaf:
    field: str
    op: str
    value: Any
    window_days: int | None
    path: str


@dataclass(frozen=True)
class Group:
    kind: str  # "all" | "any"
    children: tuple[Node, ...]
    path: str


@dataclass(frozen=True)
class Not:
    child: Node
    path: str


Node = Leaf | Group | Not


def _fail(path: str, message: str) -> ValidationFailed:
    return ValidationFailed(f"{path}: {message}", field=path)


def parse(rule: Any, *, path: str = "rule") -> Node:
    """Validate a JSON rule and return its tree; raises ValidationFailed naming the path."""
    counter = [0]
    return _parse(rule, path, 0, counter)


def _parse(rule: Any, path: str, depth: int, counter: list[int]) -> Node:
    from loyalist.segments.fields import CATALOGUE, available_fields

    if depth > MAX_DEPTH:
        raise _fail(path, f"nested deeper than {MAX_DEPTH} levels")
    if not isinstance(rule, dict):
        raise _fail(path, "expected an object with 'all', 'any', 'not' or 'field'")
    keys = set(rule)
    groups = keys & {"all", "any", "not"}
    if groups:
        if len(keys) != 1:
            raise _fail(path, f"a group has exactly one key, got {sorted(keys)}")
        kind = next(iter(groups))
        body = rule[kind]
        if kind == "not":
            return Not(_parse(body, f"{path}.not", depth + 1, counter), path)
        if not isinstance(body, list):
            raise _fail(f"{path}.{kind}", "expected a list of conditions")
        if kind == "any" and not body:
            raise _fail(f"{path}.any", "must contain at least one condition")
        children = tuple(_parse(child, f"{path}.{kind}[{i}]", depth + 1, counter) for i, child in enumerate(body))
        return Group(kind, children, path)
    if "field" not in keys:
        raise _fail(path, "expected an object with 'all', 'any', 'not' or 'field'")
    unknown = keys - {"field", "op", "value", "window_days"}
    if unknown:
        raise _fail(path, f"unknown key(s) {sorted(unknown)}; a condition has field, op, value, window_days")
    counter[0] += 1
    if counter[0] > MAX_LEAVES:
        raise _fail(path, f"a rule may have at most {MAX_LEAVES} conditions")
    name = rule["field"]
    if not isinstance(name, str) or name not in CATALOGUE:
        raise _fail(f"{path}.field", f"unknown field {str(name)[:60]!r}; one of {sorted(CATALOGUE)}")
    spec = CATALOGUE[name]
    if name not in available_fields():
        raise _fail(f"{path}.field", f"field {name!r} is not available: {spec.unavailable_reason}")
    op = rule.get("op")
    if not isinstance(op, str) or op not in spec.ops:
        raise _fail(f"{path}.op", f"operator {str(op)[:30]!r} is not allowed for {name}; one of {list(spec.ops)}")
    window = rule.get("window_days")
    if window is not None:
        if not spec.window:
            raise _fail(f"{path}.window_days", f"field {name!r} takes no window")
        window = _days(window, f"{path}.window_days", minimum=1)
    value = _value(spec, op, rule, path)
    return Leaf(name, op, value, window, path)


def _days(raw: Any, path: str, *, minimum: int = 0) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int):
        raise _fail(path, "expected a whole number of days")
    if not minimum <= raw <= MAX_DAYS:
        raise _fail(path, f"must be between {minimum} and {MAX_DAYS} days")
    return raw


def _value(spec: Any, op: str, rule: dict[str, Any], path: str) -> Any:
    vpath = f"{path}.value"
    if op in ("is_null", "is_not_null"):
        if rule.get("value") is not None:
            raise _fail(vpath, f"operator {op} takes no value")
        return None
    if "value" not in rule or rule["value"] is None:
        raise _fail(vpath, "a value is required")
    raw = rule["value"]
    if op in ("within_days", "before_days"):
        return _days(raw, vpath)
    if op in ("in", "not_in"):
        if not isinstance(raw, list) or not raw:
            raise _fail(vpath, "expected a non-empty list")
        if len(raw) > MAX_LIST:
            raise _fail(vpath, f"at most {MAX_LIST} values")
        return tuple(dict.fromkeys(scalar(spec, v, f"{vpath}[{i}]") for i, v in enumerate(raw)))
    if op == "between":
        if not isinstance(raw, list) or len(raw) != 2:
            raise _fail(vpath, "expected a list of two values [low, high]")
        lo, hi = scalar(spec, raw[0], f"{vpath}[0]"), scalar(spec, raw[1], f"{vpath}[1]")
        if lo > hi:
            raise _fail(vpath, "the low end must not be above the high end")
        return (lo, hi)
    if op == "contains":
        if not isinstance(raw, str) or not raw.strip():
            raise _fail(vpath, "expected a non-empty text")
        return _text(raw, vpath)
    return scalar(spec, raw, vpath)


def _text(raw: Any, path: str) -> str:
    if not isinstance(raw, str):
        raise _fail(path, "expected a text")
    if "\x00" in raw:
        raise _fail(path, "must not contain NUL characters")
    if len(raw) > MAX_TEXT:
        raise _fail(path, f"at most {MAX_TEXT} characters")
    return raw.strip()


def scalar(spec: Any, raw: Any, path: str) -> Any:
    """One value of the field's kind, converted (numbers to Decimal/int/float, dates to date)."""
    kind = spec.kind
    if kind in ("text", "enum"):
        value = _text(raw, path)
        if spec.normalise is not None:
            try:
                value = spec.normalise(value)
            except ValidationFailed as exc:
                detail = exc.message.split(": ", 1)[-1]
                raise _fail(path, f"{raw!r} is not valid: {detail}") from None
        if spec.choices is not None and value not in spec.choices:
            raise _fail(path, f"{raw!r} is not one of {list(spec.choices)}")
        return value
    if kind == "bool":
        if not isinstance(raw, bool):
            raise _fail(path, "expected true or false")
        return raw
    if kind in ("integer", "month"):
        if isinstance(raw, bool) or not isinstance(raw, int):
            if isinstance(raw, str) and raw.strip().lstrip("-").isdigit():
                raw = int(raw.strip())
            else:
                raise _fail(path, "expected a whole number")
        if kind == "month" and not 1 <= raw <= 12:
            raise _fail(path, "expected a month number 1..12")
        if abs(raw) > 10**15:
            raise _fail(path, "number out of range")
        return raw
    if kind in ("number", "money", "probability"):
        if isinstance(raw, bool) or not isinstance(raw, int | float | str):
            raise _fail(path, "expected a number")
        try:
            value = Decimal(str(raw).strip())
        except InvalidOperation:
            raise _fail(path, "expected a number") from None
        if not value.is_finite() or abs(value) > Decimal(10) ** 14:
            raise _fail(path, "expected a finite number")
        if kind == "probability" and not 0 <= value <= 1:
            raise _fail(path, "expected a number between 0 and 1")
        return value
    if kind == "datetime":
        if not isinstance(raw, str):
            raise _fail(path, "expected a date (YYYY-MM-DD)")
        try:
            return dt.date.fromisoformat(raw.strip())
        except ValueError:
            raise _fail(path, "expected a date (YYYY-MM-DD)") from None
    raise AssertionError(f"unknown kind {kind}")


# --------------------------------------------------------------------------- compilation

@dataclass(frozen=True)
class Context:
    """What a field builder needs: the customers table, the dialect and the evaluation time."""

    dialect: str
    now: dt.datetime
    correlated: bool = False  # EXISTS per customer (one customer) instead of uncorrelated IN sets
    # The condition is a conjunct of the whole rule (the rule itself, or a direct child of its
    # top-level `all`, possibly under one `not`): there a (NOT) EXISTS becomes a semi-/anti-join
    # the planner can drive from the smaller side, where NOT IN would hash the whole set (all
    # ~1M buyers for "did not buy"). Under OR/NOT the IN sets stay (see fields.member).
    conjunct: bool = False
    # The stored rolling spend (purchases.summary.refresh_rolling): ((window_days, as_of day D), ..),
    # read by queries.rule_predicate for rules with windowed purchase fields; empty otherwise.
    rolling: tuple[tuple[int, dt.datetime], ...] = ()

    def rolling_as_of(self, window_days: int) -> dt.datetime | None:
        return dict(self.rolling).get(window_days)


def compile_rule(node: Node, ctx: Context) -> ColumnElement[bool]:
    """The predicate over `customers.id` (see fields.customers_table) for a parsed rule. Leaves
    that are conjuncts of the whole rule compile with `conjunct=True` (see Context)."""
    if ctx.correlated:
        return _compile(node, ctx)
    top = replace(ctx, conjunct=True)
    children = node.children if isinstance(node, Group) and node.kind == "all" else (node,)
    return and_(true(), *_parts("all", children, top, ctx))


def _row_test(node: Node, ctx: Context) -> Any:
    """The RowTest of a leaf or a negated leaf, when its field offers one for this operator."""
    from loyalist.segments.fields import CATALOGUE

    negated = isinstance(node, Not)
    leaf = node.child if isinstance(node, Not) else node
    if not isinstance(leaf, Leaf):
        return None
    make = CATALOGUE[leaf.field].row_test
    test = make(ctx, leaf) if make is not None else None
    return None if test is None else (~test if negated else test)


def _parts(kind: str, children: tuple[Node, ...], leaf_ctx: Context, ctx: Context) -> list[ColumnElement[bool]]:
    """The compiled children of an `all`/`any` group. Leaves (and negated leaves) compile with
    `leaf_ctx`, nested groups with `ctx`. Two or more conditions that test the same one-row-per-
    customer table (sqlparts.RowTest: e.g. last purchase age and all-time spend on the purchase
    summary, churn risk and CLV on the scores) merge into one membership, so the table is read
    once ("lapsed big spenders" scanned customer_purchase_summary twice)."""
    from loyalist.segments.sqlparts import merged

    tests = {i: t for i, child in enumerate(children) if (t := _row_test(child, leaf_ctx)) is not None}
    by_table: dict[str, list[int]] = {}
    for i, test in tests.items():
        by_table.setdefault(test.table, []).append(i)
    out: list[ColumnElement[bool]] = []
    done: set[int] = set()
    for i, child in enumerate(children):
        if i in done:
            continue
        group = by_table.get(tests[i].table, []) if i in tests else []
        if len(group) > 1:
            out.append(merged(leaf_ctx, kind, [tests[j] for j in group]))
            done.update(group)
        elif isinstance(child, Leaf) or (isinstance(child, Not) and isinstance(child.child, Leaf)):
            out.append(_compile(child, leaf_ctx))
        else:
            out.append(_compile(child, ctx))
    return out


def _compile(node: Node, ctx: Context) -> ColumnElement[bool]:
    from loyalist.segments.fields import CATALOGUE

    if isinstance(node, Leaf):
        return CATALOGUE[node.field].build(ctx, node)
    if isinstance(node, Not):
        return not_(_compile(node.child, ctx))
    parts = _parts(node.kind, node.children, ctx, ctx)
    if node.kind == "all":
        return and_(true(), *parts) if parts else true()
    return or_(false(), *parts)


def fields_used(node: Node) -> set[str]:
    if isinstance(node, Leaf):
        return {node.field}
    if isinstance(node, Not):
        return fields_used(node.child)
    return set().union(*(fields_used(c) for c in node.children)) if node.children else set()


def holds(op: str, value: Any, x: Any) -> bool:
    """Python truth of a numeric comparison, for the default of customers without rows (0 points,
    no purchases): decides between an IN and a NOT IN formulation."""
    if op == "eq":
        return bool(x == value)
    if op == "ne":
        return bool(x != value)
    if op == "lt":
        return bool(x < value)
    if op == "le":
        return bool(x <= value)
    if op == "gt":
        return bool(x > value)
    if op == "ge":
        return bool(x >= value)
    if op == "between":
        return bool(value[0] <= x <= value[1])
    if op == "in":
        return x in value
    if op == "not_in":
        return x not in value
    raise AssertionError(op)
