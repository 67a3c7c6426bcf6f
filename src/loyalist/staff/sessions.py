"""Server-side sessions for the staff console.

Why server-side rather than a signed cookie: a session must be revocable (logout, a deactivated
user, "sign out everywhere") and must expire both after inactivity and at a hard limit. The cookie
holds a 256-bit random token; the table keeps only its SHA-256, so reading the database gives no
usable session. Each session's CSRF token is derived from its cookie token by `loyalist.csrf`
(the scheme the portal uses too), so it is not stored and dies with the session.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import delete, or_, select, update
from sqlalchemy.orm import Session

from loyalist import clock, csrf
from loyalist.audit import service as audit
from loyalist.errors import Unauthenticated
from loyalist.staff import service as staff_service
from loyalist.staff.models import StaffSession, StaffUser
from loyalist.types import Actor

IDLE_TIMEOUT = timedelta(minutes=30)
ABSOLUTE_TIMEOUT = timedelta(hours=12)
# last_seen_at is written at most this often, so browsing is not a write per page view.
TOUCH_EVERY = timedelta(seconds=60)


@dataclass(frozen=True)
class ConsoleSession:
    """What a request learns from a valid session cookie."""

    id: int
    actor: Actor
    email: str
    csrf_token: str


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def login(session: Session, *, email: str, password: str, user_agent: str | None = None) -> tuple[str, ConsoleSession]:
    """Check the password (with the staff lockout) and open a session; returns (cookie token, session).

    A failed attempt raises Unauthenticated after the failure counter has been flushed: the caller
    must still commit, or the lockout would never trigger.
    """
    actor = staff_service.verify_password(session, email=email, password=password)
    assert actor.id is not None
    now = clock.now()
    token = secrets.token_urlsafe(32)
    row = StaffSession(
        token_hash=hash_token(token), staff_id=actor.id,
        created_at=now, last_seen_at=now, expires_at=now + ABSOLUTE_TIMEOUT,
        user_agent=(user_agent or "")[:300] or None,
    )
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="staff.login", target_type="staff", target_id=actor.id,
                 after={"session_id": row.id})
    user = session.get(StaffUser, actor.id)
    return token, ConsoleSession(id=row.id, actor=actor, email=user.email if user else "",
                                 csrf_token=csrf.session_token("console", token))


def resolve(session: Session, token: str | None) -> ConsoleSession:
    """The live session for a cookie token; Unauthenticated if missing, unknown, revoked or expired
    (idle or absolute), or if its user was deactivated since."""
    if not token:
        raise Unauthenticated("not signed in")
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
    now = clock.now()
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("not signed in")
    if now >= row.expires_at or now >= row.last_seen_at + IDLE_TIMEOUT:
        raise Unauthenticated("session expired; sign in again")
    user = session.get(StaffUser, row.staff_id)
    if user is None or not user.active:
        raise Unauthenticated("not signed in")
    if now - row.last_seen_at >= TOUCH_EVERY:
        row.last_seen_at = now
        session.flush()
    actor = Actor(kind="staff", id=user.id, name=user.name, role=user.role)
    return ConsoleSession(id=row.id, actor=actor, email=user.email, csrf_token=csrf.session_token("console", token))


def check_csrf(current: ConsoleSession, presented: str | None) -> bool:
    """Constant-time comparison of a form's token with the session's (`loyalist.csrf.matches`)."""
    return csrf.matches(current.csrf_token, presented)


def logout(session: Session, *, token: str | None) -> bool:
    """Revoke the session of this token; False when there was no live one (logout is idempotent)."""
    if not token:
        return False
    row = session.scalar(select(StaffSession).where(StaffSession.token_hash == hash_token(token)))
    if row is None or row.revoked_at is not None:
        return False
    row.revoked_at = clock.now()
    session.flush()
    user = session.get(StaffUser, row.staff_id)
    actor = Actor(kind="staff", id=row.staff_id, name=user.name if user else "?", role=user.role if user else None)
    audit.record(session, actor=actor, action="staff.logout", target_type="staff", target_id=row.staff_id,
                 after={"session_id": row.id})
    return True


def revoke_all(session: Session, *, staff_id: int, actor: Actor) -> int:
    """Sign a staff user out everywhere (after a password change or deactivation)."""
    now = clock.now()
    result = session.execute(
        update(StaffSession).where(StaffSession.staff_id == staff_id, StaffSession.revoked_at.is_(None))
        .values(revoked_at=now)
    )
    count = int(getattr(result, "rowcount", 0) or 0)
    session.flush()
    if count:
        audit.record(session, actor=actor, action="staff.sessions_revoke", target_type="staff", target_id=staff_id,
                     after={"sessions": count})
    return count


def purge(session: Session, *, as_of: datetime | None = None, keep: timedelta = timedelta(days=7)) -> int:
    """Delete session rows that ended (revoked, idle or absolute expiry) more than `keep` ago.

    They carry nothing worth keeping (sign-in and sign-out are in the audit log); re-runnable."""
    now = as_of or clock.now()
    cutoff = now - keep
    dead = or_(StaffSession.expires_at < cutoff, StaffSession.revoked_at < cutoff,
               StaffSession.last_seen_at < cutoff - IDLE_TIMEOUT)
    result = session.execute(delete(StaffSession).where(dead))
    session.flush()
    return int(getattr(result, "rowcount", 0) or 0)
