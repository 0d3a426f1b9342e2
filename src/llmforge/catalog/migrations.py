"""Named, append-only catalog migrations.

Never edit or reorder a migration that has shipped: add a new one at the end. Each runs once, in
its own transaction, and is recorded by name in ``_migrations``.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Migration:
    name: str
    sql: str


MIGRATIONS: tuple[Migration, ...] = (
    Migration(
        "001_jobs",
        """
        CREATE TABLE jobs (
            id          VARCHAR PRIMARY KEY,
            kind        VARCHAR NOT NULL,
            state       VARCHAR NOT NULL,
            pid         INTEGER,
            created_at  TIMESTAMPTZ NOT NULL DEFAULT current_timestamp,
            started_at  TIMESTAMPTZ,
            finished_at TIMESTAMPTZ,
            progress    DOUBLE,
            message     VARCHAR,
            params      JSON,
            result      JSON
        );
        """,
    ),
)
