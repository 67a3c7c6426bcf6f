"""`loyalist tiers ...` and `loyalist rewards ...` against a real, committed database."""

from __future__ import annotations

from datetime import timedelta
from decimal import Decimal

import pytest
from typer.testing import CliRunner

import loyalist.db as db
from loyalist import clock
from loyalist.cli.main import app
from loyalist.db import make_session_factory, unit_of_work
from loyalist.purchases import service as purchases
from loyalist.rewards import service
from loyalist.tiers import service as tiers
from loyalist.tiers.schemas import TierCreate

from .conftest import make_customer, make_reward


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_tiers_and_vouchers_from_the_command_line(cli_engine, actor) -> None:
    factory = make_session_factory(cli_engine)
    now = clock.now()
    with unit_of_work(factory) as s:
        tiers.create_tier(s, data=TierCreate(code="silver", name="Silver", rank=1, metric="spend", window_days=30,
                                             threshold=Decimal("100"), grace_days=0), actor=actor)
        cid = make_customer(s, actor, points=1000)
        purchases.record_purchase(s, customer_id=cid, order_ref="CLI-1", occurred_at=now - timedelta(days=1),
                                  currency="EUR", net_amount=Decimal("150"))
        short = make_reward(s, actor, voucher_validity_days=1)
        code = service.redeem_reward(s, customer_id=cid, reward_id=make_reward(s, actor, name="Mug").id,
                                     idempotency_key="cli-1", actor=actor).voucher.code
        service.redeem_reward(s, customer_id=cid, reward_id=short.id, idempotency_key="cli-2", actor=actor)
    runner = CliRunner()

    out = runner.invoke(app, ["tiers", "reevaluate"])
    assert out.exit_code == 0, out.output
    assert "evaluated 1: 1 up, 0 down" in out.output
    assert "Silver (silver)" in runner.invoke(app, ["tiers", "show", str(cid)]).output
    assert "silver" in runner.invoke(app, ["tiers", "list"]).output

    assert "usable" in runner.invoke(app, ["rewards", "check", code]).output
    out = runner.invoke(app, ["rewards", "consume", code, "--store", "CPH"])
    assert (out.exit_code, f"{code} consumed" in out.output) == (0, True)
    again = runner.invoke(app, ["rewards", "consume", code])
    assert again.exit_code == 2
    assert "Mug" in runner.invoke(app, ["rewards", "list"]).output

    with clock.frozen_at(now + timedelta(days=2)):
        out = runner.invoke(app, ["rewards", "expire-vouchers"])
    assert "1 voucher(s) expired, 0 refunded" in out.output
