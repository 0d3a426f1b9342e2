"""The LanceDB chunk table: vectors, text, and one keyword column per language analyser.

Each operation opens the table afresh, with ``read_consistency_interval=0``: a long-lived handle
does not see rows another process added (measured), and ``serve`` must see what ``structure``
writes. A ``kill -9`` during an add leaves hidden ``data/.tmp*`` files that LanceDB's own clean-up
does not remove; :meth:`ChunkIndex.clean_interrupted_writes` does (under the writer lock).
"""

from __future__ import annotations

import shutil
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from llmforge.errors import UsageError

TABLE = "chunks"
FTS_COLUMNS = {"en": "text_en", "ar": "text_ar"}


def schema(dim: int) -> pa.Schema:
    return pa.schema([
        pa.field("chunk_id", pa.string()),
        pa.field("document_id", pa.string()),
        pa.field("seq", pa.int32()),
        pa.field("page_start", pa.int32()),
        pa.field("page_end", pa.int32()),
        pa.field("text", pa.string()),
        pa.field("text_en", pa.string()),
        pa.field("text_ar", pa.string()),
        pa.field("language", pa.string()),
        pa.field("vector", pa.list_(pa.float32(), dim)),
    ])


class ChunkIndex:
    """The chunk table of one project (``<project>/lancedb``)."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def _db(self) -> Any:
        import lancedb

        return lancedb.connect(str(self.root), read_consistency_interval=timedelta(0))

    def _exists(self, db: Any) -> bool:
        return TABLE in db.list_tables().tables

    def table(self) -> Any | None:
        db = self._db()
        if not self._exists(db):
            return None
        return db.open_table(TABLE)

    def dim(self) -> int | None:
        table = self.table()
        return None if table is None else table.schema.field("vector").type.list_size

    def ensure(self, dim: int) -> Any:
        """The table, created for ``dim``-d vectors when missing; refuses a different size."""
        table = self.table()
        if table is None:
            return self._db().create_table(TABLE, schema=schema(dim))
        if table.schema.field("vector").type.list_size != dim:
            raise UsageError(f"the index holds {self.dim()}-d vectors and this embedder makes {dim}-d "
                             "ones; rebuild with `llmforge structure --reembed`")
        return table

    def drop(self) -> None:
        db = self._db()
        if self._exists(db):
            db.drop_table(TABLE)

    def count(self) -> int:
        table = self.table()
        return 0 if table is None else table.count_rows()

    def delete_documents(self, document_ids: list[str]) -> None:
        table = self.table()
        if table is None or not document_ids:
            return
        for start in range(0, len(document_ids), 500):
            quoted = ", ".join(f"'{d}'" for d in document_ids[start:start + 500] if d.isalnum())
            if quoted:
                table.delete(f"document_id IN ({quoted})")

    def add(self, rows: list[dict[str, Any]], dim: int) -> None:
        if rows:
            self.ensure(dim).add(pa.Table.from_pylist(rows, schema=schema(dim)))

    def refresh_indexes(self, vector_index_min_rows: int) -> dict[str, Any]:
        """Create the full-text indexes (and, for a large table, the vector index) where missing;
        fold rows added since into them. Rows not yet indexed are still searched (flat)."""
        from lancedb.index import FTS, IvfPq

        table = self.table()
        if table is None:
            return {}
        present = {index.name for index in table.list_indices()}
        created = []
        if "text_en_idx" not in present:
            table.create_index("text_en", config=FTS(language="English", stem=True, remove_stop_words=True))
            created.append("text_en_idx")
        if "text_ar_idx" not in present:
            table.create_index("text_ar", config=FTS(base_tokenizer="whitespace", stem=False,
                                                     remove_stop_words=False, ascii_folding=False))
            created.append("text_ar_idx")
        rows = table.count_rows()
        if "vector_idx" not in present and rows >= vector_index_min_rows:
            partitions = max(1, int(rows ** 0.5))
            dim = table.schema.field("vector").type.list_size
            table.create_index("vector", config=IvfPq(distance_type="cosine", num_partitions=partitions,
                                                      num_sub_vectors=max(1, dim // 8)))
            created.append("vector_idx")
        if not created:
            table.optimize()
        return {"created": created, "rows": rows}

    def has_vector_index(self) -> bool:
        table = self.table()
        return table is not None and any(i.name == "vector_idx" for i in table.list_indices())

    def search_vector(self, vector: np.ndarray, limit: int, refine_factor: int = 10) -> list[dict[str, Any]]:
        table = self.table()
        if table is None:
            return []
        query = table.search(vector.astype(np.float32), vector_column_name="vector").distance_type("cosine")
        if self.has_vector_index():
            query = query.nprobes(20).refine_factor(refine_factor)
        return query.limit(limit).select(["chunk_id", "document_id", "seq", "page_start", "page_end",
                                          "text", "language", "_distance"]).to_list()

    def search_keyword(self, text: str, language: str, limit: int) -> list[dict[str, Any]]:
        table = self.table()
        if table is None or not text.strip():
            return []
        return (table.search(text, query_type="fts", fts_columns=FTS_COLUMNS[language]).limit(limit)
                .select(["chunk_id", "document_id", "seq", "page_start", "page_end", "text", "language", "_score"])
                .to_list())

    def clean_interrupted_writes(self) -> int:
        """Remove ``data/.tmp*`` left by a killed add (call only under the writer lock)."""
        removed = 0
        for leftover in self.root.glob(f"{TABLE}.lance/data/.tmp*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed += 1
        return removed
