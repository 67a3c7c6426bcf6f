"""`loyalist surveys templates|create-from-template|invite|remind|results` against a committed database."""

from __future__ import annotations

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import loyalist.db as db
from loyalist.cli.main import app
from loyalist.db import make_session_factory, unit_of_work
from loyalist.surveys import service
from loyalist.surveys.models import Survey, SurveyInvitation

from .conftest import make_customer


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_survey_commands(cli_engine, actor, tmp_path) -> None:
    runner = CliRunner()
    out = runner.invoke(app, ["surveys", "templates"])
    assert out.exit_code == 0 and "exit_interview" in out.output and "relationship" in out.output

    out = runner.invoke(app, ["surveys", "create-from-template", "nps", "--locale", "da"])
    assert out.exit_code == 0, out.output
    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        survey = s.scalar(select(Survey))
        assert (survey.default_locale, survey.template_code) == ("da", "nps")
        a, b = make_customer(s, actor), make_customer(s, actor)
    ids = tmp_path / "ids.txt"
    ids.write_text(f"# lost customers\n{a}\n", encoding="utf-8")
    out = runner.invoke(app, ["surveys", "invite", str(survey.id), "--file", str(ids), "--customers", f"{b},{a}"])
    assert out.exit_code == 0, out.output
    assert "2 invited; skipped none" in out.output
    out = runner.invoke(app, ["surveys", "invite", str(survey.id), "--customers", str(a)])
    assert "0 invited; skipped already_invited: 1" in out.output

    with unit_of_work(factory) as s:
        service.submit_response(s, survey_id=survey.id, customer_id=a, answers={"score": 10}, channel="portal",
                                actor=actor)
        service.submit_response(s, survey_id=survey.id, customer_id=b, answers={"score": 4, "better": "Open Sundays"},
                                channel="portal", actor=actor)
        assert len(list(s.scalars(select(SurveyInvitation)))) == 3
    out = runner.invoke(app, ["surveys", "results", str(survey.id), "--by", "channel"])
    assert out.exit_code == 0, out.output
    assert "responses 2; NPS 0 (95% CI -100..100, n=2)" in out.output
    assert "response rate 100% (2/2)" in out.output

    out = runner.invoke(app, ["surveys", "results", "--period", "day"])
    assert out.exit_code == 2 and "period: one of" in out.output
    out = runner.invoke(app, ["surveys", "invite", str(survey.id), "--customers", "x1"])
    assert out.exit_code == 2
