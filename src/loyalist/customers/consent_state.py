"""The current consent per (customer, channel), kept beside the append-only history.

`customer_consents` keeps every decision; the current state of a channel is its row with the
greatest (recorded_at, id). Computing that for a million customers is an anti-join over the whole
history, too slow for a segment count, so `customer_consent_current` holds the winner per channel,
written in the same transaction as the history rows by the one function below. Segments read it
(fields.py); `rebuild` recomputes it from the history and `differences` compares the two, so the
derived table can always be checked against its source.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime
from typing import Any

from sqlalchemy import and_, delete, func, insert, or_, select
from sqlalchemy.orm import Session

from loyalist.customers.models import CustomerConsent, CustomerConsentCurrent

CURRENT = CustomerConsentCurrent.__table__
HISTORY = CustomerConsent.__table__


def _upsert(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert as upsert
    else:
        from sqlalchemy.dialects.sqlite import insert as upsert  # type: ignore[assignment]
    return upsert


def apply_consents(session: Session, rows: Iterable[Mapping[str, Any]]) -> None:
    """Fold stored consent rows (id, customer_id, channel, granted, recorded_at) into the current
    state: a row replaces the current one only if it is later by (recorded_at, id), so the
    order of calls never matters. One statement for any number of rows."""
    latest: dict[tuple[int, str], tuple[datetime, int, bool]] = {}
    for r in rows:
        key = (int(r["customer_id"]), str(r["channel"]))
        cand = (r["recorded_at"], int(r["id"]), bool(r["granted"]))
        if key not in latest or cand[:2] > latest[key][:2]:
            latest[key] = cand
    if not latest:
        return
    stmt = _upsert(session)(CURRENT)
    new = stmt.excluded
    later = or_(new.recorded_at > CURRENT.c.recorded_at,
                and_(new.recorded_at == CURRENT.c.recorded_at, new.consent_id > CURRENT.c.consent_id))
    stmt = stmt.on_conflict_do_update(
        index_elements=["customer_id", "channel"], where=later,
        set_={"consent_id": new.consent_id, "granted": new.granted, "recorded_at": new.recorded_at})
    # Sorted by key so concurrent writers lock rows in the same order (no deadlock).
    session.execute(stmt, [{"customer_id": cid, "channel": ch, "recorded_at": at, "consent_id": i, "granted": g}
                           for (cid, ch), (at, i, g) in sorted(latest.items())])


def apply_consent(session: Session, consent: CustomerConsent) -> None:
    """`apply_consents` for one ORM row (flushed, so it has its id)."""
    apply_consents(session, [{"id": consent.id, "customer_id": consent.customer_id, "channel": consent.channel,
                              "granted": consent.granted, "recorded_at": consent.recorded_at}])


def move_customer(session: Session, *, from_customer_id: int, to_customer_id: int) -> None:
    """After a merge moved the duplicate's history to the survivor: the survivor's current state
    per channel is the later of the two, and the duplicate has none left."""
    rows = session.execute(select(CURRENT.c.consent_id.label("id"), CURRENT.c.channel, CURRENT.c.granted,
                                  CURRENT.c.recorded_at).where(CURRENT.c.customer_id == from_customer_id)).mappings()
    moved = [{**r, "customer_id": to_customer_id} for r in rows]
    session.execute(delete(CURRENT).where(CURRENT.c.customer_id == from_customer_id))
    apply_consents(session, moved)


def _latest_rows() -> Any:
    """The latest history row per (customer, channel), as a SELECT of CURRENT's columns."""
    ranked = select(HISTORY.c.customer_id, HISTORY.c.channel, HISTORY.c.id.label("consent_id"), HISTORY.c.granted,
                    HISTORY.c.recorded_at,
                    func.row_number().over(partition_by=(HISTORY.c.customer_id, HISTORY.c.channel),
                                           order_by=(HISTORY.c.recorded_at.desc(), HISTORY.c.id.desc()))
                    .label("rn")).subquery()
    return select(ranked.c.customer_id, ranked.c.channel, ranked.c.consent_id, ranked.c.granted,
                  ranked.c.recorded_at).where(ranked.c.rn == 1)


def rebuild(session: Session) -> int:
    """Recompute the whole table from the history (one INSERT .. SELECT); returns its rows."""
    session.execute(delete(CURRENT))
    cols = ["customer_id", "channel", "consent_id", "granted", "recorded_at"]
    session.execute(insert(CURRENT).from_select(cols, _latest_rows()))
    return int(session.scalar(select(func.count()).select_from(CURRENT)) or 0)


def differences(session: Session, *, limit: int = 20) -> list[str]:
    """Rows where the stored current state differs from the one recomputed from the history
    (empty when they agree): the check `loyalist segments verify-summaries` runs."""
    want = _latest_rows().subquery()
    have = CURRENT
    missing = select(want.c.customer_id, want.c.channel).where(~select(have.c.customer_id).where(
        have.c.customer_id == want.c.customer_id, have.c.channel == want.c.channel,
        have.c.consent_id == want.c.consent_id, have.c.granted == want.c.granted).exists()).limit(limit)
    extra = select(have.c.customer_id, have.c.channel).where(~select(want.c.customer_id).where(
        have.c.customer_id == want.c.customer_id, have.c.channel == want.c.channel).exists()).limit(limit)
    out = [f"customer {c} {ch}: current consent differs from the history" for c, ch in session.execute(missing)]
    out += [f"customer {c} {ch}: current consent without history" for c, ch in session.execute(extra)]
    return out[:limit]
