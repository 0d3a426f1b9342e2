"""Documents larger than one page of memory: pages stream from the worker to the text blob, a
large text file becomes pages, a large document keeps its text in its blob, and a run killed in
the middle of a large document leaves all of it or none."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from llmforge.documents import list_documents, show_document
from llmforge.errors import IngestError
from llmforge.ingest import pipeline, text
from llmforge.ingest.extract import ExtractOptions, extract_file, extract_stream
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage
from llmforge.ingest.pipeline import ingest_paths
from llmforge.ingest.worker import IsolatedWorker
from llmforge.textstore import page_texts

ARABIC = "يفحص المشغل المناوب جرعة الكلور كل أربع ساعات ويسجل القراءات في سجل المحطة."


def _paragraphs(count: int, start: int = 0) -> str:
    return "".join(f"Paragraph {n}: the operator reads gauge {n} at the pump station. {ARABIC}\n\n"
                   for n in range(start, start + count))


def _count_to(limit: int) -> object:
    yield from range(limit)


def _fail_after(items: int) -> object:
    yield from range(items)
    raise IngestError(f"broken after {items}")


def test_worker_streams_items_and_reports_a_failure_after_some() -> None:
    with IsolatedWorker(0) as worker:
        assert list(worker.stream(_count_to, (5,), timeout=60)) == [0, 1, 2, 3, 4]
        seen = []
        with pytest.raises(IngestError, match="broken after 2"):
            seen.extend(worker.stream(_fail_after, (2,), timeout=60))
        assert seen == [0, 1]
        # Abandoning a stream half-way stops that child; the next call gets a fresh one that works.
        stream = worker.stream(_count_to, (10**9,), timeout=60)
        assert next(stream) == 0
        stream.close()
        assert worker.run(sum, ([1, 2, 3],), timeout=60) == 6


def test_large_text_file_becomes_pages_cut_at_paragraphs(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(text, "PAGE_CHARS", 5000)
    path = tmp_path / "log.txt"
    content = "Station log\n\n" + _paragraphs(300)
    path.write_bytes(content.encode("utf-16"))
    detected, *pages, document = extract_stream(path, ExtractOptions())
    assert detected.kind == "text" and len(pages) >= 8
    assert [page.page_no for page in pages] == list(range(1, len(pages) + 1))
    assert all(page.text.endswith("المحطة.") for page in pages)   # never cut inside a paragraph
    assert " ".join(page.text for page in pages).count("Paragraph ") == 300
    assert document.metadata == {"title": "Station log", "encoding": "utf-16"}
    assert document.notes == ["encoding: utf-16"]


def test_encoding_is_chosen_on_the_whole_file_not_its_start(tmp_path: Path) -> None:
    """A byte that is not UTF-8 far past the first read still makes the file a legacy encoding."""
    path = tmp_path / "legacy.txt"
    path.write_bytes(("plain words " * 200_000).encode() + "café".encode("cp1252"))
    _, _, document = extract_file(path, ExtractOptions())
    assert document.metadata["encoding"] in ("cp1256", "cp1252")   # the start, all ASCII, cannot tell them apart
    assert "".join(page.text for page in document.pages).endswith("café")


class _InProcess:
    """A runner in this process, where a test's patches apply; it streams, as IsolatedWorker does."""

    def run(self, func, args, timeout):  # noqa: ANN001, ANN201
        return func(*args)

    def stream(self, func, args, timeout):  # noqa: ANN001, ANN201
        yield from func(*args)

    def close(self) -> None:
        pass


def test_large_document_keeps_its_text_in_the_blob_only(project, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(pipeline, "CATALOG_TEXT_CHARS", 20_000)
    monkeypatch.setattr(text, "PAGE_CHARS", 8000)
    small, large = tmp_path / "small.txt", tmp_path / "large.txt"
    small.write_text(_paragraphs(20), encoding="utf-8")
    large.write_text(_paragraphs(400, start=1000), encoding="utf-8")
    report = ingest_paths(project, [small, large], runner=_InProcess)
    assert report.count("ingested") == 2, report.to_dict()
    with project.catalog() as conn:
        rows = dict(conn.execute("SELECT d.source_path, sum(length(p.text)) FROM pages p JOIN documents d "
                                 "ON d.id = p.document_id GROUP BY d.source_path").fetchall())
    assert rows[str(small)] > 0 and rows[str(large)] == 0
    by_path = {row["source_path"]: row["id"] for row in list_documents(project)}
    pages = page_texts(project, [by_path[str(large)]])[by_path[str(large)]]
    assert len(pages) >= 6 and "".join(text for _, text in pages).count("Paragraph ") == 400
    shown = show_document(project, by_path[str(large)])
    assert shown["pages"][-1]["text"].startswith("Paragraph ")
    blob = json.loads(project.blobs().read_bytes(shown["text_sha256"]))
    assert blob["metadata"]["encoding"] == "utf-8" and len(blob["pages"]) == len(pages)


class _WholeDocuments:
    """A runner with ``run`` only, as a cluster's may be: documents come back whole."""

    def __init__(self) -> None:
        self.worker = IsolatedWorker(0)
        self.calls: list[str] = []

    def run(self, func, args, timeout):  # noqa: ANN001, ANN201
        self.calls.append(func.__name__)
        return self.worker.run(func, args, timeout)

    def close(self) -> None:
        self.worker.close()


def test_a_runner_without_stream_gets_whole_documents(project, tmp_path: Path) -> None:
    runners: list[_WholeDocuments] = []

    def make() -> _WholeDocuments:
        runners.append(_WholeDocuments())
        return runners[-1]

    path = tmp_path / "note.txt"
    path.write_text("Handover\n\n" + _paragraphs(3), encoding="utf-8")
    report = ingest_paths(project, [path], workers=1, runner=make)
    assert report.count("ingested") == 1 and runners[0].calls == ["extract_file"]
    shown = show_document(project, report.outcomes[0].document_id)
    assert shown["title"] == "Handover" and "Paragraph 2" in shown["pages"][0]["text"]


def test_pipeline_takes_pages_from_a_lazy_extractor(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """An extractor may yield its pages one by one and add notes while doing so (pdf.py may)."""
    from llmforge.ingest import extract

    def lazy(path: Path, options: ExtractOptions) -> ExtractedDocument:
        notes: list[str] = []

        def pages():  # noqa: ANN202
            for number in (1, 2, 3):
                yield ExtractedPage(page_no=number, text=f"Lazy page {number} about valves.", method="text")
            notes.append("read lazily")

        return ExtractedDocument(pages=pages(), metadata={"title": "Lazy"}, notes=notes)

    monkeypatch.setitem(extract.EXTRACTORS, "text", extract.Extractor("text", lazy, "lazy pages"))
    path = tmp_path / "lazy.txt"
    path.write_text("anything")
    report = ingest_paths(project, [path], runner=_InProcess)   # where the patched extractor is
    shown = show_document(project, report.outcomes[0].document_id)
    assert [page["text"] for page in shown["pages"]] == [f"Lazy page {n} about valves." for n in (1, 2, 3)]
    assert shown["notes"] == ["read lazily"]


def _written(folder: Path) -> int:
    try:
        return sum(part.stat().st_size for part in folder.iterdir())
    except OSError:   # not there yet, or a file renamed away while we looked
        return 0


def test_kill_9_in_the_middle_of_a_large_document_leaves_none_of_it(project, tmp_path: Path) -> None:
    """The worker streams pages for a while before the document's transaction; killed then, no
    page of it is in the catalog, and the next run stores it whole."""
    path = tmp_path / "big.txt"
    path.write_text(_paragraphs(20_000), encoding="utf-8")   # about 4 MB, 3 pages
    command = [sys.executable, "-m", "llmforge", "-p", str(project.root), "ingest", str(path), "--json"]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    tmp = project.root / "blobs" / "tmp"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and _written(tmp) < 1_000_000:
        time.sleep(0.01)   # the text blob holds a page or more: extraction is streaming
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert time.monotonic() < deadline, "the run never started writing"
    with project.catalog() as conn:
        assert conn.execute("SELECT count(*) FROM pages").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    rerun = subprocess.run(command, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    document_id = json.loads(rerun.stdout)["files"][0]["document_id"]
    pages = page_texts(project, [document_id])[document_id]
    assert "".join(text for _, text in pages).count("Paragraph ") == 20_000


class _CountingStarts(IsolatedWorker):
    started: list[int] = []

    def _start(self) -> None:
        super()._start()
        self.started.append(self._process.pid)


def test_one_worker_process_serves_every_document_of_a_run(project, tmp_path: Path) -> None:
    """A stream read to its end leaves the child ready for the next document (one left early
    would be killed and restarted: 30 ms and more per document)."""
    paths = []
    for index in range(4):
        paths.append(tmp_path / f"note{index}.txt")
        paths[-1].write_text(f"Note {index}: valve {index} was checked.\n\n" + _paragraphs(3, start=index))
    _CountingStarts.started = []
    report = ingest_paths(project, paths, workers=1, runner=lambda: _CountingStarts(0))
    assert report.count("ingested") == 4 and len(_CountingStarts.started) == 1
