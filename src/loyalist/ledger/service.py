"""The points ledger: the only code that writes points. It must never be wrong.

Model (see `models.py`): append-only *entries* whose double-entry *postings* sum to zero, two
accounts per customer (`available`, `pending`), system counterparty accounts, and *lots* (the
points of one credit, with `available_at`/`expires_at`) whose every change is a *lot movement*.

Rules every public function keeps:

- **Idempotency.** Every write carries `(source, idempotency_key)`, unique in the database. The
  same key with the same payload hash returns the first entry; with another payload it raises
  `IdempotencyConflict` (HTTP 409). A concurrent insert of the same key is caught inside a
  SAVEPOINT and the winner's entry is returned; `earn` and `redeem` (the hot paths) instead insert
  their entry with `ON CONFLICT (source, idempotency_key) DO NOTHING` and answer a lost race as a
  replay (`redeem` first rolls back its SAVEPOINT, undoing any lazy expiry it wrote).
- **No overdraft.** A customer's available balance is only lowered by the guarded statement
  `UPDATE ledger_accounts SET balance = balance + :d WHERE id = :id AND balance + :d >= 0`;
  zero rows means `InsufficientPoints`. Only an explicit `allow_negative` clawback may create a
  debt, which later credits pay back first.
- **Serialised per customer, and only per customer.** A write first locks the customer's
  `available` account row (`SELECT ... FOR UPDATE` on PostgreSQL; SQLite serialises writers
  with `BEGIN IMMEDIATE`); several customers are locked by ascending account id, so concurrent
  writers cannot deadlock. System (counterparty) accounts are never locked or updated: they
  have no cached balance, their balance is the sum of their postings (`account_balances`), so
  writers of different customers share no row.
- **All or nothing.** Each debit, clawback, reversal, merge and job runs in a SAVEPOINT: a
  refused redemption leaves no row behind even when the caller catches the error and commits
  other work. `earn` needs none: every refusal (validation, unknown or inactive customer,
  idempotency conflict) happens before its first write, and after it nothing can refuse.
- **Few statements on the credit path.** `earn` reads the customer's status and the account ids
  in one query, locks, inserts entry, both postings, lot and movement with Core INSERTs, moves
  one balance, and builds its result from what it wrote (no read-back): 7 statements plus the
  timeline and audit rows (`tests/events/test_hot_path.py` keeps the count).
- **Few statements on the debit path.** `redeem` (and a negative `adjust`) checks for a replay,
  reads status and account ids in one query, locks (reading the balance), finds the lots to
  spend and any due/matured lots in one query (`_settle` runs only if there are), writes the
  entry with `ON CONFLICT DO NOTHING` (a lost race is a replay), moves the balance by the guarded
  UPDATE, then sends postings, lot changes, movements, timeline and audit together and answers
  from what it wrote: 9 statements on PostgreSQL, 13 on SQLite (`tests/ledger/test_hot_path.py`).
- **Lot order.** Redemptions and other debits consume available lots soonest-expiring first,
  then oldest first; never-expiring lots last. Pending lots (`available_at` in the future) are
  not spendable: they sit in the separate `pending` account until released.
- **Lazy housekeeping.** Before a debit, the customer's due lots are expired and then due
  pending lots released (the same entries the `expire_due`/`release_pending` jobs write, with
  the same per-lot idempotency keys), so the jobs being late never lets expired points be spent
  or keeps matured points locked.

Invariants `reconcile` proves: each customer account's cached balance equals the sum of its
postings (system accounts have none: NULL, by a CHECK constraint); each entry's postings sum to
zero; all postings sum to zero, and so do the customers' cached balances plus the system
accounts' posting sums; each entry's `points` is what it did to its customer's accounts; each
lot's `remaining` equals the sum of its movements; per customer, pending lots sum to the pending
balance and available lots sum to `max(available balance, 0)` (a negative balance is a debt and
has no lots).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, cast

from sqlalchemy import Table, func, insert, literal, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.db import insert_once
from loyalist.errors import (
    Conflict,
    IdempotencyConflict,
    InsufficientPoints,
    InvalidState,
    NotFound,
    ValidationFailed,
)
from loyalist.ledger.models import LedgerAccount, LedgerEntry, LedgerPosting, LotMovement, PointLot
from loyalist.ledger.schemas import (
    BalanceRead,
    EntryPage,
    EntryRead,
    ExpiryRead,
    LiabilityReport,
    LotMovementRead,
    LotRead,
    Mismatch,
    PostingRead,
    ReconciliationReport,
)
from loyalist.types import SYSTEM, Actor

__all__ = [
    "earn", "redeem", "reverse", "clawback", "adjust", "compensate", "get_balance", "list_entries",
    "get_entry", "list_lots", "expire_due", "release_pending", "reconcile", "liability",
    "points_earned_in_window", "merge_customers", "export_points", "view_points", "credit_payload_hash",
    "account_balances",
    "CREDIT_KINDS", "CLAWBACK_POLICIES",
]

# Counterparty system account of each kind of credit.
CREDIT_ACCOUNTS = {"earn": "issued", "bonus": "promotion", "compensation": "compensation"}
CREDIT_KINDS = frozenset(CREDIT_ACCOUNTS)
SYSTEM_ACCOUNTS = ("issued", "promotion", "compensation", "adjustment", "redemption", "breakage", "writeoff")
CLAWBACK_POLICIES = frozenset({"allow_negative", "cap_at_balance"})

EXPIRY_SOURCE = "ledger.expiry"
RELEASE_SOURCE = "ledger.release"
REVERSAL_SOURCE = "ledger.reversal"
MERGE_SOURCE = "ledger.merge"
ADJUST_SOURCE = "staff.adjustment"
COMPENSATION_SOURCE = "service_recovery"

_RATE_QUANTUM = Decimal("0.0001")
# Core tables for the hot credit path (plain INSERTs, no ORM unit of work).
_ENTRIES = cast(Table, LedgerEntry.__table__)
_POSTINGS = cast(Table, LedgerPosting.__table__)
_LOTS = cast(Table, PointLot.__table__)
_MOVEMENTS = cast(Table, LotMovement.__table__)
_ACCOUNTS = cast(Table, LedgerAccount.__table__)


# --------------------------------------------------------------------------------------------
# helpers: validation, hashing, accounts
# --------------------------------------------------------------------------------------------


def _text(value: str | None, name: str, *, max_len: int, required: bool = True) -> str | None:
    if value is None or not str(value).strip():
        if required:
            raise ValidationFailed(f"{name}: must not be empty", field=name)
        return None
    value = str(value).strip()
    if len(value) > max_len:
        raise ValidationFailed(f"{name}: at most {max_len} characters", field=name)
    return value


def _positive(points: Any, name: str = "points") -> int:
    if isinstance(points, bool) or not isinstance(points, int):
        raise ValidationFailed(f"{name}: must be a whole number of points", field=name)
    if points <= 0:
        raise ValidationFailed(f"{name}: must be positive", field=name)
    return points


def _utc(value: datetime | None, name: str) -> datetime | None:
    if value is None:
        return None
    try:
        return clock.ensure_utc(value)
    except ValueError as exc:
        raise ValidationFailed(f"{name}: must include a timezone", field=name) from exc


def _hash(payload: dict[str, Any]) -> str:
    """Canonical hash of what a request asks for (not who asks or why), for idempotent replay."""
    canonical = json.dumps(audit.jsonable(payload), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()


def credit_payload_hash(
    *, kind: str, customer_id: int, points: int, available_at: datetime | None, expires_at: datetime | None,
    reference_type: str | None, reference_id: str | None, payload: dict[str, Any] | None,
) -> str:
    """The idempotency hash `earn` stores for a credit. Public because bulk writers (events
    import) must store the very same hash so that a replay through `earn` is recognised."""
    return _hash({
        "op": "credit", "kind": kind, "customer_id": customer_id, "points": points,
        "available_at": available_at, "expires_at": expires_at, "reference_type": reference_type,
        "reference_id": reference_id, "payload": payload,
    })


def _customer_code(customer_id: int, part: str) -> str:
    return f"customer:{customer_id}:{part}"


def _get_or_create_account(session: Session, *, code: str, kind: str, customer_id: int | None) -> int:
    found = session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == code))
    if found is not None:
        return found
    try:
        with session.begin_nested():
            account = LedgerAccount(code=code, kind=kind, customer_id=customer_id,
                                    balance=None if customer_id is None else 0, created_at=clock.now())
            session.add(account)
            session.flush()
            new_id = account.id
        # Balances are changed with SQL statements only; never keep a stale ORM copy around.
        session.expunge(account)
        return new_id
    except IntegrityError:
        # Created concurrently by another transaction (or an unknown customer id).
        found = session.scalar(select(LedgerAccount.id).where(LedgerAccount.code == code))
        if found is None:
            raise NotFound(f"customer {customer_id} not found", field="customer_id") from None
        return found


def _system_account(session: Session, name: str) -> int:
    return _get_or_create_account(session, code=name, kind=name, customer_id=None)


@dataclass(frozen=True)
class _Accounts:
    customer_id: int
    available: int
    pending: int

    @property
    def ids(self) -> tuple[int, int]:
        return (self.available, self.pending)


def _check_customer(session: Session, customer_id: int) -> None:
    """Refuse unknown customers (404) and any customer not active (merged, closed, erased: 409);
    a merged profile's points live on the survivor."""
    from loyalist.customers import service as customers

    status, _merged_into = customers.get_state(session, customer_id)
    if status not in (None, "active"):
        raise InvalidState(f"customer {customer_id} is {status}; points go to the surviving profile",
                           field="customer_id")


def _lock_customers(session: Session, customer_ids: Iterable[int], *, check: bool = True) -> dict[int, _Accounts]:
    """Get or create the customers' accounts, then lock them in ascending id order."""
    result: dict[int, _Accounts] = {}
    for cid in sorted(set(customer_ids)):
        if check:
            _check_customer(session, cid)
        codes = {_customer_code(cid, "available"): "customer", _customer_code(cid, "pending"): "customer_pending"}
        found = dict(session.execute(
            select(LedgerAccount.code, LedgerAccount.id).where(LedgerAccount.code.in_(list(codes)))
        ).all())
        ids = {code: found.get(code) or _get_or_create_account(session, code=code, kind=kind, customer_id=cid)
               for code, kind in codes.items()}
        result[cid] = _Accounts(cid, ids[_customer_code(cid, "available")], ids[_customer_code(cid, "pending")])
    for cid in sorted(result):
        session.execute(
            select(LedgerAccount.id).where(LedgerAccount.id == result[cid].available).with_for_update()
        ).scalar_one()
    return result


def _balance(session: Session, account_id: int) -> int:
    return int(session.execute(select(LedgerAccount.balance).where(LedgerAccount.id == account_id)).scalar_one())


def _change_balance(session: Session, account_id: int, delta: int, *, guarded: bool) -> bool:
    """Atomic balance change; `guarded` refuses (returns False) when it would go below zero."""
    if delta == 0:
        return True
    stmt = update(LedgerAccount).where(LedgerAccount.id == account_id).values(balance=LedgerAccount.balance + delta)
    if guarded:
        stmt = stmt.where(LedgerAccount.balance + delta >= 0)
    result = session.execute(stmt.execution_options(synchronize_session=False))
    return result.rowcount == 1  # type: ignore[attr-defined]


# --------------------------------------------------------------------------------------------
# helpers: entries, postings, lots
# --------------------------------------------------------------------------------------------


_BUILT: dict[str, Any] = {}


def _built(name: str, build: Any) -> Any:
    """A statement built once with bound parameters and kept: building `select(...).where(col ==
    value)` anew costs ~0.3 ms of CPU per call in SQLAlchemy 2.1, running a built one a tenth."""
    stmt = _BUILT.get(name)
    if stmt is None:
        stmt = _BUILT[name] = build()
    return stmt


def _find_entry(session: Session, source: str, key: str) -> LedgerEntry | None:
    from sqlalchemy import bindparam

    stmt = _built("find_entry", lambda: select(LedgerEntry).where(
        LedgerEntry.source == bindparam("source"), LedgerEntry.idempotency_key == bindparam("key")))
    return session.scalar(stmt, {"source": source, "key": key})


def _replay(session: Session, existing: LedgerEntry, payload_hash: str) -> EntryRead:
    if existing.payload_hash != payload_hash:
        raise IdempotencyConflict(
            f"idempotency key {existing.idempotency_key!r} of source {existing.source!r} was already used "
            "for a different request",
            field="idempotency_key",
            details={"entry_id": existing.id},
        )
    return _entry_read(session, existing)


class _Raced(Exception):
    """The entry's idempotency key was inserted by a concurrent transaction first."""

    def __init__(self, winner: LedgerEntry) -> None:
        self.winner = winner


def _insert_entry(session: Session, **values: Any) -> LedgerEntry:
    """Insert an entry in its own SAVEPOINT so that a concurrent duplicate key is recoverable."""
    now = clock.now()
    values.setdefault("occurred_at", now)
    entry = LedgerEntry(created_at=now, **values)
    try:
        with session.begin_nested():
            session.add(entry)
            session.flush()
    except IntegrityError:
        winner = _find_entry(session, values["source"], values["idempotency_key"])
        if winner is None:
            reverses = values.get("reverses_entry_id")
            if reverses is not None:
                raise Conflict(f"entry {reverses} was already reversed", field="entry_id") from None
            raise
        raise _Raced(winner) from None
    return entry


def _actor_values(actor: Actor) -> dict[str, Any]:
    return {"actor_kind": actor.kind, "actor_id": actor.id, "actor_name": actor.name}


def _post(session: Session, entry: LedgerEntry, legs: dict[int, int], *, customer_accounts: Iterable[int],
          guarded: Iterable[int] = ()) -> None:
    """Write the entry's postings and move the cached balances of the customer accounts.

    Only customer accounts (already locked, in ascending id order) have a cached balance;
    system accounts are never updated or locked (their balance is the sum of their postings),
    so writers of different customers never wait for each other. A guarded account that would
    go below zero raises InsufficientPoints; the caller's SAVEPOINT then undoes everything.
    """
    legs = {k: v for k, v in legs.items() if v != 0}
    if sum(legs.values()) != 0:  # pragma: no cover - programming error, never data
        raise AssertionError(f"unbalanced entry {entry.kind}: {legs}")
    guarded = set(guarded)
    customer_accounts = set(customer_accounts)
    order = sorted(legs, key=lambda a: (a not in customer_accounts, a))
    for account_id in order:
        if account_id in customer_accounts and not _change_balance(
                session, account_id, legs[account_id], guarded=account_id in guarded):
            raise InsufficientPoints(
                f"not enough available points for {-legs[account_id]}",
                field="points",
                details={"available": _balance(session, account_id), "requested": -legs[account_id]},
            )
        session.add(LedgerPosting(entry_id=entry.id, account_id=account_id, amount=legs[account_id]))
    session.flush()


def _open_lots(session: Session, customer_id: int, *, pending: bool, needed: int | None = None) -> list[PointLot]:
    """Lots with points left, in consumption order: soonest expiry first, then oldest, never-expiring last.

    With `needed`, only the lots that consuming `needed` points touches: a running sum in SQL
    picks them, so a regular with thousands of small lots does not load every one of them as an
    ORM object on each redemption (that made redemptions O(lots) under the load test)."""
    order = (PointLot.expires_at.is_(None), PointLot.expires_at, PointLot.id)
    where = (PointLot.customer_id == customer_id, PointLot.pending.is_(pending), PointLot.remaining > 0)
    if needed is None:
        return list(session.scalars(select(PointLot).where(*where).order_by(*order)))
    running = (select(PointLot.id.label("lot_id"), PointLot.remaining.label("remaining"),
                      func.sum(PointLot.remaining).over(order_by=order).label("running"))
               .where(*where).subquery())
    wanted = select(running.c.lot_id).where(running.c.running - running.c.remaining < needed)
    return list(session.scalars(select(PointLot).where(PointLot.id.in_(wanted)).order_by(*order)))


def _move(session: Session, lot: PointLot, entry_id: int, points: int, kind: str) -> None:
    lot.remaining += points
    session.add(LotMovement(entry_id=entry_id, lot_id=lot.id, points=points, kind=kind))


def _consume(session: Session, lots: list[PointLot], points: int, entry_id: int, kind: str) -> int:
    """Take up to `points` from `lots` in order; returns what was taken."""
    taken = 0
    moves: list[dict[str, Any]] = []
    for lot in lots:
        if taken >= points:
            break
        part = min(lot.remaining, points - taken)
        if part > 0:
            lot.remaining -= part
            moves.append({"entry_id": entry_id, "lot_id": lot.id, "points": -part, "kind": kind})
            taken += part
    # Pending ORM rows (and the lots' new `remaining`, one executemany) first, so movement ids
    # keep the order of events; then the movements in one executemany: the ORM sent one INSERT
    # per movement on SQLite (a redemption consumes ~7 lots).
    session.flush()
    if moves:
        session.execute(insert(_MOVEMENTS), moves)
    return taken


def _new_lot(session: Session, *, customer_id: int, entry_id: int, points: int, pending: bool,
             available_at: datetime, expires_at: datetime | None, origin_lot_id: int | None = None,
             kind: str = "earn") -> PointLot:
    lot = PointLot(customer_id=customer_id, entry_id=entry_id, origin_lot_id=origin_lot_id, points=points,
                   remaining=0, pending=pending, available_at=available_at, expires_at=expires_at,
                   created_at=clock.now())
    session.add(lot)
    session.flush()
    _move(session, lot, entry_id, points, kind)
    session.flush()
    return lot


def _recover_debt(session: Session, accounts: _Accounts, entry_id: int) -> None:
    """After a credit to a customer in debt, the debt is paid from the newest credit's lots.

    Keeps the invariant `sum(available lots) == max(available balance, 0)`.
    """
    balance = _balance(session, accounts.available)
    held = session.scalar(
        select(func.coalesce(func.sum(PointLot.remaining), 0))
        .where(PointLot.customer_id == accounts.customer_id, PointLot.pending.is_(False), PointLot.remaining > 0)
    ) or 0
    excess = int(held) - max(balance, 0)
    if excess > 0:
        _consume(session, _open_lots(session, accounts.customer_id, pending=False, needed=excess), excess, entry_id,
                 "debt_recovery")


def _timeline(session: Session, entry: LedgerEntry, actor: Actor, summary: str, channel: str = "system") -> None:
    """Every customer-facing entry lands on the customer's timeline."""
    from loyalist.interactions import service as interactions

    interactions.record(
        session, customer_id=entry.customer_id, kind="points_change", channel=channel, summary=summary[:4000],
        occurred_at=entry.occurred_at, actor=actor, source_type="ledger_entry", source_id=str(entry.id),
        data={"entry_kind": entry.kind, "points": entry.points, "reason": entry.reason},
    )


def _audit(session: Session, entry: LedgerEntry, actor: Actor) -> None:
    """Staff and integration actions are audited; system jobs are traced by their entries."""
    if actor.kind == "system":
        return
    audit.record(session, actor=actor, action=f"ledger.{entry.kind}", target_type="customer",
                 target_id=entry.customer_id, after=_audit_after(entry))


def _audit_after(entry: LedgerEntry) -> dict[str, Any]:
    return {"entry_id": entry.id, "points": entry.points, "reason": entry.reason, "source": entry.source,
            "reference_type": entry.reference_type, "reference_id": entry.reference_id,
            "reverses_entry_id": entry.reverses_entry_id}


def _check_channel(channel: str) -> None:
    from loyalist.interactions import service as interactions

    if channel not in interactions.CHANNELS:
        raise ValidationFailed(f"channel: unknown channel {channel!r}", field="channel")


def _signed(points: int) -> str:
    return f"+{points}" if points > 0 else str(points)


# --------------------------------------------------------------------------------------------
# housekeeping: expiry and release (per lot, idempotent)
# --------------------------------------------------------------------------------------------


def _expire_lot(session: Session, lot: PointLot, accounts: _Accounts, actor: Actor, as_of: datetime) -> bool:
    points = lot.remaining
    if points <= 0:
        return False
    key = f"lot:{lot.id}"
    payload_hash = _hash({"op": "expire", "lot_id": lot.id})
    if _find_entry(session, EXPIRY_SOURCE, key) is not None:
        return False
    entry = _insert_entry(
        session, customer_id=lot.customer_id, kind="expire", points=-points,
        reason=f"points earned by entry {lot.entry_id} expired",
        source=EXPIRY_SOURCE, idempotency_key=key, payload_hash=payload_hash,
        reference_type="ledger_lot", reference_id=str(lot.id), occurred_at=lot.expires_at or as_of,
        data=audit.jsonable({"lot_id": lot.id, "expires_at": lot.expires_at}), **_actor_values(actor),
    )
    account = accounts.pending if lot.pending else accounts.available
    _post(session, entry, {account: -points, _system_account(session, "breakage"): points},
          customer_accounts=accounts.ids)
    _move(session, lot, entry.id, -points, "expire")
    session.flush()
    _timeline(session, entry, actor, f"{points} points expired")
    return True


def _release_lot(session: Session, lot: PointLot, accounts: _Accounts, actor: Actor) -> bool:
    points = lot.remaining
    key = f"lot:{lot.id}"
    if _find_entry(session, RELEASE_SOURCE, key) is not None:
        lot.pending = False
        return False
    entry = _insert_entry(
        session, customer_id=lot.customer_id, kind="release", points=0,
        reason=f"pending points of entry {lot.entry_id} became available",
        source=RELEASE_SOURCE, idempotency_key=key, payload_hash=_hash({"op": "release", "lot_id": lot.id}),
        reference_type="ledger_lot", reference_id=str(lot.id), occurred_at=lot.available_at,
        data={"lot_id": lot.id, "points": points}, **_actor_values(actor),
    )
    _post(session, entry, {accounts.pending: -points, accounts.available: points}, customer_accounts=accounts.ids)
    lot.pending = False
    session.add(LotMovement(entry_id=entry.id, lot_id=lot.id, points=0, kind="release"))
    session.flush()
    _recover_debt(session, accounts, entry.id)
    return True


def _settle(session: Session, accounts: _Accounts, actor: Actor, as_of: datetime) -> None:
    """Expire the customer's due lots, then release the matured pending ones (in that order, so
    that a lot which expires before it matures is never spendable)."""
    due = session.scalars(
        select(PointLot).where(PointLot.customer_id == accounts.customer_id, PointLot.remaining > 0,
                               PointLot.expires_at.is_not(None), PointLot.expires_at <= as_of)
        .order_by(PointLot.id)
    ).all()
    for lot in due:
        _expire_lot(session, lot, accounts, actor, as_of)
    matured = session.scalars(
        select(PointLot).where(PointLot.customer_id == accounts.customer_id, PointLot.pending.is_(True),
                               PointLot.remaining > 0, PointLot.available_at <= as_of)
        .order_by(PointLot.id)
    ).all()
    for lot in matured:
        _release_lot(session, lot, accounts, actor)


# --------------------------------------------------------------------------------------------
# writes
# --------------------------------------------------------------------------------------------


def earn(
    session: Session,
    *,
    customer_id: int,
    points: int,
    source: str,
    idempotency_key: str,
    reason: str,
    actor: Actor,
    available_at: datetime | None = None,
    expires_at: datetime | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
    payload: dict[str, Any] | None = None,
    occurred_at: datetime | None = None,
    kind: str = "earn",
    record_timeline: bool = True,
    channel: str = "system",
) -> EntryRead:
    """Credit `points` to a customer as a new lot.

    `kind` is "earn" (purchases/events; counts for tiers), "bonus" or "compensation".
    `available_at` in the future makes the lot pending (not spendable) until then, e.g. while a
    return is still possible; `expires_at` (None = never) is when unused points lapse.
    `payload` (and every argument except reason/actor) is hashed for idempotent replay.
    """
    if kind not in CREDIT_KINDS:
        raise ValidationFailed(f"kind: must be one of {sorted(CREDIT_KINDS)}", field="kind")
    _check_channel(channel)
    points = _positive(points)
    source = _text(source, "source", max_len=100)  # type: ignore[assignment]
    idempotency_key = _text(idempotency_key, "idempotency_key", max_len=200)  # type: ignore[assignment]
    reason = _text(reason, "reason", max_len=500)  # type: ignore[assignment]
    available_at = _utc(available_at, "available_at")
    expires_at = _utc(expires_at, "expires_at")
    occurred_at = _utc(occurred_at, "occurred_at")
    payload_hash = credit_payload_hash(kind=kind, customer_id=customer_id, points=points, available_at=available_at,
                                       expires_at=expires_at, reference_type=reference_type,
                                       reference_id=reference_id, payload=payload)
    now = clock.now()
    if expires_at is not None and expires_at <= max(now, available_at or now):
        return _replay_or_raise(session, source, idempotency_key, payload_hash, ValidationFailed(
            "expires_at: must be after the points become available", field="expires_at"))
    accounts, counterparty, status = _credit_accounts(session, customer_id, CREDIT_ACCOUNTS[kind])
    if status != "active":
        return _replay_or_raise(session, source, idempotency_key, payload_hash, InvalidState(
            f"customer {customer_id} is {status}; points go to the surviving profile", field="customer_id"))
    pending = available_at is not None and available_at > now
    entry = LedgerEntry(
        customer_id=customer_id, kind=kind, points=points, reason=reason, source=source,
        idempotency_key=idempotency_key, payload_hash=payload_hash, reference_type=reference_type,
        reference_id=None if reference_id is None else str(reference_id), reverses_entry_id=None,
        counterparty_customer_id=None, occurred_at=occurred_at or now, created_at=now,
        data={"payload": audit.jsonable(payload)} if payload else None, **_actor_values(actor),
    )
    if not pending and session.get_bind().dialect.name == "postgresql":
        return _earn_in_one_statement(session, entry, expires_at=expires_at, available_at=available_at,
                                      accounts=accounts, counterparty=counterparty, actor=actor,
                                      record_timeline=record_timeline, channel=channel)
    balance = int(session.execute(
        select(LedgerAccount.balance).where(LedgerAccount.id == accounts.available).with_for_update()
    ).scalar_one())
    values = {c.key: getattr(entry, c.key) for c in _ENTRIES.columns if c.key != "id"}
    entry_id = insert_once(session, _ENTRIES, values, unique=["source", "idempotency_key"])
    if entry_id is None:  # the key was used first (by a concurrent writer, as we checked nothing before)
        winner = _find_entry(session, source, idempotency_key)
        assert winner is not None
        return _replay(session, winner, payload_hash)
    entry.id = entry_id
    target = accounts.pending if pending else accounts.available
    codes = {accounts.available: _customer_code(customer_id, "available"),
             accounts.pending: _customer_code(customer_id, "pending"), counterparty: CREDIT_ACCOUNTS[kind]}
    session.execute(insert(_POSTINGS).values([
        {"entry_id": entry_id, "account_id": target, "amount": points},
        {"entry_id": entry_id, "account_id": counterparty, "amount": -points}]))
    _change_balance(session, target, points, guarded=False)
    lot_available_at = available_at if pending else (available_at or now)
    lot_id = int(session.execute(insert(_LOTS).values(
        customer_id=customer_id, entry_id=entry_id, origin_lot_id=None, points=points, remaining=points,
        pending=pending, available_at=lot_available_at, expires_at=expires_at, created_at=now,
    ).returning(_LOTS.c.id)).scalar_one())
    session.execute(insert(_MOVEMENTS).values(entry_id=entry_id, lot_id=lot_id, points=points, kind="earn"))
    if not pending and balance < 0:
        _recover_debt(session, accounts, entry_id)
    if record_timeline:
        when = f", available from {available_at:%Y-%m-%d}" if pending else ""
        _timeline(session, entry, actor, f"{_signed(points)} points ({kind}): {reason}{when}", channel)
    _audit(session, entry, actor)
    if not pending and balance < 0:
        return _entry_read(session, session.get(LedgerEntry, entry_id))  # type: ignore[arg-type]
    return _credit_read(entry, actor=actor, target_code=codes[target], counterparty_code=codes[counterparty],
                        lot_id=lot_id, lot_available_at=lot_available_at, expires_at=expires_at)


def _credit_read(entry: LedgerEntry, *, actor: Actor, target_code: str, counterparty_code: str, lot_id: int,
                 lot_available_at: datetime, expires_at: datetime | None) -> EntryRead:
    """A new credit's answer built from what was written — no read-back; field by field what
    `get_entry` returns (the tests compare the two)."""
    return EntryRead(
        id=entry.id, customer_id=entry.customer_id, kind=entry.kind, points=entry.points, reason=entry.reason,
        source=entry.source, idempotency_key=entry.idempotency_key, reference_type=entry.reference_type,
        reference_id=entry.reference_id, reverses_entry_id=None, reversed_by_entry_id=None,
        counterparty_customer_id=None, actor=f"{actor.kind}:{actor.id if actor.id is not None else actor.name}",
        occurred_at=entry.occurred_at, created_at=entry.created_at, data=entry.data,
        postings=[PostingRead(account=target_code, amount=entry.points),
                  PostingRead(account=counterparty_code, amount=-entry.points)],
        lots=[LotMovementRead(lot_id=lot_id, kind="earn", points=entry.points, lot_earned_entry_id=entry.id,
                              available_at=lot_available_at, expires_at=expires_at)],
    )


_EARN_STATEMENT: list[Any] = []


def _earn_statement() -> Any:
    """The CTE statement of `_earn_in_one_statement`, built once with bound parameters (building
    it per call cost more CPU than running it)."""
    if _EARN_STATEMENT:
        return _EARN_STATEMENT[0]
    from sqlalchemy import bindparam, exists, true
    from sqlalchemy.dialects.postgresql import insert as pg_insert

    def bound(name: str, column: Any) -> Any:
        return bindparam(name, type_=column.type)

    new_entry = (pg_insert(_ENTRIES).values({c.key: bindparam(f"e_{c.key}") for c in _ENTRIES.columns
                                             if c.key != "id"})
                 .on_conflict_do_nothing(index_elements=["source", "idempotency_key"])
                 .returning(_ENTRIES.c.id).cte("new_entry"))
    postings = insert(_POSTINGS).from_select(
        ["entry_id", "account_id", "amount"],
        select(new_entry.c.id, bound("account", _POSTINGS.c.account_id), bound("points", _POSTINGS.c.amount))
        .union_all(select(new_entry.c.id, bound("counterparty", _POSTINGS.c.account_id),
                          bound("minus_points", _POSTINGS.c.amount)))).cte("new_postings")
    balance = (update(_ACCOUNTS)
               .where(_ACCOUNTS.c.id == bound("account", _ACCOUNTS.c.id), exists(select(new_entry.c.id)))
               .values(balance=_ACCOUNTS.c.balance + bound("points", _ACCOUNTS.c.balance))
               .returning(_ACCOUNTS.c.balance).cte("new_balance"))
    lot = insert(_LOTS).from_select(
        ["customer_id", "entry_id", "origin_lot_id", "points", "remaining", "pending", "available_at", "expires_at",
         "created_at"],
        select(bound("e_customer_id", _LOTS.c.customer_id), new_entry.c.id,
               literal(None, type_=_LOTS.c.origin_lot_id.type), bound("points", _LOTS.c.points),
               bound("points", _LOTS.c.remaining), literal(False, type_=_LOTS.c.pending.type),
               bound("lot_available_at", _LOTS.c.available_at), bound("lot_expires_at", _LOTS.c.expires_at),
               bound("now", _LOTS.c.created_at))).returning(_LOTS.c.id, _LOTS.c.entry_id).cte("new_lot")
    movement = insert(_MOVEMENTS).from_select(
        ["entry_id", "lot_id", "points", "kind"],
        select(lot.c.entry_id, lot.c.id, bound("points", _MOVEMENTS.c.points),
               literal("earn", type_=_MOVEMENTS.c.kind.type))).cte("new_movement")
    stmt = (select(new_entry.c.id, lot.c.id, balance.c.balance)
            .select_from(new_entry).join(lot, true()).join(balance, true()).add_cte(postings, movement))
    _EARN_STATEMENT.append(stmt)
    return stmt


def _earn_in_one_statement(
    session: Session, entry: LedgerEntry, *, expires_at: datetime | None, available_at: datetime | None,
    accounts: _Accounts, counterparty: int, actor: Actor, record_timeline: bool, channel: str,
) -> EntryRead:
    """The spendable credit on PostgreSQL: entry, both postings, the balance change (which also
    takes the customer's row lock), the lot and its movement in ONE statement of data-modifying
    CTEs, where the general path needs six round trips.

    Why it is the same as the general path: every part hangs off the entry insert (`ON CONFLICT
    DO NOTHING`); when the key is taken nothing else is written and the replay path answers. The
    UPDATE returns the new balance, so a customer in debt (balance before < 0) still has the debt
    recovered from this credit's lot, exactly as `earn` does after its own writes."""
    customer_id, kind, points, reason = entry.customer_id, entry.kind, entry.points, entry.reason
    now = entry.created_at
    lot_available_at = available_at or now
    params = {f"e_{c.key}": getattr(entry, c.key) for c in _ENTRIES.columns if c.key != "id"}
    params.update(account=accounts.available, counterparty=counterparty, points=points, minus_points=-points,
                  lot_available_at=lot_available_at, lot_expires_at=expires_at, now=now)
    row = session.execute(_earn_statement(), params).first()
    if row is None:  # the key was used first (by a concurrent writer, as we checked nothing before)
        winner = _find_entry(session, entry.source, entry.idempotency_key)
        assert winner is not None
        return _replay(session, winner, entry.payload_hash)
    entry_id, lot_id, balance_after = int(row[0]), int(row[1]), int(row[2])
    entry.id = entry_id
    in_debt = balance_after - points < 0
    if in_debt:
        _recover_debt(session, accounts, entry_id)
    # the timeline and audit rows need no id back: one more round trip for both
    from loyalist.db import execute_together
    from loyalist.interactions import service as interactions

    trailing = []
    if record_timeline:
        trailing.append(interactions.insert_statement([dict(
            customer_id=customer_id, kind="points_change", channel=channel,
            summary=f"{_signed(points)} points ({kind}): {reason}"[:4000], occurred_at=entry.occurred_at,
            actor=actor, source_type="ledger_entry", source_id=str(entry_id),
            data={"entry_kind": kind, "points": points, "reason": reason})]))
    if actor.kind != "system":
        trailing.append(audit.record_statement(actor=actor, action=f"ledger.{kind}", target_type="customer",
                                               target_id=customer_id, after=_audit_after(entry)))
    execute_together(session, trailing)
    if in_debt:
        return _entry_read(session, session.get(LedgerEntry, entry_id))  # type: ignore[arg-type]
    return _credit_read(entry, actor=actor, target_code=_customer_code(customer_id, "available"),
                        counterparty_code=CREDIT_ACCOUNTS[kind], lot_id=lot_id, lot_available_at=lot_available_at,
                        expires_at=expires_at)


def _replay_or_raise(session: Session, source: str, key: str, payload_hash: str, error: Exception) -> EntryRead:
    """A refused request may still be the replay of one that was accepted earlier (e.g. its
    customer was merged since, or its expiry date has passed): answer the replay if so."""
    existing = _find_entry(session, source, key)
    if existing is not None:
        return _replay(session, existing, payload_hash)
    raise error


_ACCOUNTS_STATEMENT: list[Any] = []


def _accounts_statement() -> Any:
    """`_credit_accounts`' query, built once with bound parameters (every credit runs it)."""
    if not _ACCOUNTS_STATEMENT:
        from sqlalchemy import bindparam

        from loyalist.customers.models import Customer

        customers_t = cast(Table, Customer.__table__)
        _ACCOUNTS_STATEMENT.append(
            select(literal(1), customers_t.c.status, LedgerAccount.id, LedgerAccount.kind)
            .select_from(customers_t)
            .outerjoin(LedgerAccount, LedgerAccount.customer_id == customers_t.c.id)
            .where(customers_t.c.id == bindparam("cid"))
            .union_all(select(literal(2), literal(None), LedgerAccount.id, LedgerAccount.kind)
                       .where(LedgerAccount.code == bindparam("system"))))
    return _ACCOUNTS_STATEMENT[0]


def _credit_accounts(session: Session, customer_id: int, system: str) -> tuple[_Accounts, int, str]:
    """The customer's status and account ids and the system account's id in ONE statement,
    creating whichever accounts are missing (first credit of a customer, fresh database)."""
    rows = session.execute(_accounts_statement(), {"cid": customer_id, "system": system}).all()
    customer_rows = [r for r in rows if r[0] == 1]
    if not customer_rows:
        raise NotFound(f"customer {customer_id} not found", field="customer_id")
    status = customer_rows[0][1]
    ids = {kind: acc_id for _part, _st, acc_id, kind in rows if acc_id is not None}
    available = ids.get("customer") or _get_or_create_account(
        session, code=_customer_code(customer_id, "available"), kind="customer", customer_id=customer_id)
    pending = ids.get("customer_pending") or _get_or_create_account(
        session, code=_customer_code(customer_id, "pending"), kind="customer_pending", customer_id=customer_id)
    counterparty = ids.get(system) or _system_account(session, system)
    return _Accounts(customer_id, available, pending), counterparty, str(status or "active")


def _debit_statements(dialect: str) -> dict[str, Any]:
    """The debit path's statements, built once per dialect (see `_built`).

    `lots` answers two questions in one read: which lots `_settle` would have to expire or
    release first (marker 0; almost always none) and which open lots consuming `needed` points
    touches, by a running sum in consumption order (marker 1). On PostgreSQL the lots' new
    `remaining` and their movements are one statement each over `unnest` arrays, so that they
    travel with the postings, timeline and audit rows in one round trip (`execute_together`)."""
    def build() -> dict[str, Any]:
        from sqlalchemy import BigInteger, Integer, and_, bindparam, or_

        lots = _LOTS.c
        columns = (lots.id, lots.entry_id, lots.remaining, lots.available_at, lots.expires_at)
        mine = (lots.customer_id == bindparam("cid"), lots.remaining > 0)
        now = bindparam("now", type_=lots.available_at.type)
        settle = select(literal(0).label("settle"), *columns).where(
            *mine, or_(and_(lots.expires_at.is_not(None), lots.expires_at <= now),
                       and_(lots.pending.is_(True), lots.available_at <= now)))
        order = (lots.expires_at.is_(None), lots.expires_at, lots.id)
        running = (select(lots.id.label("lot_id"), lots.remaining.label("remaining"),
                          func.sum(lots.remaining).over(order_by=order).label("running"))
                   .where(*mine, lots.pending.is_(False)).subquery())
        spend = select(literal(1).label("settle"), *columns).where(lots.id.in_(
            select(running.c.lot_id).where(running.c.running - running.c.remaining < bindparam("needed"))))
        out: dict[str, Any] = {
            "lots": settle.union_all(spend),
            "lock": select(_ACCOUNTS.c.balance).where(_ACCOUNTS.c.id == bindparam("account")).with_for_update(),
            "debit": update(_ACCOUNTS).where(
                _ACCOUNTS.c.id == bindparam("account"),
                _ACCOUNTS.c.balance + bindparam("delta", type_=Integer) >= 0,
            ).values(balance=_ACCOUNTS.c.balance + bindparam("delta", type_=Integer)),
            # INSERT ... SELECT ... UNION ALL: a multi-row VALUES with bound parameters has no
            # cache key, so SQLAlchemy would compile it anew on every call
            "postings": insert(_POSTINGS).from_select(["entry_id", "account_id", "amount"], select(
                bindparam("p_entry", type_=BigInteger), bindparam("p_account1", type_=BigInteger),
                bindparam("p_amount1", type_=Integer),
            ).union_all(select(
                bindparam("p_entry", type_=BigInteger), bindparam("p_account2", type_=BigInteger),
                bindparam("p_amount2", type_=Integer)))),
        }
        if dialect == "postgresql":
            from sqlalchemy.dialects.postgresql import ARRAY

            def parts(prefix: str) -> Any:
                return func.unnest(bindparam(f"{prefix}_lots", type_=ARRAY(BigInteger)),
                                   bindparam(f"{prefix}_parts", type_=ARRAY(Integer))) \
                    .table_valued("lot_id", "part", with_ordinality="n").render_derived(name=f"{prefix}_u")

            taken = parts("l")
            out["lot_remaining"] = (update(_LOTS).where(_LOTS.c.id == taken.c.lot_id)
                                    .values(remaining=_LOTS.c.remaining - taken.c.part))
            moved = parts("m")
            out["movements"] = insert(_MOVEMENTS).from_select(
                ["entry_id", "lot_id", "points", "kind"],
                select(bindparam("m_entry", type_=BigInteger), moved.c.lot_id, -moved.c.part,
                       bindparam("m_kind", type_=_MOVEMENTS.c.kind.type)).order_by(moved.c.n))
        else:
            out["lot_remaining"] = update(_LOTS).where(_LOTS.c.id == bindparam("lot")).values(
                remaining=_LOTS.c.remaining - bindparam("part", type_=Integer))
            out["movements"] = insert(_MOVEMENTS)
        return out

    return cast(dict[str, Any], _built(f"debit:{dialect}", build))


def _spendable_lots(session: Session, stmts: dict[str, Any], customer_id: int, needed: int,
                    now: datetime) -> tuple[bool, list[Any]]:
    """(whether `_settle` has work, the lots to consume in consumption order)."""
    rows = session.execute(stmts["lots"], {"cid": customer_id, "now": now, "needed": needed}).all()
    spend = sorted((r for r in rows if r[0] == 1), key=lambda r: (r[5] is None, r[5] or now, r[1]))
    return any(r[0] == 0 for r in rows), spend


def _debit(
    session: Session, *, kind: str, counterparty: str, customer_id: int, points: int, source: str,
    idempotency_key: str, reason: str, actor: Actor, reference_type: str | None, reference_id: str | None,
    payload: dict[str, Any] | None, payload_hash: str, summary: str, channel: str = "system",
) -> EntryRead:
    """Spend available points: the common path of `redeem` and negative `adjust`.

    Why it looks like this: a redemption at the till is hot, so it reads what it needs in four
    statements (replay check; customer status with account ids; the lock, which also reads the
    balance; the lots to expire/release and the lots to spend, in one query), writes the entry
    with `ON CONFLICT DO NOTHING` (a lost race is a replay: no re-check after the lock), moves the
    balance with the guarded UPDATE (still the guarantee against an overdraft; the balance read
    under the lock only refuses early), sends postings, lot changes, movements, timeline and
    audit together, and answers from what it wrote. `_settle` runs only when that query found due
    or matured lots; then balance and lots are read again."""
    existing = _find_entry(session, source, idempotency_key)
    if existing is not None:
        return _replay(session, existing, payload_hash)
    from loyalist.db import execute_together
    from loyalist.interactions import service as interactions

    dialect = session.get_bind().dialect.name
    stmts = _debit_statements(dialect)
    now = clock.now()
    try:
        with session.begin_nested():
            accounts, counterparty_id, status = _credit_accounts(session, customer_id, counterparty)
            if status != "active":
                raise InvalidState(f"customer {customer_id} is {status}; points go to the surviving profile",
                                   field="customer_id")
            balance = int(session.execute(stmts["lock"], {"account": accounts.available}).scalar_one())
            unsettled, lots = _spendable_lots(session, stmts, customer_id, points, now)
            if unsettled:
                _settle(session, accounts, SYSTEM, now)
                session.flush()
                balance = _balance(session, accounts.available)
                unsettled, lots = _spendable_lots(session, stmts, customer_id, points, now)
            if balance < points:
                raise InsufficientPoints(f"not enough available points for {points}", field="points",
                                         details={"available": balance, "requested": points})
            entry = LedgerEntry(
                customer_id=customer_id, kind=kind, points=-points, reason=reason, source=source,
                idempotency_key=idempotency_key, payload_hash=payload_hash, reference_type=reference_type,
                reference_id=None if reference_id is None else str(reference_id), reverses_entry_id=None,
                counterparty_customer_id=None, occurred_at=now, created_at=now,
                data={"payload": audit.jsonable(payload)} if payload else None, **_actor_values(actor),
            )
            values = {c.key: getattr(entry, c.key) for c in _ENTRIES.columns if c.key != "id"}
            entry_id = insert_once(session, _ENTRIES, values, unique=["source", "idempotency_key"])
            if entry_id is None:  # the same key was written first by a concurrent request
                winner = _find_entry(session, source, idempotency_key)
                assert winner is not None
                raise _Raced(winner)
            entry.id = entry_id
            moved = session.execute(stmts["debit"], {"account": accounts.available, "delta": -points})
            if moved.rowcount != 1:  # type: ignore[attr-defined]  # refused under the lock: caches disagree
                raise InsufficientPoints(f"not enough available points for {points}", field="points",
                                         details={"available": _balance(session, accounts.available),
                                                  "requested": points})
            consumed: list[tuple[Any, int]] = []
            for lot in lots:
                part = min(int(lot[3]), points - sum(p for _, p in consumed))
                if part > 0:
                    consumed.append((lot, part))
            if sum(p for _, p in consumed) != points:  # pragma: no cover - caches disagree; reconcile reports it
                raise AssertionError(f"lots of customer {customer_id} hold less than {points}")
            writes: list[Any] = [(stmts["postings"], {
                "p_entry": entry_id, "p_account1": accounts.available, "p_amount1": -points,
                "p_account2": counterparty_id, "p_amount2": points})]
            if dialect == "postgresql":
                ids, parts = [lot[1] for lot, _ in consumed], [p for _, p in consumed]
                writes += [(stmts["lot_remaining"], {"l_lots": ids, "l_parts": parts}),
                           (stmts["movements"], {"m_lots": ids, "m_parts": parts, "m_entry": entry_id,
                                                 "m_kind": "consume"})]
            else:  # executemany: no round trip to save, and no arrays
                session.execute(stmts["lot_remaining"], [{"lot": lot[1], "part": p} for lot, p in consumed])
                session.execute(stmts["movements"], [{"entry_id": entry_id, "lot_id": lot[1], "points": -p,
                                                      "kind": "consume"} for lot, p in consumed])
            _forget_lots(session, [lot[1] for lot, _ in consumed])
            writes.append(interactions.insert_statement([dict(
                customer_id=customer_id, kind="points_change", channel=channel, summary=summary[:4000],
                occurred_at=now, actor=actor, source_type="ledger_entry", source_id=str(entry_id),
                data={"entry_kind": kind, "points": -points, "reason": reason})]))
            if actor.kind != "system":
                writes.append(audit.record_statement(actor=actor, action=f"ledger.{kind}", target_type="customer",
                                                     target_id=customer_id, after=_audit_after(entry)))
            execute_together(session, writes)
    except _Raced as raced:
        return _replay(session, raced.winner, payload_hash)
    return EntryRead(
        id=entry_id, customer_id=customer_id, kind=kind, points=-points, reason=reason, source=source,
        idempotency_key=idempotency_key, reference_type=entry.reference_type, reference_id=entry.reference_id,
        reverses_entry_id=None, reversed_by_entry_id=None, counterparty_customer_id=None,
        actor=f"{actor.kind}:{actor.id if actor.id is not None else actor.name}", occurred_at=now,
        created_at=now, data=entry.data,
        postings=[PostingRead(account=_customer_code(customer_id, "available"), amount=-points),
                  PostingRead(account=counterparty, amount=points)],
        lots=[LotMovementRead(lot_id=lot[1], kind="consume", points=-part, lot_earned_entry_id=lot[2],
                              available_at=lot[4], expires_at=lot[5]) for lot, part in consumed],
    )


def _forget_lots(session: Session, lot_ids: Iterable[int]) -> None:
    """Lots changed by Core statements: a copy already loaded in the session would be stale."""
    for lot_id in lot_ids:
        loaded = session.identity_map.get(session.identity_key(PointLot, lot_id))
        if loaded is not None:
            session.expire(loaded)


def redeem(
    session: Session,
    *,
    customer_id: int,
    points: int,
    source: str,
    idempotency_key: str,
    reason: str,
    actor: Actor,
    reference_type: str | None = None,
    reference_id: str | None = None,
    payload: dict[str, Any] | None = None,
    channel: str = "system",
) -> EntryRead:
    """Spend available points (e.g. pay at the POS, buy a reward).

    Raises InsufficientPoints, writing nothing, when the available balance is short; pending
    points do not count. Lots are consumed soonest-expiring first, then oldest.
    """
    points = _positive(points)
    _check_channel(channel)
    source = _text(source, "source", max_len=100)  # type: ignore[assignment]
    idempotency_key = _text(idempotency_key, "idempotency_key", max_len=200)  # type: ignore[assignment]
    reason = _text(reason, "reason", max_len=500)  # type: ignore[assignment]
    payload_hash = _hash({"op": "redeem", "customer_id": customer_id, "points": points,
                          "reference_type": reference_type, "reference_id": reference_id, "payload": payload})
    return _debit(session, kind="redeem", counterparty="redemption", customer_id=customer_id, points=points,
                  source=source, idempotency_key=idempotency_key, reason=reason, actor=actor,
                  reference_type=reference_type, reference_id=reference_id, payload=payload,
                  payload_hash=payload_hash, summary=f"-{points} points redeemed: {reason}", channel=channel)


def adjust(
    session: Session,
    *,
    customer_id: int,
    points: int,
    reason: str,
    actor: Actor,
    idempotency_key: str,
    source: str = ADJUST_SOURCE,
    expires_at: datetime | None = None,
) -> EntryRead:
    """Manual correction by staff: positive credits a never-expiring (or `expires_at`) lot, negative
    debits available points (refused with InsufficientPoints rather than creating a debt)."""
    if isinstance(points, bool) or not isinstance(points, int) or points == 0:
        raise ValidationFailed("points: must be a non-zero whole number", field="points")
    reason = _text(reason, "reason", max_len=500)  # type: ignore[assignment]
    source = _text(source, "source", max_len=100)  # type: ignore[assignment]
    idempotency_key = _text(idempotency_key, "idempotency_key", max_len=200)  # type: ignore[assignment]
    expires_at = _utc(expires_at, "expires_at")
    payload_hash = _hash({"op": "adjust", "customer_id": customer_id, "points": points, "expires_at": expires_at})
    if points < 0:
        return _debit(session, kind="adjust", counterparty="adjustment", customer_id=customer_id,
                      points=-points, source=source, idempotency_key=idempotency_key, reason=reason,
                      actor=actor, reference_type=None, reference_id=None, payload=None,
                      payload_hash=payload_hash, summary=f"{points} points adjusted: {reason}")
    existing = _find_entry(session, source, idempotency_key)
    if existing is not None:
        return _replay(session, existing, payload_hash)
    now = clock.now()
    if expires_at is not None and expires_at <= now:
        raise ValidationFailed("expires_at: must be in the future", field="expires_at")
    try:
        with session.begin_nested():
            accounts = _lock_customers(session, [customer_id])[customer_id]
            existing = _find_entry(session, source, idempotency_key)
            if existing is not None:
                return _replay(session, existing, payload_hash)
            entry = _insert_entry(
                session, customer_id=customer_id, kind="adjust", points=points, reason=reason, source=source,
                idempotency_key=idempotency_key, payload_hash=payload_hash, occurred_at=now,
                **_actor_values(actor),
            )
            _post(session, entry, {accounts.available: points, _system_account(session, "adjustment"): -points},
                  customer_accounts=accounts.ids)
            _new_lot(session, customer_id=customer_id, entry_id=entry.id, points=points, pending=False,
                     available_at=now, expires_at=expires_at)
            _recover_debt(session, accounts, entry.id)
            _timeline(session, entry, actor, f"+{points} points adjusted: {reason}")
            _audit(session, entry, actor)
            return _entry_read(session, entry)
    except _Raced as raced:
        return _replay(session, raced.winner, payload_hash)


def compensate(
    session: Session,
    *,
    customer_id: int,
    points: int,
    reason: str,
    actor: Actor,
    idempotency_key: str,
    source: str = COMPENSATION_SOURCE,
    expires_at: datetime | None = None,
    reference_type: str | None = None,
    reference_id: str | None = None,
) -> EntryRead:
    """Goodwill points (service recovery, complaint cases): positive, reason required, booked to
    the `compensation` expense account so that their cost is visible apart from earned points."""
    return earn(session, customer_id=customer_id, points=points, source=source, idempotency_key=idempotency_key,
                reason=reason, actor=actor, expires_at=expires_at, reference_type=reference_type,
                reference_id=reference_id, kind="compensation")


def _take_back(
    session: Session, *, accounts: _Accounts, entry: LedgerEntry, points: int, policy: str,
    first_lots: list[PointLot],
) -> dict[str, int]:
    """Remove `points` from a customer: `first_lots` (pending or available), then available lots,
    then the shortfall per policy. Returns the amounts per place (for postings)."""
    from_pending = 0
    from_available = 0
    for lot in first_lots:
        if from_pending + from_available >= points:
            break
        part = min(lot.remaining, points - from_pending - from_available)
        if part <= 0:
            continue
        _move(session, lot, entry.id, -part, "clawback")
        if lot.pending:
            from_pending += part
        else:
            from_available += part
    session.flush()
    rest = points - from_pending - from_available
    balance = _balance(session, accounts.available)
    # Available lots already taken above are still in the cached balance.
    spendable = max(balance - from_available, 0)
    more = min(rest, spendable)
    if more:
        got = _consume(session, _open_lots(session, accounts.customer_id, pending=False, needed=more), more, entry.id,
                       "clawback")
        assert got == more
    from_available += more
    shortfall = rest - more
    return {"pending": from_pending, "available": from_available, "shortfall": shortfall}


def _clawback_legs(accounts: _Accounts, parts: dict[str, int], policy: str, counterparty: int,
                   writeoff: int, total: int) -> dict[int, int]:
    legs: dict[int, int] = defaultdict(int)
    legs[accounts.pending] -= parts["pending"]
    legs[accounts.available] -= parts["available"]
    legs[counterparty] += total
    if policy == "allow_negative":
        legs[accounts.available] -= parts["shortfall"]
    else:
        legs[writeoff] -= parts["shortfall"]
    return dict(legs)


def clawback(
    session: Session,
    *,
    customer_id: int,
    points: int,
    source: str,
    idempotency_key: str,
    reason: str,
    actor: Actor,
    reference_type: str | None = None,
    reference_id: str | None = None,
    policy: str = "allow_negative",
) -> EntryRead:
    """Take back points of a returned purchase.

    Taken first from still-pending lots earned with the same reference (the usual case: the
    return falls inside the pending period), then from available lots in consumption order.
    When the points were already spent, `policy` decides:

    - "allow_negative": the available balance goes below zero; that debt is recovered first
      from the customer's future credits (their lots are reduced as they arrive).
    - "cap_at_balance": only what is available is taken; the shortfall is booked to the
      `writeoff` expense account, and the customer keeps what they already spent.

    Either way the `issued` account receives the full amount, so tier qualification and the
    earned-points report see the return.
    """
    points = _positive(points)
    if policy not in CLAWBACK_POLICIES:
        raise ValidationFailed(f"policy: must be one of {sorted(CLAWBACK_POLICIES)}", field="policy")
    source = _text(source, "source", max_len=100)  # type: ignore[assignment]
    idempotency_key = _text(idempotency_key, "idempotency_key", max_len=200)  # type: ignore[assignment]
    reason = _text(reason, "reason", max_len=500)  # type: ignore[assignment]
    payload_hash = _hash({"op": "clawback", "customer_id": customer_id, "points": points, "policy": policy,
                          "reference_type": reference_type, "reference_id": reference_id})
    existing = _find_entry(session, source, idempotency_key)
    if existing is not None:
        return _replay(session, existing, payload_hash)
    now = clock.now()
    try:
        with session.begin_nested():
            accounts = _lock_customers(session, [customer_id])[customer_id]
            existing = _find_entry(session, source, idempotency_key)
            if existing is not None:
                return _replay(session, existing, payload_hash)
            _settle(session, accounts, SYSTEM, now)
            first: list[PointLot] = []
            if reference_type is not None and reference_id is not None:
                first = list(session.scalars(
                    select(PointLot).join(LedgerEntry, LedgerEntry.id == PointLot.entry_id)
                    .where(PointLot.customer_id == customer_id, PointLot.pending.is_(True), PointLot.remaining > 0,
                           LedgerEntry.reference_type == reference_type,
                           LedgerEntry.reference_id == str(reference_id))
                    .order_by(PointLot.id)
                ))
            entry = _insert_entry(
                session, customer_id=customer_id, kind="clawback", points=0, reason=reason, source=source,
                idempotency_key=idempotency_key, payload_hash=payload_hash, reference_type=reference_type,
                reference_id=None if reference_id is None else str(reference_id), occurred_at=now,
                **_actor_values(actor),
            )
            parts = _take_back(session, accounts=accounts, entry=entry, points=points, policy=policy,
                               first_lots=first)
            legs = _clawback_legs(accounts, parts, policy, _system_account(session, "issued"),
                                  _system_account(session, "writeoff"), points)
            entry.points = legs.get(accounts.available, 0) + legs.get(accounts.pending, 0)
            entry.data = {"requested": points, "policy": policy, "from_pending": parts["pending"],
                          "from_available": parts["available"], "shortfall": parts["shortfall"]}
            session.flush()
            _post(session, entry, legs, customer_accounts=accounts.ids)
            summary = f"{entry.points} points taken back: {reason}"
            if parts["shortfall"] and policy == "cap_at_balance":
                summary += f" ({parts['shortfall']} already spent, written off)"
            _timeline(session, entry, actor, summary)
            _audit(session, entry, actor)
            return _entry_read(session, entry)
    except _Raced as raced:
        return _replay(session, raced.winner, payload_hash)


def reverse(
    session: Session,
    *,
    entry_id: int,
    actor: Actor,
    reason: str,
    idempotency_key: str,
    policy: str = "allow_negative",
) -> EntryRead:
    """Cancel an entry with a new `reversal` entry that references it (the original stays).

    - A redemption or negative adjustment is refunded: each consumed lot gets its points back
      unless it has expired meanwhile; those points go straight to `breakage` (the customer would
      have lost them had they not been spent).
    - An earn, bonus, compensation or positive adjustment is clawed back: first from its own
      lot, then from other available lots, the shortfall per `policy` (see `clawback`).
    Other kinds (expire, release, transfer, clawback, reversal) cannot be reversed; an entry is
    reversed at most once. Entries of a merged-away profile are refused (InvalidState): its
    lots moved to the survivor, so a correction belongs there.
    """
    reason = _text(reason, "reason", max_len=500)  # type: ignore[assignment]
    idempotency_key = _text(idempotency_key, "idempotency_key", max_len=200)  # type: ignore[assignment]
    if policy not in CLAWBACK_POLICIES:
        raise ValidationFailed(f"policy: must be one of {sorted(CLAWBACK_POLICIES)}", field="policy")
    payload_hash = _hash({"op": "reverse", "entry_id": entry_id, "policy": policy})
    existing = _find_entry(session, REVERSAL_SOURCE, idempotency_key)
    if existing is not None:
        return _replay(session, existing, payload_hash)
    original = session.get(LedgerEntry, entry_id)
    if original is None:
        raise NotFound(f"ledger entry {entry_id} not found", field="entry_id")
    # A merged profile's lots now live on the survivor: correct there (adjust/compensate) instead.
    _check_customer(session, original.customer_id)
    refundable = original.kind == "redeem" or (original.kind == "adjust" and original.points < 0)
    revocable = original.kind in CREDIT_KINDS or (original.kind == "adjust" and original.points > 0)
    if not (refundable or revocable):
        raise InvalidState(f"a {original.kind} entry cannot be reversed", field="entry_id")
    now = clock.now()
    try:
        with session.begin_nested():
            accounts = _lock_customers(session, [original.customer_id], check=False)[original.customer_id]
            existing = _find_entry(session, REVERSAL_SOURCE, idempotency_key)
            if existing is not None:
                return _replay(session, existing, payload_hash)
            if session.scalar(select(LedgerEntry.id).where(LedgerEntry.reverses_entry_id == entry_id)) is not None:
                raise Conflict(f"entry {entry_id} was already reversed", field="entry_id")
            _settle(session, accounts, SYSTEM, now)
            entry = _insert_entry(
                session, customer_id=original.customer_id, kind="reversal", points=0, reason=reason,
                source=REVERSAL_SOURCE, idempotency_key=idempotency_key, payload_hash=payload_hash,
                reference_type=original.reference_type, reference_id=original.reference_id,
                reverses_entry_id=original.id, occurred_at=now, **_actor_values(actor),
            )
            original_legs = dict(session.execute(
                select(LedgerPosting.account_id, LedgerPosting.amount).where(LedgerPosting.entry_id == original.id)
            ).all())
            counterparty = next(a for a in original_legs if a not in (accounts.available, accounts.pending))
            if refundable:
                legs = _refund(session, original, entry, accounts, counterparty, original_legs, now)
                entry.data = {"refunded": legs.get(accounts.available, 0),
                              "expired_meanwhile": legs.get(_system_account(session, "breakage"), 0)}
            else:
                points = original.points
                own = list(session.scalars(
                    select(PointLot).where(PointLot.entry_id == original.id, PointLot.remaining > 0)
                ))
                parts = _take_back(session, accounts=accounts, entry=entry, points=points, policy=policy,
                                   first_lots=own)
                legs = _clawback_legs(accounts, parts, policy, counterparty, _system_account(session, "writeoff"),
                                      points)
                entry.data = {"policy": policy, **parts}
            entry.points = legs.get(accounts.available, 0) + legs.get(accounts.pending, 0)
            session.flush()
            _post(session, entry, legs, customer_accounts=accounts.ids)
            if refundable:
                _recover_debt(session, accounts, entry.id)
            _timeline(session, entry, actor, f"{_signed(entry.points)} points: {original.kind} {original.id} "
                                             f"reversed: {reason}")
            _audit(session, entry, actor)
            return _entry_read(session, entry)
    except _Raced as raced:
        return _replay(session, raced.winner, payload_hash)


def _refund(session: Session, original: LedgerEntry, entry: LedgerEntry, accounts: _Accounts, counterparty: int,
            original_legs: dict[int, int], now: datetime) -> dict[int, int]:
    movements = session.execute(
        select(LotMovement.lot_id, LotMovement.points)
        .where(LotMovement.entry_id == original.id, LotMovement.kind == "consume")
        .order_by(LotMovement.id)
    ).all()
    restored = 0
    lapsed = 0
    for lot_id, moved in movements:
        lot = session.get(PointLot, lot_id)
        assert lot is not None
        part = -moved
        expired = lot.expires_at is not None and lot.expires_at <= now
        if expired or lot.customer_id != original.customer_id:
            lapsed += part
        else:
            _move(session, lot, entry.id, part, "restore")
            restored += part
    session.flush()
    total = -original.points
    legs: dict[int, int] = defaultdict(int)
    legs[accounts.available] += restored
    legs[counterparty] -= total
    legs[_system_account(session, "breakage")] += lapsed
    if restored + lapsed != total:  # pragma: no cover - lot movements always cover a debit
        raise AssertionError(f"entry {original.id}: movements {restored + lapsed} != {total}")
    return dict(legs)


# --------------------------------------------------------------------------------------------
# jobs
# --------------------------------------------------------------------------------------------


def expire_due(session: Session, *, as_of: datetime, actor: Actor = SYSTEM, max_customers: int | None = None) -> int:
    """Expire every lot with `expires_at <= as_of` and points left; returns the number of lots.

    Re-runnable: each lot is expired by one entry with idempotency key `lot:<id>`, so a second
    run (or a run racing the lazy expiry of a redemption) writes nothing. `as_of` may not be in
    the future: expiring early could not be undone. `max_customers` bounds one call (and its
    locks) so that a caller can commit in chunks and call again until it returns 0.
    """
    as_of = _utc(as_of, "as_of")  # type: ignore[assignment]
    if as_of > clock.now():
        raise ValidationFailed("as_of: cannot expire points in the future", field="as_of")
    due = (select(PointLot.customer_id).where(PointLot.remaining > 0, PointLot.expires_at.is_not(None),
                                              PointLot.expires_at <= as_of)
           .distinct().order_by(PointLot.customer_id))
    if max_customers is not None:
        due = due.limit(max_customers)
    customer_ids = session.scalars(due).all()
    count = 0
    with session.begin_nested():
        # Lock every affected customer first (global lock order), then write.
        locked = _lock_customers(session, customer_ids, check=False)
        for cid in sorted(locked):
            lots = session.scalars(
                select(PointLot).where(PointLot.customer_id == cid, PointLot.remaining > 0,
                                       PointLot.expires_at.is_not(None), PointLot.expires_at <= as_of)
                .order_by(PointLot.id)
            ).all()
            for lot in lots:
                count += _expire_lot(session, lot, locked[cid], actor, as_of)
    return count


def release_pending(session: Session, *, as_of: datetime | None = None, actor: Actor = SYSTEM) -> int:
    """Make pending lots whose `available_at <= as_of` spendable; returns the number of lots.

    Also done lazily before any debit of the customer, so this job only keeps balances tidy.
    Lots that are due to expire by `as_of` are left to `expire_due`.
    """
    as_of = _utc(as_of, "as_of") or clock.now()
    if as_of > clock.now():
        raise ValidationFailed("as_of: cannot release points in the future", field="as_of")
    not_expired = (PointLot.expires_at.is_(None)) | (PointLot.expires_at > as_of)
    customer_ids = session.scalars(
        select(PointLot.customer_id).where(PointLot.pending.is_(True), PointLot.remaining > 0,
                                           PointLot.available_at <= as_of, not_expired).distinct()
    ).all()
    count = 0
    with session.begin_nested():
        locked = _lock_customers(session, customer_ids, check=False)
        for cid in sorted(locked):
            lots = session.scalars(
                select(PointLot).where(PointLot.customer_id == cid, PointLot.pending.is_(True),
                                       PointLot.remaining > 0, PointLot.available_at <= as_of, not_expired)
                .order_by(PointLot.id)
            ).all()
            for lot in lots:
                count += _release_lot(session, lot, locked[cid], actor)
    return count


# --------------------------------------------------------------------------------------------
# merge (customers hook)
# --------------------------------------------------------------------------------------------


def merge_customers(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> EntryRead | None:
    """Move the duplicate's points to the survivor with one `transfer` entry.

    The duplicate's entries stay where they are (history); its open lots are closed by
    `transfer_out` movements and re-created on the survivor (same `available_at`/`expires_at`,
    `origin_lot_id` pointing back), so expiry dates survive the merge. A debt moves too.
    """
    if survivor_id == duplicate_id:
        raise ValidationFailed("cannot merge a customer into itself", field="duplicate_id")
    key = f"{duplicate_id}->{survivor_id}"
    payload_hash = _hash({"op": "merge", "from": duplicate_id, "to": survivor_id})
    existing = _find_entry(session, MERGE_SOURCE, key)
    if existing is not None:
        return _replay(session, existing, payload_hash)
    try:
        with session.begin_nested():
            locked = _lock_customers(session, [survivor_id, duplicate_id], check=False)
            src, dst = locked[duplicate_id], locked[survivor_id]
            available = _balance(session, src.available)
            pending = _balance(session, src.pending)
            lots = session.scalars(
                select(PointLot).where(PointLot.customer_id == duplicate_id, PointLot.remaining > 0)
                .order_by(PointLot.id)
            ).all()
            if available == 0 and pending == 0 and not lots:
                return None
            entry = _insert_entry(
                session, customer_id=survivor_id, kind="transfer", points=available + pending,
                reason=f"points of merged customer {duplicate_id}", source=MERGE_SOURCE, idempotency_key=key,
                payload_hash=payload_hash, counterparty_customer_id=duplicate_id,
                data={"from_customer_id": duplicate_id, "available": available, "pending": pending},
                **_actor_values(actor),
            )
            _post(session, entry, {src.available: -available, src.pending: -pending,
                                   dst.available: available, dst.pending: pending},
                  customer_accounts=src.ids + dst.ids)
            for lot in lots:
                moved = lot.remaining
                _move(session, lot, entry.id, -moved, "transfer_out")
                _new_lot(session, customer_id=survivor_id, entry_id=entry.id, points=moved, pending=lot.pending,
                         available_at=lot.available_at, expires_at=lot.expires_at, origin_lot_id=lot.id,
                         kind="transfer_in")
            session.flush()
            _recover_debt(session, dst, entry.id)
            _timeline(session, entry, actor, f"{_signed(entry.points)} points moved from merged profile "
                                             f"{duplicate_id}")
            _audit(session, entry, actor)
            return _entry_read(session, entry)
    except _Raced as raced:
        return _replay(session, raced.winner, payload_hash)


# --------------------------------------------------------------------------------------------
# reads
# --------------------------------------------------------------------------------------------


def _account_codes(session: Session, ids: Iterable[int]) -> dict[int, str]:
    ids = list(set(ids))
    if not ids:
        return {}
    return dict(session.execute(select(LedgerAccount.id, LedgerAccount.code).where(LedgerAccount.id.in_(ids))).all())


def _entry_reads(session: Session, entries: list[LedgerEntry], *, for_customer: int | None = None) -> list[EntryRead]:
    ids = [e.id for e in entries]
    if not ids:
        return []
    postings: dict[int, list[tuple[int, int]]] = defaultdict(list)
    for entry_id, account_id, amount in session.execute(
        select(LedgerPosting.entry_id, LedgerPosting.account_id, LedgerPosting.amount)
        .where(LedgerPosting.entry_id.in_(ids)).order_by(LedgerPosting.id)
    ):
        postings[entry_id].append((account_id, amount))
    codes = _account_codes(session, [a for rows in postings.values() for a, _ in rows])
    movements: dict[int, list[LotMovementRead]] = defaultdict(list)
    for mv, lot in session.execute(
        select(LotMovement, PointLot).join(PointLot, PointLot.id == LotMovement.lot_id)
        .where(LotMovement.entry_id.in_(ids)).order_by(LotMovement.id)
    ):
        movements[mv.entry_id].append(LotMovementRead(
            lot_id=lot.id, kind=mv.kind, points=mv.points, lot_earned_entry_id=lot.entry_id,
            available_at=lot.available_at, expires_at=lot.expires_at,
        ))
    reversed_by = dict(session.execute(
        select(LedgerEntry.reverses_entry_id, LedgerEntry.id).where(LedgerEntry.reverses_entry_id.in_(ids))
    ).all())
    prefix = f"customer:{for_customer}:" if for_customer is not None else None
    out = []
    for e in entries:
        points = e.points
        if prefix is not None and e.customer_id != for_customer:
            points = sum(amount for a, amount in postings[e.id] if codes[a].startswith(prefix))
        out.append(EntryRead(
            id=e.id, customer_id=e.customer_id, kind=e.kind, points=points, reason=e.reason, source=e.source,
            idempotency_key=e.idempotency_key, reference_type=e.reference_type, reference_id=e.reference_id,
            reverses_entry_id=e.reverses_entry_id, reversed_by_entry_id=reversed_by.get(e.id),
            counterparty_customer_id=e.counterparty_customer_id,
            actor=f"{e.actor_kind}:{e.actor_id if e.actor_id is not None else e.actor_name}",
            occurred_at=e.occurred_at, created_at=e.created_at, data=e.data,
            postings=[PostingRead(account=codes[a], amount=amount) for a, amount in postings[e.id]],
            lots=movements[e.id],
        ))
    return out


def _entry_read(session: Session, entry: LedgerEntry) -> EntryRead:
    session.flush()
    return _entry_reads(session, [entry])[0]


def get_entry(session: Session, entry_id: int) -> EntryRead:
    entry = session.get(LedgerEntry, entry_id)
    if entry is None:
        raise NotFound(f"ledger entry {entry_id} not found", field="entry_id")
    return _entry_read(session, entry)


def list_entries(session: Session, customer_id: int, *, limit: int = 50, offset: int = 0) -> EntryPage:
    """The customer's entries, newest first, each with its postings and the lots it touched
    (which earning a redemption used, when each earned lot expires). Includes transfers in and out."""
    where = (LedgerEntry.customer_id == customer_id) | (LedgerEntry.counterparty_customer_id == customer_id)
    total = session.scalar(select(func.count()).select_from(LedgerEntry).where(where)) or 0
    rows = list(session.scalars(
        select(LedgerEntry).where(where).order_by(LedgerEntry.id.desc()).limit(limit).offset(offset)
    ))
    return EntryPage(items=_entry_reads(session, rows, for_customer=customer_id), total=total, limit=limit,
                     offset=offset)


def list_lots(session: Session, customer_id: int, *, open_only: bool = False) -> list[LotRead]:
    """The customer's lots in consumption order (what a redemption would use first)."""
    query = select(PointLot).where(PointLot.customer_id == customer_id)
    if open_only:
        query = query.where(PointLot.remaining > 0)
    rows = session.scalars(query.order_by(PointLot.expires_at.is_(None), PointLot.expires_at, PointLot.id))
    return [LotRead.model_validate(r) for r in rows]


def _customer_account_balances(session: Session, customer_id: int) -> tuple[int, int]:
    rows = dict(session.execute(
        select(LedgerAccount.kind, LedgerAccount.balance).where(LedgerAccount.customer_id == customer_id)
    ).all())
    return int(rows.get("customer", 0)), int(rows.get("customer_pending", 0))


def _customer_system_sums(session: Session, customer_id: int) -> dict[str, int]:
    """Per system account, the sum of postings made by this customer's entries."""
    rows = session.execute(
        select(LedgerAccount.code, func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerEntry.customer_id == customer_id, LedgerAccount.customer_id.is_(None))
        .group_by(LedgerAccount.code)
    ).all()
    return {code: int(total or 0) for code, total in rows}


def get_balance(session: Session, customer_id: int) -> BalanceRead:
    """Balance as of now (read-only).

    `available` is what a redemption could spend right now: lots already due to expire are
    left out and matured pending lots included, even if the jobs have not run yet. A negative
    `available` is a debt from a clawback. `lifetime_earned` counts earn/bonus/compensation net
    of their clawbacks and reversals; `lifetime_redeemed` redemptions net of refunds; `expired`
    the points that went to breakage.
    """
    now = clock.now()
    available, pending = _customer_account_balances(session, customer_id)
    lots = session.scalars(select(PointLot).where(PointLot.customer_id == customer_id, PointLot.remaining > 0)).all()
    expiries: dict[Any, int] = defaultdict(int)
    for lot in lots:
        lapsed = lot.expires_at is not None and lot.expires_at <= now
        if lot.pending:
            if lapsed:
                pending -= lot.remaining
            elif lot.available_at <= now:
                pending -= lot.remaining
                available += lot.remaining
        elif lapsed:
            available -= lot.remaining
        if not lapsed and lot.expires_at is not None:
            expiries[lot.expires_at.date()] += lot.remaining
    sums = _customer_system_sums(session, customer_id)
    return BalanceRead(
        customer_id=customer_id,
        available=available,
        pending=pending,
        lifetime_earned=-(sums.get("issued", 0) + sums.get("promotion", 0) + sums.get("compensation", 0)),
        lifetime_redeemed=sums.get("redemption", 0),
        expired=sums.get("breakage", 0),
        next_expiries=[ExpiryRead(date=d, points=p) for d, p in sorted(expiries.items())[:5]],
    )


def points_earned_in_window(session: Session, customer_id: int, *, since: datetime, until: datetime) -> int:
    """Net points earned (kind "earn": purchases and events) with `since <= occurred_at < until`,
    minus clawbacks and reversals in the window. Bonus, compensation and adjustments do not
    count (they are not qualifying activity). Used by tiers."""
    since = _utc(since, "since")  # type: ignore[assignment]
    until = _utc(until, "until")  # type: ignore[assignment]
    total = session.scalar(
        select(func.sum(LedgerPosting.amount))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerEntry.customer_id == customer_id, LedgerAccount.code == "issued",
               LedgerEntry.occurred_at >= since, LedgerEntry.occurred_at < until)
    )
    return -int(total or 0)


def points_earned_by_customer(session: Session, *, since: datetime, until: datetime,
                              customer_ids: Sequence[int] | None = None) -> dict[int, int]:
    """`points_earned_in_window` for many customers in one GROUP BY per chunk of ids (tier
    evaluation after a bulk import, the periodic tier job): {customer_id: net earned points} for
    customers with qualifying activity in the window."""
    since = _utc(since, "since")  # type: ignore[assignment]
    until = _utc(until, "until")  # type: ignore[assignment]
    ids = None if customer_ids is None else sorted(set(customer_ids))
    chunks = [None] if ids is None else [ids[i:i + 500] for i in range(0, len(ids), 500)]
    out: dict[int, int] = {}
    for chunk in chunks:
        query = (select(LedgerEntry.customer_id, func.sum(LedgerPosting.amount))
                 .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
                 .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
                 .where(LedgerAccount.code == "issued", LedgerEntry.occurred_at >= since,
                        LedgerEntry.occurred_at < until)
                 .group_by(LedgerEntry.customer_id))
        if chunk is not None:
            query = query.where(LedgerEntry.customer_id.in_(chunk))
        for cid, total in session.execute(query):
            out[int(cid)] = -int(total or 0)
    return out


@dataclass
class _Check:
    mismatches: list[Mismatch] = field(default_factory=list)

    def expect(self, check: str, subject: str, expected: int, actual: int) -> None:
        if expected != actual:
            self.mismatches.append(Mismatch(check=check, subject=subject, expected=expected, actual=actual))


def account_balances(session: Session) -> dict[str, int]:
    """Every account's balance by code: customer accounts from their cached balance, system
    accounts as the sum of their postings (they carry no cache; see the module doc)."""
    sums = dict(session.execute(
        select(LedgerAccount.code, func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .where(LedgerAccount.customer_id.is_(None)).group_by(LedgerAccount.code)
    ).all())
    out: dict[str, int] = {}
    for code, cid, balance in session.execute(
            select(LedgerAccount.code, LedgerAccount.customer_id, LedgerAccount.balance)):
        out[code] = int(sums.get(code) or 0) if cid is None else int(balance or 0)
    return out


def entry_counts(session: Session) -> dict[str, int]:
    """Ledger entries per kind (for /metrics): a cheap GROUP BY over the append-only table."""
    rows = session.execute(select(LedgerEntry.kind, func.count()).group_by(LedgerEntry.kind)).all()
    return {str(kind): int(count) for kind, count in rows}


def reconcile(session: Session) -> ReconciliationReport:
    """Prove the caches against the append-only rows; list every mismatch (read-only)."""
    c = _Check()
    session.flush()
    sums = dict(session.execute(
        select(LedgerPosting.account_id, func.sum(LedgerPosting.amount)).group_by(LedgerPosting.account_id)
    ).all())
    accounts = session.execute(
        select(LedgerAccount.id, LedgerAccount.code, LedgerAccount.kind, LedgerAccount.customer_id,
               LedgerAccount.balance)
    ).all()
    books = 0  # customers' cached balances + system accounts' posting sums
    for acc_id, code, _kind, cid, balance in accounts:
        if cid is None:
            # A system account: no cache to compare (a value here would be a stale copy).
            c.expect("system_account_uncached", code, 0, 0 if balance is None else 1)
            books += int(sums.get(acc_id) or 0)
            continue
        cached = 0 if balance is None else int(balance)
        c.expect("account_balance", code, int(sums.get(acc_id) or 0), cached)
        books += cached
    global_sum = int(session.scalar(select(func.coalesce(func.sum(LedgerPosting.amount), 0))) or 0)
    c.expect("global_sum", "all postings", 0, global_sum)
    c.expect("global_balance", "all accounts", 0, books)
    for entry_id, total in session.execute(
        select(LedgerPosting.entry_id, func.sum(LedgerPosting.amount))
        .group_by(LedgerPosting.entry_id).having(func.sum(LedgerPosting.amount) != 0)
    ):
        c.expect("entry_balanced", f"entry {entry_id}", 0, int(total))
    # An entry's points are what it did to its customer's accounts.
    customer_part = (
        select(LedgerPosting.entry_id.label("entry_id"), func.sum(LedgerPosting.amount).label("amount"))
        .join(LedgerAccount, LedgerAccount.id == LedgerPosting.account_id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerAccount.customer_id == LedgerEntry.customer_id)
        .group_by(LedgerPosting.entry_id)
        .subquery()
    )
    part = func.coalesce(customer_part.c.amount, 0)
    for entry_id, points, actual in session.execute(
        select(LedgerEntry.id, LedgerEntry.points, part)
        .outerjoin(customer_part, customer_part.c.entry_id == LedgerEntry.id)
        .where(LedgerEntry.points != part)
        .order_by(LedgerEntry.id)
    ):
        c.expect("entry_points", f"entry {entry_id}", int(points), int(actual))
    entries_checked = int(session.scalar(select(func.count()).select_from(LedgerEntry)) or 0)
    moved = dict(session.execute(
        select(LotMovement.lot_id, func.sum(LotMovement.points)).group_by(LotMovement.lot_id)
    ).all())
    lots = session.execute(
        select(PointLot.id, PointLot.customer_id, PointLot.pending, PointLot.remaining)
    ).all()
    lot_sums: dict[tuple[int, bool], int] = defaultdict(int)
    for lot_id, cid, pending, remaining in lots:
        c.expect("lot_remaining", f"lot {lot_id}", int(moved.get(lot_id) or 0), int(remaining))
        if remaining < 0:
            c.expect("lot_not_negative", f"lot {lot_id}", 0, int(remaining))
        lot_sums[(cid, bool(pending))] += int(remaining)
    for _acc_id, code, kind, cid, balance in accounts:
        if kind == "customer":
            c.expect("available_lots", code, max(int(balance), 0), lot_sums.get((cid, False), 0))
        elif kind == "customer_pending":
            c.expect("pending_lots", code, int(balance), lot_sums.get((cid, True), 0))
    return ReconciliationReport(
        ok=not c.mismatches, accounts_checked=len(accounts), entries_checked=entries_checked,
        lots_checked=len(lots), global_sum=global_sum, mismatches=c.mismatches,
    )


def liability(session: Session, *, point_value: Decimal, as_of: datetime | None = None) -> LiabilityReport:
    """Points liability as of `as_of` (default now), from postings of entries created by then.

    outstanding = positive available balances (a debt does not offset other customers' points;
    it is reported as `debt_points`); pending is reported apart (not yet spendable, may still be
    clawed back). issued = points credited net of clawbacks and write-offs; breakage = expired
    points; breakage_rate = breakage / issued (0 when nothing was issued).
    """
    as_of = _utc(as_of, "as_of") or clock.now()
    value = Decimal(str(point_value))
    rows = session.execute(
        select(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.code, func.sum(LedgerPosting.amount))
        .join(LedgerPosting, LedgerPosting.account_id == LedgerAccount.id)
        .join(LedgerEntry, LedgerEntry.id == LedgerPosting.entry_id)
        .where(LedgerEntry.created_at <= as_of)
        .group_by(LedgerAccount.id, LedgerAccount.kind, LedgerAccount.code)
    ).all()
    outstanding = pending = debt = 0
    system: dict[str, int] = defaultdict(int)
    for _id, kind, code, total in rows:
        total = int(total or 0)
        if kind == "customer":
            outstanding += max(total, 0)
            debt += max(-total, 0)
        elif kind == "customer_pending":
            pending += total
        else:
            system[code] += total
    issued = -(system["issued"] + system["promotion"] + system["compensation"] + system["adjustment"]
               + system["writeoff"])
    breakage = system["breakage"]
    rate = (Decimal(breakage) / Decimal(issued)).quantize(_RATE_QUANTUM, rounding=ROUND_HALF_UP) if issued > 0 \
        else Decimal("0.0000")
    return LiabilityReport(
        as_of=as_of, point_value=value, outstanding_points=outstanding,
        outstanding_value=(value * outstanding).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        pending_points=pending, pending_value=(value * pending).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP),
        debt_points=debt, issued_points=issued, redeemed_points=system["redemption"], breakage_points=breakage,
        breakage_rate=rate,
    )


# --------------------------------------------------------------------------------------------
# customers hooks: merge, export, 360 view
# --------------------------------------------------------------------------------------------


def export_points(session: Session, customer_id: int) -> dict[str, Any]:
    """GDPR export section: every entry and lot of the customer."""
    page = list_entries(session, customer_id, limit=1_000_000, offset=0)
    return {
        "balance": get_balance(session, customer_id).model_dump(mode="json"),
        "entries": [e.model_dump(mode="json") for e in page.items],
        "lots": [lot.model_dump(mode="json") for lot in list_lots(session, customer_id)],
    }


def view_points(session: Session, customer_id: int) -> dict[str, Any]:
    """Customer 360 section: the balance."""
    return get_balance(session, customer_id).model_dump(mode="json")


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    merge_customers(session, survivor_id=survivor_id, duplicate_id=duplicate_id, actor=actor)


def _register_hooks() -> None:
    from loyalist.customers import hooks

    hooks.register_merge_handler(_merge_handler)
    hooks.register_export_section("points", export_points)
    hooks.register_view_section("points", view_points)


_register_hooks()
