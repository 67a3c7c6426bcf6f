"""Engine, declarative base and the unit of work.

One unit of work per request, job or CLI command: services only `flush()`, the caller commits.
SQLite gets WAL, foreign keys, a busy timeout and `BEGIN IMMEDIATE` so that concurrent writers
queue instead of failing half-way with "database is locked".
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import Any, TypeVar

from sqlalchemy import Engine, MetaData, create_engine, event, insert, inspect, select
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


M = TypeVar("M", bound=Base)


def insert_many(session: Session, objects: list[M], *, key: str | None = None) -> list[M]:
    """Insert new (transient) ORM objects in a few batched statements and return them as loaded
    rows, in the same order, with their ids.

    Why: a plain `add_all` + `flush` sends one INSERT per row on SQLite (the ORM only batches
    inserts whose generated ids it can match to the rows, which SQLite cannot promise), and a
    campaign or bulk job writes thousands. With `key`, an attribute unique among `objects` (a
    dedupe key, say), the INSERT ... RETURNING is batched on every backend and its rows, which
    may come back in any order, are matched through it. Without `key` the ids are matched by
    position: batched on PostgreSQL, one INSERT per row on SQLite (where a row costs no round
    trip). The rows are then read back by id (one SELECT per 1,000). The returned objects are
    new instances in the session; `objects` stay transient.
    """
    if not objects:
        return []
    model = type(objects[0])
    mapper = inspect(model)
    columns = {a.key for a in mapper.column_attrs}
    pk = str(mapper.primary_key[0].key)
    rows = [{k: v for k, v in vars(o).items() if k in columns and k != pk} for o in objects]
    # render_nulls: a None stays in the statement, so rows differing only in which values are
    # None still share one batch (otherwise the ORM splits them by the set of keys present)
    if key is None:
        stmt = insert(model).returning(getattr(model, pk), sort_by_parameter_order=True)
        wanted = [i for (i,) in session.execute(stmt.execution_options(render_nulls=True), rows)]
    else:
        stmt = insert(model).returning(getattr(model, pk), getattr(model, key))
        ids: dict[Any, int] = {k: i for i, k in session.execute(stmt.execution_options(render_nulls=True), rows)}
        if len(ids) != len(objects):
            raise ValueError(f"insert_many: {key!r} is not unique among the {model.__name__} rows")
        wanted = [ids[getattr(o, key)] for o in objects]
    loaded: dict[int, M] = {}
    for start in range(0, len(wanted), 1000):
        loaded.update({getattr(r, pk): r for r in session.scalars(
            select(model).where(getattr(model, pk).in_(wanted[start:start + 1000])))})
    return [loaded[i] for i in wanted]


def insert_once(session: Session, table: Any, values: dict[str, Any], *, unique: list[str]) -> int | None:
    """`INSERT ... ON CONFLICT (unique) DO NOTHING RETURNING id`: the new row's id, or None when a
    row with the same `unique` columns exists (committed, or committed meanwhile by a concurrent
    transaction: PostgreSQL waits for it). One statement where a SELECT for the key, a SAVEPOINT,
    the INSERT and a RELEASE would be four; and a duplicate leaves the transaction usable. Any
    other constraint violation still raises IntegrityError."""
    name = session.get_bind().dialect.name
    key = (name, table.name, tuple(unique))
    stmt = _INSERT_ONCE.get(key)
    if stmt is None:  # built once per table: see prebuilt_insert for why
        if name == "postgresql":
            from sqlalchemy.dialects.postgresql import insert as dialect_insert
        elif name == "sqlite":
            from sqlalchemy.dialects.sqlite import insert as dialect_insert
        else:  # pragma: no cover - only the two supported backends
            raise NotImplementedError(name)
        stmt = dialect_insert(table).on_conflict_do_nothing(index_elements=unique).returning(table.c.id)
        _INSERT_ONCE[key] = stmt
    found = session.execute(stmt, values).scalar()
    return None if found is None else int(found)


_INSERT_ONCE: dict[tuple[str, str, tuple[str, ...]], Any] = {}


Write = tuple[Any, dict[str, Any] | None]
_COMBINED: dict[tuple[Any, ...], Any] = {}
_PREBUILT: dict[tuple[str, str], Any] = {}


def prebuilt_insert(table: Any, prefix: str) -> Any:
    """`INSERT INTO table (every column but id) VALUES (:<prefix><column>, ...)`, built once.

    Why: building `insert(t).values(**row)` anew costs ~0.3 ms of CPU per statement in SQLAlchemy
    (each value becomes a bound parameter and the cache key is walked); a statement built once and
    executed with a parameter dict costs a tenth of that. The prefix keeps parameter names unique
    when several statements are sent together (`execute_together`)."""
    key = (table.name, prefix)
    stmt = _PREBUILT.get(key)
    if stmt is None:
        from sqlalchemy import bindparam

        stmt = insert(table).values({c.key: bindparam(f"{prefix}{c.key}") for c in table.columns if c.key != "id"})
        _PREBUILT[key] = stmt
    return stmt


def prefixed(row: dict[str, Any], prefix: str) -> dict[str, Any]:
    """A row's values under the parameter names of `prebuilt_insert(table, prefix)`."""
    return {f"{prefix}{k}": v for k, v in row.items()}


def execute_together(session: Session, writes: Sequence[Any]) -> None:
    """Run independent writes (INSERT/UPDATE/DELETE without RETURNING) in one round trip.

    Each item is a statement, or a (statement, parameters) pair for a statement built once with
    bound parameters (names unique across the items). On PostgreSQL the first statements become
    data-modifying CTEs of the last one: all run against the same snapshot and none sees the
    others' rows, so only statements that do not depend on each other may be passed; the combined
    statement of built-once parts is itself built once. On SQLite (no DML in WITH, and no network
    round trip to save) they simply run in order. Why: on the accrual hot path each statement
    costs a round trip to the server, and the timeline row, the event outcome and the audit row
    need nothing back."""
    pairs: list[Write] = [w if isinstance(w, tuple) else (w, None) for w in writes]
    if not pairs:
        return
    if len(pairs) == 1 or session.get_bind().dialect.name != "postgresql":
        for stmt, params in pairs:
            session.execute(stmt, params) if params is not None else session.execute(stmt)
        return
    statements = tuple(stmt for stmt, _ in pairs)
    reusable = all(params is not None for _, params in pairs)
    combined = _COMBINED.get(statements) if reusable else None
    if combined is None:
        *first, last = statements
        combined = last.add_cte(*[stmt.cte(f"w{i}") for i, stmt in enumerate(first)])
        if reusable:
            _COMBINED[statements] = combined
    merged: dict[str, Any] = {}
    for _, params in pairs:
        merged.update(params or {})
    session.execute(combined, merged) if merged else session.execute(combined)
