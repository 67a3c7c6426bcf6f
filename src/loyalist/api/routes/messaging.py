"""Messaging: templates and preview, the outbox (list, send, resend), webhook endpoints,
the suppression list, and the public one-click unsubscribe link."""

from __future__ import annotations

import html
from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import HTMLResponse

from loyalist.api.deps import Permit, SessionDep
from loyalist.api.ratelimit import Limit
from loyalist.config import get_settings
from loyalist.customers import service as customers_service
from loyalist.messaging import service
from loyalist.messaging.schemas import (
    MessagePage,
    MessageRead,
    PreviewRequest,
    Rendered,
    SendRequest,
    SuppressionCreate,
    SuppressionRead,
    TemplateCreate,
    TemplateRead,
    TemplateUpdate,
    UnsubscribeResult,
    WebhookEndpointCreate,
    WebhookEndpointCreated,
    WebhookEndpointRead,
    WebhookEndpointUpdate,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["messaging"])
# public (signed or anonymous link) endpoints are rate limited per client address
PUBLIC_READS = Limit("public-read", limit=120, per=timedelta(minutes=1))
PUBLIC_ANSWERS = Limit("public-write", limit=30, per=timedelta(minutes=1))

Limit = Annotated[int, Query(ge=1, le=500)]
Offset = Annotated[int, Query(ge=0, le=10**9)]


# --------------------------------------------------------------------------- templates

@router.get("/message-templates", response_model=list[TemplateRead])
def list_templates(session: SessionDep, actor: Annotated[Actor, Permit("messages:read")],
                   key: str | None = None) -> list[TemplateRead]:
    return service.list_templates(session, key=key)


@router.post("/message-templates", status_code=201, response_model=TemplateRead)
def create_template(body: TemplateCreate, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> TemplateRead:
    return service.create_template(session, data=body, actor=actor)


@router.post("/message-templates/preview", response_model=Rendered)
def preview(body: PreviewRequest, session: SessionDep, actor: Annotated[Actor, Permit("messages:read")]) -> Rendered:
    """Render a stored template (key, locale) or a draft for a customer, without sending."""
    return service.preview(session, data=body)


@router.get("/message-templates/{template_id}", response_model=TemplateRead)
def get_template(template_id: int, session: SessionDep,
                 actor: Annotated[Actor, Permit("messages:read")]) -> TemplateRead:
    return service.get_template(session, template_id)


@router.patch("/message-templates/{template_id}", response_model=TemplateRead)
def update_template(template_id: int, body: TemplateUpdate, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> TemplateRead:
    return service.update_template(session, template_id=template_id, data=body, actor=actor)


@router.delete("/message-templates/{template_id}", response_model=TemplateRead)
def delete_template(template_id: int, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> TemplateRead:
    return service.delete_template(session, template_id=template_id, actor=actor)


# --------------------------------------------------------------------------- outbox

@router.get("/messages", response_model=MessagePage)
def list_messages(session: SessionDep, actor: Annotated[Actor, Permit("messages:read")],
                  customer_id: int | None = None, status: str | None = None, channel: str | None = None,
                  category: str | None = None, limit: Limit = 50, offset: Offset = 0) -> MessagePage:
    return service.list_messages(session, customer_id=customer_id, status=status, channel=channel,
                                 category=category, limit=limit, offset=offset)


@router.post("/messages", status_code=201, response_model=MessageRead)
def send_message(body: SendRequest, session: SessionDep,
                 actor: Annotated[Actor, Permit("messages:send")]) -> MessageRead:
    """Put a message in the outbox (the worker sends it). Same `dedupe_key` again returns the
    first message, so a retried request never sends twice."""
    return service.enqueue(session, channel=body.channel, customer_id=body.customer_id, dedupe_key=body.dedupe_key,
                           actor=actor, template=body.template, subject=body.subject, text=body.text,
                           html=body.html, context=body.context, to=body.to, category=body.category,
                           not_before=body.not_before, source_type="api")


@router.get("/messages/stats")
def outbox_stats(session: SessionDep, actor: Annotated[Actor, Permit("messages:read")]) -> dict[str, object]:
    """Messages per status and the age of the oldest due one (outbox depth and lag)."""
    return service.outbox_stats(session)


@router.get("/messages/{message_id}", response_model=MessageRead)
def get_message(message_id: int, session: SessionDep, actor: Annotated[Actor, Permit("messages:read")]) -> MessageRead:
    return service.get_message(session, message_id)


@router.post("/messages/{message_id}/resend", response_model=MessageRead)
def resend(message_id: int, session: SessionDep, actor: Annotated[Actor, Permit("messaging:admin")]) -> MessageRead:
    """Queue a dead or failed message again with a fresh attempt budget."""
    return service.resend(session, message_id=message_id, actor=actor)


@router.get("/customers/{customer_id}/messages", response_model=MessagePage)
def customer_messages(customer_id: int, session: SessionDep, actor: Annotated[Actor, Permit("messages:read")],
                      limit: Limit = 50, offset: Offset = 0) -> MessagePage:
    customers_service.get_customer(session, customer_id)
    return service.list_messages(session, customer_id=customer_id, limit=limit, offset=offset)


# --------------------------------------------------------------------------- webhook endpoints

@router.get("/webhook-endpoints", response_model=list[WebhookEndpointRead])
def list_endpoints(session: SessionDep,
                   actor: Annotated[Actor, Permit("messaging:admin")]) -> list[WebhookEndpointRead]:
    return service.list_endpoints(session)


@router.post("/webhook-endpoints", status_code=201, response_model=WebhookEndpointCreated)
def create_endpoint(body: WebhookEndpointCreate, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> WebhookEndpointCreated:
    """The answer holds the signing secret; it is never shown again."""
    return service.create_endpoint(session, data=body, actor=actor)


@router.get("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
def get_endpoint(endpoint_id: int, session: SessionDep,
                 actor: Annotated[Actor, Permit("messaging:admin")]) -> WebhookEndpointRead:
    return service.get_endpoint(session, endpoint_id)


@router.patch("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
def update_endpoint(endpoint_id: int, body: WebhookEndpointUpdate, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> WebhookEndpointRead:
    return service.update_endpoint(session, endpoint_id=endpoint_id, data=body, actor=actor)


@router.delete("/webhook-endpoints/{endpoint_id}", response_model=WebhookEndpointRead)
def delete_endpoint(endpoint_id: int, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> WebhookEndpointRead:
    return service.delete_endpoint(session, endpoint_id=endpoint_id, actor=actor)


# --------------------------------------------------------------------------- suppressions

@router.get("/suppressions", response_model=list[SuppressionRead])
def list_suppressions(session: SessionDep, actor: Annotated[Actor, Permit("messaging:admin")],
                      channel: str | None = None) -> list[SuppressionRead]:
    return service.list_suppressions(session, channel=channel)


@router.post("/suppressions", status_code=201, response_model=SuppressionRead)
def add_suppression(body: SuppressionCreate, session: SessionDep,
                    actor: Annotated[Actor, Permit("messaging:admin")]) -> SuppressionRead:
    return service.add_suppression(session, data=body, actor=actor)


@router.delete("/suppressions/{suppression_id}", response_model=SuppressionRead)
def remove_suppression(suppression_id: int, session: SessionDep,
                       actor: Annotated[Actor, Permit("messaging:admin")]) -> SuppressionRead:
    return service.remove_suppression(session, suppression_id=suppression_id, actor=actor)


# --------------------------------------------------------------------------- public unsubscribe

def _page(title: str, body: str) -> str:
    business = html.escape(get_settings().business_name)
    return (f"<!doctype html><html><head><meta charset='utf-8'><meta name='viewport' "
            f"content='width=device-width'><title>{html.escape(title)}</title></head>"
            f"<body style='font-family:sans-serif;max-width:32rem;margin:3rem auto'>"
            f"<h1>{html.escape(title)}</h1>{body}<p><small>{business}</small></p></body></html>")


@router.get("/public/unsubscribe", dependencies=[Depends(PUBLIC_READS)], response_class=HTMLResponse)
def unsubscribe_page(token: Annotated[str, Query(max_length=2000)]) -> HTMLResponse:
    """The link in the email footer: a confirmation button (a GET never unsubscribes, because
    mail scanners follow links)."""
    safe = html.escape(token, quote=True)
    return HTMLResponse(_page("Unsubscribe", (
        "<p>Stop receiving these messages?</p>"
        f"<form method='post' action='?token={safe}'>"
        "<input type='hidden' name='List-Unsubscribe' value='One-Click'>"
        "<button type='submit'>Unsubscribe</button></form>")))


@router.post("/public/unsubscribe", dependencies=[Depends(PUBLIC_ANSWERS)], response_model=UnsubscribeResult)
def unsubscribe(request: Request, token: Annotated[str, Query(max_length=2000)],
                session: SessionDep) -> UnsubscribeResult | HTMLResponse:
    """One-click unsubscribe (RFC 8058: mail clients POST `List-Unsubscribe=One-Click` here).
    Authenticated by the signed, expiring token alone; repeating it is harmless. A browser
    (the confirmation form) gets a page, a mail client the JSON answer."""
    result = service.unsubscribe(session, token=token)
    if "text/html" in request.headers.get("accept", ""):
        return HTMLResponse(_page("Unsubscribed", f"<p>You will no longer receive these messages by "
                                                  f"{html.escape(result.channel)}.</p>"))
    return result
