"""Points ledger tables (private to the ledger domain).

Append-only by design: entries, postings and lot movements are only ever inserted. The two
mutable columns, `LedgerAccount.balance` of customer accounts and `PointLot.remaining` (plus the
lot's `pending` flag), are caches that `service.reconcile` recomputes from the append-only rows
and compares.

- An *entry* is one business event (earn, redeem, expire, ...). Its *postings* move points
  between accounts and always sum to zero (double entry).
- Every customer has two accounts: `available` (spendable, guarded against overdraft) and
  `pending` (earned but not yet spendable, e.g. until the return window closes).
- System accounts (`issued`, `promotion`, `compensation`, `adjustment`, `redemption`,
  `breakage`, `writeoff`) are the counterparties. They carry no cached balance (`balance` is
  NULL, enforced by a CHECK): every credit in the program posts against `issued`, so a cached
  balance there would be one row that every writer must update and lock, serialising all
  customers behind it. Their balance is the sum of their postings (`service.account_balances`).
- A *lot* is the points of one credit with their own `available_at`/`expires_at`; every change
  of a lot's `remaining` is a *lot movement* tied to the entry that caused it, so a customer can
  see which earning each redemption or expiry used.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    ForeignKey,
    Index,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, JSONDoc, UTCDateTime


class LedgerAccount(Base):
    __tablename__ = "ledger_accounts"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    # "customer:<id>:available", "customer:<id>:pending" or a system account name.
    code: Mapped[str] = mapped_column(String(80), unique=True, nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"), nullable=True,
                                                    index=True)
    # Cached for customer accounts (guarded against overdraft); NULL for system accounts.
    balance: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        CheckConstraint("(customer_id IS NULL) = (balance IS NULL)", name="balance_cached_for_customers_only"),
    )


class LedgerEntry(Base):
    __tablename__ = "ledger_entries"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
    # Net change of this customer's points (available + pending) made by the entry.
    points: Mapped[int] = mapped_column(BigInteger, nullable=False)
    reason: Mapped[str] = mapped_column(String(500), nullable=False)
    source: Mapped[str] = mapped_column(String(100), nullable=False)
    idempotency_key: Mapped[str] = mapped_column(String(200), nullable=False)
    payload_hash: Mapped[str] = mapped_column(String(64), nullable=False)
    reference_type: Mapped[str | None] = mapped_column(String(50), nullable=True)
    reference_id: Mapped[str | None] = mapped_column(String(100), nullable=True)
    reverses_entry_id: Mapped[int | None] = mapped_column(
        BigId, ForeignKey("ledger_entries.id"), nullable=True, unique=True
    )
    counterparty_customer_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"),
                                                                 nullable=True)
    actor_kind: Mapped[str] = mapped_column(String(16), nullable=False)
    actor_id: Mapped[int | None] = mapped_column(BigId, nullable=True)
    actor_name: Mapped[str] = mapped_column(String(200), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    data: Mapped[dict[str, Any] | None] = mapped_column(JSONDoc, nullable=True)

    __table_args__ = (
        UniqueConstraint("source", "idempotency_key", name="uq_ledger_entries_source_key"),
        Index("ix_ledger_entries_customer", "customer_id", "id"),
        Index("ix_ledger_entries_customer_occurred", "customer_id", "occurred_at"),
        Index("ix_ledger_entries_reference", "reference_type", "reference_id"),
    )


class LedgerPosting(Base):
    __tablename__ = "ledger_postings"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_entries.id"), nullable=False, index=True)
    account_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_accounts.id"), nullable=False,
                                            index=True)
    amount: Mapped[int] = mapped_column(BigInteger, nullable=False)


class PointLot(Base):
    __tablename__ = "ledger_lots"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_entries.id"), nullable=False, index=True)
    # The lot this one continues (merge transfers re-create lots on the survivor).
    origin_lot_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("ledger_lots.id"), nullable=True)
    points: Mapped[int] = mapped_column(BigInteger, nullable=False)
    remaining: Mapped[int] = mapped_column(BigInteger, nullable=False)
    pending: Mapped[bool] = mapped_column(Boolean, nullable=False, default=False)
    available_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        CheckConstraint("remaining >= 0", name="remaining_not_negative"),
        CheckConstraint("remaining <= points", name="remaining_within_points"),
        Index("ix_ledger_lots_customer_open", "customer_id", "pending", "remaining"),
        Index("ix_ledger_lots_expires_at", "expires_at"),
    )


class LotMovement(Base):
    """One change of a lot's `remaining`, caused by one entry (signed)."""

    __tablename__ = "ledger_lot_movements"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    entry_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_entries.id"), nullable=False, index=True)
    lot_id: Mapped[int] = mapped_column(BigId, ForeignKey("ledger_lots.id"), nullable=False, index=True)
    points: Mapped[int] = mapped_column(BigInteger, nullable=False)
    # earn, consume, expire, restore, release, clawback, debt_recovery, transfer_out, transfer_in
    kind: Mapped[str] = mapped_column(String(20), nullable=False)
