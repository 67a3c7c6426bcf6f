"""`loyalist tasks ...` against a committed database: create, list (overdue), complete, cancel."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from typer.testing import CliRunner

import loyalist.db as db
from loyalist.cli.main import app
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.db import make_session_factory, unit_of_work
from loyalist.interactions import service as interactions
from loyalist.tasks import service


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_tasks_from_the_command_line(cli_engine, actor):
    factory = make_session_factory(cli_engine)
    with unit_of_work(factory) as s:
        cid = customers.create_customer(s, data=CustomerCreate(first_name="Ivan"), actor=actor).id
    runner = CliRunner()
    made = runner.invoke(app, ["tasks", "create", "call", "Call about the order", "--customer", str(cid),
                               "--due", "2020-01-01T09:00:00"])
    assert made.exit_code == 0, made.output
    listed = runner.invoke(app, ["tasks", "list", "--overdue"])
    assert listed.exit_code == 0 and "Call about" in listed.output and "1 task(s)" in listed.output
    with factory() as s:
        task = service.list_tasks(s, customer_id=cid).items[0]
        assert (task.kind, task.due_at, task.overdue) == ("call", datetime(2020, 1, 1, 9, tzinfo=UTC), True)
    done = runner.invoke(app, ["tasks", "complete", str(task.id), "reached", "--note", "all good"])
    assert done.exit_code == 0, done.output
    again = runner.invoke(app, ["tasks", "cancel", str(task.id)])
    assert again.exit_code == 2
    bad = runner.invoke(app, ["tasks", "create", "dance", "x"])
    assert bad.exit_code == 2 and "kind" in bad.output
    with factory() as s:
        assert service.get_task(s, task.id).outcome == "reached"
        assert [r.data["outcome"] for r in interactions.list_timeline(s, cid, kinds=["task"]).items] == ["reached"]
        assert service.list_tasks(s).total == 1
