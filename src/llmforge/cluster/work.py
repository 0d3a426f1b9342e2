"""``ingest`` and ``structure`` with their heavy work on a Ray cluster; the driver writes.

* Extraction and OCR: one Ray task per document, through the ``runner`` seam of
  :func:`~llmforge.ingest.pipeline.ingest_paths`. The task receives the file's bytes (a node needs
  none of the driver's paths), writes them to a private temporary file and extracts it in an
  :class:`~llmforge.ingest.worker.IsolatedWorker` on that node, so hostile input meets the same
  memory limit, timeout and crash containment as locally, and fails with the same one-line reason.
  A PDF of more pages than ``cluster.pages_per_task`` is extracted in parts, one task per range of
  pages, its bytes put once in Ray's object store for all of them; the parts are merged in page
  order into the document a local run gives (:func:`merged`).
* Embedding: a pool of Ray actors, one per cluster CPU, each loading the embedder once for the whole
  run, through the ``embed`` seam of :func:`~llmforge.structure.pipeline.structure_project`. Each
  batch of chunks is split across the actors and put back in order. Not Ray Data's
  ``map_batches``: ``structure`` hands over one batch at a time, and a Ray Data pipeline per batch
  would start its actors (and load the model) again for every batch.

Everything else (hashing, skipping known content, the blob store, the catalog transactions, the
index writes) is the local code path itself, running in the driver.
"""

from __future__ import annotations

import functools
import math
import tempfile
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np

from llmforge.cluster.airgap import import_ray
from llmforge.cluster.nodes import check_reachable, split_address
from llmforge.errors import IngestError, UsageError
from llmforge.ingest.detect import PDF, detect
from llmforge.ingest.extract import ExtractOptions, extract_file
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage
from llmforge.ingest.pdf import ocr_note, open_pdf
from llmforge.ingest.pipeline import IngestReport, ingest_paths
from llmforge.ingest.worker import IsolatedWorker
from llmforge.project import Project
from llmforge.structure.pipeline import StructureReport, structure_project
from llmforge.text.language import script_letters

# Beyond the document's own timeout, how long the driver waits for a task whose node went quiet.
LOST_TASK_GRACE_SECONDS = 60.0


def cluster_address(project: Project, address: str | None) -> str:
    """The address given, else the ``cluster.address`` setting."""
    chosen = address or str(project.settings["cluster.address"])
    if not chosen:
        raise UsageError("no Ray cluster address: pass --cluster HOST:PORT or set cluster.address")
    return chosen


@contextmanager
def connected(address: str) -> Iterator[Any]:
    """``ray`` connected to the cluster at ``address`` as a driver, disconnected afterwards.

    The driver must run on one of the cluster's machines (the head, or one that ran
    ``llmforge cluster join``): it talks to the Ray node there.
    """
    host, port = split_address(address)
    check_reachable(host, port)
    ray = import_ray()
    options: dict[str, Any] = {"address": f"{host}:{port}", "log_to_driver": False, "configure_logging": False}
    if host.startswith("127."):
        options["_node_ip_address"] = host   # a local cluster's node: Ray would look on 127.0.0.1
    try:
        ray.init(**options)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        raise UsageError(f"cannot join the Ray cluster at {address} as a driver: {str(exc).splitlines()[0]}") from None
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


# --- extraction ----------------------------------------------------------------------------------

@dataclass(frozen=True)
class ShippedFile:
    """A file's name and bytes, sent with a task in place of the driver's path."""

    name: str
    data: bytes


@functools.cache
def _node_worker(memory_mb: int, offline: bool) -> IsolatedWorker:
    """One isolated extraction process per Ray worker process, reused from task to task."""
    return IsolatedWorker(memory_mb, offline)


def extract_on_node(func: Callable[..., Any], args: tuple[Any, ...], timeout: float, memory_mb: int,
                    offline: bool) -> tuple[str, Any]:
    """The body of the Ray task: ``("ok", result)`` or ``("error", reason)``, never an exception
    (a document's failure is data for the driver, not a reason for Ray to retry)."""
    with tempfile.TemporaryDirectory(prefix="llmforge-task-") as folder:
        local_args = tuple(_materialise(arg, Path(folder)) for arg in args)
        try:
            return "ok", _node_worker(memory_mb, offline).run(func, local_args, timeout)
        except IngestError as exc:
            return "error", str(exc)


def extract_shipped_on_node(shipped: ShippedFile, func: Callable[..., Any], args: tuple[Any, ...],
                            timeout: float, memory_mb: int, offline: bool) -> tuple[str, Any]:
    """:func:`extract_on_node` of ``func(file, *args)``. The file is an argument of its own so that
    Ray resolves it from the object store: all the tasks of one document share one copy."""
    return extract_on_node(func, (shipped, *args), timeout, memory_mb, offline)


def _materialise(arg: Any, folder: Path) -> Any:
    if not isinstance(arg, ShippedFile):
        return arg
    path = folder / arg.name
    path.write_bytes(arg.data)
    return path


Part = tuple[str, str, ExtractedDocument]   # extract_file's (kind, mime, document)


def pdf_page_count(path: Path, options: ExtractOptions) -> int:
    """The pages of a PDF that may be extracted in parts; 0 for another kind of file, or for one
    the whole-document task should refuse with its own reason (unreadable, encrypted, too long)."""
    try:
        if detect(path).kind != PDF:
            return 0
        document = open_pdf(path, options.password)
    except IngestError:
        return 0
    try:
        count = len(document)
    finally:
        document.close()
    return count if count <= options.max_pages else 0


def page_ranges(count: int, per_part: int) -> list[tuple[int, int]]:
    """``(first, last)`` of each part of a ``count``-page document, ``per_part`` pages each."""
    return [(first, min(first + per_part, count)) for first in range(0, count, per_part)]


def merged(ranges: Sequence[tuple[int, int]], parts: Sequence[Part],
           rerun: Callable[[tuple[int, int], int], Part]) -> Part:
    """The parts of one PDF, each extracted from ``arabic_before=0``, as the single document a
    whole extraction gives: pages in order, the first part's metadata and notes, and the OCR note
    counted over all pages.

    A page's reading depends on whether the two pages before it were mostly Arabic (a text layer
    without one Arabic letter there is checked against OCR), which a part cannot know. So a part
    that follows Arabic pages is extracted again (``rerun(range, arabic_before)``) when one of its
    first two pages kept a text layer without Arabic letters, the only pages that context can change.
    """
    fixed: list[Part] = []
    context = 0   # how many pages before the current part were mostly Arabic
    for (first, last), part in zip(ranges, parts):
        if context and any(_context_may_matter(page) for page in list(part[2].pages)[:2]):
            part = rerun((first, last), context)
        run = part[2].metadata["arabic_run"]
        context = run + context if run == last - first else run
        fixed.append(part)
    kind, mime, head = fixed[0]
    pages = [page for _, _, document in fixed for page in document.pages]
    metadata = {key: value for key, value in head.metadata.items() if key != "arabic_run"}
    note = ocr_note(pages, metadata["page_count"])
    return kind, mime, ExtractedDocument(pages=pages, metadata=metadata, notes=[*head.notes, *([note] if note else [])])


def _context_may_matter(page: ExtractedPage) -> bool:
    return page.method == "text-layer" and script_letters(page.text)[0] == 0


class RayExtractionRunner:
    """An :class:`~llmforge.ingest.worker.ExtractionRunner` that runs each call as a Ray task.

    Every :class:`~pathlib.Path` argument travels as its bytes; the task's result comes back as
    the local worker's would, and its failure as the same :class:`IngestError`. With
    ``pages_per_task``, :func:`extract_file` of a longer PDF runs as one task per range of pages.
    """

    def __init__(self, ray: Any, memory_mb: int, offline: bool, pages_per_task: int = 0) -> None:
        self.ray = ray
        self.memory_mb = memory_mb
        self.offline = offline
        self.pages_per_task = pages_per_task
        self.tasks = 0   # sent so far (benches and tests count them)
        self._task = ray.remote(num_cpus=1, max_retries=1)(extract_on_node)
        self._file_task = ray.remote(num_cpus=1, max_retries=1)(extract_shipped_on_node)

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        if func is extract_file and self.pages_per_task:
            return self._extract_in_parts(*args, timeout)
        shipped = tuple(ShippedFile(arg.name, arg.read_bytes()) if isinstance(arg, Path) else arg for arg in args)
        self.tasks += 1
        return self._result(self._task.remote(func, shipped, timeout, self.memory_mb, self.offline), timeout)

    def _extract_in_parts(self, path: Path, options: ExtractOptions, timeout: float) -> Part:
        """``extract_file(path, options)``: one task asks how many pages the file has, then either
        one task extracts it whole or one task per range of pages does, from one shared copy."""
        shipped = self.ray.put(ShippedFile(path.name, path.read_bytes()))

        def submit(func: Callable[..., Any], part: ExtractOptions | None = None) -> Any:
            self.tasks += 1
            return self._file_task.remote(shipped, func, (part or options,), timeout, self.memory_mb, self.offline)

        count = self._result(submit(pdf_page_count), timeout)
        if count <= self.pages_per_task:
            return self._result(submit(extract_file), timeout)
        ranges = page_ranges(count, self.pages_per_task)
        refs = [submit(extract_file, replace(options, pages=pages)) for pages in ranges]
        parts = []
        for number, ref in enumerate(refs):   # the first failure in page order, as a local run meets it
            try:
                parts.append(self._result(ref, timeout))
            except IngestError:
                for rest in refs[number + 1:]:
                    self.ray.cancel(rest)
                raise
        return merged(ranges, parts, lambda pages, context: self._result(
            submit(extract_file, replace(options, pages=pages, arabic_before=context)), timeout))

    def _result(self, ref: Any, timeout: float) -> Any:
        """The value of the task ``ref``, or its failure as an :class:`IngestError`."""
        wait = timeout + LOST_TASK_GRACE_SECONDS if timeout > 0 else None
        try:
            status, value = self.ray.get(ref, timeout=wait)
        except self.ray.exceptions.GetTimeoutError:
            self.ray.cancel(ref, force=True)
            raise IngestError(f"the cluster did not answer within {wait:g} s; the node may be lost") from None
        except self.ray.exceptions.RayError as exc:
            raise IngestError(f"the cluster lost this document's task ({type(exc).__name__}); ingest it again")\
                from None
        if status != "ok":
            raise IngestError(value)
        return value

    def close(self) -> None:
        """Nothing to release: the node-side workers belong to Ray's worker processes."""


def cluster_ingest(project: Project, paths: Iterable[Path], address: str | None = None, *,
                   workers: int | None = None, **options: Any) -> IngestReport:
    """:func:`~llmforge.ingest.pipeline.ingest_paths` with extraction and OCR on the Ray cluster at
    ``address`` (default: setting ``cluster.address``); ``workers`` documents in flight (default:
    the cluster's CPUs). The other options are ``ingest_paths``'s.

    Raises:
        UsageError: Ray missing, no address, or a cluster that cannot be reached; and whatever
            ``ingest_paths`` raises.
    """
    memory_mb = int(project.settings["ingest.memory_mb"])
    offline = bool(project.settings["offline.refuse_network"])
    per_task = int(project.settings["cluster.pages_per_task"])
    with connected(cluster_address(project, address)) as ray:
        return ingest_paths(project, paths, workers=workers or cluster_cpus(ray),
                            runner=lambda: RayExtractionRunner(ray, memory_mb, offline, per_task), **options)


# --- embedding -----------------------------------------------------------------------------------

class EmbedderActor:
    """Holds one loaded embedder on a node; the body of each Ray actor of the pool."""

    def __init__(self, name: str, offline: bool) -> None:
        from llmforge.offline import refuse_outbound_connections, set_offline_env
        from llmforge.structure.embedders import cached_embedder

        set_offline_env()
        if offline:
            refuse_outbound_connections()
        self.model = cached_embedder(name)

    def embed(self, texts: list[str]) -> np.ndarray:
        return np.asarray(self.model.embed(texts), dtype=np.float32)


class EmbedderPool:
    """``size`` actors holding the embedder; calling the pool embeds a batch across them, in order."""

    def __init__(self, ray: Any, name: str, size: int, offline: bool) -> None:
        self.ray = ray
        actor = ray.remote(num_cpus=1)(EmbedderActor)
        self.actors = [actor.remote(name, offline) for _ in range(size)]

    def __call__(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        share = math.ceil(len(texts) / len(self.actors))
        parts = [texts[start:start + share] for start in range(0, len(texts), share)]
        try:
            return np.concatenate(self.ray.get([actor.embed.remote(part) for actor, part in zip(self.actors, parts)]))
        except self.ray.exceptions.RayError as exc:
            raise UsageError(f"embedding on the cluster failed: {str(exc).splitlines()[0]}") from None

    def close(self) -> None:
        for actor in self.actors:
            self.ray.kill(actor)


def cluster_structure(project: Project, address: str | None = None, *, embedder: str | None = None,
                      **options: Any) -> StructureReport:
    """:func:`~llmforge.structure.pipeline.structure_project` with the embedding on the Ray cluster
    at ``address`` (default: setting ``cluster.address``), one actor per cluster CPU.

    Raises:
        UsageError: Ray missing, no address, a cluster that cannot be reached, or an embedder that
            fails to load on a node; and whatever ``structure_project`` raises.
    """
    name = embedder or str(project.settings["structure.embedder"])
    offline = bool(project.settings["offline.refuse_network"])
    with connected(cluster_address(project, address)) as ray:
        pool = EmbedderPool(ray, name, cluster_cpus(ray), offline)
        try:
            return structure_project(project, embedder=embedder, embed=pool, **options)
        finally:
            pool.close()
