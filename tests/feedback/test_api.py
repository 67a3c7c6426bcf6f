"""HTTP: mentions webhook (integration key, idempotent, one transaction), corrections, themes, roles."""

from __future__ import annotations

from sqlalchemy import func, select

from loyalist.feedback.models import FeedbackCorrection, FeedbackItem
from loyalist.staff.schemas import Role

MENTION = {"kind": "mention", "source": "twitter", "external_id": "1790001",
           "text": "@shop my parcel is two weeks late and support ignores me", "author": "@kasia"}


def _count(session_factory, model) -> int:
    with session_factory() as s:
        return s.scalar(select(func.count()).select_from(model)) or 0


def test_webhook_is_idempotent_and_fires_the_hook_once(client_as, session_factory, fired):
    integration = client_as(Role.integration)
    first = integration.post("/v1/feedback/mentions", json=MENTION)
    assert first.status_code == 200, first.text
    body = first.json()
    assert (body["created"], body["duplicates"], body["needs_answer"]) == (1, 0, 1)
    again = integration.post("/v1/feedback/mentions", json={"items": [MENTION]})
    assert again.json() == {"created": 0, "duplicates": 1, "needs_answer": 0, "item_ids": body["item_ids"]}
    assert fired == body["item_ids"]
    item = integration.get(f"/v1/feedback/{body['item_ids'][0]}").json()
    assert (item["platform"], item["external_id"], item["author"], item["channel"]) == (
        "twitter", "1790001", "@kasia", "social")
    assert item["sentiment"] == "negative"
    assert {t["code"] for t in item["tags"]} >= {"delivery", "slow_response"}
    assert all(t["matched"] for t in item["tags"])
    assert _count(session_factory, FeedbackItem) == 1


def test_webhook_batch_error_names_item_and_field_and_stores_nothing(client_as, session_factory, fired):
    integration = client_as(Role.integration)
    bad = integration.post("/v1/feedback/mentions", json=[MENTION, {**MENTION, "external_id": "2", "text": ""}])
    assert bad.status_code == 422
    err = bad.json()["error"]
    assert (err["code"], err["field"]) == ("validation_failed", "text")
    assert "item 2" in err["message"]
    assert fired == []  # validated before anything was stored
    unknown = integration.post("/v1/feedback/mentions", json=[MENTION, {**MENTION, "external_id": "3",
                                                                        "customer_id": 999999}])
    assert unknown.status_code == 422
    assert unknown.json()["error"]["field"] == "customer_id"
    # the first mention was stored and handed over inside the request's transaction, then rolled back
    # with it: handlers write through the same session, so a case they opened is gone as well
    assert _count(session_factory, FeedbackItem) == 0


def test_roles(client_as):
    assert client_as(Role.analyst).post("/v1/feedback/mentions", json=MENTION).status_code == 403
    assert client_as(Role.analyst).get("/v1/feedback").status_code == 200
    assert client_as(Role.agent).post("/v1/feedback/train").status_code == 403
    assert client_as(Role.integration).post("/v1/feedback/train").status_code == 403
    run = client_as(Role.manager).post("/v1/feedback/train")
    assert run.status_code == 201
    assert (run.json()["use_for_tags"], run.json()["n_samples"]) == (False, 0)
    assert client_as(Role.analyst).get("/v1/feedback/model").json()["id"] == run.json()["id"]


def test_staff_correction_flow(client, session_factory):
    created = client.post("/v1/feedback", json={"text": "The app crashes when I pay", "source_type": "complaint"})
    assert created.status_code == 201, created.text
    item_id = created.json()["id"]
    before = [t["code"] for t in created.json()["tags"]]
    added = client.post(f"/v1/feedback/{item_id}/tags", json={"code": "quality"})
    assert added.status_code == 200
    assert [t["code"] for t in added.json()["tags"]] == [c for c in before if c != "other"] + ["quality"]
    assert added.json()["tags"][-1] == {"code": "quality", "matched": [], "source": "staff", "confidence": 1.0}
    assert added.json()["corrected"] is True
    dup = client.post(f"/v1/feedback/{item_id}/tags", json={"code": "quality"})
    assert (dup.status_code, dup.json()["error"]["field"]) == (422, "code")
    unknown = client.post(f"/v1/feedback/{item_id}/tags", json={"code": "vibes"})
    assert (unknown.status_code, unknown.json()["error"]["field"]) == (422, "code")
    removed = client.delete(f"/v1/feedback/{item_id}/tags/quality")
    assert [t["code"] for t in removed.json()["tags"]] == [c for c in before if c != "other"] or ["other"]
    sentiment = client.put(f"/v1/feedback/{item_id}/sentiment", json={"sentiment": "negative"})
    assert (sentiment.json()["sentiment"], sentiment.json()["sentiment_label"]) == ("negative", "negative")
    history = client.get(f"/v1/feedback/{item_id}/corrections").json()
    assert [(h["action"], h["value"]) for h in history] == [("add_tag", "quality"), ("remove_tag", "quality"),
                                                             ("set_sentiment", "negative")]
    assert _count(session_factory, FeedbackCorrection) == 3
    assert client.get("/v1/feedback/999999").status_code == 404


def test_analyze_and_themes_endpoints(client):
    analysed = client.post("/v1/feedback/analyze", json={"text": "Доставка затрималася на тиждень"})
    assert analysed.status_code == 200
    assert (analysed.json()["language"], [t["code"] for t in analysed.json()["tags"]]) == ("uk", ["delivery"])
    assert analysed.json()["tags"][0]["matched"] == ["доставка", "затрималася"]
    restricted = client.post("/v1/feedback/analyze", json={"text": "hello", "languages": ["xx"]})
    assert (restricted.status_code, restricted.json()["error"]["field"]) == (422, "languages")
    for text, when in (("Too expensive", "2026-03-03T10:00:00Z"), ("Prices are too high", "2026-03-10T10:00:00Z"),
                       ("Courier was late", "2026-03-11T10:00:00Z"), ("Late delivery again", "2026-02-11T10:00:00Z")):
        assert client.post("/v1/feedback", json={"text": text, "source_type": "complaint",
                                                 "occurred_at": when}).status_code == 201
    view = client.get("/v1/feedback/themes", params={"period": "month", "as_of": "2026-03-15T00:00:00Z"}).json()
    assert (view["total_items"], view["previous_total_items"]) == (3, 1)
    rows = {r["code"]: r for r in view["rows"]}
    assert rows["price"] == {"code": "price", "count": 2, "share": 0.6667, "previous_count": 0,
                             "previous_share": 0.0, "trend": 0.6667}
    assert rows["delivery"] == {"code": "delivery", "count": 1, "share": 0.3333, "previous_count": 1,
                                "previous_share": 1.0, "trend": -0.6667}
    assert view["rows"][0]["code"] == "price"
    bad = client.get("/v1/feedback/themes", params={"period": "year"})
    assert bad.status_code == 422
