"""Value types shared by every domain: points, money, UTC timestamps, the acting principal.

Points are Python ints and money is `Decimal` everywhere; the column types below make the
database keep that promise on SQLite (which has no decimal or timezone types) as on PostgreSQL.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import ROUND_HALF_UP, Decimal
from typing import Annotated, Any, Literal

from pydantic import Field
from sqlalchemy import JSON, BigInteger, DateTime, Integer, Numeric, String
from sqlalchemy.dialects import postgresql
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

Points = int
Money = Decimal

MONEY_QUANTUM = Decimal("0.0001")
# NUMERIC(18,4) holds less than 10^14; larger amounts are refused as input, never truncated
MAX_MONEY = Decimal("1e14")
CENT = Decimal("0.01")


def to_money(value: Any, *, field: str = "amount") -> Decimal:
    """Parse money from str/int/Decimal (never float arithmetic), rounded to 4 places."""
    from loyalist.errors import ValidationFailed

    if isinstance(value, float):
        value = repr(value)
    try:
        amount = Decimal(str(value).strip())
    except Exception as exc:  # decimal.InvalidOperation and friends
        raise ValidationFailed(f"{field}: not a valid amount: {value!r}", field=field) from exc
    if not amount.is_finite():
        raise ValidationFailed(f"{field}: amount must be finite", field=field)
    if abs(amount) >= MAX_MONEY:
        raise ValidationFailed(f"{field}: amount too large (at most 14 digits before the point)", field=field)
    return amount.quantize(MONEY_QUANTUM, rounding=ROUND_HALF_UP)


# BIGINT on PostgreSQL, INTEGER on SQLite (so that SQLite keeps ROWID autoincrement semantics).
BigId = BigInteger().with_variant(Integer(), "sqlite")
# A row id as API input: positive and within BIGINT, so a larger number is a 422 naming the field
# instead of a driver error ("bigint out of range") when it reaches a query.
MAX_ROW_ID = 2**63 - 1  # BIGINT: a larger id can exist nowhere, and PostgreSQL refuses to compare it
RowId = Annotated[int, Field(gt=0, le=MAX_ROW_ID)]
JSONDoc = JSON().with_variant(postgresql.JSONB(), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """Timestamp stored as UTC and always returned timezone-aware.

    Naive datetimes are refused on the way in: a time without a zone is a bug waiting to happen.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime passed to a UTC column")
        value = value.astimezone(UTC)
        if dialect.name == "sqlite":
            return value.replace(tzinfo=None)
        return value

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class MoneyType(TypeDecorator[Decimal]):
    """Exact decimal money: NUMERIC(18,4) on PostgreSQL, canonical text on SQLite.

    SQLite would store NUMERIC as a binary float, so there it is kept as text; SUM() in SQL still
    works there because SQLite coerces numeric-looking text.
    """

    impl = Numeric(18, 4)
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> Any:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(40))
        return dialect.type_descriptor(Numeric(18, 4, asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        amount = to_money(value)
        return str(amount) if dialect.name == "sqlite" else amount

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return Decimal(str(value)).quantize(MONEY_QUANTUM)


ActorKind = Literal["staff", "api_key", "customer", "system"]


@dataclass(frozen=True, slots=True)
class Actor:
    """Who performs an action; every service that writes takes one for the audit log."""

    kind: ActorKind
    id: int | None
    name: str
    role: str | None = None

    @property
    def label(self) -> str:
        return f"{self.kind}:{self.id if self.id is not None else self.name}"


SYSTEM = Actor(kind="system", id=None, name="system", role="admin")
