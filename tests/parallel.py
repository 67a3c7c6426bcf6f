"""Run the same work in several threads released together (concurrency tests of every domain)."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from loyalist.errors import DomainError


def run_in_parallel(n: int, work: Callable[[int], Any]) -> list[Any]:
    """Run work(i) in n threads that start at the same moment; return each result, or the
    DomainError it raised (a refused competitor is an expected outcome, not a test failure)."""
    barrier = threading.Barrier(n)
    results: list[Any] = [None] * n

    def run(i: int) -> None:
        barrier.wait()
        try:
            results[i] = work(i)
        except DomainError as exc:
            results[i] = exc

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
