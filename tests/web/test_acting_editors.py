"""Segment, survey, offer and campaign editors in the console: field errors next to the field and
nothing saved on error, the domain services do the work (live counts, signed links, holdout and
uplift) and write the audit rows, lists page, and forged forms are refused."""

from __future__ import annotations

import html
import re

from sqlalchemy import select
from tests.conftest import STAFF_ACTOR
from tests.web.conftest import csrf_of

from loyalist.audit.models import AuditEntry
from loyalist.campaigns import service as campaigns
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.offers import service as offers
from loyalist.offers.schemas import OfferCreate
from loyalist.segments import service as segments
from loyalist.segments.schemas import SegmentCreate
from loyalist.surveys import service as surveys

HAS_EMAIL = '{"all": [{"field": "has_email", "op": "eq", "value": true}]}'


def _shop(session_factory, n_with_email: int = 3, n_without: int = 2) -> list[int]:  # type: ignore[no-untyped-def]
    with session_factory() as s, s.begin():
        ids = [customers.create_customer(s, data=CustomerCreate(first_name=f"E{i}", email=f"e{i}@example.com"),
                                         actor=STAFF_ACTOR).id for i in range(n_with_email)]
        ids += [customers.create_customer(s, data=CustomerCreate(first_name=f"N{i}"), actor=STAFF_ACTOR).id
                for i in range(n_without)]
    return ids


def _actions(session_factory, action: str) -> list[AuditEntry]:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return list(s.scalars(select(AuditEntry).where(AuditEntry.action == action)))


def test_segment_editor_previews_the_live_count_and_saves_through_the_service(console_as, session_factory) -> None:
    _shop(session_factory)
    c = console_as("manager")
    page = c.get("/console/segments/new")
    assert page.status_code == 200
    token = csrf_of(page.text)
    # the page's script asks for JSON; without JavaScript the button re-renders the editor
    live = c.post("/console/segments/preview", data={"rule": HAS_EMAIL, "csrf_token": token},
                  headers={"Accept": "application/json"})
    assert live.status_code == 200 and live.json()["count"] == 3
    plain = c.post("/console/segments/preview", data={"rule": HAS_EMAIL, "name": "x", "csrf_token": token})
    assert '<strong data-testid="preview-count">3</strong>' in plain.text
    wrong = c.post("/console/segments/preview", data={"rule": '{"all": [{"field": "shoe_size", "op": "eq", '
                                                               '"value": 1}]}', "csrf_token": token},
                   headers={"Accept": "application/json"})
    assert wrong.status_code == 400 and wrong.json()["error"]["field"] == "rule"

    base = {"name": "Reachable", "kind": "dynamic", "csrf_token": token}
    broken = c.post("/console/segments/new", data={**base, "rule": "{all: ["})
    assert broken.status_code == 400
    assert re.search(r'id="f-rule"[^>]*aria-invalid="true" aria-describedby="e-rule"', broken.text)
    assert "not valid JSON" in broken.text and "{all: [" in broken.text  # typed text kept
    unknown = c.post("/console/segments/new", data={**base, "rule": '{"all": [{"field": "shoe_size", "op": "eq", '
                                                                    '"value": 1}]}'})
    assert unknown.status_code == 400
    assert re.search(r'<p class="field-error" id="e-rule">all\[0\]\.field: [^<]*shoe_size', unknown.text)
    with session_factory() as s:
        assert segments.list_segments(s) == []
    ok = c.post("/console/segments/new", data={**base, "rule": HAS_EMAIL}, follow_redirects=False)
    assert ok.status_code == 303
    with session_factory() as s:
        [seg] = segments.list_segments(s)
    assert seg.rule == {"all": [{"field": "has_email", "op": "eq", "value": True}]}
    edit_page = c.get(f"/console/segments/{seg.id}")
    assert edit_page.status_code == 200 and "Members now" in edit_page.text
    taken = c.post(f"/console/segments/{seg.id}", data={"name": "", "rule": HAS_EMAIL, "csrf_token": token})
    assert taken.status_code == 400 and '<p class="field-error" id="e-name">required</p>' in taken.text
    c.post(f"/console/segments/{seg.id}", data={"name": "Has email", "rule": HAS_EMAIL, "csrf_token": token})
    with session_factory() as s:
        assert segments.get_segment(s, seg.id).name == "Has email"
    assert len(_actions(session_factory, "segments.create")) == 1
    [update] = _actions(session_factory, "segments.update")
    assert (update.actor_name, update.before["name"], update.after["name"]) == ("Manager User", "Reachable",
                                                                                 "Has email")
    assert c.get("/console/segments").text.count(f'href="/console/segments/{seg.id}"') == 1


def test_survey_editor_creates_from_a_template_and_hands_out_signed_links(console_as, session_factory) -> None:
    ids = _shop(session_factory, n_with_email=2, n_without=0)
    c = console_as("manager")
    page = c.get("/console/surveys/new", params={"template": "csat_post_purchase", "default_locale": "da"})
    assert page.status_code == 200
    assert 'id="f-title_uk"' in page.text and '"type": "csat"' in html.unescape(page.text)
    token = csrf_of(page.text)
    form = {"name": "After delivery", "kind": "csat", "default_locale": "en", "title_en": "How did we do?",
            "title_da": "Hvordan gik det?", "link_valid_days": "14", "max_reminders": "1", "award_points": "1",
            "csrf_token": token}
    question = {"q_count": "1", "q-0-key": "score", "q-0-type": "csat", "q-0-required": "1", "q-0-text_en": "Rate us"}
    no_questions = c.post("/console/surveys/new", data={**form, "q_count": "0"})
    assert no_questions.status_code == 400 and 'id="e-questions"' in no_questions.text
    no_key = c.post("/console/surveys/new", data={**form, **question, "q-0-key": ""})
    assert no_key.status_code == 400 and '<p class="field-error" id="e-q-0-key">required</p>' in no_key.text
    no_title = c.post("/console/surveys/new", data={**form, **question, "title_en": "", "title_da": "",
                                                     "q-0-text_da": "Bedøm os"})
    assert no_title.status_code == 400 and 'id="e-title"' in no_title.text
    with session_factory() as s:
        assert surveys.list_surveys(s) == []
    ok = c.post("/console/surveys/new", data={**form, **question, "q-0-text_da": "Bedøm os"},
                follow_redirects=False)
    assert ok.status_code == 303
    with session_factory() as s:
        [made] = surveys.list_surveys(s)
    assert made.locales == ["da", "en"] and made.questions[0]["type"] == "csat"
    assert len(_actions(session_factory, "survey.create")) == 1

    survey_page = c.get(f"/console/surveys/{made.id}")
    bad = c.post(f"/console/surveys/{made.id}/links", data={"customer_ids": "12x", "csrf_token": token})
    assert bad.status_code == 400 and 'id="e-inv-customer_ids"' in bad.text
    sent = c.post(f"/console/surveys/{made.id}/links",
                  data={"customer_ids": f"{ids[0]}, {ids[1]}", "channel": "email",
                        "csrf_token": csrf_of(survey_page.text)})
    assert sent.status_code == 200
    links = re.findall(r'<code data-testid="signed-link">([^<]+)</code>', sent.text)
    assert len(links) == 2
    with session_factory() as s:  # the link is the survey domain's own signed token
        opened = surveys.open_invitation(s, token=links[0].rsplit("/", 1)[1])
    assert opened.survey_id == made.id
    assert len(_actions(session_factory, "survey.invite")) == 1


def test_offer_editor_reports_the_services_cross_field_rules(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/offers/new").text)
    form = {"name": "Double points week", "kind": "generic", "reward_type": "points", "per_customer_limit": "1",
            "code_validity_days": "30", "active": "1", "csrf_token": token}
    missing = c.post("/console/offers/new", data=form)
    assert missing.status_code == 400
    assert '<p class="field-error" id="e-points">required for a points offer</p>' in missing.text
    with session_factory() as s:
        assert offers.list_offers(s) == []
    ok = c.post("/console/offers/new", data={**form, "points": "200"}, follow_redirects=False)
    assert ok.status_code == 303
    with session_factory() as s:
        [offer] = offers.list_offers(s)
    assert (offer.points, offer.reward_type) == (200, "points")
    late = c.post(f"/console/offers/{offer.id}", data={**form, "valid_from": "2030-02-01T00:00",
                                                       "valid_until": "2030-01-01T00:00"})
    assert late.status_code == 400 and 'id="e-valid_until"' in late.text
    c.post(f"/console/offers/{offer.id}", data={**form, "name": "Triple points week"})
    with session_factory() as s:
        assert offers.get_offer(s, offer.id).name == "Triple points week"
    assert [len(_actions(session_factory, a)) for a in ("offer.create", "offer.update")] == [1, 1]


def test_campaign_editor_creates_launches_and_shows_uplift(console_as, session_factory) -> None:
    _shop(session_factory, n_with_email=20, n_without=0)
    with session_factory() as s, s.begin():
        seg = segments.create_segment(s, data=SegmentCreate(name="Reachable", rule={"all": [
            {"field": "has_email", "op": "eq", "value": True}]}), actor=STAFF_ACTOR)
        offer = offers.create_offer(s, data=OfferCreate(name="Bonus", kind="generic", reward_type="points",
                                                        points=100), actor=STAFF_ACTOR)
    c = console_as("manager")
    page = c.get("/console/campaigns/new")
    assert f'<option value="{seg.id}">Reachable</option>' in page.text
    token = csrf_of(page.text)
    form = {"name": "Win-back", "offer_id": str(offer.id), "channel": "email", "control_percent": "20",
            "attribution_days": "30", "retention_days": "90", "margin": "0.3", "message_cost": "0",
            "csrf_token": token}
    no_audience = c.post("/console/campaigns/new", data=form)
    assert no_audience.status_code == 400 and 'id="e-segment_id"' in no_audience.text
    too_big = c.post("/console/campaigns/new", data={**form, "segment_id": str(seg.id), "control_percent": "95"})
    assert too_big.status_code == 400 and 'id="e-control_percent"' in too_big.text
    with session_factory() as s:
        assert campaigns.list_campaigns(s) == []
    ok = c.post("/console/campaigns/new", data={**form, "segment_id": str(seg.id)}, follow_redirects=False)
    assert ok.status_code == 303
    with session_factory() as s:
        [camp] = campaigns.list_campaigns(s)
    detail = c.get(f"/console/campaigns/{camp.id}")
    assert "Launch now" in detail.text and "No results yet" in detail.text
    launched = c.post(f"/console/campaigns/{camp.id}/launch", data={"csrf_token": token})
    assert launched.status_code == 200  # followed the redirect to the campaign page
    assert '<span class="badge" data-testid="campaign-status">running</span>' in launched.text
    treatment = int(re.search(r'data-testid="treatment-customers">(\d+)<', launched.text).group(1))  # type: ignore[union-attr]
    control = int(re.search(r'data-testid="control-customers">(\d+)<', launched.text).group(1))  # type: ignore[union-attr]
    assert treatment + control == 20 and control >= 1
    assert "95% interval" in launched.text
    again = c.post(f"/console/campaigns/{camp.id}/launch", data={"csrf_token": token})
    assert "Already launched" in again.text
    assert [len(_actions(session_factory, a)) for a in ("campaign.create", "campaign.launch")] == [1, 1]


def test_lists_page_instead_of_loading_every_row(console_as, session_factory) -> None:
    with session_factory() as s, s.begin():
        for i in range(27):
            segments.create_segment(s, data=SegmentCreate(name=f"Segment {i:02d}", kind="static"), actor=STAFF_ACTOR)
            offers.create_offer(s, data=OfferCreate(name=f"Offer {i:02d}", kind="generic"), actor=STAFF_ACTOR)
    c = console_as("analyst")
    for path, label in (("/console/segments", "Segment"), ("/console/offers", "Offer")):
        first = c.get(path)
        assert first.text.count(f">{label} ") == 25, path
        assert 'rel="next"' in first.text and 'rel="prev"' not in first.text
        second = c.get(path, params={"offset": 25})
        assert second.text.count(f">{label} ") == 2 and 'rel="prev"' in second.text and 'rel="next"' not in second.text


def test_editor_forms_refuse_a_missing_or_forged_csrf_token(console_as, session_factory) -> None:
    c = console_as("manager")
    forms = {"/console/segments/new": {"name": "S", "kind": "dynamic", "rule": HAS_EMAIL},
             "/console/offers/new": {"name": "O", "kind": "generic", "per_customer_limit": "1",
                                     "code_validity_days": "30"},
             "/console/surveys/new": {"name": "Q", "title_en": "T", "link_valid_days": "14", "max_reminders": "1",
                                      "questions": '[{"key": "s", "type": "nps", "text": {"en": "?"}}]'}}
    for path, data in forms.items():
        for token in (None, "f" * 64, csrf_of(console_as("admin").get("/console/offers").text)):
            sent = dict(data) if token is None else {**data, "csrf_token": token}
            assert c.post(path, data=sent).status_code == 403, (path, token)
    with session_factory() as s:
        assert segments.list_segments(s) == [] and offers.list_offers(s) == [] and surveys.list_surveys(s) == []
