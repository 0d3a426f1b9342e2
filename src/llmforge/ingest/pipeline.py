"""``ingest``: files in, documents and pages out, each document all-or-nothing.

For each file: check its size, hash it (streaming), skip it when the same content is already
ingested, extract it in an isolated worker process, store the original and the extracted text in
the blob store, then write the document and its pages to the catalog in one transaction. A run
killed at any point leaves either a whole document or none (at worst an orphan blob, which the
next run reuses), so running it again finishes the job without duplicates.
"""

from __future__ import annotations

import hashlib
import json
import logging
import multiprocessing
import os
import queue
import threading
import time
import uuid
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmforge.catalog import transaction
from llmforge.errors import IngestError, UsageError
from llmforge.ingest.extract import ExtractOptions, extract_file
from llmforge.ingest.pages import ExtractedDocument
from llmforge.text.normalize import search_form
from llmforge.ingest.worker import MAIN_GUARD, ExtractionRunner, IsolatedWorker
from llmforge.project import Project

log = logging.getLogger(__name__)
INGESTED, SKIPPED, FAILED = "ingested", "skipped", "failed"


@dataclass
class FileOutcome:
    path: str
    status: str                  # ingested | skipped | failed
    document_id: str | None = None
    version: int | None = None
    pages: int = 0
    reason: str = ""
    notes: list[str] = field(default_factory=list)
    sha256: str = ""
    size: int | None = None
    recorded: bool = True        # False: not a file we could look at (missing path, bad name)


@dataclass
class IngestReport:
    outcomes: list[FileOutcome]

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingested": self.count(INGESTED), "skipped": self.count(SKIPPED),
            "failed": self.count(FAILED), "files": [asdict(o) for o in self.outcomes],
        }


def collect_files(paths: Iterable[Path], recursive: bool) -> tuple[list[Path], list[FileOutcome]]:
    """Files to ingest, in a stable order, and outcomes for paths that cannot be (missing, ...)."""
    files: list[Path] = []
    problems: list[FileOutcome] = []
    for path in paths:
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            if not recursive:
                raise UsageError(f"{path} is a directory; pass --recursive to ingest what it holds")
            files.extend(sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)))
        elif path.is_file():
            files.append(path)
        elif path.exists():
            problems.append(FileOutcome(str(path), FAILED, reason="not a regular file", recorded=False))
        else:
            problems.append(FileOutcome(str(path), FAILED, reason="no such file", recorded=False))
    unique = []
    for path in dict.fromkeys(p.absolute() for p in files):
        try:
            str(path).encode("utf-8")
        except UnicodeEncodeError:
            shown = os.fsencode(path).decode("utf-8", "backslashreplace")
            problems.append(FileOutcome(shown, FAILED, reason="the file name is not valid UTF-8; rename it",
                                        recorded=False))
            continue
        unique.append(path)
    return unique, problems


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while piece := handle.read(1 << 20):
            digest.update(piece)
    return digest.hexdigest()


def default_workers(setting: int) -> int:
    return setting if setting > 0 else max(1, min(os.cpu_count() or 1, 4))


@dataclass
class _Extracted:
    """A document extracted and its blobs stored, waiting for its catalog transaction."""

    path: Path
    sha256: str
    size: int
    kind: str
    mime: str
    document: ExtractedDocument
    text_sha256: str


class _Ingestor:
    """One run over a batch of files (the project writer lock is held by the caller).

    Worker threads hash, extract (each document in its own process) and store blobs; the calling
    thread writes finished documents to the catalog in batches. Opening DuckDB costs ~20-30 ms,
    more than extracting a small document, so one transaction takes every document finished
    since the last one, up to :data:`BATCH_DOCUMENTS` or :data:`BATCH_SECONDS`. Each document is
    whole inside its batch, so a crash loses at most the uncommitted batch, never half a document.
    """

    def __init__(self, project: Project, options: ExtractOptions, workers: int,
                 runner: Callable[[], ExtractionRunner] | None = None) -> None:
        self.project = project
        self.options = options
        self.settings = project.settings
        self.blobs = project.blobs()
        self.encrypted = self.blobs.key is not None
        self.lock = threading.Lock()
        with project.catalog() as conn:
            self.known = dict(conn.execute(
                "SELECT sha256, any_value(id) FROM documents WHERE status = 'ingested' GROUP BY sha256").fetchall())
            self.latest = dict(conn.execute(  # content of each path's latest version
                "SELECT source_path, arg_max(sha256, version) FROM documents WHERE status = 'ingested' "
                "GROUP BY source_path").fetchall())
        self.claimed: set[str] = set()
        self.workers: queue.SimpleQueue[ExtractionRunner] = queue.SimpleQueue()
        offline = bool(self.settings["offline.refuse_network"])
        memory_mb = int(self.settings["ingest.memory_mb"])
        runner = runner or (lambda: IsolatedWorker(memory_mb, offline))
        self._all_workers = [runner() for _ in range(workers)]
        for worker in self._all_workers:
            self.workers.put(worker)

    def close(self) -> None:
        for worker in self._all_workers:
            worker.close()

    def process(self, path: Path) -> FileOutcome | _Extracted:
        """Everything but the catalog write; runs in a worker thread."""
        seen: dict[str, Any] = {}   # size and sha256, as far as they got, for the failure record
        try:
            return self._process(path, seen)
        except IngestError as exc:
            log.info("failed %s: %s", path, exc)
            return FileOutcome(str(path), FAILED, reason=str(exc), **seen)
        except OSError as exc:
            return FileOutcome(str(path), FAILED, reason=f"cannot read: {exc.strerror or exc}", **seen)
        except Exception as exc:  # noqa: BLE001 — one bad file must never stop the batch
            log.warning("failed %s", path, exc_info=True)
            return FileOutcome(str(path), FAILED, reason=f"{type(exc).__name__}: {exc}".splitlines()[0], **seen)

    def _process(self, path: Path, seen: dict[str, Any]) -> FileOutcome | _Extracted:
        size = seen["size"] = path.stat().st_size
        if size > self.options.max_file_mb * 1_000_000:
            raise IngestError(f"file of {size / 1e6:.1f} MB is over the limit of "
                              f"{self.options.max_file_mb:g} MB (ingest.max_file_mb)")
        sha256 = seen["sha256"] = file_sha256(path)
        reverted = self.latest.get(str(path), sha256) != sha256  # back to an earlier version's content
        with self.lock:
            if sha256 in self.known and not reverted:
                return FileOutcome(str(path), SKIPPED, document_id=self.known[sha256],
                                   reason="same content already ingested")
            if sha256 in self.claimed:
                return FileOutcome(str(path), SKIPPED, reason="same content as another file in this batch")
            self.claimed.add(sha256)
        worker = self.workers.get()
        try:
            kind, mime, extracted = worker.run(extract_file, (path, self.options),
                                               timeout=float(self.settings["ingest.timeout"]))
        finally:
            self.workers.put(worker)
        stored = self.blobs.put_file(path)
        if stored.sha256 != sha256:
            raise IngestError("the file changed while it was being ingested; ingest it again once it is complete")
        text_blob = self.blobs.put_bytes(_pages_json(extracted))
        return _Extracted(path, sha256, size, kind, mime, extracted, text_blob.sha256)

    def commit(self, batch: list[FileOutcome | _Extracted]) -> list[FileOutcome]:
        """Write a batch of finished files (documents and failures) in one transaction."""
        outcomes = []
        with self.project.catalog() as conn, transaction(conn):
            for item in batch:
                if isinstance(item, _Extracted):
                    outcomes.append(self._insert(conn, item))
                elif item.status == FAILED and item.recorded:
                    self._insert_failure(conn, item)
                    outcomes.append(item)
                else:
                    outcomes.append(item)
        for outcome in outcomes:
            if outcome.status == INGESTED:
                log.info("ingested %s as %s v%d (%d pages)", outcome.path, outcome.document_id,
                         outcome.version, outcome.pages)
        return outcomes

    def _insert(self, conn: Any, item: _Extracted) -> FileOutcome:
        document_id = uuid.uuid4().hex[:12]
        extracted, path = item.document, str(item.path)
        meta = extracted.metadata
        languages = sorted({lang for page in extracted.pages for lang in page.language.split("+")
                            if lang and lang != "und"})
        version = conn.execute("SELECT coalesce(max(version), 0) + 1 FROM documents "
                               "WHERE source_path = ? AND status = 'ingested'", [path]).fetchone()[0]
        conn.execute("DELETE FROM documents WHERE source_path = ? AND status = 'failed'", [path])
        conn.execute(
            "INSERT INTO documents (id, source_path, version, status, sha256, size, kind, mime, title, "
            "author, created, page_count, languages, text_sha256, notes, metadata) "
            "VALUES (?, ?, ?, 'ingested', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [document_id, path, version, item.sha256, item.size, item.kind, item.mime,
             meta.get("title") or item.path.stem, meta.get("author", ""), meta.get("created", ""),
             len(extracted.pages), languages, item.text_sha256, extracted.notes,
             json.dumps(meta, ensure_ascii=False, default=str)])
        # Encrypted: the page text stays in the sealed text blob only (llmforge.textstore reads it back).
        conn.executemany(
            "INSERT INTO pages (document_id, page_no, text, search_text, method, ocr_confidence, "
            "language, deskew_angle, rotation, chars) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [[document_id, p.page_no, "" if self.encrypted else p.text, "" if self.encrypted else search_form(p.text),
              p.method, p.ocr_confidence, p.language, p.deskew_angle, p.rotation, len(p.text)]
             for p in extracted.pages])
        return FileOutcome(path, INGESTED, document_id, version, len(extracted.pages), notes=extracted.notes)

    @staticmethod
    def _insert_failure(conn: Any, outcome: FileOutcome) -> None:
        """Keep one failed row per path, with the latest reason, so `documents list` shows it."""
        conn.execute("DELETE FROM documents WHERE source_path = ? AND status = 'failed'", [outcome.path])
        conn.execute("INSERT INTO documents (id, source_path, version, status, error, sha256, size) "
                     "VALUES (?, ?, 0, 'failed', ?, ?, ?)",
                     [uuid.uuid4().hex[:12], outcome.path, outcome.reason, outcome.sha256, outcome.size])


BATCH_DOCUMENTS = 16
BATCH_SECONDS = 2.0


def _pages_json(extracted: ExtractedDocument) -> bytes:
    pages = [asdict(page) for page in extracted.pages]
    return json.dumps({"pages": pages, "metadata": extracted.metadata}, ensure_ascii=False,
                      sort_keys=True, default=str).encode("utf-8")


def ingest_paths(project: Project, paths: Iterable[Path], *, recursive: bool = False,
                 ocr: str | None = None, lang: str | None = None, password: str | None = None,
                 workers: int | None = None, wait: float | None = None,
                 on_file: Callable[[FileOutcome], None] | None = None,
                 runner: Callable[[], ExtractionRunner] | None = None) -> IngestReport:
    """Ingest files and directories into ``project``; see the module docstring.

    Holds the project writer lock while it stores (re-entrant: a caller that holds it already,
    such as the server's upload job around ingest and structure, keeps it).

    Args:
        ocr: auto | always | never (default: setting ingest.ocr).
        lang: OCR language auto | ara | eng | ara+eng (default: setting ingest.lang).
        password: for encrypted PDFs.
        workers: documents extracted in parallel (default: setting ingest.workers).
        wait: seconds to wait for the writer lock (default: setting lock.wait).
        on_file: called after each file, e.g. to advance a progress bar.
        runner: makes one extraction runner per worker thread (default: an isolated local
            process each; llmforge.cluster passes one that sends documents to a Ray cluster).

    Raises:
        UsageError: a directory without ``recursive``, or no files at all.
        LockError: another process is writing to the project, still after ``wait`` seconds.
    """
    if getattr(multiprocessing.current_process(), "_inheriting", False):
        raise UsageError(f"ingest_paths was called while a worker process was starting: {MAIN_GUARD}")
    files, outcomes = collect_files(paths, recursive)
    if not files and not outcomes:
        raise UsageError("nothing to ingest: no files found")
    with project.writer_lock("ingest", wait):
        return _ingest(project, files, outcomes, ocr=ocr, lang=lang, password=password, workers=workers,
                       on_file=on_file, runner=runner)


def _ingest(project: Project, files: list[Path], outcomes: list[FileOutcome], *, ocr: str | None,
            lang: str | None, password: str | None, workers: int | None,
            on_file: Callable[[FileOutcome], None] | None,
            runner: Callable[[], ExtractionRunner] | None) -> IngestReport:
    options = ExtractOptions.from_settings(project.settings, ocr_mode=ocr, lang=lang, password=password,
                                           easyocr_models=os.environ.get("LLMFORGE_EASYOCR_MODELS")
                                           or str(project.path("models") / "easyocr"))
    _clean_interrupted_writes(project)
    count = default_workers(workers if workers is not None else int(project.settings["ingest.workers"]))
    ingestor = _Ingestor(project, options, count, runner)
    order = {str(path): index for index, path in enumerate(files)}
    pending: list[FileOutcome | _Extracted] = list(outcomes)
    done: list[FileOutcome] = []
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        done.extend(ingestor.commit(pending))
        pending.clear()
        last_commit = time.monotonic()

    pool = ThreadPoolExecutor(max_workers=count)
    try:
        for future in as_completed([pool.submit(ingestor.process, path) for path in files]):
            pending.append(future.result())
            if on_file:
                on_file(_as_outcome(pending[-1]))
            if len(pending) >= BATCH_DOCUMENTS or time.monotonic() - last_commit >= BATCH_SECONDS:
                commit()
        commit()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error or Ctrl-C: start no more files
        ingestor.close()
    done.sort(key=lambda outcome: order.get(outcome.path, -1))
    return IngestReport(done)


def _as_outcome(item: FileOutcome | _Extracted) -> FileOutcome:
    if isinstance(item, FileOutcome):
        return item
    return FileOutcome(str(item.path), INGESTED, pages=len(item.document.pages))


def _clean_interrupted_writes(project: Project) -> None:
    """Temporary files of a killed run (we hold the writer lock, so nobody else is writing)."""
    tmp = project.path("blobs") / "tmp"
    if tmp.is_dir():
        for leftover in tmp.iterdir():
            leftover.unlink(missing_ok=True)
