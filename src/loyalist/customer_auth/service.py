"""Customer sign-in for the portal: one-time codes and magic links by email, and sessions.

Why codes *and* links: a link is one tap on the phone that received the email; a code works
when the email is read on another device than the browser. Both come from one sign-in row and
either consumes it.

Guarding a six-digit code: it expires after 15 minutes, five wrong attempts lock the row, at most
five codes are sent per customer per hour, and only an HMAC of the code (keyed with the secret
key) is stored. Answers never reveal whether an email belongs to a customer.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
from datetime import timedelta
from urllib.parse import quote

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from loyalist import clock, signing
from loyalist.audit import service as audit
from loyalist.config import get_settings
from loyalist.customer_auth.models import PortalSession, PortalSignIn
from loyalist.customer_auth.schemas import CodeCheck, PortalSessionRead, SignInRequested
from loyalist.customer_auth.texts import SIGN_IN_EMAIL, language_of
from loyalist.customers import hooks
from loyalist.customers import service as customers
from loyalist.errors import InvalidToken, Unauthenticated
from loyalist.interactions import service as interactions
from loyalist.messaging import service as messaging
from loyalist.types import SYSTEM, Actor

CODE_TTL = timedelta(minutes=15)
MAX_FAILED_ATTEMPTS = 5
MAX_CODES_PER_HOUR = 5
SESSION_ABSOLUTE = timedelta(days=30)
SESSION_IDLE = timedelta(days=7)
LAST_SEEN_GRANULARITY = timedelta(minutes=5)
LINK_PURPOSE = "portal_sign_in"


def _code_hash(customer_id: int, code: str) -> str:
    key = get_settings().secret_key.encode()
    return hmac.new(key, f"portal-code:{customer_id}:{code}".encode(), hashlib.sha256).hexdigest()


def _token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def customer_actor(customer_id: int) -> Actor:
    """The actor for changes a signed-in customer makes to their own data."""
    return Actor(kind="customer", id=customer_id, name=f"customer:{customer_id}", role="customer")


def request_sign_in(session: Session, *, email: str, actor: Actor = SYSTEM) -> SignInRequested:
    """Email a code and a magic link to the active customer with `email`, if there is one.

    The result is the same whether or not the email is known, and when the hourly limit is hit
    nothing is sent but the answer does not change either (the limit is audited instead).
    """
    customer = customers.find_active_by_email(session, email)
    now = clock.now()
    if customer is None or not customer.email:
        return SignInRequested(expires_at=now + CODE_TTL)
    recent = session.scalar(select(func.count()).select_from(PortalSignIn).where(
        PortalSignIn.customer_id == customer.id, PortalSignIn.created_at > now - timedelta(hours=1))) or 0
    if recent >= MAX_CODES_PER_HOUR:
        audit.record(session, actor=actor, action="portal.sign_in_rate_limited", target_type="customer",
                     target_id=customer.id, after={"codes_last_hour": recent})
        return SignInRequested(expires_at=now + CODE_TTL)
    code = f"{secrets.randbelow(10**6):06d}"
    row = PortalSignIn(customer_id=customer.id, code_hash=_code_hash(customer.id, code), created_at=now,
                       expires_at=now + CODE_TTL, failed_attempts=0)
    session.add(row)
    session.flush()
    token = signing.sign_token(LINK_PURPOSE, {"sid": row.id, "cid": customer.id}, expires_at=row.expires_at)
    settings = get_settings()
    link = f"{settings.public_base_url.rstrip('/')}/portal/sign-in/link?token={quote(token)}"
    texts = SIGN_IN_EMAIL[language_of(customer.locale)]
    name = f" {customer.first_name}" if customer.first_name else ""
    values = {"business": settings.business_name, "code": code, "minutes": int(CODE_TTL.total_seconds() // 60),
              "link": link, "name": name}
    messaging.enqueue(
        session, channel="email", customer_id=customer.id, to=customer.email,
        dedupe_key=f"portal-sign-in-{row.id}", actor=actor, category="transactional",
        subject=texts["subject"].format(**values), text=texts["body"].format(**values),
        source_type="portal_sign_in", source_id=str(row.id),
    )
    return SignInRequested(expires_at=row.expires_at, sign_in_id=row.id,
                           demo_code=code if settings.demo_mode else None)


def _open_session(session: Session, customer_id: int, via: str) -> str:
    now = clock.now()
    token = secrets.token_urlsafe(32)
    session.add(PortalSession(customer_id=customer_id, token_hash=_token_hash(token), created_at=now,
                              last_seen_at=now, expires_at=now + SESSION_ABSOLUTE))
    session.flush()
    interactions.record(session, customer_id=customer_id, kind="portal", channel="portal", direction="inbound",
                        summary=f"Signed in to the portal ({via})", actor=customer_actor(customer_id),
                        source_type="portal_session", data={"via": via})
    return token


def verify_code(session: Session, *, email: str, code: str) -> CodeCheck:
    """Check a typed code against the customer's newest open sign-in; count a wrong attempt."""
    customer = customers.find_active_by_email(session, email)
    code = (code or "").strip().replace(" ", "")
    if customer is None:
        return CodeCheck(ok=False, reason="wrong_code")
    row = session.scalar(select(PortalSignIn).where(PortalSignIn.customer_id == customer.id)
                         .order_by(PortalSignIn.created_at.desc(), PortalSignIn.id.desc()).limit(1))
    now = clock.now()
    if row is None:
        return CodeCheck(ok=False, reason="wrong_code")
    if row.consumed_at is not None:
        return CodeCheck(ok=False, reason="used")
    if row.failed_attempts >= MAX_FAILED_ATTEMPTS:
        return CodeCheck(ok=False, reason="locked")
    if now >= row.expires_at:
        return CodeCheck(ok=False, reason="expired")
    if not (len(code) == 6 and code.isdigit() and hmac.compare_digest(row.code_hash, _code_hash(customer.id, code))):
        row.failed_attempts += 1
        session.flush()
        left = MAX_FAILED_ATTEMPTS - row.failed_attempts
        return CodeCheck(ok=False, reason="locked" if left <= 0 else "wrong_code", attempts_left=max(left, 0))
    if not _consume(session, row.id, "code"):
        return CodeCheck(ok=False, reason="used")
    return CodeCheck(ok=True, session_token=_open_session(session, customer.id, "code"), customer_id=customer.id)


def _consume(session: Session, sign_in_id: int, via: str) -> bool:
    """Guarded single use: only one of two racing requests flips consumed_at."""
    result = session.execute(update(PortalSignIn).where(PortalSignIn.id == sign_in_id,
                                                       PortalSignIn.consumed_at.is_(None))
                             .values(consumed_at=clock.now(), consumed_by=via))
    return (result.rowcount or 0) == 1  # type: ignore[attr-defined]


def verify_link(session: Session, *, token: str) -> CodeCheck:
    """Sign in with the magic link; raises InvalidToken if forged, expired or already used."""
    payload = signing.read_token(LINK_PURPOSE, token)
    row = session.get(PortalSignIn, payload.get("sid"))
    if row is None or row.customer_id != payload.get("cid"):
        raise InvalidToken("token: unknown sign-in", field="token")
    if row.failed_attempts >= MAX_FAILED_ATTEMPTS:
        raise InvalidToken("token: this sign-in was locked after wrong codes", field="token")
    customer = customers.get_customer(session, row.customer_id)
    if customer.status != "active":
        raise InvalidToken("token: the account is not active", field="token")
    if not _consume(session, row.id, "link"):
        raise InvalidToken("token: already used", field="token")
    return CodeCheck(ok=True, session_token=_open_session(session, row.customer_id, "link"),
                     customer_id=row.customer_id)


def authenticate(session: Session, token: str | None) -> int:
    """The customer id of a live portal session; raises Unauthenticated otherwise."""
    if not token:
        raise Unauthenticated("not signed in")
    row = session.scalar(select(PortalSession).where(PortalSession.token_hash == _token_hash(token)))
    now = clock.now()
    if row is None or row.revoked_at is not None or now >= row.expires_at or now - row.last_seen_at > SESSION_IDLE:
        raise Unauthenticated("session expired: sign in again")
    customer = customers.get_customer(session, row.customer_id)
    if customer.status != "active":
        raise Unauthenticated("the account is not active")
    if now - row.last_seen_at > LAST_SEEN_GRANULARITY:
        row.last_seen_at = now
        session.flush()
    return row.customer_id


def sign_out(session: Session, token: str) -> None:
    session.execute(update(PortalSession).where(PortalSession.token_hash == _token_hash(token),
                                                PortalSession.revoked_at.is_(None)).values(revoked_at=clock.now()))


def revoke_all(session: Session, customer_id: int) -> int:
    """End every session of a customer (account closed, erased or merged away)."""
    result = session.execute(update(PortalSession).where(PortalSession.customer_id == customer_id,
                                                         PortalSession.revoked_at.is_(None))
                             .values(revoked_at=clock.now()))
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


def list_sessions(session: Session, customer_id: int) -> list[PortalSessionRead]:
    now = clock.now()
    rows = session.scalars(select(PortalSession).where(
        PortalSession.customer_id == customer_id, PortalSession.revoked_at.is_(None),
        PortalSession.expires_at > now).order_by(PortalSession.id)).all()
    return [PortalSessionRead(id=r.id, customer_id=r.customer_id, created_at=r.created_at,
                              last_seen_at=r.last_seen_at, expires_at=r.expires_at) for r in rows]


# --------------------------------------------------------------------------- customer-wide hooks

def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """The duplicate can no longer sign in; its history of sign-ins moves to the survivor."""
    revoke_all(session, duplicate_id)
    session.execute(update(PortalSignIn).where(PortalSignIn.customer_id == duplicate_id)
                    .values(customer_id=survivor_id))
    session.execute(update(PortalSession).where(PortalSession.customer_id == duplicate_id)
                    .values(customer_id=survivor_id))


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Sign-in rows hold no personal data beyond the link to the customer; drop them all."""
    session.execute(delete(PortalSignIn).where(PortalSignIn.customer_id == customer_id))
    session.execute(delete(PortalSession).where(PortalSession.customer_id == customer_id))


def _export_section(session: Session, customer_id: int) -> list[dict[str, str]]:
    rows = session.scalars(select(PortalSession).where(PortalSession.customer_id == customer_id)
                           .order_by(PortalSession.id)).all()
    return [{"signed_in_at": r.created_at.isoformat(), "last_seen_at": r.last_seen_at.isoformat(),
             "ended_at": r.revoked_at.isoformat() if r.revoked_at else ""} for r in rows]


hooks.register_merge_handler(_merge_handler)
hooks.register_erasure_handler(_erasure_handler)
hooks.register_export_section("portal_sessions", _export_section)
