"""Personal product recommendations from co-purchase history.

Item-to-item cosine similarity over baskets (one purchase = one basket; an item counts once per
basket; fully returned lines do not count):

    sim(i, j) = baskets containing both i and j / sqrt(baskets with i * baskets with j)

A customer's candidate j scores sum_i sim(i, j) over the items i they have bought; items they
already bought are never recommended. Ties break by SKU so results are reproducible.
The co-occurrence counts are computed by the database (a self-join of basket items grouped by
item pair, restricted to the customer's items), never by loading the purchase history into Python.

Fallback when co-purchase gives fewer than `limit` items (a new customer, or items nobody else
bought): the most popular items (by baskets) in the categories the customer has bought from, then
the most popular items overall. Each result says which source produced it.

The purchase tables are read as the published contract of `purchases.models` (the analytics
pipeline reads them the same way), through lightweight table objects.
"""

from __future__ import annotations

import math

from sqlalchemy import and_, column, distinct, func, select, table
from sqlalchemy.orm import Session

from loyalist.offers.schemas import Recommendation

_P = table("purchases", column("id"), column("customer_id"))
_L = table("purchase_lines", column("purchase_id"), column("sku"), column("category"), column("quantity"),
           column("returned_quantity"))


def _basket_items():  # type: ignore[no-untyped-def]
    """Distinct (basket, sku, category, customer) for lines not fully returned."""
    return (
        select(_L.c.purchase_id.label("basket"), _L.c.sku.label("sku"), _L.c.category.label("category"),
               _P.c.customer_id.label("customer_id"))
        .join(_P, _P.c.id == _L.c.purchase_id)
        .where(_L.c.sku.is_not(None), _L.c.quantity > _L.c.returned_quantity)
        .distinct()
        .subquery()
    )


def recommend(session: Session, customer_id: int, *, limit: int = 3) -> list[Recommendation]:
    """Up to `limit` SKUs for the customer, best first (see module doc for the method)."""
    if limit < 1:
        return []
    bi = _basket_items()
    owned_rows = session.execute(
        select(bi.c.sku, bi.c.category).where(bi.c.customer_id == customer_id).distinct()
    ).all()
    owned = {r.sku for r in owned_rows}
    categories = sorted({r.category for r in owned_rows if r.category is not None})

    scores: dict[str, float] = {}
    if owned:
        a, b = bi.alias("a"), bi.alias("b")
        pairs = session.execute(
            select(a.c.sku.label("i"), b.c.sku.label("j"), func.count(distinct(a.c.basket)).label("both"))
            .join(b, and_(a.c.basket == b.c.basket, a.c.sku != b.c.sku))
            .where(a.c.sku.in_(sorted(owned)), b.c.sku.not_in(sorted(owned)))
            .group_by(a.c.sku, b.c.sku)
        ).all()
        involved = sorted({p.i for p in pairs} | {p.j for p in pairs})
        counts: dict[str, int] = {}
        if involved:
            counts = {r.sku: int(r.n) for r in session.execute(
                select(bi.c.sku, func.count(distinct(bi.c.basket)).label("n"))
                .where(bi.c.sku.in_(involved)).group_by(bi.c.sku))}
        for p in pairs:
            sim = int(p.both) / math.sqrt(counts[p.i] * counts[p.j])
            scores[p.j] = scores.get(p.j, 0.0) + sim
    ranked = sorted(scores.items(), key=lambda kv: (-kv[1], kv[0]))[:limit]
    out = [Recommendation(sku=sku, score=round(score, 6), source="co_purchase") for sku, score in ranked]

    taken = owned | {r.sku for r in out}
    if len(out) < limit and categories:
        out += _popular(session, bi, exclude=taken, categories=categories, limit=limit - len(out),
                        source="popular_in_category")
        taken |= {r.sku for r in out}
    if len(out) < limit:
        out += _popular(session, bi, exclude=taken, categories=None, limit=limit - len(out), source="popular")
    return out


def _popular(session: Session, bi, *, exclude: set[str], categories: list[str] | None,  # type: ignore[no-untyped-def]
             limit: int, source: str) -> list[Recommendation]:
    n = func.count(distinct(bi.c.basket))
    q = select(bi.c.sku, func.min(bi.c.category).label("category"), n.label("n")).group_by(bi.c.sku)
    if categories is not None:
        q = q.where(bi.c.category.in_(categories))
    if exclude:
        q = q.where(bi.c.sku.not_in(sorted(exclude)))
    rows = session.execute(q.order_by(n.desc(), bi.c.sku).limit(limit)).all()
    return [Recommendation(sku=r.sku, score=float(r.n), source=source, category=r.category)  # type: ignore[arg-type]
            for r in rows]
