"""Backup and restore on SQLite and PostgreSQL, with the ledger proven intact afterwards."""

from __future__ import annotations

import os
import threading
import uuid
from pathlib import Path

import pytest
from sqlalchemy import create_engine, text
from sqlalchemy.engine import make_url
from typer.testing import CliRunner

from loyalist import config
from loyalist.cli.main import app as cli
from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.db import make_engine, make_session_factory
from loyalist.errors import NotFound
from loyalist.ledger import service as ledger
from loyalist.migrate import upgrade
from loyalist.types import Actor

ACTOR = Actor(kind="system", id=None, name="backup-test", role="admin")
runner = CliRunner()


def _use(monkeypatch: pytest.MonkeyPatch, url: str) -> None:
    monkeypatch.setenv("LOYALIST_DATABASE_URL", url)
    config.get_settings.cache_clear()


def _seed(url: str, points: int) -> int:
    engine = make_engine(url)
    upgrade(engine)
    with make_session_factory(engine)() as s, s.begin():
        cid = customers.create_customer(s, data=CustomerCreate(external_id=f"BK-{points}"), actor=ACTOR).id
        ledger.earn(s, customer_id=cid, points=points, source="test", idempotency_key=f"bk-{points}",
                    reason="backup test", actor=ACTOR)
    engine.dispose()
    return cid


def _balance(url: str, cid: int) -> int | None:
    engine = make_engine(url)
    try:
        with make_session_factory(engine)() as s:
            try:
                customers.get_customer(s, cid)
            except NotFound:  # the customer does not exist in this state of the database
                return None
            return ledger.get_balance(s, cid).available
    finally:
        engine.dispose()


def test_sqlite_backup_while_writing_then_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    _use(monkeypatch, url)
    kept = _seed(url, 300)
    stop = threading.Event()

    def writer() -> None:  # a busy server keeps writing during the online backup
        n = 0
        engine = make_engine(url)
        while not stop.is_set():
            n += 1
            with make_session_factory(engine)() as s, s.begin():
                ledger.earn(s, customer_id=kept, points=1, source="test", idempotency_key=f"live-{n}",
                            reason="live", actor=ACTOR)
        engine.dispose()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        result = runner.invoke(cli, ["backup", str(tmp_path / "b1.sqlite")])
    finally:
        stop.set()
        thread.join()
    assert result.exit_code == 0, result.output
    at_backup = _balance(f"sqlite:///{tmp_path / 'b1.sqlite'}", kept)
    assert at_backup is not None and at_backup >= 300
    later = _seed(url, 999)
    assert runner.invoke(cli, ["backup", str(tmp_path / "b1.sqlite")]).exit_code == 2  # never overwrites
    refused = runner.invoke(cli, ["restore", str(tmp_path / "b1.sqlite")])
    assert refused.exit_code == 2 and "--force" in refused.output
    restored = runner.invoke(cli, ["restore", "--force", str(tmp_path / "b1.sqlite")])
    assert restored.exit_code == 0, restored.output
    assert "ledger consistent" in restored.output
    assert _balance(url, kept) == at_backup
    assert _balance(url, later) is None


def test_sqlite_restore_refuses_a_damaged_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url = f"sqlite:///{tmp_path / 'shop.db'}"
    _use(monkeypatch, url)
    cid = _seed(url, 50)
    junk = tmp_path / "junk.sqlite"
    junk.write_bytes(b"not a database" * 100)
    result = runner.invoke(cli, ["restore", "--force", str(junk)])
    assert result.exit_code == 2
    assert _balance(url, cid) == 50


@pytest.mark.postgres
def test_postgres_backup_and_restore(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    base = make_url(os.environ.get("LOYALIST_TEST_POSTGRES_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    name = f"loyalist_backup_{uuid.uuid4().hex[:8]}"
    admin = create_engine(base, isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # noqa: BLE001
        if os.environ.get("CI"):
            raise
        pytest.skip(f"PostgreSQL not reachable: {exc}")
    url = base.set(database=name).render_as_string(hide_password=False)
    try:
        _use(monkeypatch, url)
        kept = _seed(url, 420)
        dump = tmp_path / "shop.pgdump"
        result = runner.invoke(cli, ["backup", str(dump)])
        assert result.exit_code == 0, result.output
        later = _seed(url, 777)
        restored = runner.invoke(cli, ["restore", str(dump)])
        assert restored.exit_code == 0, restored.output
        assert "ledger consistent" in restored.output
        assert _balance(url, kept) == 420
        assert _balance(url, later) is None
    finally:
        config.get_settings.cache_clear()
        with admin.connect() as conn:
            conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
