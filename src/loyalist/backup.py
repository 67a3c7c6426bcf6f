"""Backup and restore of the operational database.

SQLite: the online backup API copies a consistent snapshot while the server keeps writing (WAL
readers are not blocked). PostgreSQL: `pg_dump --format=custom` and `pg_restore --clean
--single-transaction`, so a failed restore leaves the old database untouched. Passwords go to the
tools through the PGPASSWORD environment variable, never on the command line (visible in `ps`).

After every restore the caller runs the ledger reconciliation: a backup is only good if the
points balances it holds still equal the sum of their postings.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import subprocess
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy.engine import make_url


class BackupError(RuntimeError):
    """The backup or restore could not be done; the message says why and what to do."""


@dataclass(frozen=True)
class BackupResult:
    path: Path
    bytes: int
    kind: str  # sqlite | postgresql


def _sqlite_path(url: str) -> Path:
    database = make_url(url).database
    if not database or database == ":memory:":
        raise BackupError("database: an in-memory SQLite database cannot be backed up")
    return Path(database)


def _pg_args(url: str) -> tuple[list[str], dict[str, str]]:
    parsed = make_url(url)
    args = ["--host", parsed.host or "127.0.0.1", "--port", str(parsed.port or 5432),
            "--username", parsed.username or "postgres", "--dbname", parsed.database or "postgres"]
    env = dict(os.environ)
    if parsed.password:
        env["PGPASSWORD"] = str(parsed.password)
    return args, env


def _tool(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        raise BackupError(f"{name} not found: install the PostgreSQL client tools (Debian: postgresql-client)")
    return found


def backup(url: str, destination: Path) -> BackupResult:
    """Write a consistent copy of the database at `url` to `destination` (must not exist)."""
    if destination.exists():
        raise BackupError(f"destination: {destination} already exists; choose a new file name")
    destination.parent.mkdir(parents=True, exist_ok=True)
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        source = _sqlite_path(url)
        if not source.exists():
            raise BackupError(f"database: {source} does not exist")
        partial = destination.with_name(destination.name + ".partial")
        with sqlite3.connect(source) as src, sqlite3.connect(partial) as dst:
            src.backup(dst)
        partial.replace(destination)  # a crash mid-backup never leaves a file that looks complete
        return BackupResult(destination, destination.stat().st_size, "sqlite")
    if backend == "postgresql":
        args, env = _pg_args(url)
        partial = destination.with_name(destination.name + ".partial")
        run = subprocess.run([_tool("pg_dump"), "--format=custom", "--no-owner", "--file", str(partial), *args],
                             env=env, capture_output=True, text=True, check=False)
        if run.returncode != 0:
            partial.unlink(missing_ok=True)
            raise BackupError(f"pg_dump failed: {run.stderr.strip()}")
        partial.replace(destination)
        return BackupResult(destination, destination.stat().st_size, "postgresql")
    raise BackupError(f"database: backups of {backend} are not supported")


def restore(url: str, source: Path, *, force: bool = False) -> None:
    """Replace the database at `url` with the backup in `source`.

    Refuses to overwrite an existing SQLite file without `force`. The caller must make sure no
    server or worker is using the database meanwhile (stop them first).
    """
    if not source.exists():
        raise BackupError(f"file: {source} does not exist")
    backend = make_url(url).get_backend_name()
    if backend == "sqlite":
        target = _sqlite_path(url)
        try:
            with sqlite3.connect(source) as check:
                result = check.execute("PRAGMA integrity_check").fetchone()
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"file: {source} is not a SQLite database ({exc})") from exc
        if not result or result[0] != "ok":
            raise BackupError(f"file: {source} is not an intact SQLite database ({result})")
        if target.exists() and not force:
            raise BackupError(f"database: {target} exists; pass --force to replace it")
        staged = target.with_name(target.name + ".restoring")
        shutil.copyfile(source, staged)
        for suffix in ("-wal", "-shm"):
            Path(f"{target}{suffix}").unlink(missing_ok=True)
        staged.replace(target)
        return
    if backend == "postgresql":
        args, env = _pg_args(url)
        run = subprocess.run([_tool("pg_restore"), "--clean", "--if-exists", "--no-owner", "--single-transaction",
                              "--exit-on-error", *args, str(source)], env=env, capture_output=True, text=True,
                             check=False)
        if run.returncode != 0:
            raise BackupError(f"pg_restore failed (the database was left as it was): {run.stderr.strip()}")
        return
    raise BackupError(f"database: restores of {backend} are not supported")
