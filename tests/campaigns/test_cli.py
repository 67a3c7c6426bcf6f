"""`loyalist campaigns create|launch|results` and `loyalist offers ...` against a committed database."""

from __future__ import annotations

import re

import pytest
from tests.campaigns.conftest import amount_offer, make_customers
from typer.testing import CliRunner

import loyalist.db as db
from loyalist.cli.main import app
from loyalist.db import make_session_factory, unit_of_work


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_campaign_from_the_command_line(cli_engine, actor):
    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        ids = make_customers(s, actor, 6)
        offer_id = amount_offer(s, actor).id
    runner = CliRunner()
    r = runner.invoke(app, ["campaigns", "create", "--name", "CLI test", "--customers", ",".join(map(str, ids)),
                            "--offer", str(offer_id), "--control", "50", "--seed", "cli"])
    assert r.exit_code == 0, r.output
    campaign_id = re.search(r"campaign (\d+) created \(draft, seed cli\)", r.output).group(1)
    r = runner.invoke(app, ["campaigns", "launch", campaign_id])
    assert r.exit_code == 0, r.output
    assert "audience 6, treatment 3, control 3, sent 3, stopped by budget 0" in r.output
    r = runner.invoke(app, ["campaigns", "launch", campaign_id])
    assert "(already launched)" in r.output and "sent 3" in r.output
    r = runner.invoke(app, ["campaigns", "results", campaign_id])
    assert r.exit_code == 0, r.output
    assert "incremental conversion: +0 [+0, +0]" in r.output
    assert "cost 0.00 (offers 0.00, 0 messages 0.00); ROI -" in r.output
    r = runner.invoke(app, ["offers", "list"])
    assert r.exit_code == 0 and "Ten off" in r.output
    r = runner.invoke(app, ["campaigns", "results", "999999"])
    assert r.exit_code == 2 and "campaign 999999 not found" in r.output
