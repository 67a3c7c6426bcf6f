"""Feedback takes part in customer merge, GDPR export and erasure; themes by week and language."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select

from loyalist.customers import service as customers
from loyalist.feedback import queries, service
from loyalist.feedback.models import FeedbackItem, FeedbackItemTag

from .conftest import make_customer


def test_merge_moves_feedback_to_the_survivor(session, actor):
    survivor, duplicate = make_customer(session, actor, "Ann"), make_customer(session, actor, "Anne")
    item = service.record_text(session, customer_id=duplicate, text="Kassedamen var sur", source_type="complaint",
                               source_id="c-1", actor=actor)
    customers.merge_customers(session, survivor_id=survivor, duplicate_id=duplicate, actor=actor)
    assert service.get_item(session, item.id).customer_id == survivor
    assert [i.id for i in service.list_items(session, customer_id=survivor).items] == [item.id]
    assert service.list_items(session, customer_id=duplicate).total == 0


def test_export_contains_the_feedback(session, actor):
    cid = make_customer(session, actor)
    item = service.record_text(session, customer_id=cid, text="Great prices", source_type="review",
                               source_id="g:1", actor=actor)
    exported = customers.export_customer(session, cid)
    rows = exported["sections"]["feedback"]
    assert [(f["id"], f["text"], f["sentiment"]) for f in rows] == [(item.id, "Great prices", "positive")]


def test_erasure_blanks_text_but_keeps_tags_and_sentiment(session, actor):
    cid = make_customer(session, actor)
    other = service.record_text(session, customer_id=None, text="Delivery was late", source_type="complaint",
                                source_id="x", actor=actor)
    item = service.record_text(session, customer_id=cid, text="Курьер Иван опоздал, продавец нахамил",
                               source_type="review", source_id="g:2", author="Ivan P.", url="https://example.org/r/2",
                               actor=actor)
    customers.erase_customer(session, customer_id=cid, actor=actor)
    after = service.get_item(session, item.id)
    assert (after.text, after.author, after.url, after.erased) == ("", None, None, True)
    assert [(t.code, t.matched) for t in after.tags] == [(t.code, []) for t in item.tags]
    assert (after.sentiment, after.sentiment_score, after.language) == (item.sentiment, item.sentiment_score, "ru")
    tag_rows = session.scalars(select(FeedbackItemTag.code).where(FeedbackItemTag.item_id == item.id)
                               .order_by(FeedbackItemTag.code)).all()
    assert tag_rows == sorted(t.code for t in item.tags)
    assert service.get_item(session, other.id).text == "Delivery was late"
    assert session.get(FeedbackItem, item.id).customer_id == cid  # type: ignore[union-attr]


def test_weekly_themes_per_language(session, actor):
    texts = [("Too expensive", "2026-03-02T09:00:00+00:00"), ("Слишком дорого", "2026-03-03T09:00:00+00:00"),
             ("Курьер опоздал", "2026-03-04T09:00:00+00:00"), ("Prices went up", "2026-02-25T09:00:00+00:00"),
             ("Next week's note: rude cashier", "2026-03-09T09:00:00+00:00")]
    for n, (text, when) in enumerate(texts):
        service.record_text(session, customer_id=None, text=text, source_type="complaint", source_id=f"w{n}",
                            occurred_at=datetime.fromisoformat(when), actor=actor)
    as_of = datetime(2026, 3, 5, tzinfo=UTC)  # Thursday: week Mon 2 - Sun 8 March
    view = queries.themes(session, period="week", as_of=as_of)
    assert (view.start, view.end, view.previous_start) == (datetime(2026, 3, 2, tzinfo=UTC),
                                                           datetime(2026, 3, 9, tzinfo=UTC),
                                                           datetime(2026, 2, 23, tzinfo=UTC))
    assert (view.total_items, view.previous_total_items) == (3, 1)
    assert [(r.code, r.count, r.previous_count) for r in view.rows] == [("price", 2, 1), ("delivery", 1, 0)]
    ru = queries.themes(session, period="week", as_of=as_of, language="ru")
    assert (ru.total_items, [(r.code, r.count, r.share) for r in ru.rows]) == (2, [("delivery", 1, 0.5),
                                                                                  ("price", 1, 0.5)])
    assert queries.themes(session, period="month", as_of=datetime(2026, 1, 15, tzinfo=UTC)).rows == []
