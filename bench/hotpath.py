"""Hot-path benchmark: the cost of one accrual inside the process, without HTTP.

    python bench/hotpath.py --backend postgres --events 500
    python bench/hotpath.py --backend sqlite --profile 25      # plus the 25 costliest functions

Why in-process: the HTTP figures (bench/ledger.py) mix uvicorn, JSON and the client; to know what
the domain code itself costs per accrual — wall time, CPU time, SQL statements and round trips —
this calls `events.service.ingest` in its own transaction per event, exactly as the API's unit
of work does, against a scratch database (a temp SQLite file, or a throw-away PostgreSQL database
that is dropped at the end).
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import tempfile
import time
import uuid
from decimal import Decimal
from pathlib import Path

from sqlalchemy import event, text
from sqlalchemy.engine import make_url

from loyalist.db import make_engine, make_session_factory
from loyalist.migrate import upgrade
from loyalist.registry import load_all_models
from loyalist.types import Actor

ACTOR = Actor(kind="system", id=None, name="bench", role="admin")


def scratch_url(backend: str, pg_url: str) -> tuple[str, object]:
    """A fresh database URL and a callable that removes it."""
    if backend == "sqlite":
        folder = tempfile.TemporaryDirectory()
        return f"sqlite:///{Path(folder.name) / 'hot.db'}", folder.cleanup
    name = f"loyalist_hot_{uuid.uuid4().hex[:8]}"
    admin = make_engine(pg_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as c:
            c.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return make_url(pg_url).set(database=name).render_as_string(hide_password=False), drop


def prepare(url: str, customers: int) -> None:
    """Migrate, one earning rule (1 point per EUR), `customers` customers."""
    from loyalist.customers import service as customer_service
    from loyalist.customers.schemas import CustomerCreate
    from loyalist.events import service as events
    from loyalist.events.schemas import RuleCreate

    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as s, s.begin():
        events.create_rule(s, data=RuleCreate(name="1 point per EUR", kind="points_per_amount"), actor=ACTOR)
        for i in range(customers):
            customer_service.create_customer(s, data=CustomerCreate(external_id=f"cust-{i}"), actor=ACTOR)
    engine.dispose()


def run(url: str, n: int, customers: int, profile: int) -> None:
    from loyalist.events import service as events
    from loyalist.events.schemas import EventIn

    engine = make_engine(url)
    factory = make_session_factory(engine)
    statements = 0

    def count(*_args: object) -> None:
        nonlocal statements
        statements += 1

    event.listen(engine, "before_cursor_execute", count)

    def one(i: int) -> None:
        # no occurred_at: a live purchase, as at a till (backdated ones also touch the rolling spend)
        data = EventIn.model_validate({
            "type": "purchase", "idempotency_key": f"hot-{i}", "customer_external_id": f"cust-{i % customers}",
            "order_ref": f"O{i}",
            "currency": "EUR", "store": f"S{i % 7}", "net_amount": str(Decimal(i % 9000) / 100 + 1)})
        with factory() as s, s.begin():
            events.ingest(s, data=data, actor=ACTOR)

    warm = customers  # one event per customer first: accounts exist, caches are warm, as in a running shop
    for i in range(warm):
        one(i)
    statements = 0
    latencies: list[float] = []
    profiler = cProfile.Profile() if profile else None
    wall0, cpu0 = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    for i in range(warm, warm + n):
        t0 = time.perf_counter()
        one(i)
        latencies.append(time.perf_counter() - t0)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    latencies.sort()
    print(f"{engine.dialect.name}: {n} accruals, {n / wall:,.0f}/s, {1000 * wall / n:.2f} ms wall and "
          f"{1000 * cpu / n:.2f} ms CPU each, {statements / n:.1f} statements each, "
          f"p50 {1000 * latencies[n // 2]:.2f} ms, p99 {1000 * latencies[int(n * 0.99)]:.2f} ms")
    if profiler:
        pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile)")
    args = parser.parse_args()
    load_all_models()
    url, cleanup = scratch_url(args.backend, args.pg_url)
    try:
        prepare(url, args.customers)
        run(url, args.events, args.customers, args.profile)
    finally:
        cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    main()
