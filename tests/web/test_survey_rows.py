"""The survey editor's question rows: one block of ordinary fields per question, add / remove /
move as submit buttons (no JavaScript), the surveys service's errors next to the failing
question's field, and the JSON view as an advanced alternative."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.conftest import STAFF_ACTOR
from tests.web.conftest import csrf_of

from loyalist.audit.models import AuditEntry
from loyalist.surveys import service as surveys

SETTINGS = {"name": "After delivery", "kind": "csat", "default_locale": "en", "title_en": "How did we do?",
            "link_valid_days": "14", "max_reminders": "1", "award_points": "1"}


def _rows(**questions: dict[str, str]) -> dict[str, str]:
    """Row fields as the page posts them: `q-<i>-<part>`, in the order given."""
    out = {"q_count": str(len(questions))}
    for i, parts in enumerate(questions.values()):
        out.update({f"q-{i}-{k}": v for k, v in parts.items()})
    return out


SCORE = {"key": "score", "type": "csat", "text_en": "Rate us", "required": "1"}
WHY = {"key": "why", "type": "single_choice", "text_en": "Why?", "opt_count": "4",
       "opt-0-code": "price", "opt-0-text_en": "Price", "opt-1-code": "", "opt-1-text_en": "",
       "opt-2-code": "speed", "opt-2-text_en": "Speed", "opt-3-code": "", "show_if-question": "score",
       "show_if-max": "3"}


def _keys(html: str) -> list[str]:
    return re.findall(r'id="f-q-\d+-key" name="q-\d+-key" type="text" value="([^"]*)"', html)


def _count(session_factory) -> int:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return len(surveys.list_surveys(s))


def test_rows_are_created_from_a_template_and_saved_through_the_service(console_as, session_factory) -> None:
    c = console_as("manager")
    page = c.get("/console/surveys/new", params={"template": "nps"})
    assert page.status_code == 200
    # the NPS template as rows: score, then three follow-ups that name it
    assert _keys(page.text) == ["score", "better", "raise", "review"]
    assert re.search(r'<select id="f-q-1-show_if-question" name="q-1-show_if-question">\s*'
                     r'<option value="">\(always ask\)</option>\s*<option value="score" selected>', page.text)
    assert 'id="f-q-0-show_if-question"' not in page.text  # the first question has nothing earlier
    assert 'name="q-3-opt-0-code" type="text" value="yes"' in page.text  # choices of the review question
    # an NPS question (fixed 0-10) uses neither a scale nor choices: both are on the page but hidden
    # (console.js shows them when the type changes; the service only gets the submitted type's parts)
    first = page.text.split('id="q-1"')[0].split('id="q-0"')[1]
    assert 'data-qpart="choice" hidden' in first and 'data-qpart="rating" hidden' in first
    assert 'id="f-q-0-opt-0-code"' in first
    token = csrf_of(page.text)
    form = {**SETTINGS, **_rows(score=SCORE, why=WHY), "csrf_token": token}
    ok = c.post("/console/surveys/new", data=form, follow_redirects=False)
    assert ok.status_code == 303, ok.text
    with session_factory() as s:
        [made] = surveys.list_surveys(s)
        entries = list(s.scalars(select(AuditEntry).where(AuditEntry.action == "survey.create")))
    assert [q["key"] for q in made.questions] == ["score", "why"]
    why = made.questions[1]
    assert [o["code"] for o in why["options"]] == ["price", "speed"]  # empty choice rows are ignored
    assert why["show_if"] == {"question": "score", "min": None, "max": 3, "in": None}
    assert made.questions[0]["required"] is True and why["required"] is False
    assert len(entries) == 1


def test_errors_are_shown_at_the_failing_question_and_nothing_is_saved(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/surveys/new").text)
    base = {**SETTINGS, "csrf_token": token}
    # the schema: a key must be lower-case
    bad_key = c.post("/console/surveys/new", data={**base, **_rows(score={**SCORE, "key": "Score"})})
    assert bad_key.status_code == 400
    assert re.search(r'id="f-q-0-key"[^>]*aria-invalid="true" aria-describedby="e-q-0-key"', bad_key.text)
    assert re.search(r'<p class="field-error" id="e-q-0-key">[^<]*pattern', bad_key.text)
    assert 'value="Score"' in bad_key.text  # what was typed is kept
    # the service: a choice question needs two choices (at the second question's choices)
    one_choice = {**WHY, "opt-2-code": "", "opt-2-text_en": ""}
    few = c.post("/console/surveys/new", data={**base, **_rows(score=SCORE, why=one_choice)})
    assert few.status_code == 400
    assert '<p class="field-error" id="e-q-1-options">a choice question needs at least two options</p>' in few.text
    assert re.search(r'<fieldset class="question q-error" id="q-1"', few.text)
    assert not re.search(r'<fieldset class="question q-error" id="q-0"', few.text)
    # the service: a follow-up must name an EARLIER question (moved below what it names)
    late = c.post("/console/surveys/new", data={**base, **_rows(why={**WHY, "show_if-question": "score"},
                                                                  score=SCORE)})
    assert late.status_code == 400
    assert '<p class="field-error" id="e-q-0-show_if-question">must name an earlier question</p>' in late.text
    assert 'id="e-q-1-' not in late.text
    # a text in a language the title lacks is fine, a missing text in the main language is not
    no_en = c.post("/console/surveys/new", data={**base, **_rows(score={**SCORE, "text_en": "", "text_da": "Bedøm"})})
    assert no_en.status_code == 400 and 'id="e-default_locale"' in no_en.text
    # a number field that is not a number is caught before the service
    rating = {"key": "stars", "type": "rating", "text_en": "Stars", "min": "one", "max": "5"}
    nan = c.post("/console/surveys/new", data={**base, **_rows(stars=rating)})
    assert '<p class="field-error" id="e-q-0-min">must be a whole number</p>' in nan.text
    assert _count(session_factory) == 0


def test_add_remove_and_move_are_round_trips_that_save_nothing(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/surveys/new").text)
    form = {**SETTINGS, **_rows(score=SCORE, why=WHY), "csrf_token": token}
    added = c.post("/console/surveys/new", data={**form, "op": "add"})
    assert added.status_code == 200 and _keys(added.text) == ["score", "why", "q3"]
    assert 'value="Rate us"' in added.text  # the rows keep what was typed
    moved = c.post("/console/surveys/new", data={**form, "op": "up:1"})
    assert _keys(moved.text) == ["why", "score"]
    down = c.post("/console/surveys/new", data={**form, "op": "down:0"})
    assert _keys(down.text) == ["why", "score"]
    removed = c.post("/console/surveys/new", data={**form, "op": "remove:0"})
    assert _keys(removed.text) == ["why"]
    # choice rows: the two filled ones, then two empty rows for new choices
    assert re.findall(r'name="q-0-opt-(\d+)-code" type="text" value="([^"]*)"', removed.text) == [
        ("0", "price"), ("1", "speed"), ("2", ""), ("3", "")]
    # the first row has no "move up", the last no "move down"
    assert 'value="up:0"' not in moved.text and 'value="down:1"' not in moved.text
    assert _count(session_factory) == 0


def test_the_json_view_replaces_the_rows_or_names_its_error(console_as, session_factory) -> None:
    c = console_as("manager")
    page = c.get("/console/surveys/new")
    token = csrf_of(page.text)
    assert 'id="f-questions_json"' in page.text
    form = {**SETTINGS, **_rows(score=SCORE), "csrf_token": token, "op": "json"}
    broken = c.post("/console/surveys/new", data={**form, "questions_json": "[{"})
    assert broken.status_code == 400 and '<details class="data" open>' in broken.text
    assert re.search(r'<p class="field-error" id="e-questions_json">not valid JSON', broken.text)
    assert _keys(broken.text) == ["score"]  # the rows are left as they were
    unknown = c.post("/console/surveys/new", data={**form, "questions_json": '[{"key": "a", "type": "nps", '
                                                                               '"text": {"en": "?"}, "colour": 1}]'})
    assert 'id="e-questions_json">questions[0].colour: Extra inputs are not permitted' in unknown.text
    applied = c.post("/console/surveys/new", data={**form, "questions_json": '[{"key": "a", "type": "nps", '
                                                                               '"text": {"en": "?"}}]'})
    assert applied.status_code == 200 and _keys(applied.text) == ["a"]
    assert _count(session_factory) == 0


def test_editing_keeps_the_rows_and_an_answered_survey_is_frozen(console_as, session_factory) -> None:
    c = console_as("manager")
    token = csrf_of(c.get("/console/surveys/new").text)
    c.post("/console/surveys/new", data={**SETTINGS, **_rows(score=SCORE, why=WHY), "csrf_token": token})
    with session_factory() as s:
        [made] = surveys.list_surveys(s)
    edit = c.get(f"/console/surveys/{made.id}/edit")
    assert _keys(edit.text) == ["score", "why"]
    form = {**SETTINGS, "status": "active", **_rows(why={**WHY, "show_if-question": ""}, score=SCORE),
            "csrf_token": token}
    saved = c.post(f"/console/surveys/{made.id}/edit", data=form, follow_redirects=False)
    assert saved.status_code == 303
    with session_factory() as s:
        assert [q["key"] for q in surveys.get_survey(s, made.id).questions] == ["why", "score"]
    with session_factory() as s, s.begin():
        surveys.submit_response(s, survey_id=made.id, customer_id=None, answers={"score": 4}, channel="phone",
                                actor=STAFF_ACTOR)
    frozen = c.get(f"/console/surveys/{made.id}/edit")
    assert "frozen" in frozen.text and 'id="f-q-0-key"' not in frozen.text
    renamed = c.post(f"/console/surveys/{made.id}/edit", data={**form, "name": "Renamed"}, follow_redirects=False)
    assert renamed.status_code == 303
    with session_factory() as s:
        row = surveys.get_survey(s, made.id)
    assert row.name == "Renamed" and [q["key"] for q in row.questions] == ["why", "score"]
