"""Purchases and returns: the money side of what customers did.

Amounts: a line's total is `quantity * unit_price - discount`; a purchase's gross is the sum of
`quantity * unit_price`, its discount the sum of line discounts (plus any order-level discount),
and net = gross - discount. Without lines, `net_amount` is given directly.

Returns reference the purchase by `order_ref`. A return either names lines (sku + quantity;
value = line_total / quantity * returned quantity, to 4 places, half-up), or an `amount`, or
neither (= everything not refunded yet). Refunds never exceed the net amount.

This domain writes no audit or timeline rows itself: it is called from event ingestion, which
audits and records the timeline once per event (and once per import for bulk loads).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import cast

from sqlalchemy import Table, func, select
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.db import insert_once
from loyalist.errors import Conflict, NotFound, ValidationFailed
from loyalist.purchases import summary
from loyalist.purchases.models import Purchase, PurchaseLine, PurchaseReturn
from loyalist.purchases.schemas import (
    PurchaseLineIn,
    PurchaseLineRead,
    PurchasePage,
    PurchaseRead,
    ReturnLineIn,
    ReturnRead,
)
from loyalist.types import MONEY_QUANTUM, to_money

ZERO = Decimal("0.0000")


def _q(value: Decimal) -> Decimal:
    return value.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


def compute_totals(
    lines: Sequence[PurchaseLineIn], *, order_discount: Decimal = ZERO
) -> tuple[Decimal, Decimal, Decimal, list[Decimal]]:
    """(gross, discount, net, line_totals) for `lines`; shared with the events rule engine and
    the bulk importer so that every path computes the same money."""
    gross = ZERO
    discount = _q(order_discount)
    totals: list[Decimal] = []
    for i, line in enumerate(lines):
        line_gross = _q(Decimal(line.quantity) * to_money(line.unit_price, field=f"lines[{i}].unit_price"))
        line_discount = to_money(line.discount, field=f"lines[{i}].discount")
        if line_discount > line_gross:
            raise ValidationFailed(f"lines[{i}].discount exceeds the line amount", field=f"lines[{i}].discount")
        gross += line_gross
        discount += line_discount
        totals.append(line_gross - line_discount)
    net = gross - discount
    if net < 0:
        raise ValidationFailed("discount_amount exceeds the gross amount", field="discount_amount")
    return _q(gross), _q(discount), _q(net), totals


_PURCHASES = cast(Table, Purchase.__table__)


def _read(purchase: Purchase, lines: Sequence[PurchaseLine]) -> PurchaseRead:
    read = PurchaseRead.model_validate(purchase)
    read.lines = [PurchaseLineRead.model_validate(line) for line in lines]
    return read


def _lines_of(session: Session, purchase_id: int) -> list[PurchaseLine]:
    return list(
        session.scalars(select(PurchaseLine).where(PurchaseLine.purchase_id == purchase_id).order_by(PurchaseLine.id))
    )


def record_purchase(
    session: Session,
    *,
    customer_id: int,
    order_ref: str,
    occurred_at: datetime | None = None,
    currency: str,
    lines: Sequence[PurchaseLineIn] = (),
    net_amount: Decimal | None = None,
    discount_amount: Decimal | None = None,
    store: str | None = None,
    channel: str | None = None,
    event_id: int | None = None,
) -> PurchaseRead:
    """Store a purchase with its lines. An `order_ref` already used is a Conflict."""
    if not order_ref:
        raise ValidationFailed("order_ref is required", field="order_ref")
    order_discount = to_money(discount_amount or 0, field="discount_amount")
    if lines:
        gross, discount, net, totals = compute_totals(lines, order_discount=order_discount)
        if net_amount is not None and to_money(net_amount, field="net_amount") != net:
            raise ValidationFailed(f"net_amount {net_amount} does not match the lines ({net})", field="net_amount")
    else:
        if net_amount is None:
            raise ValidationFailed("net_amount or lines are required", field="net_amount")
        net = to_money(net_amount, field="net_amount")
        if net < 0:
            raise ValidationFailed("net_amount must not be negative", field="net_amount")
        discount = order_discount
        gross = net + discount
        totals = []
    purchase = Purchase(
        customer_id=customer_id,
        order_ref=order_ref,
        occurred_at=occurred_at or clock.now(),
        currency=currency.upper(),
        gross_amount=gross,
        discount_amount=discount,
        net_amount=net,
        refunded_amount=ZERO,
        store=store,
        channel=channel,
        event_id=event_id,
    )
    # INSERT .. ON CONFLICT (order_ref) DO NOTHING: the unique order reference is the duplicate
    # check, in one statement (and race-free) where a SELECT first and an ORM flush were two.
    new_id = insert_once(session, _PURCHASES, {c.key: getattr(purchase, c.key) for c in _PURCHASES.columns
                                               if c.key != "id"}, unique=["order_ref"])
    if new_id is None:
        raise Conflict(f"purchase with order_ref {order_ref!r} already exists", field="order_ref")
    purchase.id = new_id
    rows = [
        PurchaseLine(
            purchase_id=purchase.id,
            sku=line.sku,
            category=line.category,
            quantity=line.quantity,
            unit_price=to_money(line.unit_price),
            discount=to_money(line.discount),
            line_total=total,
            returned_quantity=0,
        )
        for line, total in zip(lines, totals, strict=True)
    ]
    if rows:
        session.add_all(rows)
        session.flush()
    summary.apply_purchase(session, purchase)
    return _read(purchase, rows)


def get_purchase_by_ref(session: Session, order_ref: str) -> PurchaseRead:
    purchase = session.scalar(select(Purchase).where(Purchase.order_ref == order_ref))
    if purchase is None:
        raise NotFound(f"no purchase with order_ref {order_ref!r}", field="order_ref")
    return _read(purchase, _lines_of(session, purchase.id))


def record_return(
    session: Session,
    *,
    order_ref: str,
    occurred_at: datetime | None = None,
    amount: Decimal | None = None,
    lines: Sequence[ReturnLineIn] = (),
    event_id: int | None = None,
) -> ReturnRead:
    """Refund all or part of a purchase; updates `refunded_amount` (and returned quantities)."""
    purchase = session.scalar(select(Purchase).where(Purchase.order_ref == order_ref).with_for_update())
    if purchase is None:
        raise NotFound(f"no purchase with order_ref {order_ref!r}", field="order_ref")
    remaining = purchase.net_amount - purchase.refunded_amount
    if lines and amount is not None:
        raise ValidationFailed("give either lines or amount, not both", field="amount")
    if lines:
        by_sku = {line.sku: line for line in _lines_of(session, purchase.id) if line.sku}
        value = ZERO
        for i, ret in enumerate(lines):
            line = by_sku.get(ret.sku)
            if line is None:
                raise ValidationFailed(f"lines[{i}].sku {ret.sku!r} is not on order {order_ref!r}",
                                       field=f"lines[{i}].sku")
            if ret.quantity > line.quantity - line.returned_quantity:
                raise ValidationFailed(
                    f"lines[{i}].quantity {ret.quantity} exceeds the {line.quantity - line.returned_quantity} "
                    f"not yet returned", field=f"lines[{i}].quantity")
            value += _q(line.line_total / line.quantity * ret.quantity)
            line.returned_quantity += ret.quantity
        refund = min(_q(value), remaining)
    elif amount is not None:
        refund = to_money(amount, field="amount")
        if refund <= 0:
            raise ValidationFailed("amount must be positive", field="amount")
        if refund > remaining:
            raise ValidationFailed(f"amount {refund} exceeds the {remaining} not yet refunded", field="amount")
    else:
        refund = remaining
        if refund <= 0:
            raise ValidationFailed(f"order {order_ref!r} is already fully refunded", field="order_ref")
    purchase.refunded_amount = purchase.refunded_amount + refund
    row = PurchaseReturn(
        purchase_id=purchase.id,
        customer_id=purchase.customer_id,
        occurred_at=occurred_at or clock.now(),
        amount=refund,
        event_id=event_id,
    )
    session.add(row)
    session.flush()
    summary.apply_refund(session, customer_id=purchase.customer_id, purchase_occurred_at=purchase.occurred_at,
                         amount=refund)
    return ReturnRead(
        id=row.id,
        purchase_id=purchase.id,
        customer_id=purchase.customer_id,
        order_ref=purchase.order_ref,
        occurred_at=row.occurred_at,
        amount=refund,
        purchase_net_amount=purchase.net_amount,
        refunded_amount=purchase.refunded_amount,
        currency=purchase.currency,
    )


def spend_in_window(session: Session, customer_id: int, *, since: datetime, until: datetime) -> Decimal:
    """Net spend (net amount minus refunds) of purchases made in [since, until).

    Refunds count against the purchase they refund (by its date), so a return never makes an
    earlier window's spend go up or a later window's go negative."""
    rows = session.execute(
        select(Purchase.net_amount, Purchase.refunded_amount).where(
            Purchase.customer_id == customer_id, Purchase.occurred_at >= since, Purchase.occurred_at < until
        )
    ).all()
    return _q(sum((net - refunded for net, refunded in rows), ZERO))


def spend_by_customer(session: Session, *, since: datetime, until: datetime,
                      customer_ids: Sequence[int] | None = None) -> dict[int, Decimal]:
    """`spend_in_window` for many customers at once: {customer_id: net spend} for customers with
    purchases in [since, until) (optionally only `customer_ids`). Summed in Python from the rows
    so that money stays Decimal on SQLite too (it stores money as text)."""
    out: dict[int, Decimal] = {}
    ids = None if customer_ids is None else sorted(set(customer_ids))
    chunks = [None] if ids is None else [ids[i:i + 500] for i in range(0, len(ids), 500)]
    for chunk in chunks:
        query = select(Purchase.customer_id, Purchase.net_amount, Purchase.refunded_amount).where(
            Purchase.occurred_at >= since, Purchase.occurred_at < until)
        if chunk is not None:
            query = query.where(Purchase.customer_id.in_(chunk))
        for cid, net, refunded in session.execute(query):
            out[int(cid)] = out.get(int(cid), ZERO) + net - refunded
    return {cid: _q(value) for cid, value in out.items()}


def list_purchases(
    session: Session,
    customer_id: int,
    *,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: int = 50,
    offset: int = 0,
) -> PurchasePage:
    """Newest first, with lines."""
    query = select(Purchase).where(Purchase.customer_id == customer_id)
    if since is not None:
        query = query.where(Purchase.occurred_at >= since)
    if until is not None:
        query = query.where(Purchase.occurred_at < until)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    purchases = list(session.scalars(query.order_by(Purchase.occurred_at.desc(), Purchase.id.desc())
                                     .limit(limit).offset(offset)))
    lines: dict[int, list[PurchaseLine]] = {p.id: [] for p in purchases}
    if purchases:
        for line in session.scalars(select(PurchaseLine).where(PurchaseLine.purchase_id.in_(list(lines)))
                                    .order_by(PurchaseLine.id)):
            lines[line.purchase_id].append(line)
    return PurchasePage(items=[_read(p, lines[p.id]) for p in purchases], total=total, limit=limit, offset=offset)


def reassign_customer(session: Session, *, from_customer_id: int, to_customer_id: int) -> int:
    """Move purchases and returns of a merged-away customer to the survivor; returns rows moved."""
    from sqlalchemy import update

    moved = session.execute(
        update(Purchase).where(Purchase.customer_id == from_customer_id).values(customer_id=to_customer_id)
    ).rowcount  # type: ignore[attr-defined]
    session.execute(
        update(PurchaseReturn).where(PurchaseReturn.customer_id == from_customer_id)
        .values(customer_id=to_customer_id)
    )
    summary.move_customer(session, from_customer_id=from_customer_id, to_customer_id=to_customer_id)
    session.flush()
    return int(moved or 0)


def export_purchases(session: Session, customer_id: int) -> list[dict[str, object]]:
    """GDPR export section: every purchase with its lines."""
    return [p.model_dump(mode="json") for p in list_purchases(session, customer_id, limit=1_000_000).items]


def view_purchases(session: Session, customer_id: int) -> dict[str, object]:
    """Customer 360 section: the latest purchases and lifetime net spend."""
    page = list_purchases(session, customer_id, limit=5)
    rows = session.execute(select(Purchase.net_amount, Purchase.refunded_amount)
                           .where(Purchase.customer_id == customer_id)).all()
    spend = _q(sum((n - r for n, r in rows), ZERO))
    return {"total": page.total, "lifetime_net_spend": str(spend),
            "recent": [p.model_dump(mode="json", exclude={"lines"}) for p in page.items]}


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: object) -> None:
    reassign_customer(session, from_customer_id=duplicate_id, to_customer_id=survivor_id)


def _register_hooks() -> None:
    from loyalist.customers import hooks

    hooks.register_merge_handler(_merge_handler)
    hooks.register_export_section("purchases", export_purchases)
    hooks.register_view_section("purchases", view_purchases)


_register_hooks()
