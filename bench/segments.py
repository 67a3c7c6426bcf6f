"""Benchmark: segment evaluation over 1M customers on PostgreSQL (target < 1 s per rule).

    python bench/segments.py                        # 1,000,000 customers, ~5M purchases
    python bench/segments.py --customers 100000     # quicker
    python bench/segments.py --rebuild              # regenerate the data even if present

The data live in their own database (`loyalist_bench_segments` on the server of
LOYALIST_TEST_POSTGRES_URL, default postgresql+psycopg://postgres@127.0.0.1:5432), built by the
migrations and then filled with INSERT .. SELECT over generate_series inside PostgreSQL (no rows
travel through Python), with a fixed random seed. A base that already has the requested number
of customers is reused. Building 1M customers takes a few minutes on a small machine.

Each rule is evaluated through the public service (`segments.service.count` and `member_ids`,
exactly what the API and campaigns call): one warm-up, then --repeat timed runs; p50 and p95 are
printed with the indexes the PostgreSQL plan of the count uses (EXPLAIN).
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import sys
import time
from datetime import UTC, datetime

from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

DB_NAME = "loyalist_bench_segments"
NOW = datetime(2026, 6, 15, 12, 0, tzinfo=UTC)
TARGET_SECONDS = 1.0

RULES: dict[str, dict] = {
    "vip with email consent": {"all": [{"field": "tag", "op": "eq", "value": "vip"},
                                       {"field": "consent", "op": "eq", "value": "email"}]},
    "valuable at risk": {"all": [{"field": "churn_risk", "op": "ge", "value": 0.7},
                                 {"field": "predicted_clv", "op": "ge", "value": "200"}]},
    "lapsed big spenders": {"all": [{"field": "last_purchase_days", "op": "ge", "value": 180},
                                    {"field": "spend", "op": "ge", "value": "500"}]},
    "active in DK (90 d spend >= 100)": {"all": [{"field": "spend", "op": "ge", "value": "100", "window_days": 90},
                                                 {"field": "country", "op": "eq", "value": "DK"}]},
    "March birthdays reachable": {"all": [{"field": "birthday_month", "op": "eq", "value": 3},
                                          {"field": "consent", "op": "in", "value": ["email", "sms"]},
                                          {"not": {"field": "tag", "op": "eq", "value": "do-not-disturb"}}]},
    "champions or rich gold, no detractors": {"all": [
        {"any": [{"field": "rfm_segment", "op": "in", "value": ["champions", "loyal"]},
                 {"all": [{"field": "tier", "op": "eq", "value": "gold"},
                          {"field": "points_balance", "op": "ge", "value": 1000}]}]},
        {"not": {"field": "nps_category", "op": "eq", "value": "detractor"}}]},
    "store CPH-07 this year, Danish": {"all": [{"field": "store", "op": "eq", "value": "CPH-07", "window_days": 365},
                                               {"field": "locale", "op": "eq", "value": "da"}]},
    "new members without a purchase": {"all": [{"field": "joined", "op": "within_days", "value": 60},
                                               {"field": "purchases_count", "op": "eq", "value": 0}]},
}


def server_url() -> str:
    url = os.environ.get("LOYALIST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test")
    return str(make_url(url).set(database="postgres"))


def ensure_database() -> str:
    admin = create_engine(server_url(), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        if conn.scalar(text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": DB_NAME}) is None:
            conn.execute(text(f'CREATE DATABASE "{DB_NAME}"'))
    admin.dispose()
    return str(make_url(server_url()).set(database=DB_NAME))


GENERATE = [
    # customers: 1% merged; email for 85%, phone for half; locales and channels spread
    """INSERT INTO customers (id, external_id, first_name, last_name, email, phone, birthday, locale,
           preferred_channel, status, created_at, updated_at)
       SELECT g, 'c' || g, 'First' || (g % 997), 'Last' || (g % 991),
              CASE WHEN g % 20 < 17 THEN 'c' || g || '@example.com' END,
              CASE WHEN g % 2 = 0 THEN '+45' || lpad((g % 100000000)::text, 8, '0') END,
              CASE WHEN g % 10 < 8 THEN date '1950-01-01' + (g * 7919 % 20000)::int END,
              (ARRAY['da', 'en', 'ru', 'uk', 'da', 'da'])[1 + g % 6],
              (ARRAY['email', 'sms', 'email', 'post'])[1 + g % 4],
              CASE WHEN g % 100 = 0 THEN 'merged' ELSE 'active' END,
              :now - make_interval(days => (g * 104729 % 1825)::int), :now
         FROM generate_series(1::bigint, :n) g""",
    """SELECT setval(pg_get_serial_sequence('customers', 'id'), :n)""",
    """INSERT INTO customer_addresses (customer_id, label, city, country, valid_from, valid_to, source)
       SELECT g, 'home', (ARRAY['Copenhagen', 'Aarhus', 'Odense', 'Malmö', 'Oslo', 'Berlin'])[1 + g % 6],
              (ARRAY['DK', 'DK', 'DK', 'SE', 'NO', 'DE'])[1 + g % 6], :now - interval '400 days', NULL, 'import'
         FROM generate_series(1::bigint, :n) g WHERE g % 10 <> 9""",
    """INSERT INTO customer_tags (customer_id, tag, created_at)
       SELECT g, t.tag, :now FROM generate_series(1::bigint, :n) g
         JOIN (VALUES ('vip', 5), ('newsletter', 3), ('do-not-disturb', 50)) AS t(tag, every)
           ON g % t.every = 0""",
    """INSERT INTO customer_values (customer_id, value)
       SELECT g, (ARRAY['discounts', 'personal_attention', 'greetings', 'early_access'])[1 + g % 4]
         FROM generate_series(1::bigint, :n) g WHERE g % 7 = 0""",
    # email granted by 70%; a tenth of those withdrew later; sms granted by 30%
    """INSERT INTO customer_consents (customer_id, channel, granted, recorded_at, source)
       SELECT g, 'email', true, :now - interval '300 days', 'import'
         FROM generate_series(1::bigint, :n) g WHERE g % 10 < 7
       UNION ALL
       SELECT g, 'email', false, :now - interval '30 days', 'portal'
         FROM generate_series(1::bigint, :n) g WHERE g % 10 = 0
       UNION ALL
       SELECT g, 'sms', true, :now - interval '200 days', 'import'
         FROM generate_series(1::bigint, :n) g WHERE g % 10 >= 7""",
    """INSERT INTO tiers (code, name, rank, metric, window_days, threshold, multiplier, benefits, grace_days, active,
           created_at, updated_at)
       VALUES ('silver', 'Silver', 1, 'spend', 365, 500, 1, '[]', 30, true, :now, :now),
              ('gold', 'Gold', 2, 'spend', 365, 2000, 1.5, '[]', 30, true, :now, :now)""",
    """INSERT INTO customer_tiers (customer_id, tier_id, since, evaluated_at)
       SELECT g, (SELECT id FROM tiers WHERE code = CASE WHEN g % 5 = 0 THEN 'gold' ELSE 'silver' END), :now, :now
         FROM generate_series(1::bigint, :n) g WHERE g % 5 IN (0, 1, 2)""",
    """INSERT INTO ledger_accounts (code, kind, customer_id, balance, created_at)
       SELECT 'customer:' || g || ':' || 'available', 'customer', g, (g * 31337 % 5000), :now
         FROM generate_series(1::bigint, :n) g WHERE g % 10 < 7""",
    # ~5 purchases per customer on average, skewed (some buy often, many rarely), over two years
    """INSERT INTO purchases (customer_id, order_ref, occurred_at, currency, gross_amount, discount_amount,
           net_amount, refunded_amount, store, channel)
       SELECT c, 'o' || g, :now - make_interval(secs => (random() * 730 * 86400)), 'DKK', a, 0, a,
              CASE WHEN g % 25 = 0 THEN round(a / 2, 2) ELSE 0 END,
              'CPH-' || lpad((1 + g % 40)::text, 2, '0'), 'store'
         FROM (SELECT g, 1 + floor(:n * power(random(), 1.6))::bigint AS c, round((5 + random() * 295)::numeric, 2) AS a
                 FROM generate_series(1::bigint, :n * 5) g) s""",
    """INSERT INTO customer_scores (customer_id, recency_days, purchase_days, last_purchase_on, rfm_r, rfm_f, rfm_m,
           rfm_score, rfm_segment, p_alive, churn_risk, previous_churn_risk, churn_source, churn_reasons,
           expected_purchases_90d, predicted_clv, historical_clv, model, computed_at)
       SELECT customer_id, 0, count(*), max(occurred_at), 3, 3, 3, '333',
              (ARRAY['champions', 'loyal', 'potential loyalists', 'new', 'promising', 'need attention',
                     'about to sleep', 'at risk', 'can''t lose them', 'hibernating', 'lost'])[1 + customer_id % 11],
              random(), random(), NULL, 'supervised', '[]', random() * 2, round((random() * 600)::numeric, 2),
              sum(net_amount - refunded_amount), 'BG/NBD + Gamma-Gamma', :now
         FROM purchases GROUP BY customer_id""",
    """INSERT INTO interactions (customer_id, occurred_at, recorded_at, kind, channel, direction, summary, data)
       SELECT g, :now - make_interval(days => (g % 300)::int), :now, 'survey_answer', 'email', 'inbound', 'NPS answer',
              jsonb_build_object('nps_category', (ARRAY['promoter', 'passive', 'detractor'])[1 + g % 3])
         FROM generate_series(1::bigint, :n) g WHERE g % 8 = 0""",
]


def build(engine, n: int) -> float:
    from loyalist import registry
    from loyalist.db import Base
    from loyalist.migrate import upgrade

    registry.load_all_models()
    started = time.perf_counter()
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE; CREATE SCHEMA public"))
    upgrade(engine)
    with engine.begin() as conn:
        conn.execute(text("SELECT setseed(0.42)"))
        for i, sql in enumerate(GENERATE, start=1):
            t0 = time.perf_counter()
            conn.execute(text(sql), {"n": n, "now": NOW})
            print(f"  step {i}/{len(GENERATE)}: {time.perf_counter() - t0:6.1f} s  {sql.split()[2]}", flush=True)
    rebuild_derived(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    assert Base.metadata.tables  # models loaded (the migration built every table)
    return time.perf_counter() - started


def rebuild_derived(engine) -> None:
    """The rows above went in with INSERT .. SELECT, past the services that keep the derived
    tables in step: recompute them exactly as `loyalist segments rebuild-summaries` does."""
    from loyalist import clock
    from loyalist.customers import consent_state
    from loyalist.purchases import summary

    with Session(engine) as session, session.begin():
        t0 = time.perf_counter()
        with clock.frozen_at(NOW):
            n = summary.rebuild(session, rolling_day=NOW.date())
        t1 = time.perf_counter()
        m = consent_state.rebuild(session)
        print(f"  derived: purchase summaries of {n:,} customers (with the rolling spend) in {t1 - t0:.1f} s, "
              f"{m:,} current consents in {time.perf_counter() - t1:.1f} s", flush=True)


def ensure_rolling(engine) -> None:
    """The rolling spend as of the bench's evaluation day (what the daily job keeps): refreshed
    when missing or computed for another day, and timed (the job's cost)."""
    from loyalist import clock
    from loyalist.purchases import summary

    with Session(engine) as session, session.begin():
        state = summary.rolling_state(session)
        if state and all(as_of.date() == NOW.date() for _, as_of in state.values()):
            return
        t0 = time.perf_counter()
        with clock.frozen_at(NOW):
            counts = summary.refresh_rolling(session, day=NOW.date())
        print(f"  rolling spend as of {NOW.date()}: {counts} rows in {time.perf_counter() - t0:.1f} s", flush=True)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE customer_purchase_rolling"))


def upgrade_in_place(engine) -> bool:
    """A base built by an older version of this bench lacks newer tables and indexes: add them
    (CREATE .. IF NOT EXISTS from the models) and fill the derived tables, instead of a rebuild
    of everything. Returns whether anything was added."""
    from sqlalchemy import inspect

    from loyalist import registry
    from loyalist.db import Base

    registry.load_all_models()
    insp = inspect(engine)
    have_tables = set(insp.get_table_names())
    missing_tables = [t for name, t in Base.metadata.tables.items() if name not in have_tables]
    missing_indexes = [ix for name, t in Base.metadata.tables.items() if name in have_tables
                       for ix in t.indexes if ix.name not in {i["name"] for i in insp.get_indexes(name)}]
    if not (missing_tables or missing_indexes):
        return False
    print(f"adding {[t.name for t in missing_tables]} and indexes {[ix.name for ix in missing_indexes]} ...",
          flush=True)
    Base.metadata.create_all(engine, tables=missing_tables)
    for ix in missing_indexes:
        t0 = time.perf_counter()
        ix.create(engine)
        print(f"  {ix.name}: {time.perf_counter() - t0:.1f} s", flush=True)
    if missing_tables:
        rebuild_derived(engine)
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as conn:
        conn.execute(text("VACUUM ANALYZE"))
    return True


def plan_indexes(session: Session, rule: dict) -> list[str]:
    from sqlalchemy import func

    from loyalist.segments import queries
    from loyalist.segments.fields import customers_table

    pred = queries.rule_predicate(session, rule, as_of=NOW)
    stmt = queries.member_query(pred, func.count(customers_table().c.id))
    compiled = stmt.compile(dialect=session.get_bind().dialect, compile_kwargs={"render_postcompile": True})
    plan = session.connection().exec_driver_sql("EXPLAIN " + str(compiled), compiled.params).scalars().all()
    found = []
    for line in plan:
        m = re.search(r"(?:Index Only Scan|Index Scan|Bitmap Index Scan) (?:Backward )?(?:using|on) (\S+)", line)
        if m and m.group(1) not in found:
            found.append(m.group(1))
    return found


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = max(0, min(len(ordered) - 1, round(q * (len(ordered) - 1))))
    return ordered[k]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--rebuild", action="store_true")
    args = parser.parse_args()

    from loyalist.segments import service

    url = ensure_database()
    engine = create_engine(url)
    with engine.connect() as conn:
        have = conn.scalar(text("SELECT to_regclass('customers') IS NOT NULL"))
        count = conn.scalar(text("SELECT count(*) FROM customers")) if have else 0
    if args.rebuild or count != args.customers:
        print(f"building {args.customers:,} customers in {DB_NAME} ...", flush=True)
        print(f"built in {build(engine, args.customers):.0f} s")
    else:
        upgrade_in_place(engine)
    ensure_rolling(engine)
    with engine.connect() as conn:
        sizes = {t: conn.scalar(text(f"SELECT count(*) FROM {t}")) for t in
                 ("customers", "purchases", "customer_scores", "customer_tags", "customer_consents", "interactions")}
    print("rows: " + ", ".join(f"{t} {n:,}" for t, n in sizes.items()))
    print(f"PostgreSQL {engine.dialect.server_version_info}, evaluation time {NOW.isoformat()}\n")

    worst = 0.0
    header = f"{'rule':40} {'members':>9} {'count p50':>10} {'p95':>7} {'ids p50':>9} {'p95':>7}  indexes"
    print(header)
    print("-" * len(header))
    for name, rule in RULES.items():
        with Session(engine) as session:
            counts, ids = [], []
            members = service.count(session, rule=rule, as_of=NOW)  # warm-up
            service.member_ids(session, rule=rule, as_of=NOW)
            for _ in range(args.repeat):
                t0 = time.perf_counter()
                service.count(session, rule=rule, as_of=NOW)
                counts.append(time.perf_counter() - t0)
                t0 = time.perf_counter()
                got = service.member_ids(session, rule=rule, as_of=NOW)
                ids.append(time.perf_counter() - t0)
            assert len(got) == members
            indexes = plan_indexes(session, rule)
        worst = max(worst, percentile(counts, 0.95))
        print(f"{name:40} {members:9,} {statistics.median(counts):9.3f}s {percentile(counts, 0.95):6.3f}s "
              f"{statistics.median(ids):8.3f}s {percentile(ids, 0.95):6.3f}s  {', '.join(indexes) or 'seq scans'}",
              flush=True)
    print(f"\nslowest count p95: {worst:.3f} s (target < {TARGET_SECONDS:.0f} s): "
          f"{'met' if worst < TARGET_SECONDS else 'MISSED'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
