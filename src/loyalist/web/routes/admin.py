"""Audit log, settings (read-only, secrets masked) and API key management."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response

from loyalist.audit import service as audit
from loyalist.errors import DomainError
from loyalist.staff import service as staff_service
from loyalist.staff.schemas import Role
from loyalist.staff.sessions import ConsoleSession
from loyalist.web import auth, paging
from loyalist.web.auth import DbDep, needs, root_state
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
PAGE = 50
SECRET_WORDS = ("secret", "password", "token", "key", "dsn")


@router.get("/audit")
def audit_log(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("audit:read"))],
              actor: str = "", action: str = "", target_type: str = "", target_id: str = "",
              offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    page = audit.list_entries(db, target_type=target_type or None, target_id=target_id or None,
                              action=action or None, actor=actor or None, limit=PAGE, offset=offset)
    form = {"actor": actor, "action": action, "target_type": target_type, "target_id": target_id}
    return render(request, "audit.html", title="Audit log", page=page, form=form,
                  page_href=lambda o: url(request, "/audit", offset=o, **form))


def mask(name: str, value: Any) -> str:
    """Settings shown to admins never reveal a secret: names that look secret, and passwords in URLs."""
    if value is None:
        return "—"
    text = str(value)
    if any(w in name.lower() for w in SECRET_WORDS) and text:
        return "•••••• (set)"
    if "://" in text and "@" in text:
        scheme, rest = text.split("://", 1)
        creds, host = rest.rsplit("@", 1)
        user = creds.split(":", 1)[0]
        return f"{scheme}://{user}:••••••@{host}" if ":" in creds else text
    return text


def _settings_rows(request: Request) -> list[tuple[str, str]]:
    settings = root_state(request).settings
    data = settings.model_dump()
    return [(name, mask(name, data[name])) for name in sorted(data)]


def _settings_page(request: Request, db: Any, me: ConsoleSession, *, status_code: int = 200,
                   errors: dict[str, str] | None = None, form: dict[str, Any] | None = None,
                   created: Any = None, staff_offset: int = 0, keys_offset: int = 0) -> Response:
    # The staff service has no paging (a shop has tens of staff and keys): pages are cut here.
    keys = paging.cut(staff_service.list_api_keys(db), offset=keys_offset) if auth.allows(me, "keys:admin") else None
    people = paging.cut(staff_service.list_staff(db), offset=staff_offset)
    return render(request, "settings.html", status_code=status_code, title="Settings",
                  settings_rows=_settings_rows(request), keys=keys.items if keys else keys, keys_page=keys,
                  people=people.items, people_page=people, roles=[r.value for r in Role],
                  errors=errors or {}, form=form or {"role": "integration"}, created=created,
                  people_href=lambda o: url(request, "/settings", staff_offset=o, keys_offset=keys_offset) + "#h-staff",
                  keys_href=lambda o: url(request, "/settings", staff_offset=staff_offset, keys_offset=o) + "#h-keys")


@router.get("/settings")
def settings_page(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("staff:read"))],
                  staff_offset: Annotated[int, Query(ge=0)] = 0,
                  keys_offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    return _settings_page(request, db, me, staff_offset=staff_offset, keys_offset=keys_offset)


@router.post("/settings/api-keys")
async def create_key(request: Request, db: DbDep,
                     me: Annotated[ConsoleSession, Depends(needs("keys:admin"))]) -> Response:
    form = dict(await request.form())
    r = Reader(form)
    name = r.text("name", required=True, max_len=200)
    role = r.text("role", required=True)
    try:
        r.check()
        created = staff_service.create_api_key(db, name=name or "", role=role or "", actor=me.actor)
    except (FormInvalid, DomainError) as exc:
        db.rollback()
        db.begin()
        return _settings_page(request, db, me, status_code=400, errors=errors_of(exc), form=form)
    # The plaintext is shown on this response only (no redirect: it must not land in a URL or history).
    return _settings_page(request, db, me, created=created)


@router.post("/settings/api-keys/{key_id}/revoke")
def revoke_key(request: Request, key_id: int, db: DbDep,
               me: Annotated[ConsoleSession, Depends(needs("keys:admin"))]) -> Response:
    staff_service.revoke_api_key(db, key_id=key_id, actor=me.actor)
    return RedirectResponse(url(request, "/settings", flash=f"API key {key_id} revoked."), status_code=303)
