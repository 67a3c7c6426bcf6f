"""Demo generation benchmark: time and SQL statements per phase, and how much of each phase is
spent inside the ledger / events / purchases hot path.

    python bench/demo.py                        # 5,000 customers, SQLite file in a temp dir
    python bench/demo.py --customers 1000 --hot-path
    python bench/demo.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/scratch

`--hot-path` wraps every function of `loyalist.ledger.service`, `loyalist.events.service` and
`loyalist.purchases.service` (module attributes, so calls through `ledger.earn(...)` are seen) and
adds, per phase, the seconds and statements spent inside them (outermost call only, so nested
calls are not counted twice), and separately inside the ledger alone. The wrapping costs a little
time itself; compare its figures with each other, not with a run without it.

The machine this runs on is usually shared: wall times are "loaded" figures, statement counts are not.
"""

from __future__ import annotations

import argparse
import functools
import inspect
import tempfile
import time
import types
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

from sqlalchemy import event

from loyalist import config, db
from loyalist.demo.generate import generate_demo
from loyalist.demo.timing import PhaseTimer
from loyalist.migrate import upgrade

HOT_MODULES = ("loyalist.ledger.service", "loyalist.events.service", "loyalist.purchases.service")


class HotPath:
    """Seconds and statements inside the hot-path modules, attributed to the current phase."""

    def __init__(self) -> None:
        self.depth: dict[str, int] = defaultdict(int)
        self.started: dict[str, float] = {}
        self.seconds: dict[tuple[str, str], float] = defaultdict(float)
        self.statements: dict[tuple[str, str], int] = defaultdict(int)
        self.current = "-"

    def wrap(self, module: types.ModuleType, bucket: str) -> None:
        for name, fn in list(vars(module).items()):
            if inspect.isfunction(fn) and fn.__module__ == module.__name__:
                setattr(module, name, self._wrapped(fn, bucket))

    def _wrapped(self, fn: Callable[..., Any], bucket: str) -> Callable[..., Any]:
        buckets = ("hot path", bucket) if bucket == "ledger" else ("hot path",)

        @functools.wraps(fn)
        def inner(*args: Any, **kwargs: Any) -> Any:
            for b in buckets:
                if self.depth[b] == 0:
                    self.started[b] = time.perf_counter()
                self.depth[b] += 1
            try:
                return fn(*args, **kwargs)
            finally:
                for b in buckets:
                    self.depth[b] -= 1
                    if self.depth[b] == 0:
                        self.seconds[(self.current, b)] += time.perf_counter() - self.started[b]
        return inner

    def count(self, *_args: Any, **_kwargs: Any) -> None:
        for b in ("hot path", "ledger"):
            if self.depth[b]:
                self.statements[(self.current, b)] += 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--customers", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--database-url", default=None, help="default: a SQLite file in a temp directory")
    parser.add_argument("--hot-path", action="store_true", help="attribute time to ledger/events/purchases")
    args = parser.parse_args()

    tmp = tempfile.TemporaryDirectory()
    url = args.database_url or f"sqlite:///{Path(tmp.name) / 'demo.db'}"
    engine = db.make_engine(url)
    db.set_engine(engine)
    config.get_settings.cache_clear()
    timer = PhaseTimer()
    hot = HotPath()
    if args.hot_path:
        import importlib

        for name in HOT_MODULES:
            hot.wrap(importlib.import_module(name), "ledger" if ".ledger." in name else "other")
        event.listen(engine, "before_cursor_execute", hot.count)

    def phase(name: str) -> Any:
        hot.current = name
        return timer.phase(name)

    with timer.counting(engine):
        with timer.phase("schema"):
            upgrade(engine)
        started = time.perf_counter()
        with db.get_session_factory()() as session:
            summary = generate_demo(session, customers_count=args.customers, seed=args.seed, phase=phase)
            with timer.phase("commit"):
                session.commit()
        wall = time.perf_counter() - started

    print(f"{summary.customers} customers, {summary.purchases} purchases, {summary.returns} returns, "
          f"{summary.redemptions} redemptions, {summary.story.survey_answers} NPS answers, "
          f"{sum(summary.story.cases.values())} cases, {summary.story.campaign_members} campaign members")
    header = f"{'phase':32} {'seconds':>8} {'cpu s':>8} {'statements':>11}"
    if args.hot_path:
        header += f" {'in hot path s':>14} {'stmts':>7} {'in ledger s':>12} {'stmts':>7}"
    print(header)
    for p in timer.phases.values():
        line = f"{p.name:32} {p.seconds:8.2f} {p.cpu_seconds:8.2f} {p.statements:11,}"
        if args.hot_path:
            line += (f" {hot.seconds[(p.name, 'hot path')]:14.2f} {hot.statements[(p.name, 'hot path')]:7,}"
                     f" {hot.seconds[(p.name, 'ledger')]:12.2f} {hot.statements[(p.name, 'ledger')]:7,}")
        print(line)
    gen = [p for p in timer.phases.values() if p.name != "schema"]
    print(f"{'total (generation + commit)':32} {wall:8.2f} {sum(p.cpu_seconds for p in gen):8.2f} "
          f"{sum(p.statements for p in gen):11,}")
    tmp.cleanup()


if __name__ == "__main__":
    main()
