"""Transports: the only code that talks to the outside world (SMTP server, SMS gateway, webhook URLs).

Each transport turns one `Outgoing` into a `SendResult` or raises `DeliveryError`, telling the
outbox whether the failure is worth retrying. `TransportSet` keeps one of each per worker
pass so that an SMTP connection is reused across a batch.
"""

from __future__ import annotations

from loyalist.config import Settings
from loyalist.messaging.transports.base import DeliveryError, Transport
from loyalist.messaging.transports.sms import SMS_PROVIDERS, SmsProvider, register_sms_provider, sms_transport
from loyalist.messaging.transports.smtp import SmtpTransport
from loyalist.messaging.transports.webhook import WebhookTransport

__all__ = ["DeliveryError", "Transport", "TransportSet", "SMS_PROVIDERS", "SmsProvider", "register_sms_provider",
           "SmtpTransport", "WebhookTransport"]


class TransportSet:
    """Lazily opened transports for one worker pass; `close()` releases connections."""

    def __init__(self, settings: Settings, overrides: dict[str, Transport] | None = None) -> None:
        self.settings = settings
        self._open: dict[str, Transport] = dict(overrides or {})

    def get(self, channel: str) -> Transport:
        if channel not in self._open:
            if channel == "email":
                self._open[channel] = SmtpTransport(self.settings)
            elif channel == "sms":
                self._open[channel] = sms_transport(self.settings)
            elif channel == "webhook":
                self._open[channel] = WebhookTransport(self.settings)
            else:
                raise DeliveryError(f"no transport for channel {channel!r}", permanent=True)
        return self._open[channel]

    def close(self) -> None:
        for transport in self._open.values():
            transport.close()
        self._open.clear()

    def __enter__(self) -> TransportSet:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
