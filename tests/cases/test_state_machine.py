"""Every edge of the case state machine: legal ones move (timeline + audit + history), illegal
ones raise InvalidState and change nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from loyalist.audit.models import AuditEntry
from loyalist.cases import service
from loyalist.cases.models import CaseEvent
from loyalist.cases.state import TRANSITIONS
from loyalist.errors import InvalidState, PermissionDenied, ValidationFailed
from loyalist.interactions.models import Interaction
from loyalist.types import Actor

from .conftest import PATH, drive_to, new_case, snapshot

LEGAL = sorted((a, b) for a, targets in TRANSITIONS.items() for b in targets)
ILLEGAL = sorted((a, b) for a in PATH for b in PATH if b not in TRANSITIONS[a])
MANAGER = Actor(kind="staff", id=None, name="boss", role="manager")
AGENT = Actor(kind="staff", id=None, name="agent", role="agent")


def test_the_table() -> None:
    assert LEGAL == sorted([
        ("acknowledged", "in_progress"), ("acknowledged", "resolved"), ("acknowledged", "waiting_for_customer"),
        ("closed", "in_progress"), ("follow_up_done", "closed"), ("follow_up_done", "in_progress"),
        ("in_progress", "resolved"), ("in_progress", "waiting_for_customer"), ("new", "acknowledged"),
        ("resolved", "follow_up_done"), ("resolved", "in_progress"), ("waiting_for_customer", "in_progress"),
        ("waiting_for_customer", "resolved"),
    ])
    assert len(ILLEGAL) == 49 - 13


def _take(session, actor, cid: int, frm: str, to: str) -> None:
    if to == "acknowledged":
        service.acknowledge(session, case_id=cid, text="Sorry!", actor=actor)
    elif to == "follow_up_done":
        service.record_follow_up(session, case_id=cid, csat=5, actor=actor)
    elif to == "resolved":
        service.add_action(session, case_id=cid, description="Refund issued", actor=actor)
        service.resolve(session, case_id=cid, resolution="Refunded", actor=actor)
    else:
        service.transition(session, case_id=cid, to=to, note="customer still unhappy", actor=actor)


@pytest.mark.parametrize(("frm", "to"), LEGAL)
def test_legal_transition(session, actor, frm: str, to: str) -> None:
    cid = drive_to(session, actor, frm)
    _take(session, actor, cid, frm, to)
    case = service.get_case(session, cid)
    assert case.state == to
    last = session.scalars(select(Interaction).where(Interaction.kind == "case_update",
                                                     Interaction.source_id == str(cid))
                           .order_by(Interaction.id.desc())).first()
    assert last is not None and last.data == {"case_id": cid, "from": frm, "to": to}
    event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.from_state == frm,
                                                    CaseEvent.to_state == to)).one()
    assert event.kind == ("reopened" if to == "in_progress" and frm in ("resolved", "follow_up_done", "closed")
                          else "transition")
    audit_row = session.scalars(select(AuditEntry).where(AuditEntry.action == "case.transition",
                                                         AuditEntry.target_id == str(cid))
                                .order_by(AuditEntry.id.desc())).first()
    assert audit_row is not None and audit_row.before == {"state": frm} and audit_row.after["state"] == to


@pytest.mark.parametrize("frm", PATH)
def test_illegal_transitions_change_nothing(session, actor, frm: str) -> None:
    """From each state, every target outside the table is refused and leaves no trace (one case
    per state: since a refusal changes nothing, the next attempt starts from the same case)."""
    cid = drive_to(session, actor, frm)
    before = snapshot(session, cid)
    targets = [to for (a, to) in ILLEGAL if a == frm]
    assert targets
    for to in targets:
        with pytest.raises(InvalidState) as err:
            service.transition(session, case_id=cid, to=to, note="try", override_reason="try", actor=MANAGER)
        assert err.value.field == "to"
        assert f"from {frm} to {to}" in err.value.message
        assert snapshot(session, cid) == before


def test_reopen_clears_the_cycle_and_restarts_the_clock(session, actor, frozen) -> None:
    cid = drive_to(session, actor, "closed")
    case = service.transition(session, case_id=cid, to="in_progress", note="broke again", actor=actor)
    assert (case.reopen_count, case.csat, case.resolved_at, case.closed_at) == (1, None, None, None)
    # normal policy: 2400 business minutes from Monday 09:00 -> Friday 17:00.
    assert case.resolution_due_at.isoformat() == "2026-03-06T17:00:00+00:00"
    # The next cycle needs its own follow-up before follow_up_done.
    service.resolve(session, case_id=cid, resolution="Second replacement", actor=actor)
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="follow-up"):
        service.transition(session, case_id=cid, to="follow_up_done", actor=actor)
    assert snapshot(session, cid) == before


def test_reopen_needs_a_reason(session, actor) -> None:
    cid = drive_to(session, actor, "resolved")
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="reason for reopening"):
        service.transition(session, case_id=cid, to="in_progress", actor=actor)
    assert snapshot(session, cid) == before


def test_acknowledged_needs_the_apology(session, actor) -> None:
    cid = new_case(session, actor).id
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="acknowledgement/apology"):
        service.transition(session, case_id=cid, to="acknowledged", actor=actor)
    with pytest.raises(ValidationFailed) as err:
        service.acknowledge(session, case_id=cid, text="   ", actor=actor)
    assert err.value.field == "text"
    assert snapshot(session, cid) == before
    case = service.acknowledge(session, case_id=cid, text="We apologise.", actor=actor)
    assert (case.state, case.ack_text, case.ack_by) == ("acknowledged", "We apologise.", actor.label)
    with pytest.raises(InvalidState):
        service.acknowledge(session, case_id=cid, text="Again", actor=actor)


def test_resolve_needs_an_action_and_a_resolution(session, actor) -> None:
    cid = new_case(session, actor).id
    service.acknowledge(session, case_id=cid, text="Sorry", actor=actor)
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="at least one action"):
        service.resolve(session, case_id=cid, resolution="Done", actor=actor)
    assert snapshot(session, cid) == before
    service.add_action(session, case_id=cid, description="Called the courier", actor=actor)
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="resolution"):
        service.transition(session, case_id=cid, to="resolved", actor=actor)
    assert snapshot(session, cid) == before
    case = service.resolve(session, case_id=cid, resolution="Courier re-delivered", actor=actor)
    assert (case.state, case.resolution) == ("resolved", "Courier re-delivered")


def test_low_csat_keeps_the_case_open(session, actor) -> None:
    cid = drive_to(session, actor, "resolved")
    case = service.record_follow_up(session, case_id=cid, csat=2, comment="Still annoyed", actor=actor)
    assert (case.state, case.csat, case.suggest_reopen) == ("follow_up_done", 2, True)
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="not satisfied"):
        service.transition(session, case_id=cid, to="closed", actor=actor)
    with pytest.raises(PermissionDenied):
        service.transition(session, case_id=cid, to="closed", override_reason="customer unreachable", actor=AGENT)
    assert snapshot(session, cid) == before
    case = service.transition(session, case_id=cid, to="closed", override_reason="customer unreachable",
                              actor=MANAGER)
    assert case.state == "closed"
    event = session.scalars(select(CaseEvent).where(CaseEvent.case_id == cid, CaseEvent.to_state == "closed")).one()
    assert event.data == {"override_reason": "customer unreachable"}


def test_follow_up_is_only_after_resolution(session, actor) -> None:
    cid = drive_to(session, actor, "in_progress")
    before = snapshot(session, cid)
    with pytest.raises(InvalidState, match="after resolution"):
        service.record_follow_up(session, case_id=cid, csat=5, actor=actor)
    with pytest.raises(ValidationFailed) as err:
        service.record_follow_up(session, case_id=cid, csat=6, actor=actor)
    assert err.value.field == "csat"
    assert snapshot(session, cid) == before


def test_history_lists_every_step(session, actor) -> None:
    cid = drive_to(session, actor, "closed")
    kinds = [(e.kind, e.from_state, e.to_state) for e in service.list_events(session, cid)]
    assert kinds == [
        ("opened", None, "new"), ("acknowledged", None, None), ("transition", "new", "acknowledged"),
        ("action", None, None), ("transition", "acknowledged", "in_progress"),
        ("transition", "in_progress", "waiting_for_customer"), ("transition", "waiting_for_customer", "resolved"),
        ("follow_up", None, None), ("transition", "resolved", "follow_up_done"),
        ("transition", "follow_up_done", "closed"),
    ]
