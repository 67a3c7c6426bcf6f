"""The rule engine: a pure function from (rules, event facts, usage so far) to awards.

No database access here, so the single-event path, dry-run and the bulk importer share one
definition of the arithmetic. Semantics (also in docs/events.md):

1. Rules run by priority (higher first, then id). Two groups: *base* rules (points_per_amount,
   fixed_points, referral_bonus, birthday_bonus) and *multipliers*. In each group a matching
   `exclusive` rule fires and stops every lower-priority rule of its group; `stack` rules add.
2. Multipliers multiply base points: for a per-amount rule every counted line's net amount is
   multiplied by the product of the factors of the multipliers matching that line, and the sum
   is rounded once (floor by default): points = round(sum(net_i * factors_i) / per_amount) * points.
   Multipliers without line conditions (categories/skus) also multiply fixed_points rules
   (floored). Referral and birthday bonuses are never multiplied.
3. Caps (per customer, per rule, per business-timezone day/month) then the campaign budget cut
   the points; a rule cut to 0 is reported as not fired, with the reason.
4. birthday_bonus pays once per customer per business-timezone calendar year.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from decimal import ROUND_CEILING, ROUND_FLOOR, ROUND_HALF_UP, Decimal
from functools import lru_cache
from typing import Any, Protocol

from pydantic import BaseModel

from loyalist.events.schemas import (
    PARAMS_BY_KIND,
    WEEKDAYS,
    BirthdayParams,
    FixedPointsParams,
    MultiplierParams,
    PointsPerAmountParams,
    ReferralParams,
    RuleConditions,
    RuleKind,
    RuleOutcome,
)

ROUNDING = {"floor": ROUND_FLOOR, "half_up": ROUND_HALF_UP, "ceil": ROUND_CEILING}
BASE_KINDS = frozenset({RuleKind.points_per_amount, RuleKind.fixed_points, RuleKind.referral_bonus,
                        RuleKind.birthday_bonus})


@dataclass(frozen=True)
class RuleSpec:
    """An immutable snapshot of one rule, validated once and reused for many events."""

    id: int
    name: str
    kind: RuleKind
    event_types: frozenset[str]
    priority: int
    stacking: str
    active: bool
    starts_at: datetime | None
    ends_at: datetime | None
    conditions: RuleConditions
    params: Any
    cap_per_day: int | None
    cap_per_month: int | None
    budget_total: int | None
    pending_days: int
    expiry_months: int | None
    # Derived once (read for every line of every event): categories/skus conditions present.
    has_line_conditions: bool = field(init=False, repr=False, compare=False)
    is_base: bool = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "has_line_conditions", bool(self.conditions.categories or self.conditions.skus))
        object.__setattr__(self, "is_base", self.kind in BASE_KINDS)

    @classmethod
    def from_row(cls, row: Any) -> RuleSpec:
        kind = RuleKind(row.kind)
        params: BaseModel = PARAMS_BY_KIND[kind].model_validate(row.params)
        return cls(
            id=row.id, name=row.name, kind=kind, event_types=frozenset(row.event_types), priority=row.priority,
            stacking=row.stacking, active=row.active, starts_at=row.starts_at, ends_at=row.ends_at,
            conditions=RuleConditions.model_validate(row.conditions), params=params,
            cap_per_day=row.cap_per_day, cap_per_month=row.cap_per_month, budget_total=row.budget_total,
            pending_days=row.pending_days, expiry_months=row.expiry_months,
        )


@dataclass(frozen=True)
class Line:
    sku: str | None
    category: str | None
    net: Decimal


@dataclass
class Facts:
    """What the engine needs to know about one event (already resolved and computed)."""

    type: str
    customer_id: int
    occurred_at: datetime
    local_day: date
    currency: str | None = None
    net_amount: Decimal = Decimal("0")
    lines: list[Line] = field(default_factory=list)
    store: str | None = None
    channel: str | None = None
    tier_code: str | None = None
    tier_multiplier: Decimal | None = None
    referred_customer_id: int | None = None


class Usage(Protocol):
    """Points already awarded, for caps and budgets (database or in-memory for bulk import)."""

    def day_total(self, rule_id: int, customer_id: int, day: date) -> int: ...
    def month_total(self, rule_id: int, customer_id: int, month: str) -> int: ...
    def year_count(self, rule_id: int, customer_id: int, year: int) -> int: ...
    def budget_used(self, rule_id: int) -> int: ...


@dataclass(frozen=True)
class RuleAward:
    rule: RuleSpec
    customer_id: int
    points: int


def _money(value: Decimal) -> str:
    """Amounts with cents (19.00); more places only when present (0.125). Memoised by value,
    except zero: 0 and -0 are equal keys but print differently."""
    return _money_nonzero(value) if value else _money_text(value)


def _money_text(value: Decimal) -> str:
    return f"{value:.2f}" if value == value.quantize(Decimal("0.01")) else f"{value.normalize():f}"


_money_nonzero = lru_cache(maxsize=4096)(_money_text)


def _num(value: Decimal) -> str:
    """Factors and divisors without trailing zeros (2, 1.5); memoised like `_money`."""
    return _num_nonzero(value) if value else f"{value.normalize():f}"


@lru_cache(maxsize=1024)
def _num_nonzero(value: Decimal) -> str:
    return f"{value.normalize():f}"


def _event_mismatch(rule: RuleSpec, f: Facts) -> str | None:
    """Why an event-level condition fails, or None when they all hold."""
    c = rule.conditions
    if not rule.active:
        return "rule is inactive"
    if f.type not in rule.event_types and not (f.type == "refund" and "return" in rule.event_types):
        return f"event type {f.type!r} not in {sorted(rule.event_types)}"
    if rule.starts_at is not None and f.occurred_at < rule.starts_at:
        return f"event before the rule starts ({rule.starts_at.isoformat()})"
    if rule.ends_at is not None and f.occurred_at >= rule.ends_at:
        return f"event after the rule ended ({rule.ends_at.isoformat()})"
    if c.date_from is not None and f.local_day < c.date_from:
        return f"day {f.local_day} before date_from {c.date_from}"
    if c.date_to is not None and f.local_day > c.date_to:
        return f"day {f.local_day} after date_to {c.date_to}"
    if c.weekdays is not None and WEEKDAYS[f.local_day.weekday()] not in c.weekdays:
        return f"weekday {WEEKDAYS[f.local_day.weekday()]} not in {c.weekdays}"
    if c.stores is not None and f.store not in c.stores:
        return f"store {f.store!r} not in {c.stores}"
    if c.channels is not None and f.channel not in c.channels:
        return f"channel {f.channel!r} not in {c.channels}"
    if c.tiers is not None and f.tier_code not in c.tiers:
        return f"tier {f.tier_code!r} not in {c.tiers}"
    if c.currencies is not None and f.currency not in c.currencies:
        return f"currency {f.currency!r} not in {c.currencies}"
    if rule.kind == RuleKind.multiplier and rule.params.use_tier_multiplier and f.tier_multiplier is None:
        return "customer holds no tier"
    if c.min_amount is not None and f.net_amount < c.min_amount:
        return f"net amount {_money(f.net_amount)} below min_amount {_money(c.min_amount)}"
    return None


def _line_matches(rule: RuleSpec, line: Line) -> bool:
    c = rule.conditions
    if c.categories is not None and line.category not in c.categories:
        return False
    return not (c.skus is not None and line.sku not in c.skus)


def _factor(m: RuleSpec, f: Facts) -> Decimal:
    p: MultiplierParams = m.params
    if p.use_tier_multiplier and f.tier_multiplier is not None:
        return f.tier_multiplier
    return p.factor


def _lines(f: Facts) -> list[Line]:
    return f.lines or [Line(sku=None, category=None, net=f.net_amount)]


class _Outcome:
    """A rule's verdict while it is being worked out: a plain slotted object (a validated
    pydantic model per rule per event was a third of the bulk import's engine time). Field
    order is `RuleOutcome`'s, so `as_dict()` serialises exactly like `RuleOutcome.__dict__`."""

    __slots__ = ("rule_id", "name", "kind", "fired", "points", "customer_id", "arithmetic", "reason")

    def __init__(self, rule: RuleSpec) -> None:
        self.rule_id = rule.id
        self.name = rule.name
        self.kind = rule.kind.value
        self.fired = False
        self.points = 0
        self.customer_id: int | None = None
        self.arithmetic: str | None = None
        self.reason: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"rule_id": self.rule_id, "name": self.name, "kind": self.kind, "fired": self.fired,
                "points": self.points, "customer_id": self.customer_id, "arithmetic": self.arithmetic,
                "reason": self.reason}


def order_rules(rules: Sequence[RuleSpec]) -> list[RuleSpec]:
    """Evaluation order: priority (higher first), then id. Callers evaluating many events with
    the same rules sort once and pass `ordered=True`."""
    return sorted(rules, key=lambda r: (-r.priority, r.id))


def evaluate(rules: list[RuleSpec], f: Facts, usage: Usage) -> tuple[list[RuleAward], list[RuleOutcome]]:
    """Evaluate every rule against one event; return the awards and one outcome per rule."""
    awards, outcomes = _evaluate(order_rules(rules), f, usage)
    return awards, [RuleOutcome(**o.as_dict()) for o in outcomes]


def evaluate_plain(ordered: Sequence[RuleSpec], f: Facts, usage: Usage) -> tuple[list[RuleAward], list[dict[str, Any]]]:
    """`evaluate` for the bulk importer: rules already in `order_rules` order, outcomes as plain
    dicts equal to `RuleOutcome.model_dump()` of `evaluate`'s (what the event row stores)."""
    awards, outcomes = _evaluate(ordered, f, usage)
    return awards, [o.as_dict() for o in outcomes]


def _evaluate(ordered: Sequence[RuleSpec], f: Facts, usage: Usage) -> tuple[list[RuleAward], list[_Outcome]]:
    outcomes: list[_Outcome] = []
    by_id: dict[int, _Outcome] = {}
    stopped: dict[bool, RuleSpec] = {}
    multipliers: list[RuleSpec] = []
    bases: list[RuleSpec] = []
    lines = _lines(f)
    for rule in ordered:
        group = rule.is_base
        out = _Outcome(rule)
        outcomes.append(out)
        by_id[rule.id] = out
        if group in stopped:
            out.reason = f"stopped by exclusive rule {stopped[group].id} ({stopped[group].name})"
            continue
        reason = _event_mismatch(rule, f)
        if reason is None and rule.has_line_conditions:
            if f.type != "purchase":
                reason = "categories/skus conditions need purchase lines"
            elif not any(_line_matches(rule, line) for line in lines):
                reason = "no line matches the categories/skus"
        if reason is not None:
            out.reason = reason
            continue
        (bases if group else multipliers).append(rule)
        if rule.stacking == "exclusive":
            stopped[group] = rule

    awards: list[RuleAward] = []
    for m in multipliers:
        mo = by_id[m.id]
        mo.fired = True
        scope = "matching lines" if m.has_line_conditions else "all points"
        source = f" (tier {f.tier_code})" if m.params.use_tier_multiplier else ""
        mo.arithmetic = f"x{_num(_factor(m, f))}{source} on {scope}"

    for rule in bases:
        out = by_id[rule.id]
        _raw, arithmetic, per_customer = _base_points(rule, f, multipliers, usage)
        out.arithmetic = arithmetic
        if not per_customer:
            out.reason = arithmetic
            out.arithmetic = None
            continue
        notes: list[str] = []
        total = 0
        for customer_id, points in per_customer:
            granted = _apply_limits(rule, customer_id, points, f, usage, notes)
            if granted > 0:
                awards.append(RuleAward(rule=rule, customer_id=customer_id, points=granted))
                total += granted
        if notes:
            out.arithmetic = f"{arithmetic}; " + "; ".join(notes)
        out.points = total
        out.customer_id = per_customer[0][0] if len(per_customer) == 1 else None
        out.fired = total > 0
        if not out.fired:
            out.reason = "; ".join(notes) or "0 points"
    return awards, outcomes


def _base_points(
    rule: RuleSpec, f: Facts, multipliers: list[RuleSpec], usage: Usage
) -> tuple[int, str, list[tuple[int, int]]]:
    """(points before limits, arithmetic text, [(customer_id, points)])."""
    if rule.kind == RuleKind.points_per_amount:
        p: PointsPerAmountParams = rule.params
        terms: list[str] = []
        weighted = Decimal("0")
        for line in _lines(f):
            if rule.has_line_conditions and not _line_matches(rule, line):
                continue
            factors = [_factor(m, f) for m in multipliers if not m.has_line_conditions or _line_matches(m, line)]
            value = line.net
            text = _money(line.net)
            for fac in factors:
                value *= fac
                text += f"x{_num(fac)}"
            weighted += value
            terms.append(text)
        quotient = (weighted / p.per_amount).to_integral_value(rounding=ROUNDING[p.rounding.value])
        points = int(quotient) * p.points
        cur = f" {f.currency}" if f.currency else ""
        arithmetic = f"{p.rounding.value}(({' + '.join(terms)}){cur} / {_num(p.per_amount)}) x {p.points} = {points}"
        return points, arithmetic, ([(f.customer_id, points)] if points > 0 else [])
    if rule.kind == RuleKind.fixed_points:
        fp: FixedPointsParams = rule.params
        factors = [_factor(m, f) for m in multipliers if not m.has_line_conditions]
        value = Decimal(fp.points)
        text = str(fp.points)
        for fac in factors:
            value *= fac
            text += f" x{_num(fac)}"
        points = int(value.to_integral_value(rounding=ROUND_FLOOR))
        arithmetic = f"{text} = {points}" if factors else f"fixed {points}"
        return points, arithmetic, [(f.customer_id, points)]
    if rule.kind == RuleKind.referral_bonus:
        rp: ReferralParams = rule.params
        pairs: list[tuple[int, int]] = []
        if rp.referrer_points:
            pairs.append((f.customer_id, rp.referrer_points))
        if rp.referred_points and f.referred_customer_id is not None:
            pairs.append((f.referred_customer_id, rp.referred_points))
        arithmetic = f"referrer {rp.referrer_points} + referred {rp.referred_points}"
        return sum(p for _, p in pairs), arithmetic, pairs
    bp: BirthdayParams = rule.params
    if usage.year_count(rule.id, f.customer_id, f.local_day.year) > 0:
        return 0, f"birthday bonus already paid in {f.local_day.year}", []
    return bp.points, f"birthday bonus {bp.points}", [(f.customer_id, bp.points)]


def _apply_limits(rule: RuleSpec, customer_id: int, points: int, f: Facts, usage: Usage, notes: list[str]) -> int:
    granted = points
    if rule.cap_per_day is not None:
        used = usage.day_total(rule.id, customer_id, f.local_day)
        left = max(rule.cap_per_day - used, 0)
        if granted > left:
            notes.append(f"capped to {left} by cap_per_day {rule.cap_per_day} (used {used} on {f.local_day})")
            granted = left
    if rule.cap_per_month is not None:
        month = f.local_day.strftime("%Y-%m")
        used = usage.month_total(rule.id, customer_id, month)
        left = max(rule.cap_per_month - used, 0)
        if granted > left:
            notes.append(f"capped to {left} by cap_per_month {rule.cap_per_month} (used {used} in {month})")
            granted = left
    if rule.budget_total is not None:
        used = usage.budget_used(rule.id)
        left = max(rule.budget_total - used, 0)
        if granted > left:
            notes.append(f"capped to {left} by budget {rule.budget_total} (used {used})")
            granted = left
    return granted
