"""Real commits from parallel threads on both backends: a retried compensation storm posts once,
racing breach scans escalate once."""

from __future__ import annotations

from sqlalchemy import func, select
from tests.parallel import run_in_parallel

from loyalist import clock
from loyalist.cases import service
from loyalist.cases.models import CaseEscalation
from loyalist.cases.schemas import CompensationRequest
from loyalist.db import make_session_factory, unit_of_work
from loyalist.ledger import service as ledger
from loyalist.ledger.models import LedgerEntry
from loyalist.staff.schemas import Role

from .conftest import at, make_staff, new_case


def test_parallel_retries_compensate_exactly_once(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        case = new_case(s, actor)
    request = CompensationRequest(kind="points", points=150, compensation_id="storm", description="Sorry")

    def compensate(_: int) -> int:
        with unit_of_work(factory) as s:
            return service.compensate(s, case_id=case.id, data=request, actor=actor).id

    results = run_in_parallel(6, compensate)
    assert len(set(results)) == 1 and isinstance(results[0], int), results
    with unit_of_work(factory) as s:
        assert ledger.get_balance(s, case.customer_id).available == 150
        entries = s.scalar(select(func.count()).select_from(LedgerEntry)
                           .where(LedgerEntry.customer_id == case.customer_id))
        assert entries == 1
        assert [a.id for a in service.list_actions(s, case.id)] == [results[0]]


def test_racing_breach_scans_escalate_once(committed_engine, actor) -> None:
    factory = make_session_factory(committed_engine)
    with clock.frozen_at(at(2, 9)), unit_of_work(factory) as s:
        make_staff(s, actor, Role.manager)
        case_ids = [new_case(s, actor, severity="low").id for _ in range(3)]

    def scan(_: int) -> int:
        with unit_of_work(factory) as s:
            return service.scan_breaches(s, as_of=at(3, 9)).escalations

    results = run_in_parallel(3, scan)
    assert all(isinstance(r, int) for r in results), results
    assert sum(results) == 3
    with unit_of_work(factory) as s:
        rows = s.execute(select(CaseEscalation.case_id, CaseEscalation.reason).order_by(CaseEscalation.case_id)).all()
        assert [tuple(r) for r in rows] == [(cid, "first_response_breach") for cid in case_ids]
