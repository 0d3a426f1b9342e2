"""Short-lived DuckDB connections to the project catalog.

DuckDB lets one process open a database file read-write and refuses every other process, even a
read-only one (``IOException: Could not set lock on file``). So nothing in llmforge holds the
catalog across a long job: open, transact, close; and an open that finds the file locked retries
with a bounded backoff before it reports who holds it.

A project on a read-only mount (a published snapshot, a replica's volume) is opened
``read_only``: DuckDB then takes no write lock and writes nothing, a catalog that still needs a
migration is refused (it cannot be migrated there), and any write in the block becomes one
:class:`~llmforge.errors.ReadOnlyProjectError`.
"""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import duckdb

from llmforge.catalog.migrations import MIGRATIONS, Migration
from llmforge.errors import CatalogError, CatalogLockedError, NotFoundError, ReadOnlyProjectError, UsageError

_migrated: set[Path] = set()


def _is_lock_conflict(exc: duckdb.Error) -> bool:
    message = str(exc).lower()
    return "could not set lock" in message or "conflicting lock" in message


def _open(path: Path, timeout: float, read_only: bool = False) -> duckdb.DuckDBPyConnection:
    deadline = time.monotonic() + timeout
    delay = 0.02
    while True:
        try:
            return duckdb.connect(str(path), read_only=read_only)
        except duckdb.IOException as exc:
            if not _is_lock_conflict(exc):
                raise CatalogError(f"cannot open catalog {path}: {exc}") from None
            if time.monotonic() >= deadline:
                holder = re.search(r"PID (\d+)", str(exc))
                who = f"process {holder.group(1)}" if holder else "another process"
                raise CatalogLockedError(
                    f"the catalog {path.name} is locked by {who} for more than {timeout:g}s; "
                    "try again later or raise catalog.lock_timeout"
                ) from None
            time.sleep(delay)
            delay = min(delay * 2, 0.5)
        except duckdb.Error as exc:
            raise CatalogError(f"cannot open catalog {path}: {exc}") from None


@contextmanager
def connect(path: Path, lock_timeout: float = 30.0,
            read_only: bool = False) -> Iterator[duckdb.DuckDBPyConnection]:
    """A migrated read-write connection, closed when the block ends.

    Statements autocommit; wrap multi-statement writes in :func:`transaction`.

    Args:
        read_only: open for reading only (the project is on a read-only mount).

    Raises:
        CatalogError: it cannot be opened, or (``read_only``) it needs a migration first.
        ReadOnlyProjectError: (``read_only``) the block tried to write.
    """
    conn = _open(path, lock_timeout, read_only)
    try:
        resolved = path.resolve()
        if resolved not in _migrated:
            if read_only:
                _check_migrated(conn, path)
            else:
                migrate(conn)
            _migrated.add(resolved)
        yield conn
    except duckdb.InvalidInputException as exc:
        if read_only and "read-only mode" in str(exc):
            raise ReadOnlyProjectError("the project is read-only here (a read-only mount or snapshot): this "
                                       "writes to it; run it where the project is writable") from None
        raise
    finally:
        conn.close()


def _check_migrated(conn: duckdb.DuckDBPyConnection, path: Path) -> None:
    """Refuse a catalog that a read-only open cannot migrate, or one from a newer llmforge."""
    done = set(applied_migrations(conn))
    _refuse_newer(done, MIGRATIONS)
    pending = [m.name for m in MIGRATIONS if m.name not in done]
    if pending:
        raise CatalogError(f"the catalog of {path.parent} needs migrations ({', '.join(pending)}) and the project "
                           "is read-only here: run any llmforge command where it is writable, then publish it again")


def _refuse_newer(done: set[str], migrations: tuple[Migration, ...]) -> None:
    unknown = done - {m.name for m in migrations}
    if unknown:
        raise CatalogError(
            f"the catalog was written by a newer llmforge (migrations {', '.join(sorted(unknown))}); "
            "upgrade llmforge"
        )


@contextmanager
def transaction(conn: duckdb.DuckDBPyConnection) -> Iterator[duckdb.DuckDBPyConnection]:
    """All or nothing: commit when the block succeeds, roll back when it raises."""
    conn.execute("BEGIN TRANSACTION")
    try:
        yield conn
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def insert_columns(conn: duckdb.DuckDBPyConnection, table: str, columns: dict[str, list[Any]]) -> None:
    """Insert rows given column by column, through one Arrow table: DuckDB's ``executemany``
    runs the statement once per row (0.3 ms each, measured), which made catalog writes a
    sizeable part of structuring and of storing a document's pages."""
    import pyarrow as pa

    conn.register("incoming_rows", pa.table(columns))
    try:
        conn.execute(f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(columns)} FROM incoming_rows")
    finally:
        conn.unregister("incoming_rows")


def applied_migrations(conn: duckdb.DuckDBPyConnection) -> list[str]:
    """The names of the migrations applied (the table is created only where it is missing, so a
    read-only connection can ask too)."""
    if not conn.execute("SELECT count(*) FROM information_schema.tables WHERE table_schema = 'main' "
                        "AND table_name = '_migrations'").fetchone()[0]:
        conn.execute("CREATE TABLE _migrations "
                     "(name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT current_timestamp)")
    return [row[0] for row in conn.execute("SELECT name FROM _migrations ORDER BY name").fetchall()]


def migrate(conn: duckdb.DuckDBPyConnection,
            migrations: tuple[Migration, ...] = MIGRATIONS) -> list[str]:
    """Apply the migrations not yet recorded, each in its own transaction; return their names."""
    done = set(applied_migrations(conn))
    _refuse_newer(done, migrations)
    applied = []
    for migration in migrations:
        if migration.name in done:
            continue
        with transaction(conn):
            conn.execute(migration.sql)
            conn.execute("INSERT INTO _migrations (name) VALUES (?)", [migration.name])
        applied.append(migration.name)
    return applied


def table_counts(conn: duckdb.DuckDBPyConnection, tables: list[str]) -> dict[str, int]:
    """Row counts of the named tables; 0 for a table that does not exist yet."""
    present = {row[0] for row in conn.execute(
        "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'").fetchall()}
    return {
        table: conn.execute(f'SELECT count(*) FROM "{table}"').fetchone()[0] if table in present else 0
        for table in tables
    }


def resolve_document_id(conn: Any, prefix: str) -> str:
    """The full id of the document whose id starts with ``prefix`` (like a git hash)."""
    if len(prefix) < 4:
        raise UsageError("give at least 4 characters of the document id")
    matches = [r[0] for r in conn.execute("SELECT id FROM documents WHERE starts_with(id, ?)",
                                          [prefix]).fetchall()]
    if not matches:
        raise NotFoundError(f"no document with id {prefix!r} (see `llmforge documents list`)")
    if len(matches) > 1:
        raise UsageError(f"document id {prefix!r} is ambiguous: {', '.join(sorted(matches))}")
    return matches[0]


# A documents row that is the newest ingested version of its path: what search serves, and what
# `documents list` and `status` count (written against the table's own name, no alias).
LATEST_VERSION = ("version = (SELECT max(version) FROM documents d2 "
                  "WHERE d2.source_path = documents.source_path AND d2.status = 'ingested')")
