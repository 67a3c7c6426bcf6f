"""Hot-path benchmark: the cost of one accrual inside the process, without HTTP.

    python bench/hotpath.py --backend postgres --events 500
    python bench/hotpath.py --backend sqlite --profile 25      # plus the 25 costliest functions
    python bench/hotpath.py --backend postgres --redeem        # POS redemption, reward, voucher use

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
TILL = Actor(kind="api_key", id=1, name="till", role="integration")  # redemptions are audited


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


def run_redeem(url: str, n: int, customers: int, profile: int, show: bool) -> None:
    """Per operation: a POS points redemption (`ledger.redeem`), a reward redemption that issues
    a voucher (`rewards.redeem_reward`) and that voucher's use at the till (`consume_voucher`),
    each in its own transaction, for customers who earned through the hot path first."""
    from loyalist.ledger import service as ledger
    from loyalist.rewards import service as rewards
    from loyalist.rewards.schemas import RewardCreate

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with factory() as s, s.begin():
        reward_id = rewards.create_reward(s, data=RewardCreate(kind="gift", name="Tote bag", cost_points=30),
                                          actor=ACTOR).id
        ids = [customer_id(s, f"cust-{i}") for i in range(customers)]
        for cid in ids:  # enough for every redemption below
            ledger.earn(s, customer_id=cid, points=1_000_000, source="bench", idempotency_key=f"seed-{cid}",
                        reason="seed", actor=ACTOR)
    seen: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        seen.append(" ".join(statement.split()))

    event.listen(engine, "before_cursor_execute", count)

    def pos(i: int) -> None:
        with factory() as s, s.begin():
            ledger.redeem(s, customer_id=ids[i % customers], points=7, source="pos", idempotency_key=f"r-{i}",
                          reason="paid with points", actor=TILL, reference_type="order", reference_id=f"R{i}")

    codes: list[str] = []

    def reward(i: int) -> None:
        with factory() as s, s.begin():
            codes.append(rewards.redeem_reward(s, customer_id=ids[i % customers], reward_id=reward_id,
                                               idempotency_key=f"w-{i}", actor=TILL).voucher.code)

    def consume(i: int) -> None:
        with factory() as s, s.begin():
            rewards.consume_voucher(s, code=codes[i], actor=TILL, store="S1", order_ref=f"V{i}")

    for name, op in (("POS redemption", pos), ("reward redemption", reward), ("voucher consumption", consume)):
        for i in range(customers):  # warm: one per customer
            op(i)
        seen.clear()
        profiler = cProfile.Profile() if profile else None
        wall0, cpu0 = time.perf_counter(), time.process_time()
        if profiler:
            profiler.enable()
        for i in range(customers, customers + n):
            op(i)
        if profiler:
            profiler.disable()
        wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
        print(f"{engine.dialect.name}: {n} x {name}: {1000 * wall / n:.2f} ms wall and {1000 * cpu / n:.2f} ms CPU "
              f"each, {len(seen) / n:.1f} statements each")
        if show:
            first = len(seen)
            op(customers + n)
            print("\n".join(f"   {line[:160]}" for line in seen[first:]))
        if profiler:
            pstats.Stats(profiler).sort_stats("tottime").print_stats(profile)
    engine.dispose()


def customer_id(session: object, external_id: str) -> int:
    from loyalist.customers import service as customer_service

    return customer_service.get_customer_by_external_id(session, external_id).id  # type: ignore[arg-type]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["sqlite", "postgres"], default="postgres")
    parser.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres")
    parser.add_argument("--events", type=int, default=500)
    parser.add_argument("--customers", type=int, default=200)
    parser.add_argument("--profile", type=int, default=0, help="print the N costliest functions (cProfile)")
    parser.add_argument("--redeem", action="store_true",
                        help="after the accruals, measure POS redemption, reward redemption and voucher use")
    parser.add_argument("--show", action="store_true", help="with --redeem: print one operation's statements")
    args = parser.parse_args()
    load_all_models()
    url, cleanup = scratch_url(args.backend, args.pg_url)
    try:
        prepare(url, args.customers)
        run(url, args.events, args.customers, args.profile)
        if args.redeem:
            run_redeem(url, args.events, args.customers, args.profile, args.show)
    finally:
        cleanup()  # type: ignore[operator]


if __name__ == "__main__":
    main()
