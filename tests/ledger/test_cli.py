"""`loyalist ledger check|expire|liability` against a real, committed database."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from tests.conftest import STAFF_ACTOR
from tests.ledger.helpers import T0, new_customer
from typer.testing import CliRunner

import loyalist.db as db
from loyalist.cli.main import app
from loyalist.db import make_session_factory, unit_of_work
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerAccount


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def _seed(engine) -> int:  # type: ignore[no-untyped-def]
    with unit_of_work(make_session_factory(engine)) as s:
        c = new_customer(s, STAFF_ACTOR, "Cli")
        ledger.earn(s, customer_id=c, points=100, source="pos", idempotency_key="e", reason="purchase",
                    actor=STAFF_ACTOR, expires_at=T0 + timedelta(days=10))
        ledger.earn(s, customer_id=c, points=20, source="pos", idempotency_key="f", reason="purchase",
                    actor=STAFF_ACTOR)
    return c


def test_check_passes_then_reports_a_tampered_balance(cli_engine, frozen) -> None:
    c = _seed(cli_engine)
    runner = CliRunner()
    ok = runner.invoke(app, ["ledger", "check"])
    assert ok.exit_code == 0, ok.output
    assert "ledger consistent" in ok.output
    with cli_engine.begin() as conn:
        conn.execute(update(LedgerAccount).where(LedgerAccount.code == f"customer:{c}:available")
                     .values(balance=LedgerAccount.balance + 5))
    bad = runner.invoke(app, ["ledger", "check"])
    assert bad.exit_code == 1
    output = bad.output + (bad.stderr if hasattr(bad, "stderr") else "")
    assert "account_balance" in output and f"customer:{c}:available" in output


def test_expire_is_rerunnable_and_liability_prints(cli_engine, frozen) -> None:
    c = _seed(cli_engine)
    frozen(T0 + timedelta(days=11))
    runner = CliRunner()
    first = runner.invoke(app, ["ledger", "expire", "--as-of", (T0 + timedelta(days=11)).isoformat(),
                                "--chunk", "1"])
    assert first.exit_code == 0, first.output
    assert "expired 1 lots" in first.output
    second = runner.invoke(app, ["ledger", "expire"])
    assert second.exit_code == 0 and "expired 0 lots" in second.output
    with unit_of_work(make_session_factory(cli_engine)) as s:
        assert ledger.get_balance(s, c).available == 20
    report = runner.invoke(app, ["ledger", "liability", "--point-value", "0.05"])
    assert report.exit_code == 0, report.output
    assert "outstanding_points" in report.output and "breakage_rate" in report.output
    assert "0.8333" in report.output  # 100 of 120 issued points expired
    assert runner.invoke(app, ["ledger", "check"]).exit_code == 0
