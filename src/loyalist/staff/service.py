"""Staff accounts and API keys: creation, authentication, revocation.

API keys look like `lk_<prefix>_<secret>`. The prefix finds the row; only SHA-256 of the whole
key is stored (keys are 190-bit random, so a slow hash adds nothing). Passwords use argon2.

`authenticate_api_key_cached` (the API's per-request check) remembers a successful check for
`config_cache_seconds`, keyed by the database and the key's SHA-256, so the hot path does not
open a second connection per request for it. Revoking a key clears this process's cache at once
(and again when the revocation commits); other processes stop accepting it within the TTL
(`LOYALIST_CONFIG_CACHE_SECONDS=0` makes every request re-read the key). Failures are never
cached.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from datetime import timedelta

from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.errors import Conflict, NotFound, Unauthenticated, ValidationFailed
from loyalist.staff.models import ApiKey, StaffUser
from loyalist.staff.schemas import ApiKeyCreated, ApiKeyRead, Role, StaffCreate, StaffRead
from loyalist.types import Actor

_hasher = PasswordHasher()
MAX_FAILED_LOGINS = 5
LOCKOUT = timedelta(minutes=15)


def _hash_key(key: str) -> str:
    return hashlib.sha256(key.encode()).hexdigest()


def create_api_key(
    session: Session, *, name: str, role: Role | str, actor: Actor, staff_id: int | None = None
) -> ApiKeyCreated:
    """Create a key; the plaintext is in the result and nowhere else."""
    try:
        role = Role(role)
    except ValueError as exc:
        raise ValidationFailed(f"role: unknown role {role!r}", field="role") from exc
    prefix = secrets.token_hex(4)
    key = f"lk_{prefix}_{secrets.token_urlsafe(24)}"
    row = ApiKey(
        name=name,
        prefix=prefix,
        key_hash=_hash_key(key),
        role=role.value,
        staff_id=staff_id,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.record(
        session, actor=actor, action="api_key.create", target_type="api_key", target_id=row.id,
        after={"name": name, "role": role.value, "prefix": prefix},
    )
    return ApiKeyCreated(**ApiKeyRead.model_validate(row).model_dump(), key=key)


def authenticate_api_key(session: Session, key: str) -> Actor:
    """Resolve a presented key to its actor, or raise Unauthenticated (same error for every cause)."""
    parts = key.split("_")
    if len(parts) < 3 or parts[0] != "lk":
        raise Unauthenticated("invalid API key")
    row = session.scalar(select(ApiKey).where(ApiKey.prefix == parts[1]))
    if row is None or row.revoked_at is not None:
        raise Unauthenticated("invalid API key")
    if not hmac.compare_digest(row.key_hash, _hash_key(key)):
        raise Unauthenticated("invalid API key")
    return Actor(kind="api_key", id=row.id, name=row.name, role=row.role)


_KEY_CACHE: dict[tuple[str, str], tuple[float, Actor]] = {}


def forget_api_keys(*_args: object) -> None:
    """Drop every remembered key check of this process (revocation; tests)."""
    _KEY_CACHE.clear()


def remembered_api_key(key: str, *, database: str, max_age: float) -> Actor | None:
    """The actor of a key checked less than `max_age` seconds ago, else None; no I/O, so the
    API can ask on its event loop and go to a thread only when the database must be read."""
    hit = _KEY_CACHE.get((database, _hash_key(key)))
    if hit is not None and time.monotonic() - hit[0] < max_age:
        return hit[1]
    return None


def authenticate_api_key_cached(open_session: Callable[[], Session], key: str, *, database: str,
                                max_age: float) -> Actor:
    """`authenticate_api_key` in a session of its own, remembered for `max_age` seconds (see the
    module doc)."""
    slot = (database, _hash_key(key))
    hit = _KEY_CACHE.get(slot)
    now = time.monotonic()
    if hit is not None and now - hit[0] < max_age:
        return hit[1]
    with open_session() as session:
        actor = authenticate_api_key(session, key)
    if max_age > 0:
        _KEY_CACHE[slot] = (now, actor)
    return actor


def list_api_keys(session: Session) -> list[ApiKeyRead]:
    rows = session.scalars(select(ApiKey).order_by(ApiKey.id)).all()
    return [ApiKeyRead.model_validate(r) for r in rows]


def revoke_api_key(session: Session, *, key_id: int, actor: Actor) -> ApiKeyRead:
    row = session.get(ApiKey, key_id)
    if row is None:
        raise NotFound(f"API key {key_id} not found", field="key_id")
    if row.revoked_at is None:
        row.revoked_at = clock.now()
        session.flush()
        forget_api_keys()
        if not event.contains(session, "after_commit", forget_api_keys):
            event.listen(session, "after_commit", forget_api_keys)
        audit.record(session, actor=actor, action="api_key.revoke", target_type="api_key",
                     target_id=row.id, after={"revoked_at": row.revoked_at})
    return ApiKeyRead.model_validate(row)


def create_staff(session: Session, *, data: StaffCreate, actor: Actor) -> StaffRead:
    email = data.email.strip().lower()
    if session.scalar(select(StaffUser.id).where(StaffUser.email == email)) is not None:
        raise Conflict(f"email: staff user {email} already exists", field="email")
    row = StaffUser(
        email=email,
        name=data.name,
        role=data.role.value,
        password_hash=_hasher.hash(data.password) if data.password else None,
        active=True,
        expertise=data.expertise,
        failed_logins=0,
        created_at=clock.now(),
    )
    session.add(row)
    session.flush()
    audit.record(session, actor=actor, action="staff.create", target_type="staff", target_id=row.id,
                 after={"email": email, "role": data.role.value})
    return StaffRead.model_validate(row)


def get_staff(session: Session, staff_id: int) -> StaffRead:
    row = session.get(StaffUser, staff_id)
    if row is None:
        raise NotFound(f"staff user {staff_id} not found", field="staff_id")
    return StaffRead.model_validate(row)


def list_staff(session: Session) -> list[StaffRead]:
    return [StaffRead.model_validate(r) for r in session.scalars(select(StaffUser).order_by(StaffUser.id))]


def verify_password(session: Session, *, email: str, password: str) -> Actor:
    """Check a password with lockout after repeated failures; the failure count is persisted."""
    row = session.scalar(select(StaffUser).where(StaffUser.email == email.strip().lower()))
    now = clock.now()
    if row is None or not row.active or row.password_hash is None:
        raise Unauthenticated("invalid email or password")
    if row.locked_until is not None and row.locked_until > now:
        raise Unauthenticated("account locked; try again later")
    try:
        _hasher.verify(row.password_hash, password)
    except VerificationError as exc:
        row.failed_logins += 1
        if row.failed_logins >= MAX_FAILED_LOGINS:
            row.locked_until = now + LOCKOUT
            row.failed_logins = 0
        session.flush()
        raise Unauthenticated("invalid email or password") from exc
    row.failed_logins = 0
    row.locked_until = None
    session.flush()
    return Actor(kind="staff", id=row.id, name=row.name, role=row.role)
