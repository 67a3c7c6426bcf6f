"""Console page times on the demo business (target: every page under 300 ms).

    python bench/console.py                         # generate the 5,000-customer demo, then time the pages
    python bench/console.py --database demo.db      # reuse this file (generated into it if missing)

Why in process (Starlette's TestClient, no network): the budget is about the server's work per
page — queries, templates, charts — not the browser. The dashboard's figures are warmed in the
background first, as `loyalist demo` and `loyalist serve` do at start-up. For each page it prints
the first view and the median and worst of the next `--repeat` views, in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import tempfile
import time
from pathlib import Path

SECRET = "bench-secret-key-not-for-production-0123456789"
PAGES = ["/console/", "/console/customers", "/console/customers?q=C1001", "/console/customers/{cid}",
         "/console/cases", "/console/tasks", "/console/audit", "/console/rewards", "/console/rules",
         "/console/segments", "/console/surveys", "/console/feedback", "/console/campaigns",
         "/console/settings"]


def generate(path: Path, customers: int) -> None:
    from loyalist.db import make_engine, make_session_factory
    from loyalist.demo.generate import generate_demo
    from loyalist.migrate import upgrade

    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    with make_session_factory(engine)() as s, s.begin():
        generate_demo(s, customers_count=customers, seed=42)
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", type=Path, default=None)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=4)
    parser.add_argument("--no-settle", action="store_true",
                        help="skip loyalist.runtime.settle_heap (what `loyalist demo` does before serving)")
    args = parser.parse_args()
    folder = tempfile.TemporaryDirectory()
    path = args.database or Path(folder.name) / "demo.db"
    if args.database is None or not path.exists():
        started = time.perf_counter()
        generate(path, args.customers)
        print(f"demo with {args.customers:,} customers generated in {time.perf_counter() - started:.1f} s")
    os.environ.update(LOYALIST_DATABASE_URL=f"sqlite:///{path}", LOYALIST_SECRET_KEY=SECRET,
                      LOYALIST_DEMO_MODE="true")
    from fastapi.testclient import TestClient
    from sqlalchemy import select

    from loyalist import config
    from loyalist.api.app import create_app
    from loyalist.db import make_engine, make_session_factory
    from loyalist.web import metrics

    config.get_settings.cache_clear()
    settings = config.get_settings()
    engine = make_engine(settings.database_url)
    from loyalist.customers.models import Customer

    with make_session_factory(engine)() as s:
        cid = s.scalar(select(Customer.id).order_by(Customer.id).limit(1))
    metrics.warm_in_background(engine, settings.point_value)
    app = create_app(settings, engine=engine)
    client = TestClient(app)
    if not args.no_settle:
        from loyalist.runtime import settle_heap

        settle_heap()
    email, password = "admin@demo.loyalist.example", "demo-admin-password"  # the demo's admin login
    login = client.get("/console/login")
    token = re.search(r'name="csrf_token" value="([^"]+)"', login.text)
    assert token, "no CSRF field on the login page"
    signed = client.post("/console/login", data={"email": email, "password": password, "next": "/console/",
                                                 "csrf_token": token.group(1)}, follow_redirects=False)
    assert signed.status_code in (302, 303), signed.text[:300]
    started = time.monotonic()
    while time.monotonic() - started < 120:
        with metrics._lock:
            if str(engine.url) in metrics._cache:
                break
        time.sleep(0.1)
    print(f"{'page':40} {'first ms':>9} {'median ms':>10} {'worst ms':>9}")
    worst_of_all = 0.0
    for page in PAGES:
        url = page.format(cid=cid)
        times = []
        for _ in range(1 + args.repeat):
            t0 = time.perf_counter()
            response = client.get(url)
            times.append(1000 * (time.perf_counter() - t0))
            assert response.status_code == 200, f"{url}: {response.status_code}"
        rest = times[1:]
        worst_of_all = max(worst_of_all, *times)
        print(f"{url:40} {times[0]:9.0f} {statistics.median(rest):10.0f} {max(rest):9.0f}")
    print(f"slowest view: {worst_of_all:.0f} ms (target < 300 ms): {'met' if worst_of_all < 300 else 'MISSED'}")
    engine.dispose()


if __name__ == "__main__":
    main()
