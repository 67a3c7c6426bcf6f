"""REST (permissions, error shapes, dry-run, run, history) and the CLI against a committed database."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime

import pytest
from tests.automation.helpers import make_customer
from typer.testing import CliRunner

import loyalist.db as db
from loyalist import clock
from loyalist.automation import service
from loyalist.cli.main import app as cli_app
from loyalist.db import make_session_factory, unit_of_work
from loyalist.staff.schemas import Role

NOW = datetime(2026, 11, 20, 10, 0, tzinfo=UTC)
DEFINITION = {"name": "Birthday points", "trigger": {"type": "birthday", "catch_up_days": 0},
              "actions": [{"type": "grant_points", "points": 100, "reason": "Happy birthday"},
                          {"type": "create_task", "task_kind": "greet", "title": "Greet in store", "delay_hours": 2}]}


def test_rest_lifecycle_and_roles(client, client_as, session_factory, actor):
    with session_factory() as s, s.begin():
        cid = make_customer(s, actor, birthday=date(1990, 11, 20), tz="UTC")
    analyst = client_as(Role.analyst)
    assert analyst.post("/v1/automations", json=DEFINITION).status_code == 403
    created = client.post("/v1/automations", json=DEFINITION)
    assert created.status_code == 201, created.text
    aid = created.json()["id"]
    assert [a["id"] for a in analyst.get("/v1/automations").json()] == [aid]
    with clock.frozen_at(NOW):
        preview = analyst.post(f"/v1/automations/{aid}/dry-run")
        assert preview.status_code == 200
        assert (preview.json()["count"], preview.json()["customers"][0]["customer_id"]) == (1, cid)
        assert analyst.post(f"/v1/automations/{aid}/run").status_code == 403
        ran = client.post(f"/v1/automations/{aid}/run")
        assert ran.status_code == 200
        assert (ran.json()["runs_started"], ran.json()["actions_done"], ran.json()["actions_scheduled"]) == (1, 1, 1)
        assert client.post(f"/v1/automations/{aid}/run").json()["already_ran"] == 1
    history = client.get(f"/v1/automations/{aid}/runs").json()
    assert history["total"] == 1
    assert [(a["type"], a["status"]) for a in history["items"][0]["actions"]] == [
        ("grant_points", "done"), ("create_task", "pending")]
    assert client.get(f"/v1/customers/{cid}/automation-runs").json()["total"] == 1
    bad = client.post("/v1/automations", json={**DEFINITION, "name": "x", "actions": [{"type": "grant_points"}]})
    assert bad.status_code == 422 and bad.json()["error"]["field"] == "actions.0.points"
    naive = client.post(f"/v1/automations/{aid}/dry-run", params={"as_of": "2026-11-20T10:00:00"})
    assert naive.status_code == 422 and naive.json()["error"]["field"] == "as_of"
    huge = client.post("/v1/automations", json={**DEFINITION, "name": "y",
                                                "actions": [{"type": "issue_voucher", "offer_id": 2**63}]})
    assert huge.status_code == 422 and huge.json()["error"]["field"] == "actions.0.offer_id"
    dup = client.post("/v1/automations", json=DEFINITION)
    assert dup.status_code == 409
    assert client.post(f"/v1/automations/{aid}/disable").json()["enabled"] is False
    assert len(client.get("/v1/automations").json()) == 1
    holiday = client.post("/v1/automation-holidays", json={"code": "midsummer", "name": "Midsummer",
                                                           "day": "2027-06-23"})
    assert holiday.status_code == 201
    assert [h["code"] for h in client.get("/v1/automation-holidays", params={"year": 2027}).json()] == ["midsummer"]


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_cli_create_dry_run_run(cli_engine, actor, tmp_path):
    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        make_customer(s, actor, birthday=date(1990, 11, 20), tz="UTC")
    path = tmp_path / "auto.json"
    path.write_text(json.dumps(DEFINITION), encoding="utf-8")
    runner = CliRunner()
    created = runner.invoke(cli_app, ["automations", "create", str(path)])
    assert created.exit_code == 0, created.output
    assert "automation" in created.output and "created" in created.output
    listed = runner.invoke(cli_app, ["automations", "list"])
    assert "Birthday points" in listed.output
    with unit_of_work(factory) as s:
        aid = str(service.list_automations(s)[0].id)
    dry = runner.invoke(cli_app, ["automations", "dry-run", aid, "--as-of", "2026-11-20T10:00:00"])
    assert dry.exit_code == 0, dry.output
    assert "1 customer(s) would be affected" in dry.output
    with clock.frozen_at(NOW):
        ran = runner.invoke(cli_app, ["automations", "run", aid, "--as-of", "2026-11-20T10:00:00"])
    assert ran.exit_code == 0, ran.output
    assert "1 run(s) started" in ran.output
    with clock.frozen_at(NOW):
        again = runner.invoke(cli_app, ["automations", "run", aid, "--as-of", "2026-11-20T10:00:00"])
    assert "0 run(s) started, 1 already ran" in again.output
    missing = runner.invoke(cli_app, ["automations", "dry-run", "999999"])
    assert missing.exit_code == 2
