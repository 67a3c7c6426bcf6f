"""Item-to-item recommendations on a small basket set with exact expected items."""

from __future__ import annotations

import math

import pytest
from tests.offers.conftest import buy, make_customer

from loyalist.offers import service


@pytest.fixture
def shop(session, actor):
    a, b, c, d, e, new = (make_customer(session, actor) for _ in range(6))
    buy(session, a, [("bread", "bakery"), ("butter", "dairy")])
    buy(session, a, [("bread", "bakery"), ("jam", "pantry")])
    buy(session, b, [("bread", "bakery"), ("butter", "dairy"), ("milk", "dairy")])
    buy(session, c, [("butter", "dairy"), ("milk", "dairy")])
    buy(session, c, [("cheese", "dairy")])
    buy(session, e, [("croissant", "bakery")])
    buy(session, d, [("bread", "bakery")])
    return {"a": a, "b": b, "c": c, "d": d, "e": e, "new": new}


def test_cosine_co_purchase_ranking(session, shop):
    # baskets with bread: 4, butter: 3, jam: 1, milk: 2
    # sim(bread, butter) = 2 / sqrt(4*3) = 0.577350; sim(bread, jam) = 1 / sqrt(4*1) = 0.5
    # sim(bread, milk) = 1 / sqrt(4*2) = 0.353553; bread itself (already bought) never appears
    recs = service.recommendations(session, shop["d"], limit=3)
    assert [(r.sku, r.source) for r in recs] == [("butter", "co_purchase"), ("jam", "co_purchase"),
                                                 ("milk", "co_purchase")]
    assert [r.score for r in recs] == [round(2 / math.sqrt(12), 6), 0.5, round(1 / math.sqrt(8), 6)]


def test_fallback_to_popular_in_category_then_overall(session, shop):
    recs = service.recommendations(session, shop["d"], limit=5)
    # co-purchase gives 3; then the customer's category (bakery): croissant; then overall: cheese
    assert [(r.sku, r.source) for r in recs] == [
        ("butter", "co_purchase"), ("jam", "co_purchase"), ("milk", "co_purchase"),
        ("croissant", "popular_in_category"), ("cheese", "popular")]


def test_new_customer_gets_most_popular(session, shop):
    recs = service.recommendations(session, shop["new"], limit=4)
    # baskets: bread 4, butter 3, milk 2, then ties of 1 broken by sku: cheese
    assert [(r.sku, r.score) for r in recs] == [("bread", 4.0), ("butter", 3.0), ("milk", 2.0), ("cheese", 1.0)]
    assert {r.source for r in recs} == {"popular"}


def test_multi_item_customer_sums_similarities(session, shop):
    # c bought butter, milk, cheese. Candidates: bread (with butter: 2/sqrt(3*4), with milk: 1/sqrt(2*4)),
    # nothing else co-occurs with c's items except bread.
    recs = service.recommendations(session, shop["c"], limit=1)
    assert recs[0].sku == "bread"
    assert recs[0].score == round(2 / math.sqrt(12) + 1 / math.sqrt(8), 6)


def test_recommendation_offer_carries_items(session, actor, shop):
    from tests.offers.conftest import make_offer

    offer = make_offer(session, actor, kind="recommendation", recommendation_count=2)
    issue = service.issue_offer(session, offer_id=offer.id, customer_id=shop["d"], actor=actor, issue_key="rec-1")
    assert [r["sku"] for r in issue.data["recommendations"]] == ["butter", "jam"]
    assert "We think you will like: butter, jam." in issue.body
