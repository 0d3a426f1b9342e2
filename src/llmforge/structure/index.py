"""The LanceDB chunk table: vectors, text, and one keyword column per language analyser.

Each operation opens the table afresh, with ``read_consistency_interval=0``: a long-lived handle
does not see rows another process added (measured), and ``serve`` must see what ``structure``
writes. A ``kill -9`` during an add leaves hidden ``data/.tmp*`` files that LanceDB's own clean-up
does not remove; :meth:`ChunkIndex.clean_interrupted_writes` does (under the writer lock).

``import lancedb`` took 1.1–1.7 s of a 4 s ``llmforge search``, 0.4–0.9 s of it in the
``__init__`` of ``lance_namespace_urllib3_client``, a generated REST client that imports its
every API class (pydantic ``validate_call`` schemas) and model. lancedb imports it through
``lance_namespace`` for its namespace support, which a table in a local folder never uses; what
lancedb and ``lance_namespace`` import from it are its ``models`` submodules.
:func:`import_lancedb` therefore registers that one package with its ``__init__`` deferred
(:func:`_defer_package_init`): its submodules load from their own files as usual, and the first
read of anything its ``__init__`` defines runs that ``__init__``, so nothing is ever missing.
On Python 3.11 lancedb marks its methods with the ``overrides`` package's ``@override``, which
disassembles the class body being defined to check each of 105 methods (0.1–0.2 s); on 3.12 it
uses ``typing.override``, which only sets ``__override__``. During the import the former is
swapped for the latter (``typing_extensions.override``, the same function), then put back.
"""

from __future__ import annotations

import importlib.util
import shutil
import sys
import warnings
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from datetime import timedelta
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from llmforge.errors import UsageError

TABLE = "chunks"
NAMESPACE_CLIENT = "lance_namespace_urllib3_client"
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


def import_lancedb() -> Any:
    """The ``lancedb`` module, imported without the ``__init__`` of its REST namespace client
    (see the module docstring)."""
    if "lancedb" not in sys.modules:
        _defer_package_init(NAMESPACE_CLIENT)
        with _marker_only_overrides():
            importlib.import_module("lancedb")
    return sys.modules["lancedb"]


@contextmanager
def _marker_only_overrides() -> Iterator[None]:
    """``overrides.override`` is ``typing_extensions.override`` inside the block (see the module docstring)."""
    try:
        import overrides
        from typing_extensions import override
    except ImportError:   # not installed: lancedb does not use it here
        yield
        return
    checking = overrides.override
    overrides.override = override
    try:
        yield
    finally:
        overrides.override = checking


def _defer_package_init(name: str) -> None:
    """Register package ``name`` with its ``__init__`` not yet run: ``name.sub`` imports load as
    usual (the package's ``__path__`` is set); reading any other attribute of the package runs
    its ``__init__`` first, once. Nothing happens if ``name`` is imported already or not installed."""
    spec = importlib.util.find_spec(name) if name not in sys.modules else None
    if spec is None or spec.loader is None or spec.submodule_search_locations is None:
        return
    package = importlib.util.module_from_spec(spec)

    def run_init(attribute: str) -> Any:
        del package.__dict__["__getattr__"]
        spec.loader.exec_module(package)
        return getattr(package, attribute)

    package.__getattr__ = run_init  # type: ignore[attr-defined]
    sys.modules[name] = package


class ChunkIndex:
    """The chunk table of one project: in ``<project>/lancedb``, or under an ``s3://`` URI with the
    storage options LanceDB's object store takes (see :func:`project_index`)."""

    def __init__(self, root: Path | str, storage_options: Mapping[str, str] | None = None) -> None:
        self.root = root
        self._storage_options = dict(storage_options or {})

    def __repr__(self) -> str:   # never the storage options: they may hold a secret key
        return f"ChunkIndex({str(self.root)!r})"

    @property
    def is_local(self) -> bool:
        return isinstance(self.root, Path)

    def _db(self) -> Any:
        return import_lancedb().connect(str(self.root), read_consistency_interval=timedelta(0),
                                        storage_options=self._storage_options or None)

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

    def document_ids(self) -> set[str]:
        """The documents that have rows in the table (reads that one column only)."""
        table = self.table()
        if table is None:
            return set()
        return set(table.search().select(["document_id"]).limit(None).to_arrow().column("document_id").to_pylist())

    def delete_documents(self, document_ids: list[str]) -> None:
        table = self.table()
        if table is None or not document_ids:
            return
        for start in range(0, len(document_ids), 500):
            quoted = ", ".join(f"'{d}'" for d in document_ids[start:start + 500] if d.isalnum())
            if quoted:
                table.delete(f"document_id IN ({quoted})")

    def add(self, columns: dict[str, list[Any]], vectors: np.ndarray) -> None:
        """Append rows given column by column (every column of :func:`schema` but ``vector``)
        with their vectors, one row of ``vectors`` each; the vectors go to Arrow as they are,
        without a Python float per component."""
        if not len(vectors):
            return
        dim = vectors.shape[1]
        flat = pa.array(np.ascontiguousarray(vectors, dtype=np.float32).reshape(-1))
        table = pa.table({**columns, "vector": pa.FixedSizeListArray.from_arrays(flat, dim)}, schema=schema(dim))
        self.ensure(dim).add(table)

    def refresh_indexes(self, vector_index_min_rows: int, keep_versions: timedelta | None = None) -> dict[str, Any]:
        """Create the full-text indexes (and, for a large table, the vector index) where missing;
        fold rows added since into them. Rows not yet indexed are still searched (flat).

        Then compact the table: every batch of a run adds a version and a small data file, which
        on object storage means more requests per search and more objects kept; versions older
        than ``keep_versions`` go (None: LanceDB's default, a week). A reader that opened an
        older version than that when it goes fails, so keep it longer than any search takes."""
        import_lancedb()
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
        with warnings.catch_warnings():   # keep_versions 0 warns of what its setting's help says
            warnings.filterwarnings("ignore", message=r"optimize\(cleanup_older_than=0\)")
            table.optimize(cleanup_older_than=keep_versions)
        return {"created": created, "rows": rows, "versions": len(table.list_versions())}

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
        """Remove ``data/.tmp*`` left by a killed add (call only under the writer lock). On object
        storage an interrupted upload leaves no visible object, so there is nothing to do."""
        if not self.is_local:
            return 0
        removed = 0
        for leftover in self.root.glob(f"{TABLE}.lance/data/.tmp*"):
            if leftover.is_dir():
                shutil.rmtree(leftover, ignore_errors=True)
            else:
                leftover.unlink(missing_ok=True)
            removed += 1
        return removed
