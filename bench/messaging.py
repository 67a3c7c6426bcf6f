"""Benchmark: outbox throughput of the worker to a real local SMTP server (aiosmtpd).

    python bench/messaging.py                                   # 2,000 emails, SQLite, 1 worker
    python bench/messaging.py --messages 10000 --workers 4 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/bench_messaging

Customers with email consent are created, one marketing email each is enqueued from a stored
template (rendered at enqueue), then the worker drains the outbox: claim (lease) -> send-time
policy (consent, suppression, quiet hours, caps) -> SMTP -> acknowledge + timeline row, every
step committed. Printed: enqueue rate, delivery rate (messages/s), and that the SMTP server
received each message exactly once. Quiet hours are switched off so the run does not depend
on the time of day; everything else is the production path.
"""

from __future__ import annotations

import argparse
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from sqlalchemy import text

from loyalist.config import Settings
from loyalist.customers import service as customers
from loyalist.customers.schemas import ConsentIn, CustomerCreate
from loyalist.db import make_engine, make_session_factory, unit_of_work
from loyalist.messaging import service
from loyalist.messaging.schemas import MessagingPolicy, TemplateCreate
from loyalist.messaging.testing import free_port
from loyalist.migrate import upgrade
from loyalist.types import SYSTEM
from loyalist.worker import deliver_outbox


def prepare(url: str | None, tmp: Path) -> str:
    if url is None:
        return f"sqlite:///{tmp / 'bench-messaging.db'}"
    if url.startswith("postgresql"):
        from sqlalchemy.engine import make_url

        target = make_url(url)
        admin = make_engine(target.set(database="postgres").render_as_string(hide_password=False),
                            isolation_level="AUTOCOMMIT")
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{target.database}"'))
        admin.dispose()
    return url


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--messages", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=1, help="concurrent workers (threads, own connections)")
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--database-url", default=None, help="default: a fresh SQLite file")
    args = parser.parse_args()

    port = free_port()
    smtp = subprocess.Popen([sys.executable, "-m", "loyalist.messaging.testing", str(port)], stdout=subprocess.PIPE,
                            text=True)
    assert smtp.stdout is not None and smtp.stdout.readline().strip() == "ready"
    with tempfile.TemporaryDirectory() as tmp:
        url = prepare(args.database_url, Path(tmp))
        engine = make_engine(url, pool_size=max(5, args.workers * 2))
        upgrade(engine)
        factory = make_session_factory(engine)
        n = args.messages

        t0 = time.perf_counter()
        with unit_of_work(factory) as s:
            service.create_template(s, actor=SYSTEM, data=TemplateCreate(
                key="bench", subject="Hej {{ first_name }}, {{ points }} points wait for you",
                text="Hello {{ first_name }},\nyou have {{ points }} points.\n{{ unsubscribe_url }}",
                html="<p>Hello <b>{{ first_name }}</b>, you have {{ points }} points.</p>"))
            for i in range(n):
                cid = customers.create_customer(s, actor=SYSTEM, data=CustomerCreate(
                    first_name=f"Kunde{i}", email=f"kunde{i}@example.com", timezone="Europe/Copenhagen",
                    consents=[ConsentIn(channel="email", granted=True, source="import")])).id
                service.enqueue(s, channel="email", customer_id=cid, dedupe_key=f"bench:{i}", actor=SYSTEM,
                                template="bench", context={"points": i % 500})
        enqueue_s = time.perf_counter() - t0

        settings = Settings(smtp_host="127.0.0.1", smtp_port=port, mail_from="Bench <bench@example.org>")
        policy = MessagingPolicy(quiet_hours_start=None, quiet_hours_end=None, cap_per_day={}, cap_per_week={})
        reports = []

        def work(k: int) -> None:
            reports.append(deliver_outbox(engine, worker_id=f"bench-{k}", batch=args.batch, settings=settings,
                                          policy=policy))

        t1 = time.perf_counter()
        if args.workers == 1:
            work(0)  # in the main thread, so a profiler sees it
        else:
            threads = [threading.Thread(target=work, args=(k,)) for k in range(args.workers)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        deliver_s = time.perf_counter() - t1

        sent = sum(r.sent for r in reports)
        smtp.send_signal(signal.SIGTERM)
        raw, distinct = (int(x) for x in smtp.communicate(timeout=30)[0].split())
        print(f"database        {engine.dialect.name}")
        print(f"messages        {n}")
        print(f"workers         {args.workers} (batch {args.batch})")
        print(f"enqueue         {enqueue_s:.2f} s  ({n / enqueue_s:,.0f} customers+messages/s, one transaction)")
        print(f"deliver         {deliver_s:.2f} s  ({sent / deliver_s:,.0f} messages/s)")
        print(f"smtp received   {raw} raw, {distinct} distinct Message-IDs (aiosmtpd in its own process)")
        per_worker = ", ".join(str(r.sent) for r in reports)
        print(f"sent per worker {per_worker}")
        ok = sent == n == raw == distinct
        print("exactly once    " + ("yes" if ok else "NO"))
        engine.dispose()
        if not ok:
            raise SystemExit(1)


if __name__ == "__main__":
    main()
