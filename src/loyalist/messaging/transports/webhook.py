"""Outgoing webhooks: a signed JSON POST per subscribed endpoint.

Headers: `X-Loyalist-Event`, `X-Loyalist-Timestamp` (UTC epoch seconds), `X-Loyalist-Signature`
(`v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`, see `loyalist.signing.webhook_signature`) and
`Idempotency-Key` (stable across retries, so the receiver can drop a duplicate delivery).
"""

from __future__ import annotations

import httpx

from loyalist import clock
from loyalist.config import Settings
from loyalist.messaging.schemas import Outgoing, SendResult
from loyalist.messaging.transports.base import DeliveryError, http_failure
from loyalist.signing import webhook_signature


class WebhookTransport:
    def __init__(self, settings: Settings, *, timeout: float = 15.0) -> None:
        self.settings = settings
        self.client = httpx.Client(timeout=timeout, follow_redirects=False)

    def send(self, outgoing: Outgoing) -> SendResult:
        if outgoing.body is None or outgoing.secret is None:
            raise DeliveryError("webhook: no body or secret", permanent=True)
        # signed at send time, so a retry a day later carries a fresh, verifiable timestamp
        timestamp = int(clock.now().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "Loyalist-Webhooks/1",
            "X-Loyalist-Event": outgoing.event or "",
            "X-Loyalist-Timestamp": str(timestamp),
            "X-Loyalist-Signature": webhook_signature(outgoing.secret, timestamp, outgoing.body),
            "Idempotency-Key": outgoing.idempotency_key,
        }
        try:
            response = self.client.post(outgoing.to, content=outgoing.body, headers=headers)
        except httpx.HTTPError as exc:
            raise DeliveryError(f"webhook unreachable: {exc.__class__.__name__}: {exc}") from exc
        if not 200 <= response.status_code < 300:
            raise http_failure(response.status_code, response.text, what="webhook receiver")
        return SendResult(provider_message_id=response.headers.get("x-request-id"))

    def close(self) -> None:
        self.client.close()
