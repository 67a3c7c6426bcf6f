"""Per-phase wall time and SQL statement count for the demo generator.

Why: the demo must stay under a minute, and when it does not, the first question is which phase
grew. Wall time depends on how loaded the machine is; the statement count does not, so both are
recorded, with the CPU time of this process, which a busy machine disturbs less than wall time
(`loyalist demo --timings` prints them; `bench/demo.py` adds where the time goes).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager, contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event

PhaseHook = Callable[[str], AbstractContextManager[None]]


@dataclass
class Phase:
    name: str
    seconds: float = 0.0
    cpu_seconds: float = 0.0  # this process only (SQLite work included; a PostgreSQL server's not)
    statements: int = 0


@dataclass
class PhaseTimer:
    """Collects phases in the order they ran; a phase entered twice accumulates."""

    phases: dict[str, Phase] = field(default_factory=dict)
    _statements: int = 0

    def _count(self, *_args: Any, **_kwargs: Any) -> None:
        self._statements += 1

    @contextmanager
    def counting(self, engine: Engine) -> Iterator[PhaseTimer]:
        """Count every statement sent through `engine` while the block runs (executemany counts once)."""
        event.listen(engine, "before_cursor_execute", self._count)
        try:
            yield self
        finally:
            event.remove(engine, "before_cursor_execute", self._count)

    @contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started, cpu, statements = time.perf_counter(), time.process_time(), self._statements
        try:
            yield
        finally:
            row = self.phases.setdefault(name, Phase(name))
            row.seconds += time.perf_counter() - started
            row.cpu_seconds += time.process_time() - cpu
            row.statements += self._statements - statements

    @property
    def total_seconds(self) -> float:
        return sum(p.seconds for p in self.phases.values())

    @property
    def total_cpu_seconds(self) -> float:
        return sum(p.cpu_seconds for p in self.phases.values())

    @property
    def total_statements(self) -> int:
        return sum(p.statements for p in self.phases.values())


@contextmanager
def no_timer(_name: str) -> Iterator[None]:
    """The phase hook when nobody is measuring."""
    yield
