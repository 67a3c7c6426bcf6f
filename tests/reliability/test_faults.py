"""Load with faults injected, against real processes: PostgreSQL restarted under a mixed load on
two API workers, a delivery worker killed with SIGKILL mid-delivery, the SMTP server down for a
while. Afterwards nothing is lost or doubled: the ledger reconciles, every accepted request is
stored once, every message reaches the receiver exactly once (deduplicated by Message-ID).

These tests restart the machine's PostgreSQL server; they run in CI (marked `reliability`) and
are skipped when `pg_ctlcluster` is not available.
"""

from __future__ import annotations

import asyncio
import importlib.util
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

pytestmark = [pytest.mark.reliability, pytest.mark.postgres]
ROOT = Path(__file__).resolve().parents[2]
PG_URL = os.environ.get("LOYALIST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")


def _load_bench():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("bench_load", ROOT / "bench" / "load.py")
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    sys.modules["bench_load"] = module
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


bench = _load_bench()


def _pg_version() -> str | None:
    if shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").exists():
        return None
    versions = sorted(os.listdir("/etc/postgresql"))
    return versions[-1] if versions else None


def _restart_postgres() -> None:
    version = _pg_version()
    subprocess.run(["pg_ctlcluster", "--skip-systemctl-redirect", str(version), "main", "restart"], check=True,
                   capture_output=True, timeout=120)


@pytest.fixture
def scratch_db():  # type: ignore[no-untyped-def]
    try:
        url, drop = bench.scratch_postgres(PG_URL)
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    yield url
    for _ in range(30):  # the server may still be coming back from a restart
        try:
            drop()
            return
        except Exception:  # noqa: BLE001
            time.sleep(1)


@pytest.mark.skipif(_pg_version() is None, reason="needs pg_ctlcluster to restart PostgreSQL")
def test_postgres_restart_under_mixed_load_loses_and_doubles_nothing(scratch_db) -> None:
    shop = bench.seed(scratch_db, customers=80)
    server = bench.Server(scratch_db, workers=2)
    restarted: dict[str, float] = {}

    def fault(elapsed: float) -> None:
        if elapsed >= 3 and "start" not in restarted:
            restarted["start"] = elapsed
            _restart_postgres()
            restarted["end"] = time.perf_counter()

    try:
        started = time.perf_counter()
        result = asyncio.run(bench.mixed_load(shop, server.base, clients=12, seconds=14, during=fault))
        bench.print_report("PostgreSQL restarted under load", result)
        assert "start" in restarted, "the fault was never injected"
        back_at = restarted["end"] - started
        statuses = {o.status for o in result.outcomes}
        assert 500 not in statuses, "a request failed with 500 instead of 503 while the database was away"
        assert statuses <= {0, 200, 201, 404, 409, 422, 503}, statuses
        after = [o for o in result.outcomes if o.at > back_at + 2]
        assert after and any(200 <= o.status < 300 for o in after), "the API did not recover by itself"
        settled = bench.settle_unknown(shop, server.base, result)
    finally:
        server.stop()
    counts = bench.verify_books(shop, result, settled)
    assert counts["accepted_accruals"] > 0 and counts["accepted_redemptions"] > 0


class _SlowMailbox:
    """SMTP receiver that takes its time per message and deduplicates by Message-ID."""

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.raw: list[str] = []
        self.store: dict[str, str] = {}
        self.lock = threading.Lock()

    async def handle_DATA(self, server, session, envelope):  # type: ignore[no-untyped-def]  # noqa: N802
        from email import message_from_bytes, policy

        await asyncio.sleep(self.delay)
        msg = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.raw.append(str(msg["Message-ID"]))
            self.store.setdefault(str(msg["Message-ID"]), str(msg["Subject"]))
        return "250 OK"


def _enqueue(url: str, n: int) -> list[int]:
    from loyalist.customers import service as customers
    from loyalist.customers.schemas import CustomerCreate
    from loyalist.db import make_engine, make_session_factory
    from loyalist.messaging import service as messaging
    from loyalist.migrate import upgrade

    engine = make_engine(url)
    upgrade(engine)
    ids = []
    with make_session_factory(engine)() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(external_id="W1", email="w1@example.com"),
                                        actor=bench.ACTOR).id
        for i in range(n):
            ids.append(messaging.enqueue(s, channel="email", customer_id=cid, dedupe_key=f"fault-{i}",
                                         actor=bench.ACTOR, subject=f"Receipt {i}", text=f"Thank you {i}",
                                         category="transactional").id)
    engine.dispose()
    return ids


def _statuses(url: str) -> dict[str, int]:
    from sqlalchemy import func, select

    from loyalist.db import make_engine, make_session_factory
    from loyalist.messaging.models import Message

    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            return {k: int(v) for k, v in s.execute(select(Message.status, func.count()).group_by(Message.status))}
    finally:
        engine.dispose()


def _worker(url: str, smtp_port: int) -> subprocess.Popen[bytes]:
    env = {**os.environ, "LOYALIST_DATABASE_URL": url, "LOYALIST_SECRET_KEY": bench.SECRET,
           "LOYALIST_SMTP_HOST": "127.0.0.1", "LOYALIST_SMTP_PORT": str(smtp_port),
           "LOYALIST_MESSAGING_LEASE_SECONDS": "5", "LOYALIST_MESSAGING_BACKOFF_BASE_SECONDS": "1",
           "LOYALIST_MESSAGING_BACKOFF_MAX_SECONDS": "2", "LOYALIST_MESSAGING_MAX_ATTEMPTS": "50"}
    return subprocess.Popen([sys.executable, "-m", "loyalist.cli.main", "worker", "--interval", "0.3",
                             "--batch", "5"], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def _wait(predicate, seconds: float) -> bool:  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.2)
    return False


def test_worker_killed_mid_delivery_then_smtp_down_every_message_exactly_once(scratch_db) -> None:
    from aiosmtpd.controller import Controller

    total = 24
    _enqueue(scratch_db, total)
    port = bench.free_port()
    mailbox = _SlowMailbox(delay=0.15)
    smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
    smtp.start()
    first = _worker(scratch_db, port)
    second = None
    try:
        assert _wait(lambda: len(mailbox.store) >= 5, 120), "the worker delivered nothing"
        first.send_signal(signal.SIGKILL)  # mid-delivery: a batch is claimed, some sent, none acknowledged
        first.wait(timeout=10)
        delivered_before_kill = len(mailbox.store)
        assert delivered_before_kill < total
        smtp.stop()  # and now the mail server is down for a while
        second = _worker(scratch_db, port)
        time.sleep(4)
        assert _statuses(scratch_db).get("sent", 0) <= delivered_before_kill  # nothing can be sent meanwhile
        smtp = Controller(mailbox, hostname="127.0.0.1", port=port)
        smtp.start()
        assert _wait(lambda: _statuses(scratch_db).get("sent", 0) == total, 180), _statuses(scratch_db)
    finally:
        for proc in (first, second):
            if proc is not None and proc.poll() is None:
                proc.terminate()
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait(timeout=10)
        smtp.stop()
    assert len(mailbox.store) == total  # every message reached the receiver ...
    assert sorted(mailbox.store.values()) == sorted(f"Receipt {i}" for i in range(total))  # ... exactly once
    # a message may cross the wire twice (sent, then the worker died before acknowledging);
    # it carries the same Message-ID both times, so the receiver keeps one
    assert len(mailbox.raw) >= total
