"""record_text: analyse and store (both backends), idempotency, validation, timeline, hooks."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from tests.feedback.conftest import make_customer

from loyalist.audit.models import AuditEntry
from loyalist.errors import NotFound, ValidationFailed
from loyalist.feedback import service
from loyalist.feedback.models import FeedbackItem, FeedbackItemTag
from loyalist.interactions import service as interactions


def _count(session, model) -> int:
    return session.scalar(select(func.count()).select_from(model)) or 0


def test_record_text_stores_analysis_with_matched_words(session, actor):
    cid = make_customer(session, actor)
    when = datetime(2026, 3, 2, 10, 0, tzinfo=UTC)
    item = service.record_text(session, customer_id=cid, text="Доставка опоздала на три дня, курьер нахамил.",
                               source_type="survey_answer", source_id="77:comment", occurred_at=when,
                               channel="web", score=3, score_scale="nps", labels=["slow_response"], actor=actor)
    assert item.language == "ru"
    assert item.sentiment == "negative"
    assert item.sentiment_score < 0
    codes = {t.code: t for t in item.tags}
    assert set(codes) == {"delivery", "staff"}
    assert codes["delivery"].matched == ["доставка", "опоздала", "курьер"]
    assert codes["staff"].matched == ["нахамил"]
    assert codes["staff"].source == "lexicon"
    assert item.labels == ["slow_response"]
    assert item.sentiment_label == "negative"  # NPS 3 is a detractor
    assert item.occurred_at == when
    assert item.needs_answer is True
    stored = session.get(FeedbackItem, item.id)
    assert stored is not None and stored.text == "Доставка опоздала на три дня, курьер нахамил."
    tag_rows = session.scalars(select(FeedbackItemTag.code).where(FeedbackItemTag.item_id == item.id)
                               .order_by(FeedbackItemTag.code)).all()
    assert tag_rows == ["delivery", "staff"]
    audits = session.scalars(select(AuditEntry).where(AuditEntry.action == "feedback.record")).all()
    assert [a.target_id for a in audits] == [str(item.id)]
    # A survey answer is on the timeline through surveys, not twice through feedback.
    assert interactions.list_timeline(session, cid, kinds=["review", "mention"]).total == 0


def test_record_text_is_idempotent_on_source(session, actor):
    first = service.record_text(session, customer_id=None, text="Great prices, friendly staff",
                                source_type="survey_answer", source_id="1:q", actor=actor)
    again = service.record_text(session, customer_id=None, text="something else entirely",
                                source_type="survey_answer", source_id="1:q", actor=actor)
    assert again.id == first.id
    assert again.text == "Great prices, friendly staff"
    assert _count(session, FeedbackItem) == 1


@pytest.mark.parametrize(("kwargs", "field"), [
    ({"text": "   "}, "text"),
    ({"text": "a\x00b"}, "text"),
    ({"source_type": "Not Valid"}, "source_type"),
    ({"channel": "pigeon"}, "channel"),
    ({"labels": ["price", "nonsense"]}, "labels"),
    ({"score": 11}, "score"),
    ({"score": 6, "score_scale": "csat"}, "score"),
    ({"score_scale": "gut"}, "score_scale"),
    ({"occurred_at": datetime(2026, 1, 1)}, "occurred_at"),
])
def test_record_text_rejects_bad_input_and_stores_nothing(session, actor, kwargs, field):
    args = {"customer_id": None, "text": "ok", "source_type": "complaint", "source_id": None, "actor": actor,
            **kwargs}
    with pytest.raises(ValidationFailed) as err:
        service.record_text(session, **args)
    assert err.value.field == field
    assert _count(session, FeedbackItem) == 0
    assert _count(session, FeedbackItemTag) == 0


def test_unknown_customer_is_refused(session, actor):
    with pytest.raises(NotFound):
        service.record_text(session, customer_id=987654, text="hello", source_type="complaint", source_id=None,
                            actor=actor)
    assert _count(session, FeedbackItem) == 0


def test_review_with_customer_lands_on_timeline_and_fires_hook_once(session, actor, fired):
    cid = make_customer(session, actor)
    item = service.record_text(session, customer_id=cid, text="Terrible service, nobody answered my emails",
                               source_type="review", source_id="google:r1", channel="online", score=1,
                               score_scale="stars", actor=actor, platform="google", external_id="r1")
    assert item.needs_answer is True
    assert fired == [item.id]
    timeline = interactions.list_timeline(session, cid, kinds=["review"])
    assert [(r.kind, r.source_type, r.source_id) for r in timeline.items] == [("review", "feedback_item", str(item.id))]
    assert timeline.items[0].data["tags"] == [t.code for t in item.tags]
    assert timeline.items[0].data["sentiment"] == "negative"
    # the same review again: no new item, no second hook call, no second timeline row
    service.record_text(session, customer_id=cid, text="Terrible service, nobody answered my emails",
                        source_type="review", source_id="google:r1", channel="online", actor=actor)
    assert fired == [item.id]
    assert interactions.list_timeline(session, cid, kinds=["review"]).total == 1


def test_positive_review_does_not_need_answer(session, actor, fired):
    item = service.record_text(session, customer_id=None, text="Tak for hurtig levering og venlig betjening!",
                               source_type="review", source_id="trustpilot:9", actor=actor)
    assert item.language == "da"
    assert item.sentiment == "positive"
    assert item.needs_answer is False
    assert fired == []
