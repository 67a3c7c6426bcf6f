"""Import of reviews and mentions: CSV/JSON/JSONL, errors naming line and field, idempotency, hook once."""

from __future__ import annotations

import json

import pytest
from sqlalchemy import func, select

from loyalist.audit.models import AuditEntry
from loyalist.errors import ValidationFailed
from loyalist.feedback import service
from loyalist.feedback.models import FeedbackItem
from loyalist.interactions import service as interactions

from .conftest import make_customer

CSV = """kind,source,external_id,text,customer_id,rating,occurred_at
review,google,g-1,"Terrible delivery, a week late and nobody answered my emails",{cid},1,2026-03-02T10:00:00Z
review,google,g-2,Great prices and friendly staff,,5,2026-03-03T10:00:00+00:00
mention,facebook,fb-77,Когда у вас снова появится овсяное молоко?,,,2026-03-04T09:30:00+00:00
"""


def _items(session) -> int:
    return session.scalar(select(func.count()).select_from(FeedbackItem)) or 0


def test_csv_import_analyses_stores_and_is_idempotent(session, actor, fired):
    cid = make_customer(session, actor)
    result = service.import_mentions(session, content=CSV.format(cid=cid), fmt="csv", actor=actor)
    assert (result.created, result.duplicates, result.needs_answer) == (3, 0, 2)
    rows = session.scalars(select(FeedbackItem).order_by(FeedbackItem.id)).all()
    assert [(r.platform, r.external_id, r.source_type, r.channel) for r in rows] == [
        ("google", "g-1", "review", "online"), ("google", "g-2", "review", "online"),
        ("facebook", "fb-77", "mention", "social")]
    first, second, third = rows
    assert (first.sentiment, first.needs_answer, first.score) == ("negative", True, 1)
    assert first.sentiment_label == "negative"
    assert {t["code"] for t in first.tags} >= {"delivery", "slow_response"}
    assert (second.sentiment, second.needs_answer, second.customer_id) == ("positive", False, None)
    assert (third.language, third.is_question, third.needs_answer) == ("ru", True, True)
    assert fired == [first.id, third.id]
    timeline = interactions.list_timeline(session, cid, kinds=["review"])
    assert [r.source_id for r in timeline.items] == [str(first.id)]
    # the same file again: nothing new, no second hand-over, no second timeline row
    again = service.import_mentions(session, content=CSV.format(cid=cid), fmt="csv", actor=actor)
    assert (again.created, again.duplicates, again.item_ids) == (0, 3, result.item_ids)
    assert _items(session) == 3
    assert fired == [first.id, third.id]
    assert interactions.list_timeline(session, cid, kinds=["review"]).total == 1
    imports = session.scalars(select(AuditEntry).where(AuditEntry.action == "feedback.import")).all()
    assert [a.after["created"] for a in imports] == [3, 0]


@pytest.mark.parametrize(("content", "fmt", "line", "field"), [
    ("kind,source,external_id,text,rating\nreview,google,a,fine,4\nreview,google,b,bad,11\n", "csv", 3, "rating"),
    ("kind,source,external_id,text\nreview,google,a,fine\nreview,,b,bad\n", "csv", 3, "source"),
    ("kind,source,external_id,text,colour\nreview,google,a,fine,red\n", "csv", 2, "colour"),
    ("kind,source,external_id,text\nreview,google,a,fine\npost,google,b,bad\n", "csv", 3, "kind"),
    ("source,external_id\ngoogle,a\n", "csv", 1, "header"),
    ('{"source": "x", "external_id": "1", "text": "ok"}\n{"source": "x", "external_id": "2"}\n', "jsonl", 2, "text"),
    ('{"source": "x", "external_id": "1", "text": "ok"}\n{not json}\n', "jsonl", 2, "json"),
    (json.dumps([{"source": "x", "external_id": "1", "text": "ok"},
                 {"source": "x", "external_id": "2", "text": "ok", "occurred_at": "yesterday"}]), "json", 2,
     "occurred_at"),
])
def test_import_errors_name_line_and_field_and_store_nothing(session, actor, content, fmt, line, field):
    with pytest.raises(ValidationFailed) as err:
        with session.begin_nested():
            service.import_mentions(session, content=content, fmt=fmt, actor=actor)
    assert (err.value.line, err.value.field) == (line, field)
    assert f"line {line}" in str(err.value)
    assert _items(session) == 0


def test_error_late_in_the_file_rolls_back_the_rows_before_it(session, actor, fired):
    content = ("kind,source,external_id,text,customer_id\n"
               "review,google,a,Awful service nobody answered,\n"
               "review,google,b,Fine,999999\n")
    with pytest.raises(ValidationFailed) as err:
        with session.begin_nested():
            service.import_mentions(session, content=content, fmt="csv", actor=actor)
    assert (err.value.line, err.value.field) == (3, "customer_id")
    assert _items(session) == 0


def test_customer_external_id_is_resolved(session, actor):
    from loyalist.customers import service as customers
    from loyalist.customers.schemas import CustomerCreate

    cid = customers.create_customer(session, data=CustomerCreate(external_id="CRM-9", first_name="Ib"), actor=actor).id
    content = json.dumps({"items": [{"kind": "mention", "source": "instagram", "external_id": "p1",
                                     "text": "Tak for en super oplevelse i butikken!",
                                     "customer_external_id": "CRM-9"}]})
    result = service.import_mentions(session, content=content, fmt="json", actor=actor)
    item = service.get_item(session, result.item_ids[0])
    assert (item.customer_id, item.language, item.sentiment) == (cid, "da", "positive")
    assert [r.kind for r in interactions.list_timeline(session, cid, kinds=["mention"]).items] == ["mention"]
