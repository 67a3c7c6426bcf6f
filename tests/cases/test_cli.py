"""`loyalist cases ...` against a real, committed database."""

from __future__ import annotations

import pytest
from typer.testing import CliRunner

import loyalist.db as db
from loyalist import clock
from loyalist.cli.main import app
from loyalist.db import make_session_factory, unit_of_work

from .conftest import at, new_case


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_cases_from_the_command_line(cli_engine, actor) -> None:
    factory = make_session_factory(cli_engine)
    with clock.frozen_at(at(2, 9)), unit_of_work(factory) as s:
        cid = new_case(s, actor, severity="low", subject="Sizing").id  # first response due Monday 17:00
    runner = CliRunner()
    out = runner.invoke(app, ["cases", "list"])
    assert out.exit_code == 0, out.output
    assert "Sizing" in out.output and "1 of 1 case(s)" in out.output
    out = runner.invoke(app, ["cases", "scan-breaches", "--as-of", "2026-03-03T09:00:00+00:00"])
    assert "1 first-response and 0 resolution breach(es), 1 escalation(s)" in out.output, out.output
    again = runner.invoke(app, ["cases", "scan-breaches", "--as-of", "2026-03-03T09:00:00+00:00"])
    assert "0 first-response and 0 resolution breach(es), 0 escalation(s)" in again.output
    assert "escalation level 1" in runner.invoke(app, ["cases", "show", str(cid)]).output
    out = runner.invoke(app, ["cases", "set-sla", "low", "90", "60"])
    assert out.exit_code == 2 and "first_response_minutes" in out.output
    assert runner.invoke(app, ["cases", "set-sla", "low", "60", "600"]).exit_code == 0
    assert "default" in runner.invoke(app, ["cases", "sla"]).output
    assert runner.invoke(app, ["cases", "add-holiday", "2026-12-24", "Christmas Eve"]).exit_code == 0
    assert runner.invoke(app, ["cases", "add-holiday", "2026-12-24", "Again"]).exit_code == 2
    assert runner.invoke(app, ["cases", "leaderboard", "--period", "2026-03"]).exit_code == 0
