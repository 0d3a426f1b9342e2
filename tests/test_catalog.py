from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import duckdb
import pytest

from llmforge.catalog import MIGRATIONS, Migration, applied_migrations, connect, migrate, transaction
from llmforge.errors import CatalogError, CatalogLockedError


def test_migrations_apply_once_in_order(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with connect(path) as conn:
        assert applied_migrations(conn) == [m.name for m in MIGRATIONS]
        assert migrate(conn) == []


def test_new_migration_is_appended(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "c.duckdb"))
    migrate(conn)
    extra = (*MIGRATIONS, Migration("999_extra", "CREATE TABLE extra (x INTEGER)"))
    assert migrate(conn, extra) == ["999_extra"]
    assert applied_migrations(conn)[-1] == "999_extra"


def test_failed_migration_rolls_back(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "c.duckdb"))
    broken = (*MIGRATIONS, Migration("998_broken", "CREATE TABLE half (x INTEGER); SELECT nope"))
    with pytest.raises(duckdb.Error):
        migrate(conn, broken)
    assert "998_broken" not in applied_migrations(conn)
    tables = {r[0] for r in conn.execute("SELECT table_name FROM information_schema.tables").fetchall()}
    assert "half" not in tables


def test_catalog_from_newer_version_is_refused(tmp_path: Path) -> None:
    conn = duckdb.connect(str(tmp_path / "c.duckdb"))
    migrate(conn, (*MIGRATIONS, Migration("999_future", "SELECT 1")))
    with pytest.raises(CatalogError, match="newer llmforge"):
        migrate(conn)


def test_transaction_rolls_back_on_error(tmp_path: Path) -> None:
    with connect(tmp_path / "c.duckdb") as conn:
        with pytest.raises(RuntimeError):
            with transaction(conn):
                conn.execute("INSERT INTO jobs (id, kind, state) VALUES ('j1', 'test', 'queued')")
                raise RuntimeError("boom")
        assert conn.execute("SELECT count(*) FROM jobs").fetchone()[0] == 0


HOLDER = """
import sys, time, duckdb
conn = duckdb.connect(sys.argv[1])
print("held", flush=True)
time.sleep(float(sys.argv[2]))
conn.close()
"""


def hold_catalog(path: Path, seconds: float) -> subprocess.Popen[str]:
    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(path), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
    return proc


def test_locked_catalog_gives_clear_error_after_bounded_retry(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with connect(path):
        pass
    proc = hold_catalog(path, 10)
    try:
        started = time.monotonic()
        with pytest.raises(CatalogLockedError, match=rf"locked by process {proc.pid}"):
            with connect(path, lock_timeout=0.5):
                pass
        assert time.monotonic() - started < 5
    finally:
        proc.kill()
        proc.wait()


def test_lock_released_within_timeout_is_waited_for(tmp_path: Path) -> None:
    path = tmp_path / "c.duckdb"
    with connect(path):
        pass
    proc = hold_catalog(path, 1.0)
    try:
        with connect(path, lock_timeout=20) as conn:
            assert conn.execute("SELECT 1").fetchone() == (1,)
    finally:
        proc.wait()
