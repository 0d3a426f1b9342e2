"""``structure``: pages in, chunks, entities and vectors out — incrementally.

Only documents not yet structured are processed (new ones, new versions); chunks of documents
that were deleted or superseded go. Rows an interrupted run left in the index for documents
still to do are deleted first, in one pass (a delete per batch scanned the whole table each
time). Work then proceeds in batches of about ``structure.batch_chunks`` chunks, so memory stays
bounded however large the corpus. For each batch: chunk, embed, find entities; add the new rows
to the index, then record chunks and entities in the catalog in one transaction. A document
counts as structured only once that transaction commits, so a run killed at any point and run
again ends with the same index as an uninterrupted run, without duplicates. The run ends by
compacting the index (see :meth:`ChunkIndex.refresh_indexes`).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from llmforge.catalog import LATEST_VERSION, insert_columns, transaction
from llmforge.errors import UsageError
from llmforge.text.language import detect_language
from llmforge.project import Project
from llmforge.text.keywords import arabic_keywords
from llmforge.structure.chunking import Chunk, chunk_pages
from llmforge.structure.embedders import Embedder, cached_embedder
from llmforge.structure.index import ChunkIndex, TABLE
from llmforge.structure.storage import keep_versions, project_index
from llmforge.textstore import catalog_key, page_texts, seal_text

log = logging.getLogger(__name__)

LATEST_DOCUMENTS = f"SELECT id FROM documents WHERE status = 'ingested' AND {LATEST_VERSION} ORDER BY ingested_at, id"


@dataclass
class StructureReport:
    documents: int = 0          # structured in this run
    chunks: int = 0
    entities: int = 0
    removed_documents: int = 0  # deleted or superseded since the last run
    total_chunks: int = 0
    embedder: str = ""
    dim: int = 0
    indexes: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass(frozen=True)
class StructureOptions:
    embedder: str
    chunk_tokens: int
    overlap: int
    batch_chunks: int
    vector_index_min_rows: int

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> StructureOptions:
        values = {"embedder": settings["structure.embedder"], "chunk_tokens": settings["structure.chunk_tokens"],
                  "overlap": settings["structure.overlap"], "batch_chunks": settings["structure.batch_chunks"],
                  "vector_index_min_rows": settings["search.vector_index_min_rows"]}
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


def index_meta(conn: Any) -> dict[str, Any] | None:
    cursor = conn.execute("SELECT * FROM vector_index WHERE name = ?", [TABLE])
    row = cursor.fetchone()
    return dict(zip([d[0] for d in cursor.description], row)) if row else None


def _check_compatible(meta: dict[str, Any] | None, embedder: Embedder, options: StructureOptions,
                      reembed: bool) -> None:
    if meta is None or reembed:
        return
    if meta["embedder"] != embedder.name or meta["dim"] != embedder.dim or \
            meta["embedder_version"] != embedder.version:
        raise UsageError(f"the index was built with {meta['embedder']} {meta['embedder_version']} ({meta['dim']}-d); "
                         f"rebuild it with `llmforge structure --reembed` to use {embedder.name} "
                         f"{embedder.version} ({embedder.dim}-d)")
    if (meta["chunk_tokens"], meta["overlap"]) != (options.chunk_tokens, options.overlap):
        raise UsageError(f"the index was chunked with {meta['chunk_tokens']} tokens and overlap "
                         f"{meta['overlap']}; pass --reembed to rebuild it with the new sizes")


def structure_project(project: Project, *, embedder: str | None = None, chunk_tokens: int | None = None,
                      overlap: int | None = None, reembed: bool = False,
                      wait: float | None = None,
                      on_progress: Callable[[int, int], None] | None = None,
                      embed: Callable[[list[str]], Any] | None = None) -> StructureReport:
    """Bring the chunk index up to date with the catalog's documents (see the module docstring),
    holding the project writer lock (re-entrant: a caller that holds it already keeps it).

    Args:
        wait: seconds to wait for the writer lock (default: setting lock.wait).
        on_progress: called with (documents done, documents to do).
        embed: turns a batch of chunk texts into their vectors, one row each (default: the
            embedder's own ``embed`` in this process; llmforge.cluster passes one that runs on a
            Ray cluster with the same embedder, so the index is the same either way).

    Raises:
        UsageError: a different embedder or chunk size than the index was built with (without
            ``reembed``), or an embedder that cannot be loaded.
        LockError: another process is writing to the project, still after ``wait`` seconds.
    """
    with project.writer_lock("structure", wait):
        return _structure(project, embedder=embedder, chunk_tokens=chunk_tokens, overlap=overlap, reembed=reembed,
                          on_progress=on_progress, embed=embed)


def _structure(project: Project, *, embedder: str | None, chunk_tokens: int | None, overlap: int | None,
               reembed: bool, on_progress: Callable[[int, int], None] | None,
               embed: Callable[[list[str]], Any] | None) -> StructureReport:
    options = StructureOptions.from_settings(project.settings, embedder=embedder,
                                             chunk_tokens=chunk_tokens, overlap=overlap)
    if options.chunk_tokens < 16:
        raise UsageError("chunk size must be at least 16 tokens")
    model = cached_embedder(options.embedder)
    index = project_index(project)
    index.clean_interrupted_writes()
    with project.catalog() as conn:
        meta = index_meta(conn)
        _check_compatible(meta, model, options, reembed)
        targets = [row[0] for row in conn.execute(LATEST_DOCUMENTS).fetchall()]
        done = {row[0] for row in conn.execute("SELECT document_id FROM structured_documents").fetchall()}
    if reembed:
        index.drop()
        done = set()
        with project.catalog() as conn, transaction(conn):
            for table in ("chunks", "entities", "structured_documents"):
                conn.execute(f"DELETE FROM {table}")
    stale = sorted(done - set(targets)) + sorted(_orphans(project, set(targets)))
    remove_documents(project, stale)
    todo = [doc for doc in targets if doc not in done]
    if todo:   # rows an interrupted run left of documents still to do (a column read: not for nothing)
        index.delete_documents(sorted(index.document_ids() & set(todo)))
    report = StructureReport(removed_documents=len(stale), embedder=model.name, dim=model.dim)
    _record_meta(project, model, options)
    for batch in _batches(project, todo, options.batch_chunks, model, options):
        _write_batch(project, index, model, batch, embed or model.embed)
        report.documents += len({chunk_doc for chunk_doc, _, _ in batch})
        report.chunks += sum(len(chunks) for _, chunks, _ in batch)
        report.entities += sum(len(entities) for _, _, entities in batch)
        if on_progress:
            on_progress(report.documents, len(todo))
    report.indexes = index.refresh_indexes(options.vector_index_min_rows, keep_versions(project))
    report.total_chunks = index.count()
    return report


def _orphans(project: Project, targets: set[str]) -> set[str]:
    """Documents with chunks but no structured mark (an interrupted delete) that are not wanted."""
    with project.catalog() as conn:
        chunked = {row[0] for row in conn.execute("SELECT DISTINCT document_id FROM chunks").fetchall()}
        marked = {row[0] for row in conn.execute("SELECT document_id FROM structured_documents").fetchall()}
    return chunked - marked - targets


def _record_meta(project: Project, model: Embedder, options: StructureOptions) -> None:
    with project.catalog() as conn:
        conn.execute("INSERT OR REPLACE INTO vector_index (name, embedder, embedder_version, dim, chunk_tokens, "
                     "overlap, updated_at) VALUES (?, ?, ?, ?, ?, ?, current_timestamp)",
                     [TABLE, model.name, model.version, model.dim, options.chunk_tokens, options.overlap])


Batch = list[tuple[str, list[Chunk], list[dict[str, Any]]]]


def _batches(project: Project, todo: list[str], batch_chunks: int, model: Embedder,
             options: StructureOptions) -> Iterator[Batch]:
    """Documents chunked and entity-tagged, grouped into batches of about ``batch_chunks`` chunks."""
    batch: Batch = []
    size = 0
    for document_id, pages in _pages_of(project, todo):
        chunks = chunk_pages(pages, model.count_tokens, options.chunk_tokens, options.overlap)
        batch.append((document_id, chunks, find_entities(document_id, pages, chunks)))
        size += len(chunks)
        if size >= batch_chunks:
            yield batch
            batch, size = [], 0
    if batch:
        yield batch


def _pages_of(project: Project, document_ids: list[str], group: int = 64) -> Iterator[tuple[str, list]]:
    """``(document_id, [(page_no, text), ...])`` read a group of documents per catalog connection
    (opening DuckDB costs ~25 ms, as much as chunking a small document)."""
    for start in range(0, len(document_ids), group):
        yield from page_texts(project, document_ids[start:start + group]).items()


def find_entities(document_id: str, pages: list[tuple[int, str]], chunks: list[Chunk]) -> list[dict[str, Any]]:
    """Entities of every page, each linked to the first chunk that covers it."""
    from llmforge.structure.entities import extract_entities

    import bisect

    starts = [(c.page_start, c.char_start) for c in chunks]  # chunks are in document order
    found = []
    for page_no, text in pages:
        for entity in extract_entities(text, detect_language(text)):
            position = bisect.bisect_right(starts, (page_no, entity.start)) - 1
            candidates = chunks[max(position - 3, 0):position + 1]  # overlap: a few may start before it
            chunk = next((c for c in candidates if (c.page_start, c.char_start) <= (page_no, entity.start)
                          and (page_no, entity.end) <= (c.page_end, c.char_end)), None)
            found.append({"document_id": document_id, "chunk_id": f"{document_id}:{chunk.seq}" if chunk else None,
                          "page_no": page_no, "start_char": entity.start, "end_char": entity.end,
                          "type": entity.type, "text": entity.text, "value": entity.value,
                          "confidence": entity.confidence})
    return found


def _write_batch(project: Project, index: ChunkIndex, model: Embedder, batch: Batch,
                 embed: Callable[[list[str]], Any]) -> None:
    chunks = [(document_id, chunk) for document_id, doc_chunks, _ in batch for chunk in doc_chunks]
    texts = [chunk.text for _, chunk in chunks]
    vectors = embed(texts) if chunks else []
    chunk_ids = [f"{document_id}:{chunk.seq}" for document_id, chunk in chunks]
    languages = [detect_language(text) for text in texts]
    document_ids = [document_id for document_id, _, _ in batch]
    if chunks:
        index.add({"chunk_id": chunk_ids, "document_id": [document_id for document_id, _ in chunks],
                   "seq": [chunk.seq for _, chunk in chunks],
                   "page_start": [chunk.page_start for _, chunk in chunks],
                   "page_end": [chunk.page_end for _, chunk in chunks], "text": texts, "text_en": texts,
                   "text_ar": [arabic_keywords(text) for text in texts], "language": languages},
                  np.asarray(vectors, dtype=np.float32))
    key = catalog_key(project)   # encrypted project: chunk text and headings are sealed in the catalog
    entities = [entity for _, _, doc_entities in batch for entity in doc_entities]
    with project.catalog() as conn, transaction(conn):
        _delete_catalog_rows(conn, document_ids)
        insert_columns(conn, "structured_documents", {"document_id": document_ids,
                                                      "chunks": [len(doc_chunks) for _, doc_chunks, _ in batch]})
        if chunks:
            insert_columns(conn, "chunks", _chunk_columns(key, chunks, chunk_ids, languages))
        if entities:
            insert_columns(conn, "entities", {column: [entity[column] for entity in entities] for column in entities[0]})
    log.info("structured %d documents: %d chunks", len(document_ids), len(chunks))


def _chunk_columns(key: bytes | None, chunks: list[tuple[str, Chunk]], chunk_ids: list[str],
                   languages: list[str]) -> dict[str, list[Any]]:
    """The chunks' catalog rows, column by column; with a key (an encrypted project) their text
    and headings sealed."""
    return {"id": chunk_ids, "document_id": [document_id for document_id, _ in chunks],
            "seq": [chunk.seq for _, chunk in chunks], "page_start": [chunk.page_start for _, chunk in chunks],
            "page_end": [chunk.page_end for _, chunk in chunks], "char_start": [chunk.char_start for _, chunk in chunks],
            "char_end": [chunk.char_end for _, chunk in chunks], "tokens": [chunk.tokens for _, chunk in chunks],
            "heading": [chunk.heading and seal_text(key, chunk.heading, f"{chunk_id}/heading")
                        for (_, chunk), chunk_id in zip(chunks, chunk_ids)],
            "language": languages,
            "text": [seal_text(key, chunk.text, chunk_id) for (_, chunk), chunk_id in zip(chunks, chunk_ids)]}


def _delete_catalog_rows(conn: Any, document_ids: list[str]) -> None:
    for table in ("chunks", "entities", "structured_documents"):
        conn.execute(f"DELETE FROM {table} WHERE document_id IN (SELECT unnest(?::VARCHAR[]))", [document_ids])


def remove_documents(project: Project, document_ids: list[str]) -> None:
    """Drop the chunks, entities and vectors of these documents (deleted or superseded)."""
    if not document_ids:
        return
    project_index(project).delete_documents(document_ids)
    with project.catalog() as conn, transaction(conn):
        _delete_catalog_rows(conn, document_ids)
