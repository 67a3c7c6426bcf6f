"""SMS through an HTTP gateway, behind a provider registry.

A provider is one small class: subclass `SmsProvider`, implement `send`, and register it under
a name; `LOYALIST_SMS_PROVIDER=<name>` selects it. The bundled `generic_http` provider POSTs
JSON to `LOYALIST_SMS_GATEWAY_URL` with a bearer token and an `Idempotency-Key` header, so a
retried message (after a worker crash) can be dropped by the gateway.
"""

from __future__ import annotations

from collections.abc import Callable

import httpx

from loyalist.config import Settings
from loyalist.messaging.schemas import Outgoing, SendResult
from loyalist.messaging.transports.base import DeliveryError, http_failure

SMS_PROVIDERS: dict[str, type[SmsProvider]] = {}


def register_sms_provider(name: str) -> Callable[[type[SmsProvider]], type[SmsProvider]]:
    def _register(cls: type[SmsProvider]) -> type[SmsProvider]:
        SMS_PROVIDERS[name] = cls
        return cls

    return _register


class SmsProvider:
    """Base class: holds the settings and an HTTP client reused across a worker pass."""

    def __init__(self, settings: Settings, *, timeout: float = 15.0) -> None:
        self.settings = settings
        self.client = httpx.Client(timeout=timeout)

    def send(self, outgoing: Outgoing) -> SendResult:  # pragma: no cover - abstract
        raise NotImplementedError

    def close(self) -> None:
        self.client.close()


@register_sms_provider("generic_http")
class GenericHttpSms(SmsProvider):
    """`POST {url}` with `{"to", "text", "sender", "reference"}`; the answer's `id` (or
    `message_id`) is kept as the provider's message id."""

    def send(self, outgoing: Outgoing) -> SendResult:
        url = self.settings.sms_gateway_url
        if not url:
            raise DeliveryError("sms gateway: LOYALIST_SMS_GATEWAY_URL is not set")
        headers = {"Idempotency-Key": outgoing.idempotency_key, "Content-Type": "application/json"}
        if self.settings.sms_gateway_token:
            headers["Authorization"] = f"Bearer {self.settings.sms_gateway_token}"
        body = {"to": outgoing.to, "text": outgoing.text or "", "sender": self.settings.business_name[:11],
                "reference": outgoing.idempotency_key}
        try:
            response = self.client.post(url, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"sms gateway unreachable: {exc.__class__.__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise http_failure(response.status_code, response.text, what="sms gateway")
        try:
            data = response.json()
        except ValueError:
            data = {}
        ident = data.get("id") or data.get("message_id") if isinstance(data, dict) else None
        return SendResult(provider_message_id=None if ident is None else str(ident))


def sms_transport(settings: Settings) -> SmsProvider:
    try:
        cls = SMS_PROVIDERS[settings.sms_provider]
    except KeyError as exc:
        raise DeliveryError(f"sms provider {settings.sms_provider!r} unknown; one of {sorted(SMS_PROVIDERS)}",
                            permanent=False) from exc
    return cls(settings)
