"""Static segment members in the console: find customers (name, email, external id) and add the
ticked ones, remove ticked members, both through `segments.add_members/remove_members` (audited),
paged, with field errors, CSRF and the manager role required."""

from __future__ import annotations

import re

from sqlalchemy import select
from tests.conftest import STAFF_ACTOR
from tests.web.conftest import csrf_of

from loyalist.audit.models import AuditEntry
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.segments import service as segments
from loyalist.segments.schemas import SegmentCreate


def _setup(session_factory, n: int = 3) -> tuple[int, list[int]]:  # type: ignore[no-untyped-def]
    with session_factory() as s, s.begin():
        seg = segments.create_segment(s, data=SegmentCreate(name="VIP list", kind="static"), actor=STAFF_ACTOR)
        ids = [customers.create_customer(s, data=CustomerCreate(first_name="Vera", last_name=f"Nilsen{i}",
                                                                 email=f"vera{i}@example.com", external_id=f"SHOP-{i}"),
                                         actor=STAFF_ACTOR).id for i in range(n)]
    return seg.id, ids


def _members(session_factory, seg_id: int) -> list[int]:  # type: ignore[no-untyped-def]
    with session_factory() as s:
        return segments.member_ids(s, segment_id=seg_id)


def _audit(session_factory, action: str) -> list[dict]:  # type: ignore[no-untyped-def, type-arg]
    with session_factory() as s:
        return [e.after for e in s.scalars(select(AuditEntry).where(AuditEntry.action == action))]


def test_find_add_and_remove_members(console_as, session_factory) -> None:
    seg_id, ids = _setup(session_factory)
    c = console_as("manager")
    page = c.get(f"/console/segments/{seg_id}")
    assert 'id="f-mem-find"' in page.text and "No members yet." in page.text
    for q, expected in (("SHOP-1", [ids[1]]), ("vera2@example", [ids[2]]), ("nilsen", ids)):
        found = c.get(f"/console/segments/{seg_id}", params={"find": q})
        assert [int(x) for x in re.findall(r'id="f-add-(\d+)"', found.text)] == expected, q
    token = csrf_of(page.text)
    added = c.post(f"/console/segments/{seg_id}/members/add",
                   data={"customer_id": [str(ids[0]), str(ids[2])], "find": "nilsen", "csrf_token": token},
                   follow_redirects=False)
    assert added.status_code == 303 and "find=nilsen" in added.headers["location"]
    assert _members(session_factory, seg_id) == [ids[0], ids[2]]
    assert _audit(session_factory, "segments.add_members") == [{"added": 2, "members": 2}]
    again = c.get(added.headers["location"])
    assert "2 added; 2 members now." in again.text
    # members are marked in the search and listed with a remove box each
    assert [int(x) for x in re.findall(r'id="f-add-(\d+)"', again.text)] == [ids[1]]
    assert [int(x) for x in re.findall(r'id="f-rm-(\d+)"', again.text)] == [ids[0], ids[2]]
    removed = c.post(f"/console/segments/{seg_id}/members/remove",
                     data={"customer_id": str(ids[0]), "csrf_token": token}, follow_redirects=False)
    assert removed.status_code == 303
    assert _members(session_factory, seg_id) == [ids[2]]
    assert _audit(session_factory, "segments.remove_members") == [{"removed": 1, "members": 1}]


def test_errors_are_shown_at_the_ticked_boxes_and_nothing_changes(console_as, session_factory) -> None:
    seg_id, ids = _setup(session_factory)
    with session_factory() as s, s.begin():
        customers.erase_customer(s, customer_id=ids[1], actor=STAFF_ACTOR)
    c = console_as("manager")
    token = csrf_of(c.get(f"/console/segments/{seg_id}").text)
    nothing = c.post(f"/console/segments/{seg_id}/members/add", data={"find": "nilsen", "csrf_token": token})
    assert nothing.status_code == 400
    assert '<p class="field-error" id="e-add-customer_id">tick at least one customer</p>' in nothing.text
    assert 'id="f-mem-find"' in nothing.text and 'value="nilsen"' in nothing.text  # the search is shown again
    erased = c.post(f"/console/segments/{seg_id}/members/add",
                    data={"customer_id": [str(ids[0]), str(ids[1])], "find": "nilsen", "csrf_token": token})
    assert erased.status_code == 400
    assert re.search(rf'id="e-add-customer_id">[^<]*no active customer {ids[1]}', erased.text)
    assert re.search(rf'id="f-add-{ids[0]}" name="customer_id" value="{ids[0]}" checked', erased.text)
    bogus = c.post(f"/console/segments/{seg_id}/members/remove", data={"customer_id": "12x", "csrf_token": token})
    assert bogus.status_code == 400 and "id=\"e-rm-customer_id\"" not in bogus.text  # no members: no remove form
    assert '<div class="error-summary" role="alert"><p>&#39;12x&#39; is not a customer number</p>' in bogus.text
    assert _members(session_factory, seg_id) == []
    assert _audit(session_factory, "segments.add_members") == []


def test_dynamic_segments_have_no_member_controls_and_roles_and_csrf_hold(console_as, session_factory) -> None:
    seg_id, ids = _setup(session_factory)
    with session_factory() as s, s.begin():
        dyn = segments.create_segment(s, data=SegmentCreate(name="All", rule={"all": [
            {"field": "has_email", "op": "eq", "value": True}]}), actor=STAFF_ACTOR)
    c = console_as("manager")
    page = c.get(f"/console/segments/{dyn.id}", params={"find": "nilsen"})
    assert 'id="f-mem-find"' not in page.text and 'id="f-add-' not in page.text and 'id="f-rm-' not in page.text
    token = csrf_of(page.text)
    refused = c.post(f"/console/segments/{dyn.id}/members/add", data={"customer_id": str(ids[0]),
                                                                      "csrf_token": token})
    assert refused.status_code == 400 and "is dynamic" in refused.text
    # an analyst reads the segment but gets no search and may not post
    analyst = console_as("analyst")
    read = analyst.get(f"/console/segments/{seg_id}", params={"find": "nilsen"})
    assert read.status_code == 200 and 'id="f-add-' not in read.text and 'id="f-mem-find"' not in read.text
    assert analyst.post(f"/console/segments/{seg_id}/members/add",
                        data={"customer_id": str(ids[0]), "csrf_token": csrf_of(read.text)}).status_code == 403
    assert c.post(f"/console/segments/{seg_id}/members/add", data={"customer_id": str(ids[0])}).status_code == 403
    assert _members(session_factory, seg_id) == []


def test_members_and_search_results_page(console_as, session_factory) -> None:
    seg_id, ids = _setup(session_factory, n=27)
    with session_factory() as s, s.begin():
        segments.add_members(s, segment_id=seg_id, customer_ids=ids[:26], actor=STAFF_ACTOR)
    c = console_as("manager")
    first = c.get(f"/console/segments/{seg_id}", params={"find": "nilsen"})
    assert len(re.findall(r'id="f-rm-(\d+)"', first.text)) == 25
    assert len(re.findall(r'id="f-add-(\d+)"', first.text)) == 0  # the first 10 found are members already
    assert "1–10 of 27" in first.text and "1–25 of 26" in first.text
    second = c.get(f"/console/segments/{seg_id}", params={"offset": 25, "find": "nilsen", "find_offset": 20})
    assert [int(x) for x in re.findall(r'id="f-rm-(\d+)"', second.text)] == [ids[25]]
    assert [int(x) for x in re.findall(r'id="f-add-(\d+)"', second.text)] == [ids[26]]
    assert "21–27 of 27" in second.text


def test_import_members_from_a_csv_file_and_pasted_ids(console_as, session_factory) -> None:
    seg_id, ids = _setup(session_factory, n=4)
    c = console_as("manager")
    page = c.get(f"/console/segments/{seg_id}")
    assert 'id="f-import-file"' in page.text and 'enctype="multipart/form-data"' in page.text
    token = csrf_of(page.text)
    shop_export = "name,external_id,points\nVera,SHOP-0,10\nVera,SHOP-2,5\n\nGhost,NOPE-9,0\nVera,SHOP-0,10\n"
    imported = c.post(f"/console/segments/{seg_id}/members/import",
                      data={"csrf_token": token, "external_ids": "SHOP-3\n"},
                      files={"file": ("export.csv", shop_export.encode("utf-8-sig"), "text/csv")},
                      follow_redirects=False)
    assert imported.status_code == 303, imported.text
    assert sorted(_members(session_factory, seg_id)) == [ids[0], ids[2], ids[3]]
    shown = c.get(imported.headers["location"]).text
    assert "3 added; 1 not found among active customers: NOPE-9; 3 members now." in shown
    assert _audit(session_factory, "segments.import_members") == [{"added": 3, "unknown": 1, "members": 3}]
    plain = c.post(f"/console/segments/{seg_id}/members/import",
                   data={"csrf_token": token}, files={"file": ("ids.txt", b"SHOP-1\nSHOP-0\n", "text/plain")},
                   follow_redirects=False)
    assert plain.status_code == 303 and len(_members(session_factory, seg_id)) == 4


def test_a_bad_import_names_the_line_and_adds_nobody(console_as, session_factory) -> None:
    seg_id, _ids = _setup(session_factory, n=2)
    c = console_as("manager")
    token = csrf_of(c.get(f"/console/segments/{seg_id}").text)
    cases = (
        ({"file": ("list.csv", b"SHOP-0\nSHOP-1;x,y\n", "text/csv")}, "list.csv, line 2: several columns"),
        ({"file": ("list.csv", b"external_id\nSHOP-0\n" + b"x" * 101 + b"\n", "text/csv")},
         "list.csv, line 3: an external id of 1-100 characters"),
        ({"file": ("latin.csv", b"SHOP-0\nS\xf8ren\n", "text/csv")}, "latin.csv, line 2: not UTF-8"),
        (None, "choose a CSV file or paste external ids"),
    )
    for files, message in cases:
        r = c.post(f"/console/segments/{seg_id}/members/import", data={"csrf_token": token}, files=files)
        assert r.status_code == 400, (message, r.status_code)
        error = re.search(r'<p class="field-error" id="e-import" role="alert">([^<]*)', r.text)
        assert error and message in error.group(1), (message, error)
    assert _members(session_factory, seg_id) == []
    assert _audit(session_factory, "segments.import_members") == []
    analyst = console_as("analyst")
    read = analyst.get(f"/console/segments/{seg_id}")
    assert 'id="f-import-file"' not in read.text
    assert analyst.post(f"/console/segments/{seg_id}/members/import", data={"csrf_token": csrf_of(read.text),
                        "external_ids": "SHOP-0"}).status_code == 403
    assert c.post(f"/console/segments/{seg_id}/members/import", data={"external_ids": "SHOP-0"}).status_code == 403
    assert _members(session_factory, seg_id) == []
