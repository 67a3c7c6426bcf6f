"""Acting pages: segments (rule editor with a live count), offers and campaigns (design, launch,
uplift against the control group).

Every write goes through the domain service, which validates, names the offending field and
writes the audit row; this module only turns form fields into the service's command objects and
the service's errors into messages next to the fields. A rejected form rolls back the unit of
work. `/x/new` routes are declared before `/x/{id}`, so "new" is never read as an id.
"""

from __future__ import annotations

import csv
import io
import json
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import JSONResponse, RedirectResponse, Response
from pydantic import ValidationError
from sqlalchemy.orm import Session

from loyalist.customers import service as customers
from loyalist.errors import DomainError, NotFound
from loyalist.staff.sessions import ConsoleSession
from loyalist.web import auth, domains, paging
from loyalist.web.auth import DbDep, needs
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
FORM_ERRORS = (FormInvalid, DomainError, ValidationError)


def _svc(name: str) -> Any:
    svc = domains.service(name)
    if svc is None:
        raise NotFound(f"the {name} module is not installed")
    return svc


def _schemas(name: str) -> Any:
    import importlib

    return importlib.import_module(f"loyalist.{name}.schemas")


def _restart(db: Session) -> None:
    """Undo whatever the failed service call flushed, and open a fresh transaction for the page."""
    db.rollback()
    db.begin()


def _local(value: Any) -> str:
    """A UTC datetime as the value of a datetime-local input (the labels say UTC)."""
    return value.strftime("%Y-%m-%dT%H:%M") if value else ""


# ------------------------------------------------------------------------------------------ segments

def _segment_values(form: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    r = Reader(form)
    values: dict[str, Any] = {"name": r.text("name", required=True, max_len=120),
                              "description": r.text("description")}
    kind = (r.text("kind") or "dynamic") if creating else None
    if creating:
        if kind not in ("dynamic", "static"):
            r.errors["kind"] = "dynamic or static"
        values["kind"] = kind
    if kind != "static":
        values["rule"] = r.json_object("rule")
        if values["rule"] is None and "rule" not in r.errors:
            r.errors["rule"] = "a dynamic segment needs a rule"
    r.check()
    return values


def _segment_page(request: Request, *, segment: Any, form: dict[str, Any], status_code: int = 200,
                  errors: dict[str, str] | None = None, preview: Any = None, members: Any = None) -> Response:
    svc = _svc("segments")
    return render(request, "segment_form.html", status_code=status_code,
                  title=segment.name if segment else "New segment", segment=segment, form=form,
                  errors=errors or {}, preview=preview, fields=svc.list_fields(), members=members)


@router.get("/segments")
def segments(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("segments:read"))],
             archived: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    svc = _svc("segments")
    rows = svc.list_segments(db, include_archived=bool(archived), limit=paging.PAGE + 1, offset=offset)
    win = paging.window(rows, offset=offset, href=lambda o: url(request, "/segments", archived=archived, offset=o))
    counts = {s.id: svc.count(db, segment_id=s.id) for s in win.items}  # live, for this page only
    return render(request, "segments.html", title="Segments", items=win.items, win=win, counts=counts,
                  form={"archived": archived})


@router.get("/segments/new")
def segment_new(request: Request, db: DbDep,
                me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    example = '{\n  "all": [\n    {"field": "last_purchase_days", "op": "gt", "value": 90}\n  ]\n}'
    return _segment_page(request, segment=None, form={"kind": "dynamic", "rule": example})


@router.post("/segments/new")
async def segment_create(request: Request, db: DbDep,
                         me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    form = dict(await request.form())
    svc, schemas = _svc("segments"), _schemas("segments")
    try:
        row = svc.create_segment(db, data=schemas.SegmentCreate(**_segment_values(form, creating=True)),
                                 actor=me.actor)
    except FORM_ERRORS as exc:
        _restart(db)
        return _segment_page(request, segment=None, form=form, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, f"/segments/{row.id}", flash=f"Segment “{row.name}” created."),
                            status_code=303)


@router.post("/segments/preview")
async def segment_preview(request: Request, db: DbDep,
                          me: Annotated[ConsoleSession, Depends(needs("segments:read"))]) -> Response:
    """How many customers a rule matches now, and the first few: the segments engine's own
    evaluation (`segments.preview`); nothing is written. Answers JSON to the page's script
    (`Accept: application/json`) and re-renders the editor otherwise (works without JavaScript)."""
    form = dict(await request.form())
    svc = _svc("segments")
    wants_json = "application/json" in request.headers.get("accept", "")
    r = Reader(form)
    rule = r.json_object("rule")
    if rule is None and "rule" not in r.errors:
        r.errors["rule"] = "write a rule to preview"
    result, errors = None, {}
    try:
        r.check()
        result = svc.preview(db, rule=rule)
    except FORM_ERRORS as exc:
        errors = errors_of(exc)
    _restart(db)  # a preview leaves nothing behind
    if wants_json:
        if errors:
            return JSONResponse({"error": {"field": next(iter(errors)), "message": next(iter(errors.values()))}},
                                status_code=400)
        assert result is not None
        return JSONResponse({"count": result.count, "seconds": result.seconds,
                             "sample": [{"id": c.id, "name": c.name} for c in result.sample[:5]]})
    segment_id = Reader(form).integer("segment_id", minimum=1)
    segment = svc.get_segment(db, segment_id) if segment_id else None
    return _segment_page(request, segment=segment, form=form, status_code=400 if errors else 200, errors=errors,
                         preview=result)


FIND_PAGE = 10  # customers found per page when adding to a static segment


def _segment_view(request: Request, db: Session, segment_id: int, *, offset: int = 0, find: str = "",
                  find_offset: int = 0, status_code: int = 200, member_errors: dict[str, str] | None = None,
                  picked: list[int] | None = None) -> Response:
    """One segment: its editor, its members (paged, with names) and, for a static segment the
    staff member may change, a customer search to add members and checkboxes to remove them."""
    svc = _svc("segments")
    row = svc.get_segment(db, segment_id)
    form = {"name": row.name, "description": row.description or "", "kind": row.kind,
            "rule": json.dumps(row.rule, indent=2, ensure_ascii=False) if row.rule is not None else ""}
    page = svc.member_page(db, segment_id=segment_id, limit=paging.PAGE, offset=offset)
    here = f"/segments/{segment_id}"
    members: dict[str, Any] = {
        "page": page, "people": customers.get_customers(db, page.items),
        "href": lambda o: url(request, here, offset=o, find=find, find_offset=find_offset) + "#members",
        "errors": member_errors or {}, "find_form": {"find": find}, "found": None, "picked": set(picked or []),
    }
    me = getattr(request.state, "console", None)
    if row.kind == "static" and not row.archived and find.strip() and auth.allows(me, "segments:write"):
        try:  # the console's customer search: name, email, phone or external id; active customers only
            found = customers.list_customers(db, q=find, status="active", limit=FIND_PAGE, offset=find_offset)
        except DomainError as exc:
            members["errors"] = {**members["errors"], "find": errors_of(exc).popitem()[1]}
        else:
            members["found"] = found
            members["already"] = {c.id for c in found.items if svc.matches(db, customer_id=c.id, segment_id=row.id)}
            members["found_href"] = lambda o: url(request, here, offset=offset, find=find, find_offset=o) + "#found"
    manage = row.kind == "static" and not row.archived and auth.allows(me, "segments:write")
    placed = {"find", "import"} | ({"add-customer_id"} if members["found"] is not None else set()) \
        | ({"rm-customer_id"} if manage and page.items else set())
    members["top"] = [v for k, v in members["errors"].items() if k not in placed]  # no field on the page
    return _segment_page(request, segment=row, form=form, members=members, status_code=status_code)


@router.get("/segments/{segment_id}")
def segment_edit(request: Request, segment_id: int, db: DbDep,
                 me: Annotated[ConsoleSession, Depends(needs("segments:read"))],
                 offset: Annotated[int, Query(ge=0)] = 0, find: str = "",
                 find_offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    return _segment_view(request, db, segment_id, offset=offset, find=find, find_offset=find_offset)


def _picked(form: Any) -> tuple[list[int], dict[str, str]]:
    """The ticked customers (`customer_id`, repeated) of the add / remove forms."""
    ids, errors = [], {}
    for raw in form.getlist("customer_id"):
        if not str(raw).isdigit() or not 0 < int(raw) < 2**63:
            errors["customer_id"] = f"{raw!r} is not a customer number"
            break
        ids.append(int(raw))
    if not ids and not errors:
        errors["customer_id"] = "tick at least one customer"
    return ids, errors


def _member_errors(exc: Exception) -> dict[str, str]:
    """The service names `customer_ids[i]` (at the ticked boxes) or the segment (at the top)."""
    if isinstance(exc, DomainError):
        return {"customer_id" if (exc.field or "").startswith("customer_ids") else "__all__": exc.message}
    return errors_of(exc)


async def _members_change(request: Request, db: Session, segment_id: int, me: ConsoleSession, *, adding: bool
                          ) -> Response:
    svc = _svc("segments")
    form = await request.form()
    r = Reader(dict(form))
    find, find_offset = r.text("find") or "", r.integer("find_offset", minimum=0) or 0
    offset = r.integer("offset", minimum=0) or 0
    ids, errors = _picked(form)
    try:
        if errors:
            raise FormInvalid(errors)
        change = (svc.add_members if adding else svc.remove_members)(db, segment_id=segment_id, customer_ids=ids,
                                                                     actor=me.actor)
    except (FormInvalid, DomainError) as exc:
        if isinstance(exc, NotFound):
            raise
        _restart(db)
        return _segment_view(request, db, segment_id, offset=offset, find=find, find_offset=find_offset,
                             status_code=400, picked=ids, member_errors={("add-" if adding else "rm-") + k: v
                                                                         for k, v in _member_errors(exc).items()})
    note = (f"{change.added} added" if adding else f"{change.removed} removed") + f"; {change.members} members now."
    return RedirectResponse(url(request, f"/segments/{segment_id}", offset=offset, find=find, find_offset=find_offset,
                                flash=note) + "#members", status_code=303)


@router.post("/segments/{segment_id}/members/add")
async def segment_members_add(request: Request, segment_id: int, db: DbDep,
                              me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    """Add the ticked customers of the search to a static segment (`segments.add_members`, which
    refuses unknown or inactive customers and writes the audit row)."""
    return await _members_change(request, db, segment_id, me, adding=True)


@router.post("/segments/{segment_id}/members/remove")
async def segment_members_remove(request: Request, segment_id: int, db: DbDep,
                                 me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    """Remove the ticked members of a static segment (`segments.remove_members`, audited)."""
    return await _members_change(request, db, segment_id, me, adding=False)


IMPORT_MAX_BYTES = 5 * 1024 * 1024  # a list of a million ids of 5 characters; a shop's export is far smaller
IMPORT_MAX_IDS = 100_000


def _ids_from_upload(text: str, *, source: str) -> list[str]:
    """External ids from a CSV with an `external_id` column (any other columns ignored), or one id
    per line; blank lines are skipped. Errors name `source` and the line."""
    rows = list(csv.reader(io.StringIO(text)))
    header = [h.strip().lower() for h in rows[0]] if rows else []
    column = header.index("external_id") if "external_id" in header else None
    ids: list[str] = []
    for number, row in enumerate(rows[1:] if column is not None else rows, start=2 if column is not None else 1):
        cells = [c.strip() for c in row]
        if not any(cells):
            continue
        if column is None and len(cells) > 1:
            raise FormInvalid({"import": f"{source}, line {number}: several columns but no header with "
                                         "external_id; put external_id in the first line or one id per line"})
        value = cells[column] if column is not None and column < len(cells) else cells[0] if column is None else ""
        if not value or len(value) > 100 or "\x00" in value:
            raise FormInvalid({"import": f"{source}, line {number}: an external id of 1-100 characters is needed"})
        ids.append(value)
        if len(ids) > IMPORT_MAX_IDS:
            raise FormInvalid({"import": f"{source}: more than {IMPORT_MAX_IDS:,} ids; split the list"})
    return ids


async def _uploaded_ids(form: Any) -> list[str]:
    """The ids of the import form: the uploaded file's and the pasted ones, in that order."""
    ids: list[str] = []
    upload = form.get("file")
    if upload is not None and not isinstance(upload, str) and upload.filename:
        raw = await upload.read(IMPORT_MAX_BYTES + 1)
        if len(raw) > IMPORT_MAX_BYTES:
            raise FormInvalid({"import": f"{upload.filename}: larger than {IMPORT_MAX_BYTES // (1024 * 1024)} MB"})
        try:
            text = raw.decode("utf-8-sig")
        except UnicodeDecodeError as exc:
            line = raw[:exc.start].count(b"\n") + 1
            raise FormInvalid({"import": f"{upload.filename}, line {line}: not UTF-8 text"}) from None
        ids += _ids_from_upload(text, source=upload.filename)
    pasted = form.get("external_ids")
    if isinstance(pasted, str) and pasted.strip():
        ids += _ids_from_upload(pasted, source="pasted ids")
    if not ids:
        raise FormInvalid({"import": "choose a CSV file or paste external ids, one per line"})
    return ids


@router.post("/segments/{segment_id}/members/import")
async def segment_members_import(request: Request, segment_id: int, db: DbDep,
                                 me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    """Add customers to a static segment by external id, from a CSV file (an `external_id` column,
    e.g. a shop system's export) or pasted ids (`segments.import_external_ids`: one transaction,
    audited; ids matching no active customer are reported, not guessed)."""
    svc = _svc("segments")
    form = await request.form()
    offset = Reader(dict(form)).integer("offset", minimum=0) or 0
    try:
        change = svc.import_external_ids(db, segment_id=segment_id, external_ids=await _uploaded_ids(form),
                                         actor=me.actor)
    except (FormInvalid, DomainError) as exc:
        if isinstance(exc, NotFound):
            raise
        _restart(db)
        message = exc.errors.get("import") if isinstance(exc, FormInvalid) else None
        return _segment_view(request, db, segment_id, offset=offset, status_code=400,
                             member_errors={"import": message or _member_errors(exc).popitem()[1]})
    note = f"{change.added} added"
    if change.unknown:
        shown = ", ".join(change.unknown[:10]) + (f" and {len(change.unknown) - 10} more" if len(change.unknown) > 10
                                                   else "")
        note += f"; {len(change.unknown)} not found among active customers: {shown}"
    note += f"; {change.members} members now."
    return RedirectResponse(url(request, f"/segments/{segment_id}", offset=offset, flash=note) + "#members",
                            status_code=303)


@router.post("/segments/{segment_id}")
async def segment_update(request: Request, segment_id: int, db: DbDep,
                         me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    svc, schemas = _svc("segments"), _schemas("segments")
    current = svc.get_segment(db, segment_id)
    form = {**dict(await request.form()), "kind": current.kind}
    try:
        values = _segment_values(form, creating=False)
        if current.kind == "static":
            values.pop("rule", None)
        row = svc.update_segment(db, segment_id=segment_id, data=schemas.SegmentUpdate(**values), actor=me.actor)
    except FORM_ERRORS as exc:
        _restart(db)
        return _segment_page(request, segment=current, form=form, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, f"/segments/{row.id}", flash=f"Segment “{row.name}” saved."),
                            status_code=303)


@router.post("/segments/{segment_id}/archive")
def segment_archive(request: Request, segment_id: int, db: DbDep,
                    me: Annotated[ConsoleSession, Depends(needs("segments:write"))]) -> Response:
    row = _svc("segments").archive_segment(db, segment_id=segment_id, actor=me.actor)
    return RedirectResponse(url(request, "/segments", flash=f"Segment “{row.name}” archived."), status_code=303)


# ------------------------------------------------------------------------------------------ offers

OFFER_KINDS = ("generic", "birthday", "regulars_exclusive", "recommendation", "event_invitation")
REWARD_TYPES = ("none", "voucher", "points", "percent", "amount")


def _offer_values(form: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    r = Reader(form)
    values: dict[str, Any] = {
        "name": r.text("name", required=True, max_len=200), "description": r.text("description") or "",
        "valid_from": r.when("valid_from"), "valid_until": r.when("valid_until"),
        "per_customer_limit": r.integer("per_customer_limit", required=True, minimum=1),
        "capacity": r.integer("capacity", minimum=1), "active": r.boolean("active"),
    }
    if creating:
        values.update({
            "kind": r.text("kind", required=True), "reward_type": r.text("reward_type") or "none",
            "reward_id": r.integer("reward_id", minimum=1), "points": r.integer("points", minimum=1),
            "discount_value": r.decimal("discount_value"), "max_discount": r.decimal("max_discount"),
            "code_validity_days": r.integer("code_validity_days", required=True, minimum=1),
            "segment_id": r.integer("segment_id", minimum=1),
            "min_purchases": r.integer("min_purchases", minimum=1),
            "purchase_window_days": r.integer("purchase_window_days", minimum=1),
            "rfm_segments": r.words("rfm_segments"), "lead_days": r.integer("lead_days", minimum=0),
            "event_at": r.when("event_at"), "location": r.text("location", max_len=300),
        })
        if values["lead_days"] is None:
            values.pop("lead_days")
    r.check()
    return values


def _offer_choices(db: Session) -> dict[str, Any]:
    segs = _svc("segments").list_segments(db, limit=500) if domains.service("segments") else []
    rewards = domains.service("rewards")
    return {"kind_options": [(k, k.replace("_", " ")) for k in OFFER_KINDS],
            "reward_type_options": [(k, k) for k in REWARD_TYPES],
            "segment_options": [(s.id, s.name) for s in segs],
            "reward_options": [(w.id, f"{w.name} ({w.cost_points} points)")
                               for w in (rewards.list_rewards(db, active=True) if rewards else [])]}


def _offer_page(request: Request, db: Session, *, offer: Any, form: dict[str, Any], status_code: int = 200,
                errors: dict[str, str] | None = None) -> Response:
    return render(request, "offer_form.html", status_code=status_code, title=offer.name if offer else "New offer",
                  offer=offer, form=form, errors=errors or {}, **_offer_choices(db))


@router.get("/offers")
def offers(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("offers:read"))],
           kind: str = "", active: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    svc = _svc("offers")
    rows = svc.list_offers(db, kind=kind or None, active={"yes": True, "no": False}.get(active),
                           limit=paging.PAGE + 1, offset=offset)
    win = paging.window(rows, offset=offset, href=lambda o: url(request, "/offers", kind=kind, active=active, offset=o))
    return render(request, "offers.html", title="Offers", items=win.items, win=win, kinds=OFFER_KINDS,
                  form={"kind": kind, "active": active})


@router.get("/offers/new")
def offer_new(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("offers:write"))]) -> Response:
    return _offer_page(request, db, offer=None, form={"kind": "generic", "reward_type": "none", "active": True,
                                                      "per_customer_limit": 1, "code_validity_days": 30})


@router.post("/offers/new")
async def offer_create(request: Request, db: DbDep,
                       me: Annotated[ConsoleSession, Depends(needs("offers:write"))]) -> Response:
    form = dict(await request.form())
    try:
        row = _svc("offers").create_offer(db, data=_schemas("offers").OfferCreate(**_offer_values(form, creating=True)),
                                          actor=me.actor)
    except FORM_ERRORS as exc:
        _restart(db)
        return _offer_page(request, db, offer=None, form=form, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, "/offers", flash=f"Offer “{row.name}” created."), status_code=303)


@router.get("/offers/{offer_id}")
def offer_edit(request: Request, offer_id: int, db: DbDep,
               me: Annotated[ConsoleSession, Depends(needs("offers:read"))]) -> Response:
    row = _svc("offers").get_offer(db, offer_id)
    form = row.model_dump()
    for k in ("valid_from", "valid_until", "event_at"):
        form[k] = _local(form[k])
    form["rfm_segments"] = ", ".join(row.rfm_segments or [])
    return _offer_page(request, db, offer=row, form=form)


@router.post("/offers/{offer_id}")
async def offer_update(request: Request, offer_id: int, db: DbDep,
                       me: Annotated[ConsoleSession, Depends(needs("offers:write"))]) -> Response:
    svc = _svc("offers")
    current = svc.get_offer(db, offer_id)
    form = dict(await request.form())
    try:
        row = svc.update_offer(db, offer_id=offer_id,
                               data=_schemas("offers").OfferUpdate(**_offer_values(form, creating=False)),
                               actor=me.actor)
    except FORM_ERRORS as exc:
        _restart(db)
        shown = {**current.model_dump(), **form}
        return _offer_page(request, db, offer=current, form=shown, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, f"/offers/{row.id}", flash=f"Offer “{row.name}” saved."), status_code=303)


# ------------------------------------------------------------------------------------------ campaigns

def _campaign_values(form: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    r = Reader(form)
    values: dict[str, Any] = {
        "name": r.text("name", required=True, max_len=200), "description": r.text("description") or "",
        "starts_at": r.when("starts_at"), "ends_at": r.when("ends_at"), "budget": r.decimal("budget"),
        "control_percent": r.integer("control_percent", required=True, minimum=0),
        "attribution_days": r.integer("attribution_days", required=True, minimum=1),
        "margin": r.decimal("margin", required=True),
    }
    if creating:
        values.update({
            "segment_id": r.integer("segment_id", minimum=1), "offer_id": r.integer("offer_id", minimum=1),
            "template": r.text("template", max_len=100), "channel": r.text("channel") or "email",
            "message_cost": r.decimal("message_cost") or 0,
            "retention_days": r.integer("retention_days", required=True, minimum=1),
            "seed": r.text("seed", max_len=64),
        })
        if values["segment_id"] is None and "segment_id" not in r.errors:
            r.errors["segment_id"] = "choose the audience segment"
    r.check()
    return values


def _campaign_choices(db: Session) -> dict[str, Any]:
    segs = _svc("segments").list_segments(db, limit=500) if domains.service("segments") else []
    offs = _svc("offers").list_offers(db, active=True, limit=500) if domains.service("offers") else []
    return {"segment_options": [(s.id, s.name) for s in segs], "offer_options": [(o.id, o.name) for o in offs]}


def _campaign_form(request: Request, db: Session, *, form: dict[str, Any], status_code: int = 200,
                   errors: dict[str, str] | None = None) -> Response:
    return render(request, "campaign_form.html", status_code=status_code, title="New campaign", form=form,
                  errors=errors or {}, **_campaign_choices(db))


@router.get("/campaigns")
def campaigns(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("campaigns:read"))],
              status: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    svc = _svc("campaigns")
    errors: dict[str, str] = {}
    rows: list[Any] = []
    try:
        rows = svc.list_campaigns(db, status=status or None, limit=paging.PAGE + 1, offset=offset)
    except DomainError as exc:
        errors = errors_of(exc)
    win = paging.window(rows, offset=offset, href=lambda o: url(request, "/campaigns", status=status, offset=o))
    return render(request, "campaigns.html", title="Campaigns", items=win.items, win=win, errors=errors,
                  form={"status": status})


@router.get("/campaigns/new")
def campaign_new(request: Request, db: DbDep,
                 me: Annotated[ConsoleSession, Depends(needs("campaigns:write"))]) -> Response:
    return _campaign_form(request, db, form={"channel": "email", "control_percent": 10, "attribution_days": 30,
                                             "retention_days": 90, "margin": "0.3", "message_cost": "0"})


@router.post("/campaigns/new")
async def campaign_create(request: Request, db: DbDep,
                          me: Annotated[ConsoleSession, Depends(needs("campaigns:write"))]) -> Response:
    form = dict(await request.form())
    try:
        data = _schemas("campaigns").CampaignCreate(**_campaign_values(form, creating=True))
        row = _svc("campaigns").create_campaign(db, data=data, actor=me.actor)
    except FORM_ERRORS as exc:
        _restart(db)
        return _campaign_form(request, db, form=form, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, f"/campaigns/{row.id}", flash=f"Campaign “{row.name}” created."),
                            status_code=303)


def _campaign_page(request: Request, db: Session, campaign_id: int, *, status_code: int = 200,
                   form: dict[str, Any] | None = None, errors: dict[str, str] | None = None,
                   launched: Any = None) -> Response:
    svc = _svc("campaigns")
    item = svc.get_campaign(db, campaign_id)
    res = None
    if item.status not in ("draft", "scheduled", "cancelled"):
        res = svc.results(db, campaign_id=campaign_id)
    names = {}
    if item.segment_id is not None and domains.service("segments"):
        names["segment"] = _svc("segments").get_segment(db, item.segment_id).name
    if item.offer_id is not None and domains.service("offers"):
        names["offer"] = _svc("offers").get_offer(db, item.offer_id).name
    if form is None:
        form = {**item.model_dump(mode="json"), "starts_at": _local(item.starts_at), "ends_at": _local(item.ends_at),
                "budget": item.budget if item.budget is not None else ""}
    return render(request, "campaign.html", status_code=status_code, title=item.name, c=item, res=res,
                  names=names, form=form, errors=errors or {}, launched=launched)


@router.get("/campaigns/{campaign_id}")
def campaign(request: Request, campaign_id: int, db: DbDep,
             me: Annotated[ConsoleSession, Depends(needs("campaigns:read"))]) -> Response:
    return _campaign_page(request, db, campaign_id)


@router.post("/campaigns/{campaign_id}")
async def campaign_update(request: Request, campaign_id: int, db: DbDep,
                          me: Annotated[ConsoleSession, Depends(needs("campaigns:write"))]) -> Response:
    svc = _svc("campaigns")
    svc.get_campaign(db, campaign_id)
    form = dict(await request.form())
    try:
        data = _schemas("campaigns").CampaignUpdate(**_campaign_values(form, creating=False))
        row = svc.update_campaign(db, campaign_id=campaign_id, data=data, actor=me.actor)
    except FORM_ERRORS as exc:
        _restart(db)
        return _campaign_page(request, db, campaign_id, status_code=400, form=form, errors=errors_of(exc))
    return RedirectResponse(url(request, f"/campaigns/{row.id}", flash=f"Campaign “{row.name}” saved."),
                            status_code=303)


@router.post("/campaigns/{campaign_id}/launch")
def campaign_launch(request: Request, campaign_id: int, db: DbDep,
                    me: Annotated[ConsoleSession, Depends(needs("campaigns:write"))]) -> Response:
    """Draw the holdout and send to the treatment group now (idempotent in the service: a second
    launch reports the first one's figures and sends nothing)."""
    try:
        result = _svc("campaigns").launch(db, campaign_id=campaign_id, actor=me.actor)
    except DomainError as exc:
        _restart(db)
        return _campaign_page(request, db, campaign_id, status_code=exc.status_code,
                              errors={"__all__": exc.message})
    note = (f"Launched: {result.audience} customers, {result.treatment} treatment / {result.control} control, "
            f"{result.sent} sent.") if not result.already_launched else "Already launched; nothing more was sent."
    return RedirectResponse(url(request, f"/campaigns/{campaign_id}", flash=note), status_code=303)


@router.post("/campaigns/{campaign_id}/cancel")
def campaign_cancel(request: Request, campaign_id: int, db: DbDep,
                    me: Annotated[ConsoleSession, Depends(needs("campaigns:write"))]) -> Response:
    try:
        row = _svc("campaigns").cancel_campaign(db, campaign_id=campaign_id, actor=me.actor)
    except DomainError as exc:
        _restart(db)
        return _campaign_page(request, db, campaign_id, status_code=exc.status_code,
                              errors={"__all__": exc.message})
    return RedirectResponse(url(request, f"/campaigns/{row.id}", flash="Campaign cancelled."), status_code=303)
