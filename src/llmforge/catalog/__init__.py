"""The project catalog: DuckDB metadata with named, append-only migrations."""

from llmforge.catalog.db import (LATEST_VERSION, applied_migrations, connect, insert_columns, migrate,
                                 resolve_document_id, table_counts, transaction)
from llmforge.catalog.migrations import MIGRATIONS, Migration

__all__ = ["LATEST_VERSION", "MIGRATIONS", "Migration", "applied_migrations", "connect", "insert_columns", "migrate",
           "resolve_document_id", "table_counts", "transaction"]
