"""``ingest``: files in, documents and pages out, each document all-or-nothing.

For each file: check its size, hash it (streaming), skip it when the same content is already
ingested, extract it in an isolated worker process whose pages stream one at a time into the
extracted-text blob, store the original in the blob store, then write the document and its pages
to the catalog in one transaction. A run killed at any point leaves either a whole document or
none (at worst an orphan blob, which the next run reuses), so running it again finishes the job
without duplicates; a run stopped with Ctrl-C stores what it had finished and says what it had not.
"""

from __future__ import annotations

import fnmatch
import hashlib
import io
import json
import logging
import os
import queue
import signal
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmforge.catalog import insert_columns, transaction
from llmforge.errors import IngestError, UsageError
from llmforge.ingest.detect import Detected
from llmforge.ingest.extract import ExtractOptions, extract_file, extract_stream
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage
from llmforge.ingest.worker import ExtractionRunner, IsolatedWorker, stop_all
from llmforge.project import Project
from llmforge.text.normalize import search_form

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
    """What a run did: one outcome per file it finished, in the order the files were given.

    ``excluded`` counts the files a directory held that the include/exclude globs left out, by
    type (their extension, or their name when they have none); ``not_stored`` names the files an
    interrupted run had not finished (``interrupted``): running it again picks them up.
    """

    outcomes: list[FileOutcome]
    excluded: dict[str, int] = field(default_factory=dict)
    interrupted: bool = False
    not_stored: list[str] = field(default_factory=list)

    def count(self, status: str) -> int:
        return sum(outcome.status == status for outcome in self.outcomes)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ingested": self.count(INGESTED), "skipped": self.count(SKIPPED),
            "failed": self.count(FAILED), "excluded": self.excluded, "interrupted": self.interrupted,
            "not_stored": self.not_stored, "files": [asdict(o) for o in self.outcomes],
        }


class IngestInterrupted(KeyboardInterrupt):
    """Ctrl-C during :func:`ingest_paths`, raised once the documents finished before it are stored;
    ``report`` says what was stored and what was not. A KeyboardInterrupt still, so a script that
    does not look for it stops as it would have."""

    def __init__(self, report: IngestReport) -> None:
        super().__init__("ingest interrupted")
        self.report = report


@dataclass
class Collected:
    """The files a run takes, the paths it cannot look at, and the files the globs left out."""

    files: list[Path]
    problems: list[FileOutcome]
    excluded: dict[str, int]


def collect_files(paths: Iterable[Path], recursive: bool, include: Sequence[str] = (),
                  exclude: Sequence[str] = ()) -> Collected:
    """Files to ingest, in a stable order, and outcomes for paths that cannot be (missing, ...).

    The ``include`` and ``exclude`` globs (matched without regard to case, against a file's name
    and its path below the directory given) choose among the files found in directories: a file is
    taken when it matches an include glob, or none is given, and no exclude glob. A file named
    itself is always taken. Hidden files and folders are never taken from a directory.
    """
    files: list[Path] = []
    problems: list[FileOutcome] = []
    excluded: Counter[str] = Counter()
    for path in paths:
        path = Path(path).expanduser().absolute()
        if path.is_dir():
            if not recursive:
                raise UsageError(f"{path} is a directory; pass --recursive to ingest what it holds")
            for found in sorted(p for p in path.rglob("*") if p.is_file() and not _hidden(p, path)):
                if _chosen(found.relative_to(path).as_posix(), include, exclude):
                    files.append(found)
                else:
                    excluded[found.suffix.lower() or found.name] += 1
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
    return Collected(unique, problems, dict(sorted(excluded.items(), key=lambda item: (-item[1], item[0]))))


def _hidden(path: Path, root: Path) -> bool:
    return any(part.startswith(".") for part in path.relative_to(root).parts)


def _chosen(relative: str, include: Sequence[str], exclude: Sequence[str]) -> bool:
    def matches(globs: Sequence[str]) -> bool:
        names = (relative.lower(), relative.rsplit("/", 1)[-1].lower())
        return any(fnmatch.fnmatchcase(name, glob.lower()) for glob in globs for name in names)

    return (not include or matches(include)) and not matches(exclude)


def globs_setting(value: str) -> list[str]:
    """The globs of a comma-separated setting (ingest.include, ingest.exclude)."""
    return [glob.strip() for glob in value.split(",") if glob.strip()]


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
    """A document extracted and its blobs stored, waiting for its catalog transaction.

    ``pages`` are the pages without their text when ``texts`` is None: a document whose text is
    over :data:`CATALOG_TEXT_CHARS` keeps it in its text blob only (as an encrypted project keeps
    every document's), where :mod:`llmforge.textstore` reads it back, so neither this process nor
    the catalog transaction ever holds it whole.
    """

    path: Path
    sha256: str
    size: int
    kind: str
    mime: str
    metadata: dict[str, Any]
    notes: list[str]
    pages: list[ExtractedPage]
    chars: list[int]
    texts: list[str] | None
    text_sha256: str

    @property
    def catalog_chars(self) -> int:
        return sum(self.chars) if self.texts is not None else 0


class _Ingestor:
    """One run over a batch of files (the project writer lock is held by the caller).

    Worker threads hash, extract (each document in its own process, its pages streamed back one
    at a time into the text blob) and store blobs; the calling thread writes finished documents to
    the catalog in batches. Opening DuckDB costs ~20-30 ms, more than extracting a small document,
    so one transaction takes every document finished since the last one, up to
    :data:`BATCH_DOCUMENTS`, :data:`BATCH_SECONDS` or :data:`BATCH_CHARS` of text. Each document is
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
        self.stopping = threading.Event()
        self.workers: queue.SimpleQueue[ExtractionRunner] = queue.SimpleQueue()
        offline = bool(self.settings["offline.refuse_network"])
        memory_mb = int(self.settings["ingest.memory_mb"])
        runner = runner or (lambda: IsolatedWorker(memory_mb, offline))
        self._all_workers = [runner() for _ in range(workers)]
        for worker in self._all_workers:
            self.workers.put(worker)

    def stop(self) -> None:
        """Ctrl-C, from the calling thread: kill the extractions under way, start no more."""
        self.stopping.set()
        stop_all()

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
        detected, pages, text_sha256 = self._extract(path)
        stored = self.blobs.put_file(path)
        if stored.sha256 != sha256:
            raise IngestError("the file changed while it was being ingested; ingest it again once it is complete")
        return _Extracted(path, sha256, size, detected.kind, detected.mime, pages.metadata, pages.notes,
                          pages.pages, pages.chars, pages.texts, text_sha256)

    def _extract(self, path: Path) -> tuple[Detected, _PageSink, str]:
        """Extract ``path`` on a free runner, its pages streamed into the text blob (whose address
        comes back). The runner goes back as soon as the stream ends: the blob's fsync needs none."""
        worker = self.workers.get()
        released = False

        def release() -> None:
            nonlocal released
            if not released:
                released = True
                self.workers.put(worker)

        try:
            if self.stopping.is_set():
                raise IngestError("not extracted: the run was interrupted")
            with closing(_extraction(worker, path, self.options, float(self.settings["ingest.timeout"]))) as items:
                detected = next(items)
                pages = _PageSink(self.encrypted)
                text_blob = self.blobs.put_stream(_PiecesReader(pages.blob_json(items, release)))
        finally:
            release()
        return detected, pages, text_blob.sha256

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
        meta, path = item.metadata, str(item.path)
        languages = sorted({lang for page in item.pages for lang in page.language.split("+")
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
             len(item.pages), languages, item.text_sha256, item.notes,
             json.dumps(meta, ensure_ascii=False, default=str)])
        # Without texts (encrypted, or too large) the page text stays in the text blob only.
        texts = item.texts if item.texts is not None else [""] * len(item.pages)
        insert_columns(conn, "pages", {
            "document_id": [document_id] * len(item.pages), "page_no": [p.page_no for p in item.pages],
            "text": texts, "search_text": [search_form(text) for text in texts],
            "method": [p.method for p in item.pages], "ocr_confidence": [p.ocr_confidence for p in item.pages],
            "language": [p.language for p in item.pages], "deskew_angle": [p.deskew_angle for p in item.pages],
            "rotation": [p.rotation for p in item.pages], "chars": item.chars})
        return FileOutcome(path, INGESTED, document_id, version, len(item.pages), notes=item.notes)

    @staticmethod
    def _insert_failure(conn: Any, outcome: FileOutcome) -> None:
        """Keep one failed row per path, with the latest reason, so `documents list` shows it."""
        conn.execute("DELETE FROM documents WHERE source_path = ? AND status = 'failed'", [outcome.path])
        conn.execute("INSERT INTO documents (id, source_path, version, status, error, sha256, size) "
                     "VALUES (?, ?, 0, 'failed', ?, ?, ?)",
                     [uuid.uuid4().hex[:12], outcome.path, outcome.reason, outcome.sha256, outcome.size])


BATCH_DOCUMENTS = 16
BATCH_SECONDS = 2.0
BATCH_CHARS = 8_000_000            # page text in one catalog transaction (DuckDB holds it in memory)
CATALOG_TEXT_CHARS = 4_000_000     # a document with more text keeps it in its text blob only


def _extraction(runner: ExtractionRunner, path: Path, options: ExtractOptions,
                timeout: float) -> Iterator[Detected | ExtractedPage | ExtractedDocument]:
    """:func:`extract_stream`'s items for ``path`` from ``runner``: streamed where the runner can,
    else from its whole document (see :class:`ExtractionRunner`)."""
    stream = getattr(runner, "stream", None)
    if stream is not None:
        yield from stream(extract_stream, (path, options), timeout)
        return
    kind, mime, document = runner.run(extract_file, (path, options), timeout)
    yield Detected(kind, mime)
    yield from document.pages
    yield ExtractedDocument(pages=[], metadata=document.metadata, notes=document.notes)


class _PageSink:
    """Takes a document's pages as they stream in: writes each into the text blob's JSON, keeps
    what the catalog's page rows need, and the texts only while they stay small (never in an
    encrypted project)."""

    def __init__(self, encrypted: bool) -> None:
        self.pages: list[ExtractedPage] = []
        self.chars: list[int] = []
        self.total = 0
        self.texts: list[str] | None = None if encrypted else []
        self.metadata: dict[str, Any] = {}
        self.notes: list[str] = []

    def blob_json(self, items: Iterator[ExtractedPage | ExtractedDocument],
                  on_end: Callable[[], None]) -> Iterator[bytes]:
        """The text blob, ``{"pages": [...], "metadata": {...}}``, one page per line; ``on_end``
        is called once ``items`` is exhausted (the runner is free again)."""
        yield b'{"pages": ['
        separator = b"\n"
        for item in items:   # to its end: a stream left before it would stop the worker
            if isinstance(item, ExtractedDocument):
                self.metadata, self.notes = item.metadata, item.notes
                continue
            yield separator + _json(asdict(item))
            separator = b",\n"
            self._keep(item)
        on_end()
        yield b'\n], "metadata": ' + _json(self.metadata) + b"}"

    def _keep(self, page: ExtractedPage) -> None:
        self.chars.append(len(page.text))
        self.total += len(page.text)
        if self.texts is not None:
            self.texts.append(page.text)
            if self.total > CATALOG_TEXT_CHARS:
                self.texts = None
        page.text = ""
        self.pages.append(page)


def _json(value: Any) -> bytes:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, default=str).encode("utf-8")


class _PiecesReader(io.RawIOBase):
    """A readable binary stream over an iterator of byte strings (for BlobStore.put_stream)."""

    def __init__(self, pieces: Iterator[bytes]) -> None:
        self._pieces = pieces
        self._piece = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        while not self._piece:
            piece = next(self._pieces, None)
            if piece is None:
                return 0
            self._piece = memoryview(piece)
        size = min(len(buffer), len(self._piece))
        buffer[:size] = self._piece[:size]
        self._piece = self._piece[size:]
        return size


def ingest_paths(project: Project, paths: Iterable[Path], *, recursive: bool = False,
                 ocr: str | None = None, lang: str | None = None, password: str | None = None,
                 workers: int | None = None, wait: float | None = None,
                 include: Sequence[str] | None = None, exclude: Sequence[str] | None = None,
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
        include, exclude: globs choosing among the files found in directories (default: settings
            ingest.include and ingest.exclude); see :func:`collect_files`.
        on_file: called with each file's outcome once it is stored (or has failed or been
            skipped), e.g. to print it or advance a progress bar.
        runner: makes one extraction runner per worker thread (default: an isolated local
            process each; llmforge.cluster passes one that sends documents to a Ray cluster).

    Raises:
        UsageError: a directory without ``recursive``, or no files at all.
        LockError: another process is writing to the project, still after ``wait`` seconds.
        IngestInterrupted: Ctrl-C; the documents finished before it are stored, its ``report``
            says which.
    """
    collected = collect_files(paths, recursive, *file_globs(project, include, exclude))
    if not collected.files and not collected.problems:
        raise UsageError("nothing to ingest: no files found" + _excluded_hint(collected.excluded))
    with project.writer_lock("ingest", wait):
        return _ingest(project, collected, ocr=ocr, lang=lang, password=password, workers=workers,
                       on_file=on_file, runner=runner)


def file_globs(project: Project, include: Sequence[str] | None,
               exclude: Sequence[str] | None) -> tuple[list[str], list[str]]:
    """The include and exclude globs of a run: those given, else the settings'."""
    return (list(include) if include is not None else globs_setting(project.settings["ingest.include"]),
            list(exclude) if exclude is not None else globs_setting(project.settings["ingest.exclude"]))


def _excluded_hint(excluded: dict[str, int]) -> str:
    if not excluded:
        return ""
    return f" ({sum(excluded.values())} left out by the include/exclude globs: {describe_excluded(excluded)})"


def describe_excluded(excluded: dict[str, int]) -> str:
    """``"2 .py, 1 LICENSE"``: the files the globs left out, by type."""
    return ", ".join(f"{count} {kind}" for kind, count in excluded.items())


def _ingest(project: Project, collected: Collected, *, ocr: str | None, lang: str | None,
            password: str | None, workers: int | None, on_file: Callable[[FileOutcome], None] | None,
            runner: Callable[[], ExtractionRunner] | None) -> IngestReport:
    options = ExtractOptions.from_settings(project.settings, ocr_mode=ocr, lang=lang, password=password,
                                           easyocr_models=os.environ.get("LLMFORGE_EASYOCR_MODELS")
                                           or str(project.path("models") / "easyocr"))
    _clean_interrupted_writes(project)
    files = collected.files
    count = default_workers(workers if workers is not None else int(project.settings["ingest.workers"]))
    ingestor = _Ingestor(project, options, count, runner)
    order = {str(path): index for index, path in enumerate(files)}
    pending: list[FileOutcome | _Extracted] = list(collected.problems)
    done: list[FileOutcome] = []
    last_commit = time.monotonic()

    def commit() -> None:
        nonlocal last_commit
        with _interrupt_deferred():   # a batch is stored whole and reported, or not at all
            stored = ingestor.commit(pending)
            done.extend(stored)
            pending.clear()
            for outcome in stored:
                if on_file:
                    on_file(outcome)
        last_commit = time.monotonic()

    def report(interrupted: bool = False) -> IngestReport:
        done.sort(key=lambda outcome: order.get(outcome.path, -1))
        finished = {outcome.path for outcome in done}
        return IngestReport(done, collected.excluded, interrupted,
                            [str(path) for path in files if str(path) not in finished] if interrupted else [])

    # One thread more than runners: a file's hashing and original blob overlap another's extraction.
    pool = ThreadPoolExecutor(max_workers=count + 1)
    try:
        for future in as_completed([pool.submit(ingestor.process, path) for path in files]):
            pending.append(future.result())
            if len(pending) >= BATCH_DOCUMENTS or time.monotonic() - last_commit >= BATCH_SECONDS \
                    or sum(item.catalog_chars for item in pending if isinstance(item, _Extracted)) >= BATCH_CHARS:
                commit()
        commit()
    except KeyboardInterrupt:
        ingestor.stop()   # the documents being extracted end now; they are not stored
        pool.shutdown(wait=True, cancel_futures=True)
        commit()     # those finished before Ctrl-C are whole: keep them
        raise IngestInterrupted(report(interrupted=True)) from None
    finally:
        pool.shutdown(wait=True, cancel_futures=True)  # on an error: start no more files
        ingestor.close()
    return report()


@contextmanager
def _interrupt_deferred() -> Iterator[None]:
    """Hold a Ctrl-C back until the block is done (only where Python delivers it: the main thread
    with the default handler), so a batch is never stored without being reported as stored."""
    if threading.current_thread() is not threading.main_thread() \
            or signal.getsignal(signal.SIGINT) is not signal.default_int_handler:
        yield
        return
    caught: list[int] = []
    signal.signal(signal.SIGINT, lambda number, _frame: caught.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    if caught:
        raise KeyboardInterrupt


def _clean_interrupted_writes(project: Project) -> None:
    """Temporary files of a killed run (we hold the writer lock, so nobody else is writing)."""
    tmp = project.path("blobs") / "tmp"
    if tmp.is_dir():
        for leftover in tmp.iterdir():
            leftover.unlink(missing_ok=True)
