"""``ingest`` and ``structure`` with their heavy work on a Ray cluster; the driver writes.

* Extraction and OCR: one Ray task per document, through the ``runner`` seam of
  :func:`~llmforge.ingest.pipeline.ingest_paths`. The task receives the file's bytes (a node needs
  none of the driver's paths), writes them to a private temporary file and extracts it in an
  :class:`~llmforge.ingest.worker.IsolatedWorker` on that node, so hostile input meets the same
  memory limit, timeout and crash containment as locally, and fails with the same one-line reason.
* Embedding: a pool of Ray actors, one per cluster CPU, each loading the embedder once for the whole
  run, through the ``embed`` seam of :func:`~llmforge.structure.pipeline.structure_project`. Each
  batch of chunks is split across the actors and put back in order. Not Ray Data's
  ``map_batches``: ``structure`` hands over one batch at a time, and a Ray Data pipeline per batch
  would start its actors (and load the model) again for every batch.

Everything else (hashing, skipping known content, the blob store, the catalog transactions, the
index writes) is the local code path itself, running in the driver.
"""

from __future__ import annotations

import math
import tempfile
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from llmforge.cluster.airgap import import_ray
from llmforge.cluster.nodes import check_reachable, split_address
from llmforge.errors import IngestError, UsageError
from llmforge.ingest.pipeline import IngestReport, ingest_paths
from llmforge.ingest.worker import IsolatedWorker
from llmforge.project import Project
from llmforge.structure.pipeline import StructureReport, structure_project

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


_NODE_WORKERS: dict[tuple[int, bool], IsolatedWorker] = {}


def _node_worker(memory_mb: int, offline: bool) -> IsolatedWorker:
    """One isolated extraction process per Ray worker process, reused from task to task."""
    key = (memory_mb, offline)
    if key not in _NODE_WORKERS:
        _NODE_WORKERS[key] = IsolatedWorker(memory_mb, offline)
    return _NODE_WORKERS[key]


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


def _materialise(arg: Any, folder: Path) -> Any:
    if not isinstance(arg, ShippedFile):
        return arg
    path = folder / arg.name
    path.write_bytes(arg.data)
    return path


class RayExtractionRunner:
    """An :class:`~llmforge.ingest.worker.ExtractionRunner` that runs each call as a Ray task.

    Every :class:`~pathlib.Path` argument travels as its bytes; the task's result comes back as
    the local worker's would, and its failure as the same :class:`IngestError`.
    """

    def __init__(self, ray: Any, memory_mb: int, offline: bool) -> None:
        self.ray = ray
        self.memory_mb = memory_mb
        self.offline = offline
        self._task = ray.remote(num_cpus=1, max_retries=1)(extract_on_node)

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        shipped = tuple(ShippedFile(arg.name, arg.read_bytes()) if isinstance(arg, Path) else arg for arg in args)
        ref = self._task.remote(func, shipped, timeout, self.memory_mb, self.offline)
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
    with connected(cluster_address(project, address)) as ray:
        return ingest_paths(project, paths, workers=workers or cluster_cpus(ray),
                            runner=lambda: RayExtractionRunner(ray, memory_mb, offline), **options)


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
