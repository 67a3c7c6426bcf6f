"""Mixed-workload load test against real API worker processes: accruals, reward redemptions,
voucher consumption at the till and customer reads, from concurrent HTTP clients.

    python bench/load.py                          # PostgreSQL, 2 uvicorn workers, 32 clients, 20 s
    python bench/load.py --seconds 10 --clients 8 --workers 2 --backend sqlite

Prints sustained throughput (requests/s, per operation), latency percentiles, the outcome
counts, and then proves the books: every accepted write is in the database exactly once, every
request whose outcome was unknown is retried with its idempotency key until known, and the
ledger reconciles. `tests/reliability/` drives the same code with faults injected.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.engine import make_url

from loyalist.db import make_engine, make_session_factory
from loyalist.migrate import upgrade
from loyalist.types import Actor

ACTOR = Actor(kind="system", id=None, name="load", role="admin")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
SECRET = "load-test-secret-key-not-for-production-0123456789"
WEIGHTS = {"accrual": 55, "redeem": 10, "consume": 10, "read": 25}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


@dataclass
class Shop:
    """What the load needs to know about the seeded database."""

    url: str
    key: str
    customer_ids: list[int]
    external_ids: dict[int, str]
    reward_id: int


@dataclass
class Outcome:
    op: str
    status: int          # HTTP status, 0 = transport error (outcome unknown)
    seconds: float
    request: dict[str, Any]
    body: dict[str, Any] | None = None
    at: float = 0.0      # seconds since the load started, when the answer came


@dataclass
class LoadResult:
    outcomes: list[Outcome] = field(default_factory=list)
    seconds: float = 0.0

    def by_status(self) -> Counter[tuple[str, int]]:
        return Counter((o.op, o.status) for o in self.outcomes)


def seed(url: str, *, customers: int = 200, starting_points: int = 500) -> Shop:
    """Migrate and create: an earning rule (1 point per EUR), customers with starting points,
    a reward costing 50 points, and an integration API key."""
    from loyalist.customers import service as customers_service
    from loyalist.customers.schemas import CustomerCreate
    from loyalist.events import service as events
    from loyalist.events.schemas import RuleCreate
    from loyalist.ledger import service as ledger
    from loyalist.rewards import service as rewards
    from loyalist.rewards.schemas import RewardCreate
    from loyalist.staff import service as staff

    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as s, s.begin():
        events.create_rule(s, data=RuleCreate(name="1 point per EUR", kind="points_per_amount"), actor=ACTOR)
        ids = customers_service.create_customers(
            s, items=[CustomerCreate(external_id=f"L{i}") for i in range(customers)], actor=ACTOR)
        for cid in ids:
            ledger.earn(s, customer_id=cid, points=starting_points, source="load-seed",
                        idempotency_key=f"seed-{cid}", reason="starting balance", actor=ACTOR)
        reward = rewards.create_reward(s, actor=ACTOR, data=RewardCreate(
            kind="free_product", name="Coffee", cost_points=50, voucher_validity_days=30)).id
        key = staff.create_api_key(s, name="load", role="integration", actor=ACTOR).key
    engine.dispose()
    return Shop(url=url, key=key, customer_ids=ids, external_ids={cid: f"L{i}" for i, cid in enumerate(ids)},
                reward_id=reward)


class Server:
    """`uvicorn loyalist.api.asgi:app --workers N` as a child process on a free port."""

    def __init__(self, url: str, *, workers: int = 2, extra_env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        env = {**os.environ, "LOYALIST_DATABASE_URL": url, "LOYALIST_SECRET_KEY": SECRET,
               "LOYALIST_LOG_LEVEL": "WARNING", "LOYALIST_WARM_DASHBOARD": "false", **(extra_env or {})}
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "uvicorn", "loyalist.api.asgi:app", "--host", "127.0.0.1", "--port",
             str(self.port), "--workers", str(workers), "--log-level", "warning", "--no-access-log"],
            env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        deadline = time.monotonic() + 90
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"server exited: {self.proc.stderr.read().decode()[-2000:]}")  # type: ignore[union-attr]
            try:
                if httpx.get(f"{self.base}/healthz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.2)
        raise RuntimeError("server did not start within 90 s")

    def stop(self) -> None:
        self.proc.terminate()
        try:
            self.proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.proc.kill()


def _request_for(op: str, rng: random.Random, shop: Shop, run: str, n: int, i: int,
                 codes: list[str]) -> tuple[str, str, dict[str, Any] | None]:
    cid = rng.choice(shop.customer_ids)
    if op == "accrual":
        return "POST", "/v1/events", {"type": "purchase", "idempotency_key": f"{run}-a-{n}-{i}",
                                      "customer_external_id": shop.external_ids[cid],
                                      "order_ref": f"{run}-o-{n}-{i}", "net_amount": "12.34", "currency": "EUR"}
    if op == "redeem":
        return "POST", f"/v1/customers/{cid}/redemptions", {"reward_id": shop.reward_id,
                                                           "idempotency_key": f"{run}-r-{n}-{i}"}
    if op == "consume" and codes:
        return "POST", f"/v1/vouchers/{codes.pop(rng.randrange(len(codes)))}/consume", {"store": "S1"}
    if rng.random() < 0.5:
        return "GET", f"/v1/customers/{cid}", None
    return "GET", f"/v1/customers/{cid}/points", None


async def mixed_load(shop: Shop, base: str, *, clients: int, seconds: float, seed_value: int = 7,
                     during: Callable[[float], None] | None = None) -> LoadResult:
    """Run `clients` concurrent clients for `seconds`; `during(elapsed)` is called about every
    100 ms from the event loop's thread pool (faults are injected there)."""
    run = uuid.uuid4().hex[:8]
    ops, weights = zip(*WEIGHTS.items(), strict=True)
    codes: list[str] = []
    result = LoadResult()
    started = time.perf_counter()
    deadline = started + seconds

    async def client(n: int) -> None:
        rng = random.Random(seed_value * 1000 + n)
        async with httpx.AsyncClient(base_url=base, timeout=30,
                                     headers={"Authorization": f"Bearer {shop.key}"}) as http:
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                op = rng.choices(ops, weights)[0]
                method, path, body = _request_for(op, rng, shop, run, n, i, codes)
                if op == "consume" and not path.startswith("/v1/vouchers"):
                    op = "read"
                t0 = time.perf_counter()
                try:
                    resp = await http.request(method, path, json=body)
                    status = resp.status_code
                    payload = resp.json() if resp.headers.get("content-type", "").startswith("application/json") \
                        else None
                except httpx.TransportError:
                    status, payload = 0, None
                    await asyncio.sleep(0.05)
                result.outcomes.append(Outcome(op, status, time.perf_counter() - t0,
                                               {"method": method, "path": path, "json": body}, payload,
                                               at=time.perf_counter() - started))
                if op == "redeem" and status == 201 and payload:
                    codes.append(payload["voucher"]["code"])

    async def watcher() -> None:
        loop = asyncio.get_running_loop()
        while time.perf_counter() < deadline:
            if during is not None:
                await loop.run_in_executor(None, during, time.perf_counter() - started)
            await asyncio.sleep(0.1)

    await asyncio.gather(watcher(), *(client(n) for n in range(clients)))
    result.seconds = time.perf_counter() - started
    return result


def settle_unknown(shop: Shop, base: str, result: LoadResult, *, attempts: int = 60) -> list[Outcome]:
    """Retry every write whose outcome is unknown (transport error, 503) with the same request
    (same idempotency key) until the server answers definitively. Returns the settled outcomes."""
    settled = []
    with httpx.Client(base_url=base, timeout=30, headers={"Authorization": f"Bearer {shop.key}"}) as http:
        for o in result.outcomes:
            if o.op in ("accrual", "redeem") and (o.status == 0 or o.status >= 500):
                for _ in range(attempts):
                    try:
                        resp = http.request(o.request["method"], o.request["path"], json=o.request["json"])
                    except httpx.TransportError:
                        time.sleep(0.5)
                        continue
                    if resp.status_code < 500:
                        settled.append(Outcome(o.op, resp.status_code, 0.0, o.request, resp.json()))
                        break
                    time.sleep(0.5)
                else:
                    raise AssertionError(f"could not settle {o.request['path']} after {attempts} attempts")
    return settled


def verify_books(shop: Shop, result: LoadResult, settled: list[Outcome]) -> dict[str, int]:
    """Every accepted accrual and redemption is in the database exactly once; the ledger reconciles.
    Returns counts for the report."""
    from loyalist.events.models import Event
    from loyalist.ledger import service as ledger
    from loyalist.rewards.models import Redemption, Voucher

    accepted_accruals = {o.request["json"]["idempotency_key"] for o in result.outcomes + settled
                         if o.op == "accrual" and o.status in (200, 201)}
    accepted_redemptions = {o.request["json"]["idempotency_key"] for o in result.outcomes + settled
                            if o.op == "redeem" and o.status in (200, 201)}
    consumed_codes = {o.request["path"].split("/")[3] for o in result.outcomes
                      if o.op == "consume" and o.status == 200}
    engine = make_engine(shop.url)
    try:
        with make_session_factory(engine)() as s:
            run_keys = {k.rsplit("-", 3)[0] for k in accepted_accruals | accepted_redemptions}
            stored_events: Counter[str] = Counter()
            for prefix in run_keys:
                keys = select(Event.idempotency_key).where(Event.idempotency_key.like(f"{prefix}-a-%"))
                for (key,) in s.execute(keys):
                    stored_events[key] += 1
            missing = accepted_accruals - set(stored_events)
            assert not missing, f"{len(missing)} accepted accruals are not in the database, e.g. {sorted(missing)[:3]}"
            assert all(v == 1 for v in stored_events.values()), "an accrual was stored twice"
            stored_red = Counter(k for (k,) in s.execute(select(Redemption.idempotency_key).where(
                Redemption.idempotency_key.in_(accepted_redemptions))))
            assert set(stored_red) == accepted_redemptions and all(v == 1 for v in stored_red.values())
            if consumed_codes:
                statuses = dict(s.execute(select(Voucher.code, Voucher.status)
                                          .where(Voucher.code.in_(consumed_codes))).all())
                assert all(v == "consumed" for v in statuses.values()) and len(statuses) == len(consumed_codes)
            report = ledger.reconcile(s)
            assert report.ok, f"ledger does not reconcile: {report.mismatches[:5]}"
            entries = s.scalar(select(func.count()).select_from(Event)) or 0
    finally:
        engine.dispose()
    return {"accepted_accruals": len(accepted_accruals), "stored_events": entries,
            "accepted_redemptions": len(accepted_redemptions), "consumed_vouchers": len(consumed_codes)}


def print_report(label: str, result: LoadResult) -> None:
    ok = [o for o in result.outcomes if 200 <= o.status < 300]
    print(f"\n{label}: {len(result.outcomes)} requests in {result.seconds:.1f} s "
          f"= {len(result.outcomes) / result.seconds:.1f} req/s ({len(ok) / result.seconds:.1f} successful/s)")
    print(f"  {'operation':<10}{'ok/s':>9}{'p50 ms':>9}{'p95 ms':>9}{'p99 ms':>9}   statuses")
    for op in WEIGHTS:
        mine = [o for o in result.outcomes if o.op == op]
        good = [o.seconds for o in mine if 200 <= o.status < 300]
        statuses = dict(sorted(Counter(o.status for o in mine).items()))
        print(f"  {op:<10}{len(good) / result.seconds:9.1f}{percentile(good, .5) * 1000:9.1f}"
              f"{percentile(good, .95) * 1000:9.1f}{percentile(good, .99) * 1000:9.1f}   {statuses}")


def scratch_postgres(admin_url: str) -> tuple[str, Callable[[], None]]:
    base = make_url(admin_url)
    name = f"loyalist_load_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'CREATE DATABASE "{name}"'))

    def drop() -> None:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()

    return base.set(database=name).render_as_string(hide_password=False), drop


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--backend", choices=["postgresql", "sqlite"], default="postgresql")
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--customers", type=int, default=500)
    parser.add_argument("--postgres", default=os.environ.get("LOYALIST_BENCH_POSTGRES_URL", DEFAULT_PG))
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        if args.backend == "postgresql":
            url, cleanup = scratch_postgres(args.postgres)
        else:
            url, cleanup = f"sqlite:///{Path(tmp) / 'load.db'}", (lambda: None)
        try:
            shop = seed(url, customers=args.customers)
            server = Server(url, workers=args.workers)
            try:
                result = asyncio.run(mixed_load(shop, server.base, clients=args.clients, seconds=args.seconds))
                print_report(f"{args.backend}, {args.workers} workers, {args.clients} clients", result)
                settled = settle_unknown(shop, server.base, result)
            finally:
                server.stop()
            counts = verify_books(shop, result, settled)
            print(f"  books: {counts}; ledger reconciles exactly")
        finally:
            cleanup()


if __name__ == "__main__":
    main()
