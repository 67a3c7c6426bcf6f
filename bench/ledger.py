"""Ledger benchmark: accruals through the HTTP API and bulk import, on SQLite and PostgreSQL.

    python bench/ledger.py                     # 1,000,000 imported events, both backends
    python bench/ledger.py --events 100000 --seconds 5 --backends sqlite
    python bench/ledger.py --workers 1,2               # HTTP levels with 1 and with 2 uvicorn workers

For each backend, in a scratch database (a temp SQLite file; a throw-away PostgreSQL database):
1. migrate, create one earning rule (1 point per EUR) and an integration API key;
2. start a real uvicorn server on 127.0.0.1 (one worker; `--workers 1,2` repeats the phase with
   each count) and post purchase events from 1, 8 and 32 concurrent httpx clients for
   `--seconds` each: accruals/s and p50/p95/p99 latency;
3. write `--events` purchase events to a CSV file and time `bulk.import_events` (events/s),
   customers already known (they were created by a warm-up import, timed separately).
Then `pgbench -i` and `pgbench -b tpcb-like -c 8 -T 10` against a scratch PostgreSQL database,
and our PostgreSQL accrual rate at 8 clients as a fraction of pgbench's TPS.

Everything is bounded: each load phase stops after `--seconds`, pgbench after 10 s, and the
scratch databases are dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import os
import re
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import httpx
from sqlalchemy import text
from sqlalchemy.engine import make_url

from loyalist.config import Settings
from loyalist.db import make_engine, make_session_factory
from loyalist.migrate import upgrade
from loyalist.registry import load_all_models
from loyalist.types import Actor

ACTOR = Actor(kind="system", id=None, name="bench", role="admin")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def setup(url: str) -> str:
    """Migrate, add the earning rule, return a fresh integration API key."""
    from loyalist.events import service as events
    from loyalist.events.schemas import RuleCreate
    from loyalist.staff import service as staff

    engine = make_engine(url)
    upgrade(engine)
    factory = make_session_factory(engine)
    with factory() as s, s.begin():
        events.create_rule(s, data=RuleCreate(name="1 point per EUR", kind="points_per_amount"), actor=ACTOR)
        key = staff.create_api_key(s, name="bench", role="integration", actor=ACTOR).key
    engine.dispose()
    return key


def write_events(path: Path, n: int, customers: int, prefix: str) -> None:
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(["event_type", "idempotency_key", "customer_external_id", "occurred_at", "order_ref",
                    "currency", "store", "net_amount"])
        for i in range(n):
            day = 1 + i % 28
            w.writerow(["purchase", f"{prefix}{i}", f"cust-{i % customers}", f"2026-01-{day:02d}T{i % 24:02d}:00:00Z",
                        f"{prefix}O{i}", "EUR", f"S{i % 7}", f"{(i % 9000) / 100 + 1:.2f}"])


def timed_import(url: str, path: Path) -> tuple[int, float]:
    from loyalist.events import bulk

    engine = make_engine(url)
    factory = make_session_factory(engine)
    started = time.perf_counter()
    with factory() as s, s.begin():
        columns, first = bulk.read_file(path)
        report = bulk.import_events(s, columns=columns, actor=ACTOR, first_line=first,
                                    settings=Settings(database_url=url))
    seconds = time.perf_counter() - started
    engine.dispose()
    return report.created, seconds


async def load(base: str, key: str, clients: int, seconds: float, customers: int) -> tuple[int, list[float], int]:
    latencies: list[float] = []
    errors = 0
    deadline = time.perf_counter() + seconds
    run = uuid.uuid4().hex[:8]

    async def worker(n: int) -> None:
        nonlocal errors
        async with httpx.AsyncClient(base_url=base, headers={"Authorization": f"Bearer {key}"},
                                     timeout=30) as client:
            i = 0
            while time.perf_counter() < deadline:
                i += 1
                body = {"type": "purchase", "idempotency_key": f"h{run}-{n}-{i}",
                        "customer_external_id": f"cust-{(n * 7919 + i) % customers}", "order_ref": f"H{run}-{n}-{i}",
                        "net_amount": "12.34", "currency": "EUR"}
                t0 = time.perf_counter()
                resp = await client.post("/v1/events", json=body)
                if resp.status_code == 201:
                    latencies.append(time.perf_counter() - t0)
                else:
                    errors += 1

    await asyncio.gather(*(worker(n) for n in range(clients)))
    return len(latencies), latencies, errors


def http_phase(url: str, key: str, seconds: float, customers: int, workers: int = 1) -> list[dict[str, float]]:
    port = free_port()
    env = {**os.environ, "LOYALIST_DATABASE_URL": url,
           "LOYALIST_SECRET_KEY": "bench-secret-key-not-for-production-0123456789",
           "LOYALIST_WARM_DASHBOARD": "false"}  # the bench measures accruals only
    server = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "loyalist.api.asgi:app", "--host", "127.0.0.1", "--port", str(port),
         "--log-level", "warning", "--no-access-log", "--workers", str(workers)], env=env)
    base = f"http://127.0.0.1:{port}"
    try:
        started = time.perf_counter()
        while True:  # a loaded machine can take minutes to start workers that import the whole app
            if server.poll() is not None:
                raise RuntimeError(f"uvicorn exited with {server.returncode}")
            if time.perf_counter() - started > 300:
                raise RuntimeError("uvicorn did not answer /healthz within 300 s")
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        results = []
        for clients in (1, 8, 32):
            count, lat, errors = asyncio.run(load(base, key, clients, seconds, customers))
            results.append({"clients": clients, "rate": count / seconds, "p50": percentile(lat, 0.5) * 1000,
                            "p95": percentile(lat, 0.95) * 1000, "p99": percentile(lat, 0.99) * 1000,
                            "errors": errors, "workers": workers})
            print(f"    {clients:>2} clients: {count / seconds:8.1f} accruals/s  p50 {results[-1]['p50']:.1f} ms"
                  f"  p95 {results[-1]['p95']:.1f} ms  p99 {results[-1]['p99']:.1f} ms  errors {errors}"
                  f"  ({workers} worker{'s' if workers > 1 else ''})", flush=True)
        return results
    finally:
        server.terminate()
        try:
            server.wait(timeout=10)
        except subprocess.TimeoutExpired:
            server.kill()


def pg_admin(url: str, sql: str) -> None:
    engine = make_engine(url, isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    with engine.connect() as conn:
        conn.execute(text(sql))
    engine.dispose()


def pgbench(admin_url: str) -> float | None:
    base = make_url(admin_url)
    name = f"pgbench_scratch_{os.getpid()}"
    pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}"')
    pg_admin(admin_url, f'CREATE DATABASE "{name}"')
    args = ["-h", base.host or "127.0.0.1", "-p", str(base.port or 5432), "-U", base.username or "postgres"]
    env = {**os.environ}
    if base.password:
        env["PGPASSWORD"] = base.password
    try:
        subprocess.run(["pgbench", "-i", "-q", *args, name], check=True, env=env, capture_output=True, timeout=120)
        out = subprocess.run(["pgbench", "-b", "tpcb-like", "-c", "8", "-T", "10", *args, name], check=True,
                             env=env, capture_output=True, text=True, timeout=60).stdout
        match = re.search(r"tps = ([\d.]+)", out)
        return float(match.group(1)) if match else None
    finally:
        pg_admin(admin_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


def run_backend(kind: str, args: argparse.Namespace, workdir: Path) -> dict[str, object]:
    if kind == "sqlite":
        url = f"sqlite:///{workdir / 'bench.db'}"
        drop = None
    else:
        name = f"loyalist_bench_{os.getpid()}"
        pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        pg_admin(args.pg_url, f'CREATE DATABASE "{name}"')
        url = make_url(args.pg_url).set(database=name).render_as_string(hide_password=False)
        drop = name
    try:
        print(f"[{kind}] setting up", flush=True)
        key = setup(url)
        warm = workdir / f"warm-{kind}.csv"
        write_events(warm, args.customers, args.customers, "w")
        created, secs = timed_import(url, warm)
        print(f"[{kind}] warm-up import: {created} events, {args.customers} new customers in {secs:.1f}s", flush=True)
        http = []
        for workers in args.worker_counts:
            print(f"[{kind}] HTTP accruals ({args.seconds:.0f}s per level, {workers} uvicorn worker(s))", flush=True)
            http += http_phase(url, key, args.seconds, args.customers, workers)
        data = workdir / f"events-{kind}.csv"
        write_events(data, args.events, args.customers, "b")
        created, secs = timed_import(url, data)
        rate = created / secs
        print(f"[{kind}] bulk import: {created:,} events in {secs:.1f}s = {rate:,.0f} events/s", flush=True)
        return {"http": http, "import_rate": rate, "import_events": created, "import_seconds": secs}
    finally:
        if drop:
            pg_admin(args.pg_url, f'DROP DATABASE IF EXISTS "{drop}" WITH (FORCE)')


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=1_000_000, help="events in the bulk import")
    parser.add_argument("--customers", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=5.0, help="duration of each HTTP load level")
    parser.add_argument("--backends", default="sqlite,postgres")
    parser.add_argument("--pg-url", default=os.environ.get("LOYALIST_BENCH_PG_URL", DEFAULT_PG),
                        help="an existing PostgreSQL database used to create/drop scratch databases")
    parser.add_argument("--no-pgbench", action="store_true")
    parser.add_argument("--workers", default="1", help="uvicorn worker counts for the HTTP phase, e.g. 1,2")
    args = parser.parse_args()
    args.worker_counts = [int(w) for w in args.workers.split(",")]
    load_all_models()
    results: dict[str, dict[str, object]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for kind in args.backends.split(","):
            results[kind] = run_backend(kind.strip(), args, Path(tmp))
    tps = None if args.no_pgbench or "postgres" not in results else pgbench(args.pg_url)
    print("\n== summary ==")
    for kind, res in results.items():
        for row in res["http"]:  # type: ignore[attr-defined]
            print(f"{kind:8} HTTP {row['clients']:>2} clients  {row['rate']:8.1f} accruals/s  "
                  f"p50 {row['p50']:6.1f} ms  p95 {row['p95']:6.1f} ms  p99 {row['p99']:6.1f} ms  "
                  f"workers {row['workers']}")
        print(f"{kind:8} bulk import {res['import_events']:,} events: {res['import_rate']:,.0f} events/s")
    if tps:
        ours = next(r["rate"] for r in results["postgres"]["http"]  # type: ignore[index]
                    if r["clients"] == 8 and r["workers"] == args.worker_counts[0])
        print(f"pgbench tpcb-like -c 8 -T 10: {tps:,.0f} tps; our PostgreSQL accruals at 8 clients = "
              f"{ours / tps:.1%} of pgbench")


if __name__ == "__main__":
    main()
