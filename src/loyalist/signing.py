"""Signed tokens for links that need no login, and HMAC signatures for webhooks.

Why one module: survey links, unsubscribe links, portal magic links and outgoing webhooks all
need the same two properties — a third party cannot forge or alter them, and they stop working
after their expiry. Each token carries a *purpose* so a survey link can never be replayed as a
portal login. Single use is a domain decision (the domain stores the token's `jti` when it is
consumed); this module only proves authenticity and freshness.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from datetime import datetime, timedelta
from typing import Any

from loyalist import clock
from loyalist.config import get_settings
from loyalist.errors import InvalidToken

__all__ = ["sign_token", "read_token", "webhook_signature", "verify_webhook", "new_secret"]


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _key(purpose: str, secret: str | None) -> bytes:
    """Derive a per-purpose key so a token minted for one purpose verifies for no other."""
    master = (secret or get_settings().secret_key).encode("utf-8")
    return hmac.new(master, b"loyalist-token:" + purpose.encode("utf-8"), hashlib.sha256).digest()


def sign_token(purpose: str, payload: dict[str, Any], *, expires_in: timedelta | None = None,
               expires_at: datetime | None = None, secret: str | None = None) -> str:
    """Return a URL-safe token holding `payload` plus `jti` (unique id) and `exp` (UTC epoch seconds).

    Exactly one of `expires_in` / `expires_at` must be given: a link without an expiry is a
    standing credential, which this product never hands out.
    """
    if (expires_in is None) == (expires_at is None):
        raise ValueError("give exactly one of expires_in or expires_at")
    exp = clock.now() + expires_in if expires_in is not None else clock.ensure_utc(expires_at)  # type: ignore[arg-type]
    body = dict(payload)
    body.setdefault("jti", secrets.token_urlsafe(12))
    body["exp"] = int(exp.timestamp())
    raw = json.dumps(body, separators=(",", ":"), sort_keys=True, default=str).encode("utf-8")
    mac = hmac.new(_key(purpose, secret), raw, hashlib.sha256).digest()
    return f"{_b64(raw)}.{_b64(mac)}"


def read_token(purpose: str, token: str, *, secret: str | None = None) -> dict[str, Any]:
    """Verify `token` for `purpose` and return its payload; raise InvalidToken if forged or expired."""
    try:
        raw_part, mac_part = token.split(".", 1)
        raw = _unb64(raw_part)
        mac = _unb64(mac_part)
    except (ValueError, AttributeError) as exc:
        raise InvalidToken("token: malformed", field="token") from exc
    expected = hmac.new(_key(purpose, secret), raw, hashlib.sha256).digest()
    if not hmac.compare_digest(mac, expected):
        raise InvalidToken("token: signature does not match", field="token")
    try:
        body = json.loads(raw)
    except ValueError as exc:  # pragma: no cover - only reachable with a valid MAC over junk
        raise InvalidToken("token: malformed", field="token") from exc
    if not isinstance(body, dict) or not isinstance(body.get("exp"), int):
        raise InvalidToken("token: malformed", field="token")
    if clock.now().timestamp() >= body["exp"]:
        raise InvalidToken("token: expired", field="token")
    return body


def webhook_signature(secret: str, timestamp: int, body: bytes) -> str:
    """`v1=<hex HMAC-SHA256 of "<timestamp>.<body>">`: the timestamp is signed so a captured
    request cannot be replayed later with a fresh header."""
    mac = hmac.new(secret.encode("utf-8"), f"{timestamp}.".encode("ascii") + body, hashlib.sha256)
    return "v1=" + mac.hexdigest()


def verify_webhook(secret: str, *, timestamp: str | int, signature: str, body: bytes,
                   tolerance: timedelta = timedelta(minutes=5)) -> None:
    """Raise InvalidToken unless `signature` matches and `timestamp` is within `tolerance` of now."""
    try:
        ts = int(timestamp)
    except (TypeError, ValueError) as exc:
        raise InvalidToken("timestamp: not an integer", field="timestamp") from exc
    if abs(clock.now().timestamp() - ts) > tolerance.total_seconds():
        raise InvalidToken("timestamp: outside the allowed window", field="timestamp")
    if not hmac.compare_digest(webhook_signature(secret, ts, body), signature or ""):
        raise InvalidToken("signature: does not match", field="signature")


def new_secret() -> str:
    """A fresh random secret for a webhook endpoint or similar shared key."""
    return secrets.token_urlsafe(32)
