"""Public shapes of customer sign-in."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel


class SignInRequested(BaseModel):
    """What the caller may tell the person: always the same, found or not (no enumeration)."""

    sent: bool = True
    expires_at: datetime | None = None
    # the id of the sign-in row when a customer was found; the portal never shows it
    sign_in_id: int | None = None
    # only in demo mode (no mail server): the code, so the portal can show it on screen
    demo_code: str | None = None


class CodeCheck(BaseModel):
    """Result of a code attempt. A wrong code is a result, not an exception, so that the counted
    failed attempt is committed with the request instead of being rolled back."""

    ok: bool
    reason: str | None = None  # wrong_code | expired | locked | used
    attempts_left: int = 0
    session_token: str | None = None
    customer_id: int | None = None


class PortalSessionRead(BaseModel):
    id: int
    customer_id: int
    created_at: datetime
    last_seen_at: datetime
    expires_at: datetime
