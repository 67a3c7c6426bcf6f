"""Engine, declarative base and the unit of work.

One unit of work per request, job or CLI command: services only `flush()`, the caller commits.
SQLite gets WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE` so that concurrent writers
queue instead of failing half-way with "database is locked".
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, MetaData, create_engine, event
from sqlalchemy.orm import DeclarativeBase, Session, sessionmaker

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class Base(DeclarativeBase):
    """Declarative base for every table; the naming convention keeps migrations stable."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


def _configure_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Let SQLAlchemy, not pysqlite, decide when transactions begin.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        cursor.execute("PRAGMA foreign_keys=ON")
        cursor.execute("PRAGMA busy_timeout=30000")
        if engine.url.database not in (None, "", ":memory:"):
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        conn.exec_driver_sql("BEGIN IMMEDIATE")


def make_engine(url: str, *, echo: bool = False, **kwargs: Any) -> Engine:
    """Create an engine with the per-backend settings the ledger relies on."""
    if url.startswith("sqlite"):
        engine = create_engine(url, echo=echo, connect_args={"check_same_thread": False}, **kwargs)
        _configure_sqlite(engine)
        return engine
    kwargs.setdefault("pool_pre_ping", True)
    kwargs.setdefault("pool_size", 10)
    kwargs.setdefault("max_overflow", 20)
    return create_engine(url, echo=echo, **kwargs)


def make_session_factory(engine: Engine) -> sessionmaker[Session]:
    return sessionmaker(bind=engine, expire_on_commit=False, autoflush=True)


_default_engine: Engine | None = None
_default_factory: sessionmaker[Session] | None = None


def get_engine() -> Engine:
    """The process-wide engine for the configured database URL."""
    global _default_engine, _default_factory
    if _default_engine is None:
        from loyalist.config import get_settings

        settings = get_settings()
        _default_engine = make_engine(settings.database_url, echo=settings.sql_echo)
        _default_factory = make_session_factory(_default_engine)
    return _default_engine


def get_session_factory() -> sessionmaker[Session]:
    get_engine()
    assert _default_factory is not None
    return _default_factory


def set_engine(engine: Engine) -> None:
    """Point the process at another engine (tests, `--database-url` on the CLI)."""
    global _default_engine, _default_factory
    _default_engine = engine
    _default_factory = make_session_factory(engine)


@contextmanager
def unit_of_work(factory: sessionmaker[Session] | None = None) -> Iterator[Session]:
    """A session whose work commits on success and rolls back entirely on any exception."""
    session = (factory or get_session_factory())()
    try:
        with session.begin():
            yield session
    finally:
        session.close()
