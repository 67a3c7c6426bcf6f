"""The worker: job discovery, schedule and leases, failure isolation, the loop and the CLI."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

import loyalist.db as db
from loyalist import clock, config
from loyalist.cli.main import app as cli_app
from loyalist.customers import service as customers
from loyalist.customers.models import Customer
from loyalist.customers.schemas import CustomerCreate
from loyalist.db import make_session_factory, unit_of_work
from loyalist.messaging import service as messaging
from loyalist.messaging.schemas import MessagingPolicy
from loyalist.messaging.testing import SmtpServer
from loyalist.types import SYSTEM
from loyalist.worker import jobs as worker_jobs
from loyalist.worker import run_forever, run_once
from loyalist.worker.jobs import discover_jobs, run_due_jobs
from loyalist.worker.models import JobRun

T0 = datetime(2026, 5, 4, 10, 0, tzinfo=UTC)


def _uow(engine):  # type: ignore[no-untyped-def]
    return unit_of_work(make_session_factory(engine))


def test_discovers_every_domains_jobs_with_their_intervals() -> None:
    found = discover_jobs()
    assert found["messaging.prune_bodies"][1] == 24 * 3600
    assert found["rewards.expire_vouchers"][1] == 3600
    assert found["tiers.reevaluate"][1] == 24 * 3600
    assert all(callable(fn) for fn, _ in found.values())


def test_a_job_runs_when_due_and_records_its_run(committed_engine, monkeypatch) -> None:
    calls: list[datetime | None] = []

    def tick(session, *, as_of=None, actor=None):  # type: ignore[no-untyped-def]
        calls.append(as_of)
        return {"ticked": len(calls)}

    monkeypatch.setattr(worker_jobs, "discover_jobs", lambda: {"test.tick": (tick, 3600)})
    first = run_due_jobs(committed_engine, as_of=T0, worker_id="w1")
    assert (first["test.tick"].status, first["test.tick"].result) == ("ok", {"ticked": 1})
    assert run_due_jobs(committed_engine, as_of=T0 + timedelta(minutes=59), worker_id="w2")["test.tick"].status \
        == "not_due"
    assert run_due_jobs(committed_engine, as_of=T0 + timedelta(hours=1), worker_id="w2")["test.tick"].status == "ok"
    assert calls == [T0, T0 + timedelta(hours=1)]
    with _uow(committed_engine) as s:
        row = s.get(JobRun, "test.tick")
        assert (row.last_status, row.next_due_at, row.lease_owner, row.last_result) == \
            ("ok", T0 + timedelta(hours=2), None, {"ticked": 2})


def test_two_workers_never_run_the_same_job_at_once(committed_engine, monkeypatch) -> None:
    running = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow(session, *, as_of=None, actor=None):  # type: ignore[no-untyped-def]
        calls.append("run")
        running.set()
        release.wait(10)
        return None

    monkeypatch.setattr(worker_jobs, "discover_jobs", lambda: {"test.slow": (slow, 60)})
    outcomes = {}
    first = threading.Thread(target=lambda: outcomes.update(a=run_due_jobs(committed_engine, as_of=T0,
                                                                           worker_id="a")))
    first.start()
    assert running.wait(10)
    outcomes["b"] = run_due_jobs(committed_engine, as_of=T0, worker_id="b")
    release.set()
    first.join(10)
    assert (outcomes["a"]["test.slow"].status, outcomes["b"]["test.slow"].status) == ("ok", "busy")
    assert calls == ["run"]


def test_a_failing_job_is_rolled_back_recorded_and_does_not_stop_others(committed_engine, monkeypatch) -> None:
    def broken(session, *, as_of=None, actor=None):  # type: ignore[no-untyped-def]
        customers.create_customer(session, data=CustomerCreate(first_name="Half-done"), actor=actor)
        raise RuntimeError("boom")

    def fine(session, *, as_of=None, actor=None):  # type: ignore[no-untyped-def]
        return {"ok": True}

    monkeypatch.setattr(worker_jobs, "discover_jobs", lambda: {"test.broken": (broken, 86400),
                                                               "test.fine": (fine, 86400)})
    out = run_due_jobs(committed_engine, as_of=T0, worker_id="w")
    assert (out["test.broken"].status, out["test.broken"].error) == ("failed", "RuntimeError: boom")
    assert out["test.fine"].status == "ok"
    with _uow(committed_engine) as s:
        assert s.scalars(select(Customer)).all() == []  # the failed job's write was rolled back
        row = s.get(JobRun, "test.broken")
        assert (row.last_status, row.last_error, row.next_due_at) == ("failed", "RuntimeError: boom",
                                                                     T0 + timedelta(minutes=5))


def test_prune_job_forgets_old_texts(committed_engine) -> None:
    with clock.frozen_at(T0), _uow(committed_engine) as s:
        msg = messaging.enqueue(s, channel="email", customer_id=None, to="a@example.com", dedupe_key="old",
                                actor=SYSTEM, subject="Old news", text="body",
                                category="transactional")
    with SmtpServer() as smtp:
        run_once(committed_engine, as_of=T0, settings=config.Settings(smtp_port=smtp.port), jobs=False)
    report = run_once(committed_engine, as_of=T0 + timedelta(days=366), only_jobs=["messaging.prune_bodies"])
    assert report.jobs["messaging.prune_bodies"].result == {"pruned": 1}
    with _uow(committed_engine) as s:
        row = messaging.get_message(s, msg.id)
    assert (row.status, row.subject, row.text, row.html) == ("sent", "Old news", None, None)


def test_loop_delivers_and_stops_gracefully(committed_engine, monkeypatch) -> None:
    with SmtpServer() as smtp:
        monkeypatch.setenv("LOYALIST_SMTP_PORT", str(smtp.port))
        config.get_settings.cache_clear()
        try:
            stop = threading.Event()
            passes = []
            loop = threading.Thread(target=run_forever, args=(committed_engine,),
                                    kwargs={"interval": 0.05, "stop": stop, "worker_id": "loop",
                                            "on_pass": passes.append})
            loop.start()
            with _uow(committed_engine) as s:
                messaging.enqueue(s, channel="email", customer_id=None, to="a@example.com", dedupe_key="loop:1",
                                  actor=SYSTEM, subject="Live", text="x", category="transactional")
            deadline = time.monotonic() + 10
            while not smtp.sink.raw and time.monotonic() < deadline:
                time.sleep(0.02)
            stop.set()
            loop.join(5)
            assert not loop.is_alive()
        finally:
            config.get_settings.cache_clear()
    assert [m["Subject"] for m in smtp.sink.raw] == ["Live"]
    assert len(passes) >= 1


@pytest.fixture
def cli_engine(committed_engine):  # type: ignore[no-untyped-def]
    previous = (db._default_engine, db._default_factory)
    db.set_engine(committed_engine)
    yield committed_engine
    db._default_engine, db._default_factory = previous


def test_cli_worker_once_and_messages_commands(cli_engine, monkeypatch) -> None:
    from loyalist.cli import common

    monkeypatch.setattr(common.console, "width", 200)
    runner = CliRunner()
    with SmtpServer() as smtp:
        monkeypatch.setenv("LOYALIST_SMTP_PORT", str(smtp.port))
        config.get_settings.cache_clear()
        try:
            refused = runner.invoke(cli_app, ["worker", "--once"])  # the built-in secret: not in production
            assert refused.exit_code == 2 and "LOYALIST_SECRET_KEY" in refused.output
            monkeypatch.setenv("LOYALIST_SECRET_KEY", "worker-test-secret-key-0123456789abcdef")
            config.get_settings.cache_clear()
            sent = runner.invoke(cli_app, ["messages", "send", "--to", "ops@example.com", "--subject", "Ping",
                                           "--dedupe-key", "cli:1"])
            assert sent.exit_code == 0, sent.output
            once = runner.invoke(cli_app, ["worker", "--once"])
            assert once.exit_code == 0, once.output
            assert "1 sent" in once.output
        finally:
            config.get_settings.cache_clear()
    assert [m["Subject"] for m in smtp.sink.raw] == ["Ping"]
    listed = runner.invoke(cli_app, ["messages", "list", "--status", "sent"])
    assert listed.exit_code == 0 and "Ping" in listed.output
    jobs = runner.invoke(cli_app, ["worker", "jobs"])
    assert jobs.exit_code == 0 and "messaging.prune_bodies" in jobs.output
    bad = runner.invoke(cli_app, ["messages", "resend", "999999"])
    assert bad.exit_code == 2 and "not found" in bad.output


def test_policy_is_read_from_environment(monkeypatch) -> None:
    monkeypatch.setenv("LOYALIST_MESSAGING_MAX_ATTEMPTS", "4")
    monkeypatch.setenv("LOYALIST_MESSAGING_CAP_PER_DAY", '{"email": 3}')
    policy = MessagingPolicy()
    assert (policy.max_attempts, policy.cap_per_day) == (4, {"email": 3})


def test_claimed_messages_are_released_when_the_lease_runs_short(committed_engine, monkeypatch) -> None:
    import loyalist.worker as worker

    with _uow(committed_engine) as s:
        ids = [messaging.enqueue(s, channel="email", customer_id=None, to=f"r{i}@example.com",
                                 dedupe_key=f"rel:{i}", actor=SYSTEM, subject="s", text="t",
                                 category="transactional").id for i in range(3)]
    monkeypatch.setattr(worker, "LEASE_SAFETY", 0.0)  # the lease is "used up" at once
    with SmtpServer() as smtp:
        report = worker.deliver_outbox(committed_engine, settings=config.Settings(smtp_port=smtp.port))
    assert (report.claimed, report.sent, report.released) == (3, 0, 3)
    assert smtp.sink.raw == []
    with _uow(committed_engine) as s:
        rows = [messaging.get_message(s, i) for i in ids]
    assert {(r.status, r.attempts) for r in rows} == {("queued", 0)}
