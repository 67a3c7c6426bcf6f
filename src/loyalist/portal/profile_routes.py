"""Profile, address, what I value, consents and unsubscribe, data export, closing the account.

Closing is one step on purpose (the seeds: a customer who had to call three times to cancel
became a detractor): one confirmation ends membership, stops marketing and signs out.
"""

from __future__ import annotations

import json
from datetime import date
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response
from pydantic import ValidationError

from loyalist.api.deps import SessionDep
from loyalist.customer_auth import service as customer_auth
from loyalist.customers import service as customers
from loyalist.customers.schemas import CUSTOMER_VALUES, AddressIn, ConsentIn, CustomerUpdate
from loyalist.errors import DomainError
from loyalist.portal.i18n import language_of
from loyalist.portal.render import SECURITY_HEADERS, SESSION_COOKIE, current, page, redirect, require_csrf

router = APIRouter(prefix="/portal", include_in_schema=False)
MARKETING_CHANNELS = ("email", "sms", "phone", "post")
CONTACT_CHOICES = ("email", "sms", "phone", "post")


def _profile(request: Request, session: SessionDep, me, *, errors=None, notice=None, form=None,  # type: ignore[no-untyped-def]
             status_code: int = 200) -> Response:
    profile = customers.get_customer(session, me.customer_id)
    addresses = customers.list_addresses(session, me.customer_id, history=False)
    return page(request, "profile.html", language=me.language, me=me, profile=profile, form=form or {},
                address=addresses[0] if addresses else None, errors=errors or {}, notice=notice,
                value_codes=sorted(CUSTOMER_VALUES), contact_choices=CONTACT_CHOICES,
                status_code=status_code)


@router.get("/profile")
def profile_page(request: Request, session: SessionDep) -> Response:
    return _profile(request, session, current(request, session))


@router.post("/profile")
def profile_save(request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
                 first_name: Annotated[str, Form()] = "", last_name: Annotated[str, Form()] = "",
                 phone: Annotated[str, Form()] = "", birthday: Annotated[str, Form()] = "",
                 locale: Annotated[str, Form()] = "", preferred_channel: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    form = {"first_name": first_name, "last_name": last_name, "phone": phone, "birthday": birthday,
            "locale": locale, "preferred_channel": preferred_channel}
    try:
        born = date.fromisoformat(birthday) if birthday.strip() else None
    except ValueError:
        return _profile(request, session, me, errors={"birthday": "YYYY-MM-DD"}, form=form, status_code=422)
    changes = {"first_name": first_name.strip() or None, "last_name": last_name.strip() or None,
               "phone": phone.strip() or None, "birthday": born, "locale": locale or None,
               "preferred_channel": preferred_channel or None}
    try:
        data = CustomerUpdate(**changes)
        customers.update_customer(session, customer_id=me.customer_id, data=data,
                                  actor=customer_auth.customer_actor(me.customer_id))
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "form"
        return _profile(request, session, me, errors={field: exc.errors()[0]["msg"]}, form=form, status_code=422)
    except DomainError as exc:
        return _profile(request, session, me, errors={exc.field or "form": str(exc)}, form=form, status_code=422)
    me.language = language_of(locale or None, request.headers.get("accept-language"))  # answer in the new language
    return _profile(request, session, me, notice="saved")


@router.post("/profile/address")
def address_save(request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
                 line1: Annotated[str, Form()] = "", city: Annotated[str, Form()] = "",
                 postal_code: Annotated[str, Form()] = "", country: Annotated[str, Form()] = "") -> Response:
    me = current(request, session)
    require_csrf(me, csrf)
    try:
        data = AddressIn(label="home", line1=line1.strip() or None, city=city.strip() or None,
                         postal_code=postal_code.strip() or None, country=country.strip().upper())
        customers.set_address(session, customer_id=me.customer_id, data=data,
                              actor=customer_auth.customer_actor(me.customer_id))
    except ValidationError as exc:
        field = str(exc.errors()[0]["loc"][0]) if exc.errors() else "address"
        return _profile(request, session, me, errors={field: exc.errors()[0]["msg"]}, status_code=422)
    except DomainError as exc:
        return _profile(request, session, me, errors={exc.field or "address": str(exc)}, status_code=422)
    return _profile(request, session, me, notice="saved")


@router.post("/profile/values")
async def values_save(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    form = await request.form()
    require_csrf(me, str(form.get("csrf") or ""))
    chosen = [str(v) for v in form.getlist("values") if str(v) in CUSTOMER_VALUES]
    customers.set_values(session, customer_id=me.customer_id, values=chosen,
                         actor=customer_auth.customer_actor(me.customer_id))
    return _profile(request, session, me, notice="saved")


def _preferences(request: Request, session: SessionDep, me, notice=None) -> Response:  # type: ignore[no-untyped-def]
    consents = {c.channel: c.granted for c in customers.list_consents(session, me.customer_id)}
    return page(request, "preferences.html", language=me.language, me=me, channels=MARKETING_CHANNELS,
                consents=consents, notice=notice)


@router.get("/preferences")
def preferences(request: Request, session: SessionDep) -> Response:
    return _preferences(request, session, current(request, session))


@router.post("/preferences")
async def preferences_save(request: Request, session: SessionDep) -> Response:
    """Record a consent change only for channels whose state actually changed (each change is
    history with a timestamp and source 'portal')."""
    me = current(request, session)
    form = await request.form()
    require_csrf(me, str(form.get("csrf") or ""))
    wanted = {str(v) for v in form.getlist("consent")}
    if form.get("unsubscribe_all"):
        wanted = set()
    current_state = {c.channel: c.granted for c in customers.list_consents(session, me.customer_id)}
    actor = customer_auth.customer_actor(me.customer_id)
    for channel in MARKETING_CHANNELS:
        granted = channel in wanted
        if current_state.get(channel, False) != granted:
            customers.set_consent(session, customer_id=me.customer_id, actor=actor,
                                  data=ConsentIn(channel=channel, granted=granted, source="portal"))
    return _preferences(request, session, me, notice="saved")


@router.get("/export")
def export(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    data = customers.export_customer(session, me.customer_id)
    body = json.dumps(data, default=str, ensure_ascii=False, indent=2)
    headers = dict(SECURITY_HEADERS)
    headers["Content-Disposition"] = f'attachment; filename="my-data-{me.customer_id}.json"'
    return Response(body, media_type="application/json", headers=headers)


@router.get("/close")
def close_form(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    return page(request, "close.html", language=me.language, me=me)


@router.post("/close")
def close(request: Request, session: SessionDep, csrf: Annotated[str, Form()] = "",
          erase: Annotated[str, Form()] = "") -> Response:
    """End membership in one step: withdraw marketing consent, close (or erase) the profile, end
    every session. All in the request's single transaction."""
    me = current(request, session)
    require_csrf(me, csrf)
    actor = customer_auth.customer_actor(me.customer_id)
    language = me.language
    for consent in customers.list_consents(session, me.customer_id):
        if consent.granted:
            customers.set_consent(session, customer_id=me.customer_id, actor=actor,
                                  data=ConsentIn(channel=consent.channel, granted=False, source="portal",
                                                 note="account closed by the customer"))
    customer_auth.revoke_all(session, me.customer_id)
    if erase:
        customers.erase_customer(session, customer_id=me.customer_id, actor=actor)
    else:
        customers.update_customer(session, customer_id=me.customer_id, data=CustomerUpdate(status="closed"),
                                  actor=actor)
    response = page(request, "closed.html", language=language, me=None)
    response.delete_cookie(SESSION_COOKIE, path="/portal")
    return response


__all__ = ["router", "redirect"]
