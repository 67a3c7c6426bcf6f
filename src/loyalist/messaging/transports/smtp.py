"""Email over SMTP: multipart text + HTML, UTF-8 headers, one connection per worker pass.

SMTP answers are classified: 550/551/553 for a recipient is a hard bounce (the address goes
on the suppression list), other 5xx are permanent failures, 4xx and lost connections are
retried later by the outbox.
"""

from __future__ import annotations

import smtplib
from email.message import EmailMessage
from email.utils import formatdate

from loyalist.config import Settings
from loyalist.messaging.schemas import Outgoing, SendResult
from loyalist.messaging.transports.base import DeliveryError

HARD_BOUNCE_CODES = frozenset({550, 551, 553})


def build_email(outgoing: Outgoing, *, mail_from: str) -> EmailMessage:
    """The MIME message: text part first, HTML alternative second (clients show the last one
    they understand), every header UTF-8 safe (RFC 2047 encoded words for Cyrillic subjects)."""
    msg = EmailMessage()
    msg["From"] = mail_from
    msg["To"] = outgoing.to
    msg["Subject"] = outgoing.subject or ""
    msg["Date"] = formatdate(localtime=False, usegmt=True)
    if outgoing.message_id_header:
        msg["Message-ID"] = outgoing.message_id_header
    for name, value in outgoing.headers.items():
        msg[name] = value
    msg.set_content(outgoing.text or "", charset="utf-8")
    if outgoing.html:
        msg.add_alternative(outgoing.html, subtype="html", charset="utf-8")
    return msg


class SmtpTransport:
    def __init__(self, settings: Settings, *, timeout: float = 30.0) -> None:
        self.settings = settings
        self.timeout = timeout
        self._conn: smtplib.SMTP | None = None

    def _connect(self) -> smtplib.SMTP:
        s = self.settings
        try:
            conn = smtplib.SMTP(s.smtp_host, s.smtp_port, timeout=self.timeout)
            if s.smtp_starttls:
                conn.starttls()
            if s.smtp_username:
                conn.login(s.smtp_username, s.smtp_password or "")
        except (OSError, smtplib.SMTPException) as exc:
            raise DeliveryError(f"SMTP {s.smtp_host}:{s.smtp_port} unreachable: {exc}") from exc
        return conn

    def send(self, outgoing: Outgoing) -> SendResult:
        msg = build_email(outgoing, mail_from=self.settings.mail_from)
        for attempt in (1, 2):
            if self._conn is None:
                self._conn = self._connect()
            try:
                self._conn.send_message(msg, to_addrs=[outgoing.to])
                return SendResult(provider_message_id=outgoing.message_id_header)
            except smtplib.SMTPRecipientsRefused as exc:
                code, text = next(iter(exc.recipients.values()))
                detail = text.decode("utf-8", "replace") if isinstance(text, bytes) else str(text)
                raise DeliveryError(f"SMTP refused recipient: {code} {detail}",
                                    bounce=code in HARD_BOUNCE_CODES, permanent=code >= 500) from exc
            except smtplib.SMTPResponseException as exc:
                detail = exc.smtp_error.decode("utf-8", "replace") if isinstance(exc.smtp_error, bytes) \
                    else str(exc.smtp_error)
                self._drop()
                raise DeliveryError(f"SMTP error {exc.smtp_code} {detail}", permanent=exc.smtp_code >= 500) from exc
            except (smtplib.SMTPServerDisconnected, OSError) as exc:
                # a pooled connection may have been closed by the server: reconnect once
                self._drop()
                if attempt == 2:
                    raise DeliveryError(f"SMTP connection lost: {exc}") from exc
            except smtplib.SMTPException as exc:
                self._drop()
                raise DeliveryError(f"SMTP error: {exc}") from exc
        raise DeliveryError("SMTP: not sent")  # pragma: no cover - loop always returns or raises

    def _drop(self) -> None:
        if self._conn is not None:
            try:
                self._conn.close()
            except Exception:  # noqa: BLE001 - closing a broken socket may fail in any way
                pass
            self._conn = None

    def close(self) -> None:
        if self._conn is not None:
            try:
                self._conn.quit()
            except (OSError, smtplib.SMTPException):
                pass
            self._drop()
