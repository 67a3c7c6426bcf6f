"""Cross-site request forgery protection for every HTML form of Loyalist (console and portal).

Why one module: the staff console and the customer portal used to carry their own schemes (a
random token stored per staff session, an HMAC per portal session, and two copies of the
double-submit cookie for the sign-in forms). One implementation means one place to review, one
comparison that is constant-time, and tokens of one face that can never be replayed on the other.

Two kinds of token:
- **Session-bound** (`session_token`): for forms shown to someone signed in. Derived with
  HMAC-SHA256 from the server secret, a *purpose* ("console", "portal") and the SHA-256 of the
  session cookie token, so nothing extra is stored, the token dies with the session, and a
  console token is worthless on the portal (and vice versa).
- **Double-submit** (`new_double_submit` / `check_double_submit`): for forms shown before a
  session exists (sign-in). A random value in a cookie that must equal the hidden form field; a
  cross-site page can neither read nor set our cookie.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from loyalist.config import get_settings

__all__ = ["PURPOSES", "session_token", "check_session", "new_double_submit", "check_double_submit", "matches"]

PURPOSES = frozenset({"console", "portal"})


def _key(purpose: str, secret: str | None) -> bytes:
    if purpose not in PURPOSES:
        raise ValueError(f"unknown CSRF purpose {purpose!r}; one of {sorted(PURPOSES)}")
    master = (secret or get_settings().secret_key).encode("utf-8")
    return hmac.new(master, b"loyalist-csrf:" + purpose.encode("ascii"), hashlib.sha256).digest()


def session_token(purpose: str, session_cookie: str, *, secret: str | None = None) -> str:
    """The CSRF token of the session whose cookie value is `session_cookie` (hex, 64 characters)."""
    if not session_cookie:
        raise ValueError("a session-bound CSRF token needs the session's cookie token")
    digest = hashlib.sha256(session_cookie.encode("utf-8")).digest()
    return hmac.new(_key(purpose, secret), digest, hashlib.sha256).hexdigest()


def matches(expected: str | None, presented: str | None) -> bool:
    """Constant-time equality of two non-empty tokens (an empty or missing one never matches)."""
    if not expected or not presented:
        return False
    return hmac.compare_digest(expected.encode("utf-8"), presented.encode("utf-8"))


def check_session(purpose: str, session_cookie: str | None, presented: str | None, *,
                  secret: str | None = None) -> bool:
    """Whether `presented` is the CSRF token of this session for this purpose."""
    if not session_cookie:
        return False
    return matches(session_token(purpose, session_cookie, secret=secret), presented)


def new_double_submit() -> str:
    """A fresh random value for the sign-in cookie and its hidden field."""
    return secrets.token_urlsafe(24)


def check_double_submit(cookie: str | None, presented: str | None) -> bool:
    """The sign-in form's hidden field must equal the cookie set when the form was shown."""
    return matches(cookie, presented)
