"""Test harness: every DB test runs on SQLite and on the real PostgreSQL server.

- `engine` is parametrised over both backends; its schema is built by `alembic upgrade head`.
- `session` runs inside a transaction rolled back at the end (savepoint join mode), so tests
  see each other's nothing.
- `committed_engine` is for tests that need real commits across connections (concurrency,
  CLI, worker): it empties every table afterwards.
- In CI (`CI=true`) an unreachable PostgreSQL is an error, not a skip.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session, sessionmaker

from loyalist.db import Base, make_engine
from loyalist.migrate import upgrade
from loyalist.registry import load_all_models
from loyalist.staff.schemas import Role
from loyalist.types import Actor

load_all_models()

DEFAULT_PG_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/test"
STAFF_ACTOR = Actor(kind="staff", id=None, name="test-staff", role="admin")


def _pg_base_url() -> str:
    return os.environ.get("LOYALIST_TEST_POSTGRES_URL", DEFAULT_PG_URL)


def _worker_suffix(config: pytest.Config) -> str:
    worker = os.environ.get("PYTEST_XDIST_WORKER", "")
    return f"_{worker}" if worker else ""


def _prepare_postgres(config: pytest.Config) -> str:
    """Create (or reset) a private database for this test process and return its URL."""
    base = make_url(_pg_base_url())
    # Unique per process: several test runs (developers, CI) may share one server.
    name = f"{base.database}_loyalist{_worker_suffix(config)}_{os.getpid()}"
    admin = make_engine(base.render_as_string(hide_password=False), isolation_level="AUTOCOMMIT",
                        pool_size=1, max_overflow=0)
    try:
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:
        if os.environ.get("CI") == "true":
            pytest.fail(f"PostgreSQL unreachable in CI at {base}: {exc}")
        pytest.skip(f"PostgreSQL unreachable at {base}: {exc}")
    finally:
        admin.dispose()
    return base.set(database=name).render_as_string(hide_password=False)


def _drop_postgres(url: str) -> None:
    target = make_url(url)
    admin = make_engine(make_url(_pg_base_url()).render_as_string(hide_password=False),
                        isolation_level="AUTOCOMMIT", pool_size=1, max_overflow=0)
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{target.database}" WITH (FORCE)'))
    admin.dispose()


@pytest.fixture(autouse=True)
def _fresh_config_caches() -> Iterator[None]:
    """Process-local config caches (earning rules, API-key checks, "any tier active") forget every
    test's rows: each test's transaction is rolled back, which no cache can observe. (A test that
    had created a tier left "tiers exist" cached for the next one, whose accrual then loaded the
    tier table: one statement over the hot-path budget, depending on test order.)"""
    from loyalist.events import service as events_service
    from loyalist.staff import service as staff_service
    from loyalist.tiers import service as tiers_service

    def forget() -> None:
        events_service.invalidate_rule_cache()
        staff_service.forget_api_keys()
        tiers_service.forget_active_tier_cache()

    forget()
    yield
    forget()


@pytest.fixture(
    scope="session",
    params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)],
)
def engine(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Engine]:
    """A migrated database of each kind, shared by the whole test session."""
    if request.param == "sqlite":
        path: Path = tmp_path_factory.mktemp("db") / "loyalist-test.db"
        url = f"sqlite:///{path}"
    else:
        url = _prepare_postgres(request.config)
    eng = make_engine(url)
    upgrade(eng)
    yield eng
    eng.dispose()
    if request.param == "postgres":
        _drop_postgres(url)


@pytest.fixture
def connection(engine: Engine) -> Iterator:
    conn = engine.connect()
    outer = conn.begin()
    try:
        yield conn
    finally:
        outer.rollback()
        conn.close()


@pytest.fixture
def session_factory(connection) -> sessionmaker[Session]:  # type: ignore[no-untyped-def]
    """Sessions bound to the test's outer transaction; their commits are savepoint releases."""
    return sessionmaker(bind=connection, join_transaction_mode="create_savepoint",
                        expire_on_commit=False)


@pytest.fixture
def session(session_factory: sessionmaker[Session]) -> Iterator[Session]:
    s = session_factory()
    try:
        yield s
    finally:
        s.close()


@pytest.fixture
def actor() -> Actor:
    return STAFF_ACTOR


@pytest.fixture
def committed_engine(engine: Engine) -> Iterator[Engine]:
    """The real engine, for tests whose work must commit; every table is emptied afterwards."""
    yield engine
    with engine.begin() as conn:
        for table in reversed(Base.metadata.sorted_tables):
            conn.execute(table.delete())


@pytest.fixture
def app(engine: Engine, session_factory: sessionmaker[Session]):  # type: ignore[no-untyped-def]
    """The API wired to the test transaction."""
    from loyalist.api.app import create_app
    from loyalist.config import Settings

    application = create_app(Settings(database_url=str(engine.url)), engine=engine)
    application.state.session_factory = session_factory
    return application


@pytest.fixture
def make_key(session_factory: sessionmaker[Session]) -> Callable[[Role | str], str]:
    """Create an API key of a role (committed to the test transaction); returns the plaintext."""
    from loyalist.staff import service

    def _make(role: Role | str) -> str:
        with session_factory() as s, s.begin():
            return service.create_api_key(s, name=f"test-{role}", role=role, actor=STAFF_ACTOR).key

    return _make


@pytest.fixture
def client(app, make_key) -> Iterator[TestClient]:  # type: ignore[no-untyped-def]
    """An HTTP client authenticated as admin; use `client_as(role)` for other roles."""
    with TestClient(app, raise_server_exceptions=True) as c:
        c.headers["Authorization"] = f"Bearer {make_key(Role.admin)}"
        yield c


@pytest.fixture
def client_as(app, make_key) -> Callable[[Role | str], TestClient]:  # type: ignore[no-untyped-def]
    def _make(role: Role | str) -> TestClient:
        c = TestClient(app, raise_server_exceptions=True)
        c.headers["Authorization"] = f"Bearer {make_key(role)}"
        return c

    return _make
