"""Bulk import benchmark with the demo programme, and a fingerprint of what it stored.

    python bench/import_events.py --backend sqlite --events 20000 --customers 2000 [--fingerprint out.json]

Why a separate script: `bench/ledger.py` always runs the HTTP phase first and uses a single
1-point-per-EUR rule; the per-event cost of the importer is mostly the rule engine, so this one
uses the demo's tiers and six rules (per-amount with tier and category multipliers, capped
reviews, referrals, birthdays). The clock is frozen and the data seeded, so two runs (before and
after a change) must leave byte-identical rows: `--fingerprint` writes events (points, outcome),
ledger entries, postings, lots, rule awards and timeline rows as JSON for `cmp`/`diff`, and the
run ends with the ledger reconciliation (`loyalist ledger check`). It prints wall s, process CPU
s and events/s for the import alone (a fresh scratch database per run).
"""

from __future__ import annotations

import argparse
import csv
import json
import random
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import text

from loyalist import clock
from loyalist.config import Settings
from loyalist.db import make_engine, make_session_factory
from loyalist.migrate import upgrade
from loyalist.registry import load_all_models, load_all_services
from loyalist.types import Actor

ACTOR = Actor(kind="system", id=None, name="bench", role="admin")
DEFAULT_PG = "postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)
CATALOGUE = [("ESP-250", "coffee-beans", "8.90"), ("LAT-CUP", "drinks", "4.20"), ("GRN-TEA", "tea", "6.50"),
             ("CRS-BTR", "pastry", "2.80"), ("MUG-LOGO", "merchandise", "12.00"), ("COL-1KG", "coffee-beans", "24.50")]


def write_file(path: Path, n: int, customers: int, seed: int) -> None:
    rng = random.Random(seed)
    cols = ["event_type", "idempotency_key", "customer_external_id", "occurred_at", "order_ref", "currency",
            "store", "channel", "sku", "category", "quantity", "unit_price", "discount", "net_amount",
            "referred_external_id", "data"]
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(n):
            ext = f"c{rng.randrange(customers)}"
            at = (NOW - timedelta(minutes=rng.randrange(1, 400 * 24 * 60))).isoformat()
            kind = rng.random()
            base = dict.fromkeys(cols, "")
            base.update(idempotency_key=f"e{i}", customer_external_id=ext, occurred_at=at)
            if kind < 0.9:
                store = rng.choice(["copenhagen-central", "aarhus", "online"])
                ref = f"o{i}"
                if rng.random() < 0.1:
                    w.writerow([{**base, "event_type": "purchase", "order_ref": ref, "currency": "EUR",
                                 "store": store, "net_amount": f"{rng.randrange(100, 9000) / 100:.2f}"}[c]
                                for c in cols])
                    continue
                for sku, cat, price in rng.sample(CATALOGUE, rng.randrange(1, 4)):
                    w.writerow([{**base, "event_type": "purchase", "order_ref": ref, "currency": "EUR",
                                 "store": store, "channel": "online" if store == "online" else "in_store",
                                 "sku": sku, "category": cat, "quantity": str(rng.randrange(1, 3)),
                                 "unit_price": price, "discount": "0.50" if rng.random() < 0.1 else ""}[c]
                                for c in cols])
            elif kind < 0.96:
                w.writerow([{**base, "event_type": "review", "data": json.dumps({"rating": rng.randrange(3, 6)})}[c]
                            for c in cols])
            elif kind < 0.98:
                w.writerow([{**base, "event_type": "referral", "referred_external_id": f"r{i}"}[c] for c in cols])
            else:
                w.writerow([{**base, "event_type": "birthday"}[c] for c in cols])


def setup(url: str) -> None:
    from loyalist.demo import generate

    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as s, s.begin():
        generate._setup_programme(s)
    engine.dispose()


def fingerprint(url: str) -> dict[str, object]:
    q = {
        "events": "SELECT source, idempotency_key, type, customer_id, points, payload_hash, outcome FROM events "
                  "ORDER BY id",
        "entries": "SELECT idempotency_key, customer_id, kind, points, reason, payload_hash, data FROM ledger_entries "
                   "ORDER BY id",
        "postings": "SELECT entry_id, account_id, amount FROM ledger_postings ORDER BY id",
        "lots": "SELECT customer_id, entry_id, points, remaining, pending, available_at, expires_at FROM ledger_lots "
                "ORDER BY id",
        "awards": "SELECT rule_id, customer_id, event_id, points, local_day, local_month FROM rule_awards ORDER BY id",
        "timeline": "SELECT customer_id, kind, channel, summary, source_id, data FROM interactions "
                    "WHERE source_type = 'event' ORDER BY id",
        "balances": "SELECT code, balance FROM ledger_accounts ORDER BY code",
        "purchases": "SELECT order_ref, customer_id, gross_amount, discount_amount, net_amount FROM purchases "
                     "ORDER BY id",
    }
    engine = make_engine(url)
    out: dict[str, object] = {}
    with engine.connect() as c:
        for name, sql in q.items():
            rows = []
            for r in c.execute(text(sql)):
                rows.append([v if isinstance(v, (int, str, type(None), dict, list)) else str(v) for v in r])
            out[name] = rows
    engine.dispose()
    return out


def timed_import(url: str, path: Path) -> tuple[int, float, float]:
    from loyalist.events import bulk

    engine = make_engine(url)
    factory = make_session_factory(engine)
    with clock.frozen_at(NOW):
        wall, cpu = time.perf_counter(), time.process_time()
        with factory() as s, s.begin():
            columns, first = bulk.read_file(path)
            report = bulk.import_events(s, columns=columns, actor=ACTOR, first_line=first,
                                        settings=Settings(database_url=url))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    engine.dispose()
    return report.created, wall, cpu


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    p.add_argument("--events", type=int, default=20_000)
    p.add_argument("--customers", type=int, default=2_000)
    p.add_argument("--seed", type=int, default=7)
    p.add_argument("--fingerprint", type=Path)
    p.add_argument("--pg-url", default=DEFAULT_PG)
    p.add_argument("--profile", type=Path, help="write a cProfile of the import here")
    args = p.parse_args()
    load_all_models()
    load_all_services()
    from loyalist.ledger import service as ledger

    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "events.csv"
        write_file(data, args.events, args.customers, args.seed)
        db = None
        if args.backend == "sqlite":
            url = f"sqlite:///{tmp}/bench.db"
        else:
            from sqlalchemy.engine import make_url

            db = f"bench_import_{uuid.uuid4().hex[:8]}"
            admin = make_engine(args.pg_url, isolation_level="AUTOCOMMIT")
            with admin.connect() as c:
                c.execute(text(f'CREATE DATABASE "{db}"'))
            url = make_url(args.pg_url).set(database=db).render_as_string(hide_password=False)
        try:
            setup(url)
            if args.profile:
                import cProfile

                prof = cProfile.Profile()
                prof.enable()
            created, wall, cpu = timed_import(url, data)
            if args.profile:
                prof.disable()
                prof.dump_stats(str(args.profile))
            print(f"[{args.backend}] {created:,} events: wall {wall:.2f} s ({created / wall:,.0f} ev/s), "
                  f"CPU {cpu:.2f} s ({created / cpu:,.0f} ev/CPU-s)", flush=True)
            engine = make_engine(url)
            with make_session_factory(engine)() as s, s.begin(), clock.frozen_at(NOW):
                rec = ledger.reconcile(s)
            engine.dispose()
            print(f"ledger check: ok={rec.ok} entries={rec.entries_checked} global_sum={rec.global_sum}")
            created2, wall2, _ = timed_import(url, data)
            print(f"replay: created {created2} in {wall2:.2f} s")
            if args.fingerprint:
                args.fingerprint.write_text(json.dumps(fingerprint(url), indent=0, sort_keys=True, default=str))
            if not rec.ok:
                sys.exit(1)
        finally:
            if db is not None:
                with admin.connect() as c:
                    c.execute(text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
                admin.dispose()


if __name__ == "__main__":
    main()
