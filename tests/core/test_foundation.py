"""Foundation: migrations, UTC/money column types, API keys, auth, audit."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from decimal import Decimal

import pytest
from sqlalchemy import select, text

from loyalist.audit.models import AuditEntry
from loyalist.errors import Unauthenticated, ValidationFailed
from loyalist.migrate import current_revision, head_revision
from loyalist.staff import service as staff_service
from loyalist.staff.models import ApiKey
from loyalist.types import to_money


def test_schema_is_at_head(connection) -> None:
    assert current_revision(connection) == head_revision()


def test_models_and_migrations_agree(engine) -> None:
    """The migration creates exactly what the models describe (no forgotten regeneration)."""
    from alembic.autogenerate import compare_metadata
    from alembic.migration import MigrationContext

    from loyalist.db import Base

    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_to_money_is_exact() -> None:
    assert to_money("19.99") == Decimal("19.9900")
    assert to_money(0.1) == Decimal("0.1000")
    with pytest.raises(ValidationFailed) as err:
        to_money("abc", field="total")
    assert err.value.field == "total"


def test_api_key_is_stored_hashed_and_authenticates(session, actor) -> None:
    created = staff_service.create_api_key(session, name="pos", role="integration", actor=actor)
    row = session.get(ApiKey, created.id)
    assert created.key not in row.key_hash
    assert len(row.key_hash) == 64
    who = staff_service.authenticate_api_key(session, created.key)
    assert (who.kind, who.id, who.role) == ("api_key", created.id, "integration")
    audit = session.scalars(select(AuditEntry).where(AuditEntry.action == "api_key.create")).all()
    assert [a.target_id for a in audit] == [str(created.id)]


def test_tampered_or_revoked_key_is_rejected(session, actor) -> None:
    created = staff_service.create_api_key(session, name="pos", role="agent", actor=actor)
    with pytest.raises(Unauthenticated):
        tampered = created.key[:-1] + ("A" if created.key[-1] != "A" else "B")
        staff_service.authenticate_api_key(session, tampered)
    staff_service.revoke_api_key(session, key_id=created.id, actor=actor)
    with pytest.raises(Unauthenticated):
        staff_service.authenticate_api_key(session, created.key)


def test_unknown_role_names_the_field(session, actor) -> None:
    with pytest.raises(ValidationFailed) as err:
        staff_service.create_api_key(session, name="x", role="superuser", actor=actor)
    assert err.value.field == "role"
    assert session.scalar(select(ApiKey.id)) is None


def test_utc_column_round_trip(session, actor) -> None:
    kyiv = timezone(timedelta(hours=2))
    from loyalist.audit import service as audit

    entry = audit.record(session, actor=actor, action="x", target_type="t")
    entry.occurred_at = datetime(2026, 3, 1, 12, 0, tzinfo=kyiv)
    session.flush()
    session.expire_all()
    loaded = session.get(AuditEntry, entry.id)
    assert loaded.occurred_at == datetime(2026, 3, 1, 10, 0, tzinfo=UTC)
    assert loaded.occurred_at.tzinfo is not None


def test_api_requires_a_key(app) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app) as anonymous:
        response = anonymous.get("/v1/api-keys")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "unauthenticated"


def test_api_key_lifecycle_over_http(client, client_as) -> None:
    created = client.post("/v1/api-keys", json={"name": "till 3", "role": "integration"})
    assert created.status_code == 201
    key = created.json()["key"]
    assert client.get("/v1/api-keys").status_code == 200
    agent = client_as("agent")
    denied = agent.post("/v1/api-keys", json={"name": "x", "role": "admin"})
    assert denied.status_code == 403
    assert client.delete(f"/v1/api-keys/{created.json()['id']}").status_code == 200
    client.headers["Authorization"] = f"Bearer {key}"
    assert client.get("/v1/audit").status_code == 401


def test_healthz_and_readyz(app) -> None:
    from fastapi.testclient import TestClient

    with TestClient(app) as c:
        assert c.get("/healthz").json() == {"status": "ok"}


def test_sqlite_uses_wal(engine) -> None:
    if engine.dialect.name != "sqlite":
        pytest.skip("SQLite-specific")
    with engine.connect() as conn:
        assert conn.execute(text("PRAGMA journal_mode")).scalar() == "wal"


def test_settings_refuse_an_unknown_clawback_policy() -> None:
    from pydantic import ValidationError

    from loyalist.config import Settings

    assert Settings(clawback_policy="cap_at_balance").clawback_policy == "cap_at_balance"
    with pytest.raises(ValidationError) as err:
        Settings(clawback_policy="forgive")
    assert "clawback_policy" in str(err.value)


def test_request_validation_errors_name_the_field(client) -> None:
    response = client.post("/v1/api-keys", json={"name": "", "role": "admin"})
    assert response.status_code == 422
    error = response.json()["error"]
    assert (error["code"], error["field"]) == ("validation_failed", "name")
    assert error["details"]["errors"][0]["in"] == "body"
