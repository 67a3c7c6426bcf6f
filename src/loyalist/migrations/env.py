"""Alembic environment: uses a connection handed in by `loyalist.migrate` or builds one."""

from __future__ import annotations

from alembic import context

from loyalist.db import Base, make_engine
from loyalist.registry import load_all_models

load_all_models()
target_metadata = Base.metadata
config = context.config


def _run(connection) -> None:  # type: ignore[no-untyped-def]
    context.configure(
        connection=connection,
        target_metadata=target_metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


connection = config.attributes.get("connection")
if connection is not None:
    _run(connection)
else:
    url = config.get_main_option("sqlalchemy.url")
    if not url:
        from loyalist.config import get_settings

        url = get_settings().database_url
    engine = make_engine(url)
    with engine.begin() as conn:
        _run(conn)
