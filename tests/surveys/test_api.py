"""Staff endpoints (permissions surveys:read/write/send) and public answering by link."""

from __future__ import annotations

from fastapi.testclient import TestClient

from loyalist.staff.schemas import Role


def _customer(client, locale: str = "en") -> int:
    r = client.post("/v1/customers", json={"first_name": "Ole", "email": f"ole-{locale}@example.org",
                                           "locale": locale})
    assert r.status_code == 201, r.text
    return r.json()["id"]


def test_template_to_answer_to_results_over_http(app, client) -> None:
    templates = client.get("/v1/survey-templates").json()
    assert [t["code"] for t in templates] == ["nps", "csat_post_purchase", "relationship", "exit_interview"]

    r = client.post("/v1/surveys/from-template", json={"template": "nps", "review_link": "https://r.example/x"})
    assert r.status_code == 201, r.text
    survey = r.json()
    assert survey["locales"] == ["da", "en", "ru", "uk"] and survey["template_code"] == "nps"

    cid = _customer(client, "uk")
    r = client.post(f"/v1/surveys/{survey['id']}/invitations", json={"customer_ids": [cid]})
    assert r.status_code == 201, r.text
    link = r.json()["links"][str(cid)]
    path = link.split("127.0.0.1:8000", 1)[1]

    public = TestClient(app)  # no API key: the link is the credential
    shown = public.get(path)
    assert shown.status_code == 200
    assert shown.json()["title"] == "Оцініть нас" and shown.json()["locale"] == "uk"

    bad = public.post(path, json={"answers": {"score": 12}})
    assert bad.status_code == 422
    assert bad.json()["error"]["field"] == "answers.score"

    ok = public.post(path, json={"answers": {"score": 10, "review": "yes"}})
    assert ok.status_code == 201, ok.text
    assert ok.json()["nps"] == 10 and ok.json()["channel"] == "web"
    again = public.post(path, json={"answers": {"score": 1}})
    assert again.status_code == 403 and again.json()["error"]["field"] == "token"

    forged = public.post(path[:-3] + ("AAA" if not path.endswith("AAA") else "BBB"), json={"answers": {"score": 1}})
    assert forged.status_code == 403

    res = client.get("/v1/survey-results", params={"survey_id": survey["id"], "by": "channel"}).json()
    assert res["overall"]["responses"] == 1 and res["overall"]["nps"] == 100.0
    assert res["response_rate"] == 100.0 and res["groups"][0]["group"] == "web"

    timeline = client.get(f"/v1/customers/{cid}/timeline").json()
    answer = next(i for i in timeline["items"] if i.get("source_type") == "survey_response")
    assert answer["data"]["nps_category"] == "promoter"


def test_staff_entry_and_anonymous_link(app, client) -> None:
    survey = client.post("/v1/surveys/from-template", json={"template": "exit_interview",
                                                             "anonymous_link": True}).json()
    cid = _customer(client)
    r = client.post(f"/v1/surveys/{survey['id']}/responses",
                    json={"customer_id": cid, "channel": "phone", "answers": {"reasons": ["price"]}})
    assert r.status_code == 201, r.text
    assert r.json()["exit_reasons"] == ["price"]
    public = TestClient(app)
    path = f"/v1/public/surveys/a/{survey['public_token']}"
    assert public.get(path, params={"locale": "da"}).json()["title"] == "Vi er kede af at se dig gå"
    r = public.post(path, json={"answers": {"reasons": ["quality", "other"], "details": "Broke twice"}})
    assert r.status_code == 201 and r.json()["customer_id"] is None
    assert public.get("/v1/public/surveys/a/nope").status_code == 404
    listed = client.get(f"/v1/surveys/{survey['id']}/responses").json()
    assert len(listed) == 2


def test_questions_are_validated_naming_the_field(client) -> None:
    body = {"name": "Broken", "title": {"en": "T"}, "questions": [
        {"key": "a", "type": "free_text", "text": {"en": "Say"}},
        {"key": "b", "type": "free_text", "text": {"en": "More"}, "show_if": {"question": "a", "in": ["x"]}}]}
    r = client.post("/v1/surveys", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "questions[1].show_if.question"
    body["questions"][1] = {"key": "b", "type": "rating", "text": {"en": "Rate"}}
    r = client.post("/v1/surveys", json=body)
    assert r.status_code == 422 and r.json()["error"]["field"] == "questions[1].min"
    assert client.get("/v1/surveys").json() == []


def test_roles(client_as) -> None:
    analyst, agent = client_as(Role.analyst), client_as(Role.agent)
    assert analyst.get("/v1/surveys").status_code == 200
    assert analyst.get("/v1/survey-results").status_code == 200
    assert analyst.post("/v1/surveys/from-template", json={"template": "nps"}).status_code == 403
    assert agent.post("/v1/surveys/from-template", json={"template": "nps"}).status_code == 403
    survey = client_as(Role.manager).post("/v1/surveys/from-template", json={"template": "nps"}).json()
    assert analyst.post(f"/v1/surveys/{survey['id']}/invitations", json={"customer_ids": [1]}).status_code == 403
    r = agent.post(f"/v1/surveys/{survey['id']}/invitations", json={"customer_ids": [987654321]})
    assert r.status_code == 422 and r.json()["error"]["field"] == "customer_ids"


def test_browser_form_flow(app, client) -> None:
    """A browser opening the emailed link gets a form; follow-ups the condition excludes are
    ignored; the thank-you page offers the review link; the link then stops working."""
    survey = client.post("/v1/surveys/from-template", json={"template": "nps",
                                                             "review_link": "https://r.example/shop"}).json()
    cid = _customer(client, "da")
    link = client.post(f"/v1/surveys/{survey['id']}/invitations", json={"customer_ids": [cid]}).json()["links"]
    path = link[str(cid)].split("127.0.0.1:8000", 1)[1]
    browser = TestClient(app)
    page = browser.get(path, headers={"Accept": "text/html"})
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    assert "Hvor sandsynligt er det, at du vil anbefale os" in page.text
    assert "data-cond='{&quot;question&quot;: &quot;score&quot;, &quot;min&quot;: 0, &quot;max&quot;: 6}'" in page.text

    bad = browser.post(path + "/form", data={"better": "x"})
    assert bad.status_code == 422 and "answers.score: an answer is required" in bad.text

    done = browser.post(path + "/form", data={"score": "10", "better": "typed before changing my mind",
                                              "review": "yes"})
    assert done.status_code == 200, done.text
    assert "Tak for dine svar!" in done.text and "https://r.example/shop" in done.text
    stored = client.get(f"/v1/surveys/{survey['id']}/responses").json()
    assert [r["answers"] for r in stored] == [{"score": 10, "review": "yes"}]

    again = browser.get(path, headers={"Accept": "text/html"})
    assert again.status_code == 403 and "already been used" in again.text
    assert browser.post(path + "/form", data={"score": "3"}).status_code == 403
    assert len(client.get(f"/v1/surveys/{survey['id']}/responses").json()) == 1
