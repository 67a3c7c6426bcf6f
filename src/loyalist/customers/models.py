"""Customer profiles and their histories (addresses, consents), tags and values.

Histories are append-only rows with validity/recording times rather than updated columns: an
unnoticed change of address once lost a customer, so every version is kept and visible.
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import Boolean, Date, ForeignKey, Index, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from loyalist.db import Base
from loyalist.types import BigId, UTCDateTime


class Customer(Base):
    __tablename__ = "customers"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    external_id: Mapped[str | None] = mapped_column(String(100), unique=True, nullable=True)
    first_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    last_name: Mapped[str | None] = mapped_column(String(100), nullable=True)
    display_name: Mapped[str | None] = mapped_column(String(200), nullable=True)
    # Not unique in the database: merged/erased rows and imported duplicates may share one;
    # the service refuses a second *active* customer with the same email.
    email: Mapped[str | None] = mapped_column(String(320), nullable=True, index=True)
    phone: Mapped[str | None] = mapped_column(String(20), nullable=True, index=True)
    birthday: Mapped[date | None] = mapped_column(Date, nullable=True)
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)
    timezone: Mapped[str | None] = mapped_column(String(64), nullable=True)
    preferred_channel: Mapped[str | None] = mapped_column(String(20), nullable=True)
    status: Mapped[str] = mapped_column(String(10), nullable=False, default="active")
    merged_into_id: Mapped[int | None] = mapped_column(BigId, ForeignKey("customers.id"), nullable=True)
    values_note: Mapped[str | None] = mapped_column(Text, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    erased_at: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)


class CustomerAddress(Base):
    """One version of an address; the current one per label has `valid_to IS NULL`."""

    __tablename__ = "customer_addresses"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False, index=True)
    label: Mapped[str] = mapped_column(String(20), nullable=False)
    line1: Mapped[str | None] = mapped_column(String(200), nullable=True)
    line2: Mapped[str | None] = mapped_column(String(200), nullable=True)
    city: Mapped[str | None] = mapped_column(String(100), nullable=True)
    region: Mapped[str | None] = mapped_column(String(100), nullable=True)
    postal_code: Mapped[str | None] = mapped_column(String(20), nullable=True)
    country: Mapped[str | None] = mapped_column(String(2), nullable=True)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    valid_to: Mapped[datetime | None] = mapped_column(UTCDateTime, nullable=True)
    source: Mapped[str] = mapped_column(String(20), nullable=False)


class CustomerConsent(Base):
    """One consent decision; the current state of a channel is its latest row."""

    __tablename__ = "customer_consents"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), nullable=False)
    channel: Mapped[str] = mapped_column(String(20), nullable=False)
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    source: Mapped[str] = mapped_column(String(20), nullable=False)
    actor: Mapped[str | None] = mapped_column(String(120), nullable=True)
    note: Mapped[str | None] = mapped_column(String(500), nullable=True)

    __table_args__ = (Index("ix_customer_consents_customer_channel", "customer_id", "channel", "recorded_at"),)


class CustomerConsentCurrent(Base):
    """Derived: the latest decision per (customer, channel) — the row of `customer_consents` with
    the greatest (recorded_at, id) — kept in step in the same transaction as every consent write
    (customers.consent_state). Segments read it instead of an anti-join over the whole history;
    `loyalist segments rebuild-summaries` recomputes it from the history."""

    __tablename__ = "customer_consent_current"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    channel: Mapped[str] = mapped_column(String(20), primary_key=True)
    consent_id: Mapped[int] = mapped_column(BigId, nullable=False)
    granted: Mapped[bool] = mapped_column(Boolean, nullable=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)

    __table_args__ = (
        Index("ix_customer_consent_current_channel", "channel", "granted", "customer_id"),
        Index("ix_customer_consent_current_recorded", "recorded_at"),
    )


class CustomerTag(Base):
    """A tag per row (not a JSON list) so that segments can filter on it in plain SQL."""

    __tablename__ = "customer_tags"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    tag: Mapped[str] = mapped_column(String(50), primary_key=True, index=True)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)


class CustomerValue(Base):
    """Something this customer values (discounts, personal attention, ...), for tailored offers."""

    __tablename__ = "customer_values"

    customer_id: Mapped[int] = mapped_column(BigId, ForeignKey("customers.id"), primary_key=True,
                                             autoincrement=False)
    value: Mapped[str] = mapped_column(String(30), primary_key=True)
