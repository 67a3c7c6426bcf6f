"""`loyalist segments ...` and `loyalist scores ...` against a real, committed database."""

from __future__ import annotations

import csv
import json

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import loyalist.db as db
from loyalist.cli.main import app
from loyalist.db import make_session_factory, unit_of_work
from loyalist.segments import service

from .conftest import build


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_segments_from_the_command_line(cli_engine, tmp_path) -> None:
    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        people = build(s)
    runner = CliRunner()
    rule = json.dumps({"field": "tag", "op": "eq", "value": "vip"})
    created = runner.invoke(app, ["segments", "create", "VIPs", "--rule", rule])
    assert created.exit_code == 0, created.output
    assert "created" in created.output and "(dynamic, 2 member(s))" in created.output
    bad = runner.invoke(app, ["segments", "create", "Broken", "--rule", '{"field": "nope", "op": "eq"}'])
    assert bad.exit_code == 2
    assert "rule.field: unknown field 'nope'" in bad.output
    not_json = runner.invoke(app, ["segments", "create", "Broken", "--rule", "{nope"])
    assert (not_json.exit_code, "not valid JSON" in not_json.output) == (2, True)
    counted = runner.invoke(app, ["segments", "count", "VIPs"])
    assert counted.output.startswith("2 member(s)")
    adhoc = runner.invoke(app, ["segments", "count", "--rule", json.dumps({"field": "locale", "op": "eq",
                                                                           "value": "ru"})])
    assert adhoc.output.startswith("1 member(s)")
    listed = runner.invoke(app, ["segments", "list"])
    assert "VIPs" in listed.output and "Broken" not in listed.output
    out = tmp_path / "vips.csv"
    exported = runner.invoke(app, ["segments", "export", "VIPs", "-o", str(out)])
    assert exported.exit_code == 0, exported.output
    rows = list(csv.reader(out.open(encoding="utf-8")))
    assert [r[0] for r in rows] == ["customer_id", str(people["A"]), str(people["E"])]
    assert rows[2][3] == "'-1+2"
    with unit_of_work(factory) as s:
        assert [x.name for x in service.list_segments(s)] == ["VIPs"]
    refreshed = runner.invoke(app, ["scores", "refresh"])
    assert refreshed.exit_code == 0, refreshed.output
    assert "scored" in refreshed.output


def test_verify_and_rebuild_summaries(cli_engine) -> None:
    from sqlalchemy import update

    from .conftest import t

    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        build(s)  # inserted with Core, then rebuilt: in step
    runner = CliRunner()
    ok = runner.invoke(app, ["segments", "verify-summaries"])
    assert (ok.exit_code, "agree" in ok.output) == (0, True), ok.output
    with unit_of_work(factory) as s:
        summary = t("customer_purchase_summary")
        s.execute(update(summary).values(purchase_count=summary.c.purchase_count + 1))
    drifted = runner.invoke(app, ["segments", "verify-summaries"])
    assert drifted.exit_code == 1 and "rebuild-summaries" in drifted.output
    rebuilt = runner.invoke(app, ["segments", "rebuild-summaries"])
    assert rebuilt.exit_code == 0 and "rebuilt: 5 customer purchase summaries, 5 current consents" in rebuilt.output
    assert runner.invoke(app, ["segments", "verify-summaries"]).exit_code == 0
    with unit_of_work(factory) as s:
        assert s.scalar(select(t("audit_log").c.action).where(
            t("audit_log").c.action == "segments.rebuild_summaries")) == "segments.rebuild_summaries"


def test_refresh_rolling_from_the_command_line(cli_engine) -> None:
    from datetime import UTC, datetime

    from loyalist import clock

    from .conftest import t

    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        build(s)
    runner = CliRunner()
    with clock.frozen_at(datetime(2026, 6, 15, 12, tzinfo=UTC)):
        bad = runner.invoke(app, ["segments", "refresh-rolling", "--day", "2026-13-01"])
        future = runner.invoke(app, ["segments", "refresh-rolling", "--day", "2026-06-16"])
        ok = runner.invoke(app, ["segments", "refresh-rolling", "--day", "2026-06-10"])
    assert (bad.exit_code, "--day" in bad.output) == (2, True), bad.output
    assert (future.exit_code, "after today" in future.output) == (2, True), future.output
    assert ok.exit_code == 0 and "as of 2026-06-10T00:00:00+00:00" in ok.output, ok.output
    assert runner.invoke(app, ["segments", "verify-summaries"]).exit_code == 0
    with unit_of_work(factory) as s:
        state = t("customer_purchase_rolling_state")
        assert sorted(s.scalars(select(state.c.window_days))) == [30, 90, 365]
        actions = list(s.scalars(select(t("audit_log").c.action).where(
            t("audit_log").c.action == "segments.refresh_rolling")))
        assert actions == ["segments.refresh_rolling"]  # the refused ones left nothing
