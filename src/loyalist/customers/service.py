"""Customer use cases: create/update/resolve, addresses, consents, tags, values, merge, GDPR.

Rules kept here:
- Input is validated and normalised before anything is written, so a rejected command leaves
  no trace (email lower-cased and syntax-checked, phone stored as E.164, IANA timezone...).
- Staff/integration mutations write an audit row; customer-facing changes a timeline row.
  Audit snapshots never hold personal data (names, email, phone, birthday, notes are shown as
  "[redacted]"): the audit log is append-only, so PII written there could never be erased.
  The domain tables keep the history (addresses, consents) until an erasure scrubs it.
- Email is unique among *active/closed* customers (checked here, not by a database constraint),
  because merged and erased rows and imported duplicates may legitimately share one.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from datetime import date
from typing import Any, cast
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import phonenumbers
from email_validator import EmailNotValidError, validate_email
from sqlalchemy import CursorResult, Table, bindparam, delete, func, insert, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.audit import service as audit
from loyalist.customers import consent_state, hooks
from loyalist.customers.models import Customer, CustomerAddress, CustomerConsent, CustomerTag, CustomerValue
from loyalist.customers.schemas import (
    ADDRESS_LABELS,
    CONSENT_SOURCES,
    CONTACT_CHANNELS,
    CUSTOMER_VALUES,
    STATUSES,
    AddressIn,
    AddressRead,
    ConsentIn,
    ConsentRead,
    Customer360,
    CustomerCreate,
    CustomerExport,
    CustomerPage,
    CustomerRead,
    CustomerUpdate,
    DuplicateGroup,
    MergeResult,
)
from loyalist.errors import Conflict, InvalidState, NotFound, ValidationFailed
from loyalist.interactions import service as interactions
from loyalist.types import Actor

PII_FIELDS = ("first_name", "last_name", "display_name", "email", "phone", "birthday", "values_note")
PROFILE_FIELDS = ("external_id", "first_name", "last_name", "display_name", "email", "phone", "birthday",
                  "locale", "timezone", "preferred_channel", "status")
REDACTED = "[redacted]"
MAX_MERGE_HOPS = 32
MAX_OFFSET = 10**9

# Default phone region for numbers written without a +country prefix, by language when the
# locale carries no region (en is deliberately absent: too many countries).
_LANGUAGE_REGION = {"da": "DK", "uk": "UA", "ru": "RU", "de": "DE", "sv": "SE", "nb": "NO", "no": "NO",
                    "fi": "FI", "pl": "PL", "fr": "FR", "nl": "NL", "es": "ES", "it": "IT", "et": "EE",
                    "lv": "LV", "lt": "LT", "is": "IS"}
_LOCALE_RE = re.compile(r"^([A-Za-z]{2,3})(?:[-_]([A-Za-z]{2}|\d{3}))?$")
_TAG_RE = re.compile(r"^[a-z0-9][a-z0-9_\-:.]{0,49}$")
_COUNTRY_RE = re.compile(r"^[A-Z]{2}$")


# --------------------------------------------------------------------------- validation helpers

def _text(value: str | None, field: str, max_len: int) -> str | None:
    if value is None:
        return None
    value = value.strip()
    if not value:
        return None
    if "\x00" in value:  # PostgreSQL text cannot hold NUL; refuse it on every backend alike
        raise ValidationFailed(f"{field}: must not contain NUL characters", field=field)
    if len(value) > max_len:
        raise ValidationFailed(f"{field}: at most {max_len} characters", field=field)
    return value


def normalise_email(value: str | None) -> str | None:
    """Lower-cased, syntax-checked email (no DNS lookups: imports must not depend on the network)."""
    value = _text(value, "email", 320)
    if value is None:
        return None
    try:
        result = validate_email(value, check_deliverability=False)
    except EmailNotValidError as exc:
        raise ValidationFailed(f"email: {exc}", field="email") from exc
    return result.normalized.lower()


def _region(explicit: str | None, locale: str | None, country: str | None = None) -> str | None:
    if explicit:
        region = explicit.strip().upper()
        if region not in phonenumbers.SUPPORTED_REGIONS:
            raise ValidationFailed(f"phone_region: unknown region {explicit!r}", field="phone_region")
        return region
    if locale:
        m = _LOCALE_RE.match(locale)
        if m and m.group(2) and m.group(2).upper() in phonenumbers.SUPPORTED_REGIONS:
            return m.group(2).upper()
        if m and m.group(1).lower() in _LANGUAGE_REGION:
            return _LANGUAGE_REGION[m.group(1).lower()]
    if country and country.upper() in phonenumbers.SUPPORTED_REGIONS:
        return country.upper()
    return None


def normalise_phone(value: str | None, *, region: str | None = None) -> str | None:
    """E.164 (`+4520123456`); numbers without +prefix need a region (explicit or from the locale)."""
    value = _text(value, "phone", 40)
    if value is None:
        return None
    if value.startswith("00"):
        value = "+" + value[2:]  # the international call prefix of most of Europe
    if not value.startswith("+") and region is None:
        raise ValidationFailed("phone: give an international number (+...) or a phone_region/locale",
                               field="phone")
    try:
        parsed = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException as exc:
        raise ValidationFailed(f"phone: not a phone number: {exc}", field="phone") from exc
    if not phonenumbers.is_valid_number(parsed):
        raise ValidationFailed("phone: not a valid phone number", field="phone")
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def _locale(value: str | None) -> str | None:
    value = _text(value, "locale", 20)
    if value is None:
        return None
    m = _LOCALE_RE.match(value)
    if not m:
        raise ValidationFailed(f"locale: not a locale like 'da' or 'en-GB': {value!r}", field="locale")
    return m.group(1).lower() + (f"-{m.group(2).upper()}" if m.group(2) else "")


def _timezone(value: str | None) -> str | None:
    value = _text(value, "timezone", 64)
    if value is None:
        return None
    try:
        ZoneInfo(value)
    except (ZoneInfoNotFoundError, ValueError) as exc:
        raise ValidationFailed(f"timezone: unknown IANA timezone {value!r}", field="timezone") from exc
    return value


def _channel(value: str | None, field: str = "preferred_channel") -> str | None:
    if value is None:
        return None
    value = value.strip().lower()
    if value not in CONTACT_CHANNELS:
        raise ValidationFailed(f"{field}: must be one of {sorted(CONTACT_CHANNELS)}", field=field)
    return value


def _birthday(value: date | None) -> date | None:
    if value is None:
        return None
    if value > clock.now().date():
        raise ValidationFailed("birthday: is in the future", field="birthday")
    if value.year < 1900:
        raise ValidationFailed("birthday: before 1900", field="birthday")
    return value


def normalise_tag(value: str) -> str:
    tag = (value or "").strip().lower()
    if not _TAG_RE.match(tag):
        raise ValidationFailed("tag: 1-50 of a-z, 0-9, _ - : . (starting with a letter or digit)", field="tag")
    return tag


def _values(values: Iterable[str]) -> list[str]:
    result = sorted({(v or "").strip().lower() for v in values})
    for v in result:
        if v not in CUSTOMER_VALUES:
            raise ValidationFailed(f"values: unknown value {v!r}; one of {sorted(CUSTOMER_VALUES)}", field="values")
    return result


def _address(data: AddressIn) -> dict[str, Any]:
    label = (data.label or "").strip().lower()
    if label not in ADDRESS_LABELS:
        raise ValidationFailed(f"address.label: one of {sorted(ADDRESS_LABELS)}", field="address.label")
    line1 = _text(data.line1, "address.line1", 200)
    if line1 is None:
        raise ValidationFailed("address.line1: required", field="address.line1")
    country = (data.country or "").strip().upper()
    if not _COUNTRY_RE.match(country):
        raise ValidationFailed("address.country: ISO 3166 two-letter code", field="address.country")
    return {
        "label": label, "line1": line1, "line2": _text(data.line2, "address.line2", 200),
        "city": _text(data.city, "address.city", 100), "region": _text(data.region, "address.region", 100),
        "postal_code": _text(data.postal_code, "address.postal_code", 20), "country": country,
    }


def _consent(data: ConsentIn) -> dict[str, Any]:
    channel = _channel(data.channel, "consent.channel")
    source = (data.source or "").strip().lower()
    if source not in CONSENT_SOURCES:
        raise ValidationFailed(f"consent.source: one of {sorted(CONSENT_SOURCES)}", field="consent.source")
    return {"channel": channel, "granted": bool(data.granted), "source": source,
            "note": _text(data.note, "consent.note", 500)}


def _timeline_channel(actor: Actor | None) -> str:
    """Where a change came from, in the timeline's channel vocabulary."""
    if actor is None:
        return "system"
    return {"api_key": "api", "customer": "portal", "staff": "web"}.get(actor.kind, "system")


# --------------------------------------------------------------------------- reading helpers

MAX_ID = 2**63 - 1


def _row(session: Session, customer_id: int, field: str = "customer_id") -> Customer:
    if not 0 < customer_id <= MAX_ID:  # beyond BIGINT the database would fail rather than miss
        raise NotFound(f"customer {customer_id} not found", field=field)
    row = session.get(Customer, customer_id)
    if row is None:
        raise NotFound(f"customer {customer_id} not found", field=field)
    return row


def _mutable(session: Session, customer_id: int, field: str = "customer_id") -> Customer:
    row = _row(session, customer_id, field)
    if row.status in ("merged", "erased"):
        raise InvalidState(f"customer {customer_id} is {row.status}", field=field,
                           details={"merged_into_id": row.merged_into_id} if row.merged_into_id else None)
    return row


def _tags_of(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for cid, tag in session.execute(select(CustomerTag.customer_id, CustomerTag.tag)
                                        .where(CustomerTag.customer_id.in_(ids)).order_by(CustomerTag.tag)):
            out[cid].append(tag)
    return out


def _values_of(session: Session, ids: Sequence[int]) -> dict[int, list[str]]:
    out: dict[int, list[str]] = {i: [] for i in ids}
    if ids:
        for cid, value in session.execute(select(CustomerValue.customer_id, CustomerValue.value)
                                          .where(CustomerValue.customer_id.in_(ids)).order_by(CustomerValue.value)):
            out[cid].append(value)
    return out


def _display(row: Customer) -> str | None:
    if row.display_name:
        return row.display_name
    name = " ".join(p for p in (row.first_name, row.last_name) if p)
    return name or None


def _read(row: Customer, tags: list[str], values: list[str]) -> CustomerRead:
    return CustomerRead(
        id=row.id, external_id=row.external_id, first_name=row.first_name, last_name=row.last_name,
        display_name=row.display_name, name=_display(row), email=row.email, phone=row.phone,
        birthday=row.birthday, locale=row.locale, timezone=row.timezone, preferred_channel=row.preferred_channel,
        status=row.status, merged_into_id=row.merged_into_id, tags=tags, values=values,
        values_note=row.values_note, created_at=row.created_at, updated_at=row.updated_at,
    )


def _read_one(session: Session, row: Customer) -> CustomerRead:
    return _read(row, _tags_of(session, [row.id])[row.id], _values_of(session, [row.id])[row.id])


def _snapshot(row: Customer | dict[str, Any], fields: Iterable[str] = PROFILE_FIELDS) -> dict[str, Any]:
    """Audit-safe view: personal data shown only as present/absent."""
    out: dict[str, Any] = {}
    for f in fields:
        v = row[f] if isinstance(row, dict) else getattr(row, f)
        out[f] = (REDACTED if v is not None else None) if f in PII_FIELDS else v
    return out


def _email_taken(session: Session, email: str, *, exclude_id: int | None = None) -> bool:
    query = select(Customer.id).where(Customer.email == email, Customer.status.in_(("active", "closed")))
    if exclude_id is not None:
        query = query.where(Customer.id != exclude_id)
    return session.scalar(query.limit(1)) is not None


def _external_taken(session: Session, external_id: str, *, exclude_id: int | None = None) -> bool:
    query = select(Customer.id).where(Customer.external_id == external_id)
    if exclude_id is not None:
        query = query.where(Customer.id != exclude_id)
    return session.scalar(query.limit(1)) is not None


def _insert_customer(session: Session, values: dict[str, Any]) -> Customer | None:
    """Insert inside a savepoint; None when a concurrent writer took the external_id first."""
    row = Customer(**values)
    try:
        with session.begin_nested():
            session.add(row)
    except IntegrityError:
        return None
    return row


def _insert_customer_fast(session: Session, values: dict[str, Any]) -> int | None:
    """Core `INSERT ... ON CONFLICT (external_id) DO NOTHING RETURNING id` (no savepoint round
    trips on the import hot path); None when the external id already exists."""
    dialect = session.get_bind().dialect.name
    stmt = _FAST_INSERT.get(dialect)
    if stmt is None:
        table = cast(Table, Customer.__table__)
        if dialect == "postgresql":
            from sqlalchemy.dialects import postgresql

            stmt = postgresql.insert(table).on_conflict_do_nothing(index_elements=["external_id"])
        elif dialect == "sqlite":
            from sqlalchemy.dialects import sqlite

            stmt = sqlite.insert(table).on_conflict_do_nothing(index_elements=["external_id"])
        else:  # pragma: no cover - other backends take the portable path
            row = _insert_customer(session, values)
            return None if row is None else row.id
        stmt = stmt.returning(table.c.id)
        _FAST_INSERT[dialect] = stmt
    found = session.execute(stmt, values).scalar()
    return None if found is None else int(found)


_FAST_INSERT: dict[str, Any] = {}


# --------------------------------------------------------------------------- create / read / update

def _prepare(data: CustomerCreate) -> tuple[dict[str, Any], list[str], list[str], list[dict[str, Any]],
                                            dict[str, Any] | None]:
    """Validate and normalise one new profile: (columns, tags, values, consents, address)."""
    locale = _locale(data.locale)
    address = _address(data.address) if data.address is not None else None
    values: dict[str, Any] = {
        "external_id": _text(data.external_id, "external_id", 100),
        "first_name": _text(data.first_name, "first_name", 100),
        "last_name": _text(data.last_name, "last_name", 100),
        "display_name": _text(data.display_name, "display_name", 200),
        "email": normalise_email(data.email),
        "phone": normalise_phone(data.phone, region=_region(data.phone_region, locale,
                                                            address["country"] if address else None)),
        "birthday": _birthday(data.birthday),
        "locale": locale,
        "timezone": _timezone(data.timezone),
        "preferred_channel": _channel(data.preferred_channel),
        "values_note": _text(data.values_note, "values_note", 2000),
    }
    if not any(values[f] for f in ("external_id", "email", "phone", "first_name", "last_name", "display_name")):
        raise ValidationFailed("external_id: give at least an external_id, email, phone or name", field="external_id")
    tags = sorted({normalise_tag(t) for t in data.tags})
    return values, tags, _values(data.values), [_consent(c) for c in data.consents], address


def create_customer(session: Session, *, data: CustomerCreate, actor: Actor) -> CustomerRead:
    """Create a profile (optionally with tags, values, an address and consents) in one go."""
    values, tags, value_set, consents, address = _prepare(data)
    if values["external_id"] and _external_taken(session, values["external_id"]):
        raise Conflict(f"external_id: customer {values['external_id']!r} already exists", field="external_id")
    if values["email"] and _email_taken(session, values["email"]):
        raise Conflict("email: another customer already uses this email", field="email")

    now = clock.now()
    row = _insert_customer(session, {**values, "status": "active", "created_at": now, "updated_at": now})
    if row is None:
        raise Conflict(f"external_id: customer {values['external_id']!r} already exists", field="external_id")
    for tag in tags:
        session.add(CustomerTag(customer_id=row.id, tag=tag, created_at=now))
    for v in value_set:
        session.add(CustomerValue(customer_id=row.id, value=v))
    if address is not None:
        session.add(CustomerAddress(customer_id=row.id, valid_from=now, valid_to=None,
                                    source=_timeline_channel(actor), **address))
    new_consents = [CustomerConsent(customer_id=row.id, recorded_at=now, actor=actor.label, **c) for c in consents]
    session.add_all(new_consents)
    session.flush()
    for consent in new_consents:
        consent_state.apply_consent(session, consent)
    interactions.record(session, customer_id=row.id, kind="profile_change", channel=_timeline_channel(actor),
                        summary="Customer profile created", actor=actor, occurred_at=now,
                        data={"event": "created"})
    for consent in session.scalars(select(CustomerConsent).where(CustomerConsent.customer_id == row.id)
                                   .order_by(CustomerConsent.id)):
        _consent_timeline(session, consent, actor)
    audit.record(session, actor=actor, action="customer.create", target_type="customer", target_id=row.id,
                 after={**_snapshot(row), "tags": tags, "values": value_set, "address": address is not None,
                        "consents": {c["channel"]: c["granted"] for c in consents}})
    return _read(row, tags, value_set)


def create_customers(session: Session, *, items: Sequence[CustomerCreate], actor: Actor,
                     on_progress: Callable[[int, int], None] | None = None) -> list[int]:
    """Create many profiles set-based (import, demo): the same validation and the same rows as
    `create_customer` — profile, tags, values, address, consent history, timeline and one audit
    row per customer — in a handful of statements per batch instead of a dozen per customer.

    All or nothing: a bad row raises ValidationFailed naming its line (1-based), a duplicate
    external id or email (in the batch or already stored) raises Conflict naming its line, and
    nothing is written.
    """
    prepared = []
    seen_ext: dict[str, int] = {}
    seen_email: dict[str, int] = {}
    for line, data in enumerate(items, start=1):
        try:
            row = _prepare(data)
        except ValidationFailed as exc:
            exc.line = line
            exc.message = f"line {line}: {exc.message}"
            exc.args = (exc.message,)
            raise
        ext, email = row[0]["external_id"], row[0]["email"]
        for key, seen, name in ((ext, seen_ext, "external_id"), (email, seen_email, "email")):
            if key and key in seen:
                raise Conflict(f"line {line}: {name} {key!r} repeats line {seen[key]}", field=name, line=line)
            if key:
                seen[key] = line
        prepared.append(row)
    for column, seen, name in ((Customer.external_id, seen_ext, "external_id"), (Customer.email, seen_email, "email")):
        keys = list(seen)
        for start in range(0, len(keys), 500):
            query = select(column).where(column.in_(keys[start:start + 500]))
            if name == "email":
                query = query.where(Customer.status.in_(("active", "closed")))
            taken = session.scalars(query.limit(1)).first()
            if taken is not None:
                line = seen[taken]
                raise Conflict(f"line {line}: {name} {taken!r} already exists", field=name, line=line)

    now = clock.now()
    channel = _timeline_channel(actor)
    ids: list[int] = []
    batch = 1000
    for start in range(0, len(prepared), batch):
        chunk = prepared[start:start + batch]
        result = session.execute(
            insert(Customer).returning(Customer.id, sort_by_parameter_order=True),
            [{**values, "status": "active", "created_at": now, "updated_at": now} for values, *_ in chunk])
        chunk_ids = [int(r[0]) for r in result]
        ids.extend(chunk_ids)
        tag_rows, value_rows, address_rows, consent_rows, timeline, audits = [], [], [], [], [], []
        for cid, (values, tags, value_set, consents, address) in zip(chunk_ids, chunk, strict=True):
            tag_rows += [{"customer_id": cid, "tag": tag, "created_at": now} for tag in tags]
            value_rows += [{"customer_id": cid, "value": v} for v in value_set]
            if address is not None:
                address_rows.append({"customer_id": cid, "valid_from": now, "valid_to": None, "source": channel,
                                     **address})
            consent_rows += [{"customer_id": cid, "recorded_at": now, "actor": actor.label, **c} for c in consents]
            timeline.append({"customer_id": cid, "kind": "profile_change", "channel": channel,
                             "summary": "Customer profile created", "actor": actor, "occurred_at": now,
                             "data": {"event": "created"}})
            audits.append((cid, {**_snapshot({**values, "status": "active"}), "tags": tags, "values": value_set,
                                 "address": address is not None,
                                 "consents": {c["channel"]: c["granted"] for c in consents}}))
        for model, rows in ((CustomerTag, tag_rows), (CustomerValue, value_rows), (CustomerAddress, address_rows)):
            if rows:
                session.execute(insert(model), rows)
        if consent_rows:
            stored = session.execute(
                insert(CustomerConsent).returning(CustomerConsent.id, sort_by_parameter_order=True), consent_rows)
            consent_ids = [int(r[0]) for r in stored]
            consent_state.apply_consents(session, [{**row, "id": i} for i, row in zip(consent_ids, consent_rows,
                                                                                       strict=True)])
            for consent_id, row in zip(consent_ids, consent_rows, strict=True):
                word = "granted" if row["granted"] else "withdrawn"
                timeline.append({"customer_id": row["customer_id"], "kind": "consent_change", "channel": channel,
                                 "summary": f"Consent for {row['channel']} {word}", "actor": actor,
                                 "occurred_at": now, "data": {"consent_id": consent_id, "channel": row["channel"],
                                                              "granted": row["granted"], "source": row["source"]}})
        interactions.record_many(session, timeline)
        audit.record_many(session, actor=actor, action="customer.create", target_type="customer", items=audits)
        if on_progress is not None:
            on_progress(len(ids), len(prepared))
    return ids


def get_customer(session: Session, customer_id: int) -> CustomerRead:
    """The profile as stored (a merged duplicate is returned as such, with merged_into_id)."""
    return _read_one(session, _row(session, customer_id))


def get_state(session: Session, customer_id: int) -> tuple[str, int | None]:
    """(status, merged_into_id) of one customer: what a points or reward operation checks before
    it writes, without the profile's tags and values (`get_customer` costs three queries; a
    redemption asked twice). Raises NotFound like `get_customer`."""
    row = _row(session, customer_id)
    return row.status, row.merged_into_id


def get_customers(session: Session, customer_ids: Iterable[int]) -> dict[int, CustomerRead]:
    """Many profiles at once (three queries per 1,000 ids instead of three per customer), for
    bulk operations; ids not found are simply absent from the result."""
    wanted = sorted({int(i) for i in customer_ids if 0 < int(i) <= MAX_ID})
    out: dict[int, CustomerRead] = {}
    for start in range(0, len(wanted), 1000):
        chunk = wanted[start:start + 1000]
        rows = list(session.scalars(select(Customer).where(Customer.id.in_(chunk))))
        found = [r.id for r in rows]
        tags, values = _tags_of(session, found), _values_of(session, found)
        out.update({r.id: _read(r, tags[r.id], values[r.id]) for r in rows})
    return out


def get_customer_by_external_id(session: Session, external_id: str) -> CustomerRead:
    row = (None if "\x00" in external_id else
           session.scalar(select(Customer).where(Customer.external_id == external_id.strip())))
    if row is None:
        raise NotFound(f"customer with external_id {external_id!r} not found", field="external_id")
    return _read_one(session, row)


def find_active_by_email(session: Session, email: str) -> CustomerRead | None:
    """The active customer holding `email` (normalised), or None.

    Used by portal sign-in: the caller must answer the same way whether or not a customer was
    found, so that the sign-in form cannot be used to learn who is a customer.
    """
    try:
        normalised = normalise_email(email)
    except ValidationFailed:
        return None
    if not normalised:
        return None
    row = session.scalar(select(Customer).where(Customer.email == normalised, Customer.status == "active")
                        .order_by(Customer.id).limit(1))
    return _read_one(session, row) if row is not None else None


# built once (every event resolves its customer; building a SELECT per call costs CPU)
_STATE_BY_ID = select(Customer.id, Customer.status, Customer.merged_into_id).where(Customer.id == bindparam("cid"))
_STATE_BY_EXTERNAL_ID = select(Customer.id, Customer.status, Customer.merged_into_id).where(
    Customer.external_id == bindparam("ext"))


def resolve_customer_id(session: Session, *, customer_id: int | None = None, external_id: str | None = None) -> int:
    """The id of the *surviving* customer for an id or external id (merges are followed)."""
    if customer_id is None and (external_id is None or not str(external_id).strip()):
        raise ValidationFailed("customer_id: give customer_id or external_id", field="customer_id")
    if customer_id is not None:
        found = (session.execute(_STATE_BY_ID, {"cid": customer_id}).first()
                 if 0 < customer_id <= MAX_ID else None)
        if found is None:
            raise NotFound(f"customer {customer_id} not found", field="customer_id")
        if external_id is not None:
            other = (None if "\x00" in str(external_id) else
                     session.scalar(select(Customer.id).where(Customer.external_id == str(external_id).strip())))
            if other != customer_id:
                raise ValidationFailed("external_id: does not belong to customer_id", field="external_id")
    else:
        found = (None if "\x00" in str(external_id) else
                 session.execute(_STATE_BY_EXTERNAL_ID, {"ext": str(external_id).strip()}).first())
        if found is None:
            raise NotFound(f"customer with external_id {external_id!r} not found", field="external_id")
    cid, status, merged_into = found
    hops = 0
    while status == "merged" and merged_into is not None:
        hops += 1
        if hops > MAX_MERGE_HOPS:
            raise InvalidState(f"customer {customer_id or external_id}: merge chain too long", field="customer_id")
        cid, status, merged_into = session.execute(_STATE_BY_ID, {"cid": merged_into}).one()
    return int(cid)


def ensure_customer(
    session: Session, *, external_id: str, actor: Actor, email: str | None = None, name: str | None = None
) -> int:
    """Get-or-create by external id, returning the surviving customer's id.

    The hot path of bulk import: an existing customer costs one indexed SELECT. A new one is
    inserted inside a savepoint so that a concurrent importer creating the same external id
    makes this call re-read instead of failing. Email uniqueness is not enforced here (imports
    bring what the shop has); `find_duplicates` surfaces such pairs for a merge.
    """
    ext = _text(external_id, "external_id", 100)
    if ext is None:
        raise ValidationFailed("external_id: required", field="external_id")
    table = Customer.__table__  # Core select: this lookup runs once per imported event
    found = session.execute(select(table.c.id, table.c.status).where(table.c.external_id == ext)).first()
    if found is not None:
        return found[0] if found[1] != "merged" else resolve_customer_id(session, customer_id=found[0])
    values: dict[str, Any] = {"external_id": ext, "email": normalise_email(email),
                              "display_name": _text(name, "name", 200)}
    now = clock.now()
    new_id = _insert_customer_fast(session, {**values, "status": "active", "created_at": now, "updated_at": now})
    if new_id is None:
        return resolve_customer_id(session, external_id=ext)
    interactions.record(session, customer_id=new_id, kind="profile_change", channel=_timeline_channel(actor),
                        summary="Customer profile created", actor=actor, occurred_at=now,
                        data={"event": "created"})
    audit.record(session, actor=actor, action="customer.create", target_type="customer", target_id=new_id,
                 after=_snapshot({f: values.get(f) for f in PROFILE_FIELDS} | {"status": "active"}))
    return int(new_id)


BULK_CHUNK = 1000


def ensure_customers(session: Session, *, external_ids: Iterable[str], actor: Actor) -> dict[str, int]:
    """Bulk get-or-create by external id: {external_id: surviving customer id}.

    For imports with many new customers: existing ones are found in chunked IN queries, missing
    ones are inserted with one multi-row `INSERT ... ON CONFLICT DO NOTHING`, their timeline rows
    with one executemany, and one audit row per chunk lists the created ids (rather than one
    audit row each). Invalid external ids raise ValidationFailed before anything is written.
    """
    wanted: list[str] = []
    seen: set[str] = set()
    for raw in external_ids:
        ext = _text(raw, "external_id", 100)
        if ext is None:
            raise ValidationFailed("external_id: required", field="external_id")
        if ext not in seen:
            seen.add(ext)
            wanted.append(ext)
    table = cast(Table, Customer.__table__)
    result: dict[str, int] = {}

    def lookup(keys: list[str]) -> None:
        for i in range(0, len(keys), BULK_CHUNK):
            for ext, cid, status in session.execute(
                    select(table.c.external_id, table.c.id, table.c.status)
                    .where(table.c.external_id.in_(keys[i:i + BULK_CHUNK]))):
                result[ext] = cid if status != "merged" else resolve_customer_id(session, customer_id=cid)

    lookup(wanted)
    missing = [ext for ext in wanted if ext not in result]
    now = clock.now()
    channel = _timeline_channel(actor)
    for i in range(0, len(missing), BULK_CHUNK):
        chunk = missing[i:i + BULK_CHUNK]
        rows: list[dict[str, Any]] = [{"external_id": ext, "status": "active", "created_at": now, "updated_at": now}
                                      for ext in chunk]
        created: list[int] = []
        dialect = session.get_bind().dialect.name
        if dialect in ("postgresql", "sqlite"):
            from sqlalchemy.dialects import postgresql, sqlite

            dml = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
            stmt = dml.values(rows).on_conflict_do_nothing(index_elements=["external_id"])
            for ext, cid in session.execute(stmt.returning(table.c.external_id, table.c.id)):
                result[ext] = int(cid)
                created.append(int(cid))
        else:  # pragma: no cover - portable fallback
            for row in rows:
                inserted = _insert_customer(session, row)
                if inserted is not None:
                    result[row["external_id"]] = inserted.id
                    created.append(inserted.id)
        lookup([ext for ext in chunk if ext not in result])  # taken meanwhile by a concurrent importer
        if not created:
            continue
        interactions.record_many(session, [
            {"customer_id": cid, "kind": "profile_change", "channel": channel, "summary": "Customer profile created",
             "occurred_at": now, "actor": actor, "data": {"event": "created"}} for cid in sorted(created)])
        audit.record(session, actor=actor, action="customer.create_bulk", target_type="customer",
                     after={"count": len(created), "customer_ids": sorted(created)})
    return result


def update_customer(session: Session, *, customer_id: int, data: CustomerUpdate, actor: Actor) -> CustomerRead:
    """Change the fields present in `data` (PATCH); no-op changes write nothing."""
    row = _mutable(session, customer_id)
    given = data.model_fields_set
    locale = _locale(data.locale) if "locale" in given else row.locale
    new: dict[str, Any] = {}
    if "external_id" in given:
        new["external_id"] = _text(data.external_id, "external_id", 100)
    for f, n in (("first_name", 100), ("last_name", 100), ("display_name", 200)):
        if f in given:
            new[f] = _text(getattr(data, f), f, n)
    if "email" in given:
        new["email"] = normalise_email(data.email)
    if "phone" in given:
        country = session.scalar(select(CustomerAddress.country).where(
            CustomerAddress.customer_id == row.id, CustomerAddress.valid_to.is_(None))
            .order_by(CustomerAddress.label != "home", CustomerAddress.id.desc()).limit(1))
        new["phone"] = normalise_phone(data.phone, region=_region(data.phone_region, locale, country))
    if "birthday" in given:
        new["birthday"] = _birthday(data.birthday)
    if "locale" in given:
        new["locale"] = locale
    if "timezone" in given:
        new["timezone"] = _timezone(data.timezone)
    if "preferred_channel" in given:
        new["preferred_channel"] = _channel(data.preferred_channel)
    if "status" in given:
        if data.status not in ("active", "closed"):
            raise ValidationFailed("status: only 'active' or 'closed' can be set (merge/erase have their own actions)",
                                   field="status")
        new["status"] = data.status
    changes = {f: v for f, v in new.items() if getattr(row, f) != v}
    if not changes:
        return _read_one(session, row)
    if "external_id" in changes:
        if changes["external_id"] is None:
            raise ValidationFailed("external_id: cannot be removed once set", field="external_id")
        if _external_taken(session, changes["external_id"], exclude_id=row.id):
            raise Conflict(f"external_id: customer {changes['external_id']!r} already exists", field="external_id")
    email_after = changes.get("email", row.email)
    if email_after and ("email" in changes or changes.get("status") == "active") and _email_taken(
            session, email_after, exclude_id=row.id):
        raise Conflict("email: another customer already uses this email", field="email")
    if not any(changes.get(f, getattr(row, f)) for f in ("external_id", "email", "phone", "first_name",
                                                          "last_name", "display_name")):
        raise ValidationFailed("external_id: a customer keeps at least an external_id, email, phone or name",
                               field="external_id")
    before = _snapshot(row, changes)
    for f, v in changes.items():
        setattr(row, f, v)
    row.updated_at = clock.now()
    session.flush()
    interactions.record(session, customer_id=row.id, kind="profile_change", channel=_timeline_channel(actor),
                        summary="Profile updated: " + ", ".join(sorted(changes)), actor=actor,
                        data={"event": "updated", "fields": sorted(changes)})
    audit.record(session, actor=actor, action="customer.update", target_type="customer", target_id=row.id,
                 before=before, after=_snapshot(row, changes))
    return _read_one(session, row)


def list_customers(
    session: Session, *, q: str | None = None, tag: str | None = None, status: str | None = None,
    limit: int = 50, offset: int = 0,
) -> CustomerPage:
    """Search by substring of name/email/phone/external id, tag and status; ordered by id."""
    if limit < 1 or limit > 500:
        raise ValidationFailed("limit: must be between 1 and 500", field="limit")
    if not 0 <= offset <= MAX_OFFSET:
        raise ValidationFailed(f"offset: must be between 0 and {MAX_OFFSET}", field="offset")
    query = select(Customer)
    if q and "\x00" in q:
        raise ValidationFailed("q: must not contain NUL characters", field="q")
    if q and q.strip():
        term = q.strip()
        conds = [col.icontains(term, autoescape=True) for col in (
            Customer.first_name, Customer.last_name, Customer.display_name, Customer.email, Customer.external_id)]
        full = func.coalesce(Customer.first_name, "") + " " + func.coalesce(Customer.last_name, "")
        conds.append(full.icontains(term, autoescape=True))
        digits = re.sub(r"\D", "", term)
        if len(digits) >= 3:
            conds.append(Customer.phone.contains(digits, autoescape=True))
        query = query.where(or_(*conds))
    if tag:
        tagged = select(CustomerTag.customer_id).where(CustomerTag.tag == normalise_tag(tag))
        query = query.where(Customer.id.in_(tagged))
    if status:
        if status not in STATUSES:
            raise ValidationFailed(f"status: one of {list(STATUSES)}", field="status")
        query = query.where(Customer.status == status)
    total = session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = session.scalars(query.order_by(Customer.id).limit(limit).offset(offset)).all()
    ids = [r.id for r in rows]
    tags, values = _tags_of(session, ids), _values_of(session, ids)
    return CustomerPage(items=[_read(r, tags[r.id], values[r.id]) for r in rows], total=total,
                        limit=limit, offset=offset)


# --------------------------------------------------------------------------- addresses

def set_address(session: Session, *, customer_id: int, data: AddressIn, actor: Actor) -> AddressRead:
    """Record a (new) address: the current one of that label is closed, a new version opened.

    Writes a timeline row, so that a moved customer is visible to whoever looks next.
    """
    row = _mutable(session, customer_id)
    values = _address(data)
    current = session.scalar(select(CustomerAddress).where(
        CustomerAddress.customer_id == row.id, CustomerAddress.label == values["label"],
        CustomerAddress.valid_to.is_(None)))
    if current is not None and all(getattr(current, k) == v for k, v in values.items()):
        return AddressRead.model_validate(current)
    now = clock.now()
    if current is not None:
        current.valid_to = now
    new = CustomerAddress(customer_id=row.id, valid_from=now, valid_to=None, source=_timeline_channel(actor),
                          **values)
    session.add(new)
    session.flush()
    verb = "changed" if current is not None else "added"
    interactions.record(session, customer_id=row.id, kind="profile_change", channel=_timeline_channel(actor),
                        summary=f"Address ({values['label']}) {verb}", actor=actor, occurred_at=now,
                        data={"event": f"address_{verb}", "address_id": new.id,
                              "previous_address_id": current.id if current is not None else None})
    audit.record(session, actor=actor, action=f"customer.address_{verb}", target_type="customer",
                 target_id=row.id, before={"address_id": current.id} if current is not None else None,
                 after={"address_id": new.id, "label": values["label"], "country": values["country"]})
    return AddressRead.model_validate(new)


def list_addresses(session: Session, customer_id: int, *, history: bool = True) -> list[AddressRead]:
    """Current addresses first by label, then (with history) closed versions newest first."""
    _row(session, customer_id)
    query = select(CustomerAddress).where(CustomerAddress.customer_id == customer_id)
    if not history:
        query = query.where(CustomerAddress.valid_to.is_(None))
    rows = session.scalars(query.order_by(CustomerAddress.valid_to.is_not(None), CustomerAddress.label,
                                          CustomerAddress.valid_from.desc(), CustomerAddress.id.desc())).all()
    return [AddressRead.model_validate(r) for r in rows]


# --------------------------------------------------------------------------- consents

def set_consent(session: Session, *, customer_id: int, data: ConsentIn, actor: Actor) -> ConsentRead:
    """Append a consent decision for one channel (history is never rewritten)."""
    row = _mutable(session, customer_id)
    values = _consent(data)
    previous = _current_consents(session, row.id).get(values["channel"])
    new = CustomerConsent(customer_id=row.id, recorded_at=clock.now(), actor=actor.label, **values)
    session.add(new)
    session.flush()
    consent_state.apply_consent(session, new)
    _consent_timeline(session, new, actor)
    audit.record(session, actor=actor, action="customer.consent", target_type="customer", target_id=row.id,
                 before={"channel": values["channel"], "granted": previous.granted if previous else None},
                 after={"channel": values["channel"], "granted": values["granted"], "source": values["source"]})
    return ConsentRead.model_validate(new)


def _consent_timeline(session: Session, consent: CustomerConsent, actor: Actor) -> None:
    word = "granted" if consent.granted else "withdrawn"
    interactions.record(session, customer_id=consent.customer_id, kind="consent_change",
                        channel=_timeline_channel(actor), summary=f"Consent for {consent.channel} {word}",
                        actor=actor, occurred_at=consent.recorded_at,
                        data={"consent_id": consent.id, "channel": consent.channel, "granted": consent.granted,
                              "source": consent.source})


def _current_consents(session: Session, customer_id: int) -> dict[str, CustomerConsent]:
    rows = session.scalars(select(CustomerConsent).where(CustomerConsent.customer_id == customer_id)
                           .order_by(CustomerConsent.recorded_at, CustomerConsent.id)).all()
    current: dict[str, CustomerConsent] = {}
    for r in rows:
        current[r.channel] = r
    return current


def list_consents(session: Session, customer_id: int, *, history: bool = False,
                  channel: str | None = None) -> list[ConsentRead]:
    """Current consent per channel (latest decision), or the whole history newest first."""
    _row(session, customer_id)
    if channel is not None:
        channel = _channel(channel, "channel")
    if not history:
        current = _current_consents(session, customer_id)
        return [ConsentRead.model_validate(current[c]) for c in sorted(current) if channel in (None, c)]
    query = select(CustomerConsent).where(CustomerConsent.customer_id == customer_id)
    if channel is not None:
        query = query.where(CustomerConsent.channel == channel)
    rows = session.scalars(query.order_by(CustomerConsent.recorded_at.desc(), CustomerConsent.id.desc())).all()
    return [ConsentRead.model_validate(r) for r in rows]


def has_consent(session: Session, customer_id: int, channel: str) -> bool:
    """Whether the latest decision for `channel` is a grant (messaging checks this before sending)."""
    current = _current_consents(session, customer_id).get(channel)
    return bool(current is not None and current.granted)


# --------------------------------------------------------------------------- tags and values

def add_tag(session: Session, *, customer_id: int, tag: str, actor: Actor) -> list[str]:
    row = _mutable(session, customer_id)
    tag = normalise_tag(tag)
    if session.get(CustomerTag, (row.id, tag)) is None:
        session.add(CustomerTag(customer_id=row.id, tag=tag, created_at=clock.now()))
        session.flush()
        audit.record(session, actor=actor, action="customer.tag_add", target_type="customer", target_id=row.id,
                     after={"tag": tag})
    return _tags_of(session, [row.id])[row.id]


def remove_tag(session: Session, *, customer_id: int, tag: str, actor: Actor) -> list[str]:
    row = _mutable(session, customer_id)
    tag = normalise_tag(tag)
    existing = session.get(CustomerTag, (row.id, tag))
    if existing is None:
        raise NotFound(f"tag {tag!r} not on customer {row.id}", field="tag")
    session.delete(existing)
    session.flush()
    audit.record(session, actor=actor, action="customer.tag_remove", target_type="customer", target_id=row.id,
                 before={"tag": tag})
    return _tags_of(session, [row.id])[row.id]


def set_values(session: Session, *, customer_id: int, values: Iterable[str], note: str | None = None,
               actor: Actor) -> CustomerRead:
    """Replace what this customer values (and the note about it)."""
    row = _mutable(session, customer_id)
    new = _values(values)
    note = _text(note, "values_note", 2000)
    old = _values_of(session, [row.id])[row.id]
    if new == old and note == row.values_note:
        return _read_one(session, row)
    session.execute(delete(CustomerValue).where(CustomerValue.customer_id == row.id))
    for v in new:
        session.add(CustomerValue(customer_id=row.id, value=v))
    note_changed = note != row.values_note
    row.values_note = note
    row.updated_at = clock.now()
    session.flush()
    interactions.record(session, customer_id=row.id, kind="profile_change", channel=_timeline_channel(actor),
                        summary="What the customer values: " + (", ".join(new) or "none"), actor=actor,
                        data={"event": "values", "values": new})
    audit.record(session, actor=actor, action="customer.values", target_type="customer", target_id=row.id,
                 before={"values": old, "values_note": REDACTED if note_changed else None},
                 after={"values": new, "values_note": REDACTED if note_changed else None})
    return _read_one(session, row)


# --------------------------------------------------------------------------- duplicates and merge

def find_duplicates(session: Session, *, limit: int = 200) -> list[DuplicateGroup]:
    """Groups of live (active/closed) customers sharing an email or a phone number."""
    groups: list[DuplicateGroup] = []
    live = Customer.status.in_(("active", "closed"))
    for match, col in (("email", Customer.email), ("phone", Customer.phone)):
        values = [str(v) for v in session.scalars(select(col).where(live, col.is_not(None)).group_by(col)
                                                  .having(func.count(Customer.id) > 1).order_by(col).limit(limit))]
        if not values:
            continue
        members: dict[str, list[int]] = {v: [] for v in values}
        for cid, v in session.execute(select(Customer.id, col).where(live, col.in_(values)).order_by(Customer.id)):
            members[str(v)].append(cid)
        groups.extend(DuplicateGroup(match=match, value=v, customer_ids=members[v]) for v in values)
    return groups


def _rowcount(session: Session, statement: Any) -> int:
    return int(cast(CursorResult[Any], session.execute(statement)).rowcount or 0)


def merge_customers(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> MergeResult:
    """Fold `duplicate_id` into `survivor_id`; nothing of the duplicate's history is lost.

    Timeline, address and consent rows are re-pointed; tags and values are united; blank profile
    fields of the survivor are filled from the duplicate; every registered merge handler moves its
    domain's rows (the ledger its entries and balance). The duplicate stays as a tombstone with
    status=merged and merged_into_id, so its id and external id resolve to the survivor.
    """
    from loyalist.registry import load_all_services

    if survivor_id == duplicate_id:
        raise ValidationFailed("duplicate_id: cannot merge a customer into itself", field="duplicate_id")
    survivor = _mutable(session, survivor_id, "survivor_id")
    duplicate = _mutable(session, duplicate_id, "duplicate_id")
    load_all_services()
    before = {"survivor": _snapshot(survivor), "duplicate": _snapshot(duplicate)}
    now = clock.now()
    moved: dict[str, int] = {}

    moved["timeline"] = interactions.move_customer(session, from_customer_id=duplicate.id,
                                                   to_customer_id=survivor.id)
    taken_labels = set(session.scalars(select(CustomerAddress.label).where(
        CustomerAddress.customer_id == survivor.id, CustomerAddress.valid_to.is_(None))))
    if taken_labels:
        # The survivor's current address wins; the duplicate's becomes history.
        session.execute(update(CustomerAddress).where(
            CustomerAddress.customer_id == duplicate.id, CustomerAddress.valid_to.is_(None),
            CustomerAddress.label.in_(taken_labels)).values(valid_to=now)
            .execution_options(synchronize_session=False))
    for key, model in (("addresses", CustomerAddress), ("consents", CustomerConsent)):
        moved[key] = _rowcount(session, update(model).where(model.customer_id == duplicate.id)
                               .values(customer_id=survivor.id).execution_options(synchronize_session=False))
    consent_state.move_customer(session, from_customer_id=duplicate.id, to_customer_id=survivor.id)
    tags = _tags_of(session, [survivor.id, duplicate.id])
    new_tags = sorted(set(tags[duplicate.id]) - set(tags[survivor.id]))
    session.execute(delete(CustomerTag).where(CustomerTag.customer_id == duplicate.id)
                    .execution_options(synchronize_session=False))
    if new_tags:
        session.execute(insert(CustomerTag), [{"customer_id": survivor.id, "tag": t, "created_at": now}
                                              for t in new_tags])
    moved["tags"] = len(new_tags)
    vals = _values_of(session, [survivor.id, duplicate.id])
    new_vals = sorted(set(vals[duplicate.id]) - set(vals[survivor.id]))
    session.execute(delete(CustomerValue).where(CustomerValue.customer_id == duplicate.id)
                    .execution_options(synchronize_session=False))
    if new_vals:
        session.execute(insert(CustomerValue), [{"customer_id": survivor.id, "value": v} for v in new_vals])
    moved["values"] = len(new_vals)
    session.flush()
    session.expire_all()
    survivor = _row(session, survivor_id)
    duplicate = _row(session, duplicate_id)

    filled = []
    for f in ("first_name", "last_name", "display_name", "email", "phone", "birthday", "locale", "timezone",
              "preferred_channel", "values_note"):
        if getattr(survivor, f) is None and getattr(duplicate, f) is not None:
            setattr(survivor, f, getattr(duplicate, f))
            filled.append(f)

    for handler in hooks.merge_handlers():
        handler(session, survivor_id=survivor.id, duplicate_id=duplicate.id, actor=actor)

    # Earlier merges into the duplicate now point straight at the survivor (one hop to resolve).
    session.execute(update(Customer).where(Customer.merged_into_id == duplicate.id)
                    .values(merged_into_id=survivor.id).execution_options(synchronize_session=False))
    duplicate.status = "merged"
    duplicate.merged_into_id = survivor.id
    duplicate.updated_at = now
    survivor.updated_at = now
    session.flush()
    interactions.record(session, customer_id=survivor.id, kind="merge", channel=_timeline_channel(actor),
                        summary=f"Duplicate profile {duplicate.id} merged into this one", actor=actor,
                        occurred_at=now, data={"duplicate_id": duplicate.id, "moved": moved, "filled": filled})
    audit.record(session, actor=actor, action="customer.merge", target_type="customer", target_id=survivor.id,
                 before=before, after={"survivor": _snapshot(survivor), "duplicate": _snapshot(duplicate),
                                       "moved": moved, "filled": filled})
    return MergeResult(survivor=_read_one(session, survivor), duplicate_id=duplicate.id, moved=moved)


# --------------------------------------------------------------------------- 360 view, GDPR export, erasure

def customer_360(session: Session, customer_id: int, *, recent: int = 20) -> Customer360:
    """Everything staff needs on one screen, including sections other domains contribute."""
    from loyalist.registry import load_all_services

    profile = get_customer(session, customer_id)
    load_all_services()
    page = interactions.list_timeline(session, customer_id, limit=recent)
    return Customer360(
        profile=profile,
        addresses=list_addresses(session, customer_id, history=False),
        consents=list_consents(session, customer_id),
        recent=page.items,
        timeline_total=page.total,
        sections={name: audit.jsonable(fn(session, customer_id)) for name, fn in hooks.view_sections().items()},
    )


def export_customer(session: Session, customer_id: int) -> dict[str, Any]:
    """GDPR access request: every piece of data held about the customer, as JSON-ready dict."""
    from loyalist.registry import load_all_services

    profile = get_customer(session, customer_id)
    load_all_services()
    result = CustomerExport(
        exported_at=clock.now(),
        profile=profile,
        addresses=list_addresses(session, customer_id, history=True),
        consents=list_consents(session, customer_id, history=True),
        tags=profile.tags,
        values=profile.values,
        timeline=interactions.export_rows(session, customer_id),
        sections={name: audit.jsonable(fn(session, customer_id)) for name, fn in hooks.export_sections().items()},
    )
    return result.model_dump(mode="json")


def erase_customer(session: Session, *, customer_id: int, actor: Actor) -> CustomerRead:
    """GDPR erasure: personal data is anonymised, ids/amounts/dates stay so the ledger and analytics
    remain consistent. Duplicates previously merged into this customer are erased too (their
    tombstones still hold the old contact data). Idempotent for an already erased customer."""
    from loyalist.registry import load_all_services

    row = _row(session, customer_id)
    if row.status == "erased":
        return _read_one(session, row)
    load_all_services()
    before_status = row.status
    now = clock.now()
    for f in PII_FIELDS:
        setattr(row, f, None)
    row.status = "erased"
    row.erased_at = now
    row.updated_at = now
    session.execute(update(CustomerAddress).where(CustomerAddress.customer_id == row.id)
                    .values(line1=None, line2=None, city=None, region=None, postal_code=None)
                    .execution_options(synchronize_session=False))
    session.execute(update(CustomerConsent).where(CustomerConsent.customer_id == row.id).values(note=None)
                    .execution_options(synchronize_session=False))
    anonymised = interactions.anonymise_customer(session, row.id)
    for handler in hooks.erasure_handlers():
        handler(session, customer_id=row.id, actor=actor)
    session.flush()
    session.expire_all()
    merged_in = session.scalars(select(Customer.id).where(Customer.merged_into_id == customer_id,
                                                          Customer.status == "merged")).all()
    for dup_id in merged_in:
        erase_customer(session, customer_id=dup_id, actor=actor)
    row = _row(session, customer_id)
    interactions.record(session, customer_id=row.id, kind="profile_change", channel=_timeline_channel(actor),
                        summary="Personal data erased", actor=actor, occurred_at=now, data={"event": "erased"})
    audit.record(session, actor=actor, action="customer.erase", target_type="customer", target_id=row.id,
                 before={"status": before_status},
                 after={"status": "erased", "erased_fields": list(PII_FIELDS), "address_fields_erased": True,
                        "timeline_rows_anonymised": anonymised, "merged_duplicates_erased": list(merged_in)})
    return _read_one(session, row)
