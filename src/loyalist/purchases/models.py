"""Purchase tables. Analytics reads `purchases`/`purchase_lines` with plain SQL, so the column
set is a published contract: add columns only deliberately.

`order_ref` is unique across the installation (one shop order id space); returns reference a
purchase by it. `event_id` points at the ingested event that created the row (no FK: the events
domain sits above this one and bulk import inserts both sides in one statement each).
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    SmallInteger,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, MoneyType, UTCDateTime


class Purchase(Base):
    __tablename__ = "purchases"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    order_ref: Mapped[str] = mapped_column(String(100), nullable=False)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    currency: Mapped[str] = mapped_column(String(3), nullable=False)
    gross_amount: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    discount_amount: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    net_amount: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    refunded_amount: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    store: Mapped[str | None] = mapped_column(String(100), nullable=True)
    channel: Mapped[str | None] = mapped_column(String(50), nullable=True)
    event_id: Mapped[int | None] = mapped_column(BigId, nullable=True)

    __table_args__ = (
        UniqueConstraint("order_ref"),
        Index("ix_purchases_customer_occurred", "customer_id", "occurred_at"),
        # Segments: the partial edge months of a spend/count window, and "bought at store X".
        Index("ix_purchases_occurred_spend", "occurred_at",
              postgresql_include=["customer_id", "net_amount", "refunded_amount"]),
        Index("ix_purchases_store_occurred", "store", "occurred_at", postgresql_include=["customer_id"]),
    )


class PurchaseLine(Base):
    __tablename__ = "purchase_lines"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    purchase_id: Mapped[int] = mapped_column(BigId, ForeignKey("purchases.id"), nullable=False, index=True)
    sku: Mapped[str | None] = mapped_column(String(100), nullable=True)
    category: Mapped[str | None] = mapped_column(String(100), nullable=True)
    quantity: Mapped[int] = mapped_column(Integer, nullable=False)
    unit_price: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    discount: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    line_total: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    returned_quantity: Mapped[int] = mapped_column(Integer, nullable=False)


class PurchaseReturn(Base):
    """One row per return/refund against a purchase (full or partial)."""

    __tablename__ = "purchase_returns"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    purchase_id: Mapped[int] = mapped_column(BigId, ForeignKey("purchases.id"), nullable=False, index=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False, index=True)
    occurred_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    amount: Mapped[Decimal] = mapped_column(MoneyType, nullable=False)
    event_id: Mapped[int | None] = mapped_column(BigId, nullable=True)


class CustomerPurchaseSummary(Base):
    """Derived: one row per customer who ever bought, kept in step with `purchases` in the same
    transaction as every write (purchases.summary). Segments read it instead of aggregating
    millions of purchase rows per evaluation; `loyalist segments rebuild-summaries` recomputes it.

    Money is an integer count of 0.0001 units (`spend_units`): exact on both backends (SQLite
    keeps `MoneyType` as text, so `x = x + :delta` there would go through binary floats) and the
    cheapest type to add and compare. Spend is net minus refunded, as everywhere else."""

    __tablename__ = "customer_purchase_summary"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    first_purchase_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    last_purchase_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    purchase_count: Mapped[int] = mapped_column(Integer, nullable=False)
    spend_units: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (
        Index("ix_customer_purchase_summary_last", "last_purchase_at"),
        Index("ix_customer_purchase_summary_spend", "spend_units"),
    )


class CustomerPurchaseMonth(Base):
    """Derived: purchases and net spend per customer per UTC calendar month of the purchase
    (refunds count against the purchase's month, like `spend_in_window`). A spend/count window
    is whole months from here plus the partial months at its two edges from `purchases`."""

    __tablename__ = "customer_purchase_months"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    month: Mapped[date] = mapped_column(Date, primary_key=True)
    purchase_count: Mapped[int] = mapped_column(Integer, nullable=False)
    spend_units: Mapped[int] = mapped_column(BigInteger, nullable=False)

    __table_args__ = (
        # A window's whole months as an index-only range scan (PostgreSQL; a plain index elsewhere).
        Index("ix_customer_purchase_months_month", "month",
              postgresql_include=["customer_id", "purchase_count", "spend_units"]),
    )


class CustomerPurchaseRolling(Base):
    """Derived: purchase count and net spend per customer over the last `window_days` (30, 90,
    365) as of the stored day D of `customer_purchase_rolling_state`, i.e. of the purchases in
    (D - window_days, D]. One row per window and customer with at least one purchase there.

    Why: "spend in the last 90 days" summed ~1.25 purchases per customer-month from the monthly
    buckets, so buckets hardly shrank the work. With this table a windowed condition reads one
    row per customer plus the purchases in the two small edge windows between D and the
    evaluation time (segments.derived). Rebuilt set-based by `purchases.summary.refresh_rolling`
    (daily worker job, `loyalist segments refresh-rolling`, `rebuild-summaries`) and kept in step
    between refreshes, in the writing transaction, for purchases, refunds and merges that touch
    (D - window, D]. Money in integer 0.0001 units, refunds against the purchase, as in the summary."""

    __tablename__ = "customer_purchase_rolling"

    window_days: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    # No foreign key and no second index: the table is rewritten whole by every refresh, and at
    # 200k customers the FK checks took 3.2 of 9.8 s of it. Customers are never deleted (merge and
    # erasure keep the row), so there is nothing for the key to protect; merges look a customer
    # up per window through the primary key.
    customer_id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=False)
    purchase_count: Mapped[int] = mapped_column(Integer, nullable=False)
    spend_units: Mapped[int] = mapped_column(BigInteger, nullable=False)


class CustomerPurchaseRollingState(Base):
    """Derived: the day D (a UTC midnight) `customer_purchase_rolling` is computed as of, one row
    per window with its start D - window_days (stored so SQL never does date arithmetic: SQLite
    keeps timestamps as text). No row: the rolling spend is not computed and windows fall back."""

    __tablename__ = "customer_purchase_rolling_state"

    window_days: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    as_of: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    window_start: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    refreshed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (CheckConstraint("window_days > 0", name="window_positive"),)
