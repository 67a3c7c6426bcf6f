"""Segment lifecycle: dynamic and static segments, snapshots, export, hooks; audit rows."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from loyalist import clock
from loyalist.errors import Conflict, InvalidState, NotFound, ValidationFailed
from loyalist.segments import service
from loyalist.segments.schemas import SegmentCreate, SegmentUpdate

from .conftest import NOW, t

VIP = {"field": "tag", "op": "eq", "value": "vip"}


def _audit(session, action: str) -> list:
    a = t("audit_log")
    return session.execute(select(a.c.action, a.c.target_id, a.c.after).where(a.c.action == action)
                           .order_by(a.c.id)).all()


def _segments(session) -> int:
    return session.scalar(select(func.count()).select_from(t("segments")))


def _members_table(session) -> list[tuple[int, int]]:
    m = t("segment_members")
    return [tuple(r) for r in session.execute(select(m.c.segment_id, m.c.customer_id).order_by(m.c.segment_id,
                                                                                                 m.c.customer_id))]


def test_dynamic_segment_crud_and_audit(session, actor, people) -> None:
    seg = service.create_segment(session, data=SegmentCreate(name=" VIPs ", rule=VIP), actor=actor)
    assert (seg.name, seg.kind, seg.rule, seg.archived) == ("VIPs", "dynamic", VIP, False)
    assert service.member_ids(session, segment_id=seg.id) == sorted([people["A"], people["E"]])
    assert service.matches(session, segment_id=seg.id, customer_id=people["A"]) is True
    assert service.matches(session, segment_id=seg.id, customer_id=people["D"]) is False  # merged
    updated = service.update_segment(session, segment_id=seg.id,
                                     data=SegmentUpdate(rule={"field": "locale", "op": "eq", "value": "ru"}),
                                     actor=actor)
    assert service.member_ids(session, segment_id=updated.id) == [people["B"]]
    archived = service.archive_segment(session, segment_id=seg.id, actor=actor)
    assert archived.archived is True
    assert service.list_segments(session) == []
    assert [s.id for s in service.list_segments(session, include_archived=True)] == [seg.id]
    actions = [r.action for r in session.execute(select(t("audit_log").c.action).where(
        t("audit_log").c.target_type == "segment").order_by(t("audit_log").c.id))]
    assert actions == ["segments.create", "segments.update", "segments.archive"]


def test_rejected_creations_change_nothing(session, actor, people) -> None:
    service.create_segment(session, data=SegmentCreate(name="VIPs", rule=VIP), actor=actor)
    before = (_segments(session), len(_audit(session, "segments.create")))
    with pytest.raises(Conflict):
        service.create_segment(session, data=SegmentCreate(name="vips", rule=VIP), actor=actor)
    with pytest.raises(ValidationFailed) as info:
        service.create_segment(session, data=SegmentCreate(name="Bad", rule={"all": [VIP, {"field": "x"}]}),
                               actor=actor)
    assert info.value.field == "rule.all[1].field"
    with pytest.raises(ValidationFailed) as info:
        service.create_segment(session, data=SegmentCreate(name="NoRule"), actor=actor)
    assert info.value.field == "rule"
    with pytest.raises(ValidationFailed) as info:
        service.create_segment(session, data=SegmentCreate(name="Static", kind="static", rule=VIP), actor=actor)
    assert info.value.field == "rule"
    with pytest.raises(ValidationFailed) as info:
        service.create_segment(session, data=SegmentCreate(name="", rule=VIP), actor=actor)
    assert info.value.field == "name"
    assert (_segments(session), len(_audit(session, "segments.create"))) == before


def test_static_list_add_remove_import(session, actor, people) -> None:
    seg = service.create_segment(session, data=SegmentCreate(name="Hand picked", kind="static"), actor=actor)
    A, B, C, D, E = (people[x] for x in "ABCDE")
    change = service.add_members(session, segment_id=seg.id, customer_ids=[A, B, A], actor=actor)
    assert (change.added, change.members) == (2, 2)
    again = service.add_members(session, segment_id=seg.id, customer_ids=[B], actor=actor)
    assert (again.added, again.members) == (0, 2)
    # unknown or merged ids refuse the whole request
    for bad in ([C, 99999], [C, D]):
        with pytest.raises(ValidationFailed) as info:
            service.add_members(session, segment_id=seg.id, customer_ids=bad, actor=actor)
        assert info.value.field == "customer_ids[1]"
    assert _members_table(session) == [(seg.id, A), (seg.id, B)]
    imported = service.import_external_ids(session, segment_id=seg.id,
                                           external_ids=["ext-c", "ext-d", "nobody", "ext-a", "ext-c"], actor=actor)
    assert (imported.added, imported.unknown, imported.members) == (1, ["ext-d", "nobody"], 3)
    removed = service.remove_members(session, segment_id=seg.id, customer_ids=[A, E], actor=actor)
    assert (removed.removed, removed.members) == (1, 2)
    assert service.member_ids(session, segment_id=seg.id) == [B, C]
    assert service.count(session, segment_id=seg.id) == 2
    assert [r.after for r in _audit(session, "segments.add_members")] == [{"added": 2, "members": 2},
                                                                          {"added": 0, "members": 2}]
    assert [r.after for r in _audit(session, "segments.import_members")] == [{"added": 1, "unknown": 2,
                                                                              "members": 3}]


def test_static_operations_on_a_dynamic_segment_are_refused(session, actor, people) -> None:
    seg = service.create_segment(session, data=SegmentCreate(name="VIPs", rule=VIP), actor=actor)
    with pytest.raises(InvalidState):
        service.add_members(session, segment_id=seg.id, customer_ids=[people["A"]], actor=actor)
    with pytest.raises(NotFound):
        service.add_members(session, segment_id=seg.id + 100, customer_ids=[people["A"]], actor=actor)
    assert _members_table(session) == []


def test_snapshot_keeps_the_members_of_that_moment(session, actor, people) -> None:
    seg = service.create_segment(session, data=SegmentCreate(name="VIPs", rule=VIP), actor=actor)
    snap = service.snapshot(session, segment_id=seg.id, actor=actor, note="spring campaign")
    assert (snap.member_count, snap.rule, snap.note) == (2, VIP, "spring campaign")
    tags = t("customer_tags")
    session.execute(tags.insert().values(customer_id=people["B"], tag="vip", created_at=NOW))
    assert service.count(session, segment_id=seg.id) == 3
    assert service.snapshot_member_ids(session, snap.id) == sorted([people["A"], people["E"]])
    assert [s.id for s in service.list_snapshots(session, segment_id=seg.id)] == [snap.id]
    recent = service.create_segment(session, data=SegmentCreate(
        name="Recent buyers", rule={"field": "purchases_count", "op": "ge", "value": 1, "window_days": 30}),
        actor=actor)
    old = service.snapshot(session, segment_id=recent.id, actor=actor, as_of=NOW - timedelta(days=90))
    assert service.snapshot_member_ids(session, old.id) == [people["E"]]
    assert service.members(session, recent.id, as_of=NOW) == [people["A"]]


def test_iter_member_ids_in_batches(session, people) -> None:
    rule = {"field": "has_email", "op": "eq", "value": True}
    batches = list(service.iter_member_ids(session, rule=rule, batch=2))
    assert batches == [sorted([people["A"], people["C"]]), [people["E"]]]


def test_export_neutralises_formulas(session, actor, people) -> None:
    seg = service.create_segment(session, data=SegmentCreate(name="Mail", rule={"field": "has_email", "op": "eq",
                                                                                  "value": True}), actor=actor)
    text = "".join(service.export_csv(session, segment_id=seg.id, actor=actor))
    rows = list(csv.reader(io.StringIO(text)))
    assert rows == [
        ["customer_id", "external_id", "first_name", "last_name", "email", "phone", "locale", "preferred_channel"],
        [str(people["A"]), "ext-a", "Anna", "Berg", "anna@example.com", "", "en", "email"],
        [str(people["C"]), "ext-c", "'=HYPERLINK(\"http://x\")", "Dahl", "clara@example.com", "", "da", ""],
        [str(people["E"]), "ext-e", "Erik", "'-1+2", "erik@example.com", "", "", ""],
    ]
    assert [r.after for r in _audit(session, "segments.export")] == [{"members": 3}]


@pytest.mark.parametrize(("cell", "out"), [("=1+1", "'=1+1"), ("+45 1234", "'+45 1234"), ("-x", "'-x"),
                                           ("@SUM(A1)", "'@SUM(A1)"), ("\t=1", "'\t=1"), ("plain", "plain"),
                                           (None, ""), ("a=b", "a=b")])
def test_neutralise(cell, out) -> None:
    assert service.neutralise(cell) == out


def test_merge_and_erasure_hooks(session, actor, people) -> None:
    from loyalist.customers import hooks
    from loyalist.registry import load_all_services

    load_all_services()
    seg = service.create_segment(session, data=SegmentCreate(name="Hand picked", kind="static"), actor=actor)
    service.add_members(session, segment_id=seg.id, customer_ids=[people["B"], people["C"]], actor=actor)
    for handler in hooks.merge_handlers():
        if handler.__module__ == "loyalist.segments.service":
            handler(session, survivor_id=people["A"], duplicate_id=people["B"], actor=actor)
    assert _members_table(session) == [(seg.id, people["A"]), (seg.id, people["C"])]
    assert hooks.export_sections()["segments"](session, people["C"]) == [{"segment_id": seg.id,
                                                                          "name": "Hand picked"}]
    for handler in hooks.erasure_handlers():
        if handler.__module__ == "loyalist.segments.service":
            handler(session, customer_id=people["C"], actor=actor)
    assert _members_table(session) == [(seg.id, people["A"])]


def test_preview_counts_and_samples(session, people) -> None:
    with clock.frozen_at(NOW):
        p = service.preview(session, rule={"field": "tier", "op": "eq", "value": "gold"}, sample=1)
    assert p.count == 2
    assert [(b.id, b.external_id, b.name, b.email) for b in p.sample] == [
        (people["A"], "ext-a", "Anna Berg", "anna@example.com")]
