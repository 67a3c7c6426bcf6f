"""`loyalist customers list/show/merge/export/erase` against a real, committed database."""

from __future__ import annotations

import json

import pytest
from typer.testing import CliRunner

from loyalist import db
from loyalist.customers import service
from loyalist.customers.schemas import CustomerCreate
from loyalist.types import SYSTEM


@pytest.fixture
def cli(committed_engine):  # noqa: ANN001
    from loyalist.cli.main import app

    saved = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    try:
        yield lambda *args: CliRunner().invoke(app, ["customers", *args])
    finally:
        db._default_engine, db._default_factory = saved


def test_cli_list_show_merge_export_erase(cli, tmp_path) -> None:
    with db.unit_of_work() as session:
        a = service.create_customer(session, data=CustomerCreate(external_id="CLI-A", first_name="Freja",
                                                                 email="freja@example.dk"), actor=SYSTEM).id
        b = service.create_customer(session, data=CustomerCreate(external_id="CLI-B", phone="+4520123456"),
                                    actor=SYSTEM).id
    listed = cli("list", "--q", "freja")
    assert listed.exit_code == 0, listed.output
    assert "Freja" in listed.output and "1 customer(s)" in listed.output
    shown = cli("show", "--external-id", "CLI-A")
    assert shown.exit_code == 0 and "freja@example.dk" in shown.output
    merged = cli("merge", str(a), str(b))
    assert merged.exit_code == 0, merged.output
    again = cli("merge", str(a), str(b))
    assert again.exit_code == 2 and "merged" in again.output
    out = tmp_path / "export.json"
    exported = cli("export", str(a), "--output", str(out))
    assert exported.exit_code == 0, exported.output
    data = json.loads(out.read_text())
    assert (data["profile"]["phone"], data["profile"]["email"]) == ("+4520123456", "freja@example.dk")
    erased = cli("erase", str(a), "--yes")
    assert erased.exit_code == 0, erased.output
    with db.unit_of_work() as session:
        c = service.get_customer(session, a)
        assert (c.status, c.email, c.name) == ("erased", None, None)
    assert cli("show", "999999").exit_code == 2
