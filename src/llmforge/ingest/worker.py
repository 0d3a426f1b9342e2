"""Run extractions in child processes with a memory limit and a timeout.

Parsers meet hostile input here (zip and flate bombs, pathological PDFs); a child process is the
only boundary that contains a runaway C library: ``RLIMIT_AS`` caps its memory, the parent kills it
at the deadline, and a crash takes down only that document. Children come from a forkserver
(cheap to start, and safe beside the parent's threads) and are reused from document to document
(starting one costs ~30 ms, more than extracting a small file); one that timed out, crashed or ran
out of memory is replaced by a fresh one.

A document larger than memory is never whole in either process: :meth:`IsolatedWorker.stream`
runs a generator in the child and hands its items (pages) to the parent one at a time, through a
pipe whose small buffer holds the child back until the parent has taken the previous one.
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import sys
import time
import traceback
import types
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from multiprocessing import forkserver
from typing import Any, Protocol

from llmforge.errors import IngestError

_PRELOAD = ["llmforge.ingest.extract", "llmforge.ingest.pdf", "llmforge.ingest.docx", "pypdf", "docx",
            "PIL.Image"]


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


@contextmanager
def _without_main_module() -> Iterator[None]:
    """Start children without the parent's ``__main__``.

    Python's multiprocessing imports the calling script again in every child it starts (as
    ``__mp_main__``): the CLI's entry script or a benchmark cost 0.3-0.5 s of imports (typer,
    DuckDB...) per worker started, and a script calling ingest_paths at top level without an
    ``if __name__ == "__main__":`` guard ingested again inside every worker. A child here only
    runs functions importable from their own modules, so it needs nothing from the script. The
    swap lasts while the forkserver forks the child (milliseconds: it is started before).
    """
    main = sys.modules["__main__"]
    sys.modules["__main__"] = types.ModuleType("__main__")
    try:
        yield
    finally:
        sys.modules["__main__"] = main


def _serve(conn: Any, memory_mb: int, offline: bool) -> None:
    """The child: run tasks until the parent hangs up; exit after running out of memory."""
    os.setsid()  # its own process group, so a timeout kills Tesseract and friends with it
    os.environ["OMP_THREAD_LIMIT"] = "1"  # parallelism comes from processes, not OpenMP threads
    if offline:  # untrusted parsers run here: the air-gap guard applies in the child too
        from llmforge.offline import refuse_outbound_connections, set_offline_env

        set_offline_env()
        refuse_outbound_connections()
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    while True:
        try:
            func, args, streamed = conn.recv()
        except (EOFError, OSError):
            return
        try:
            if streamed:
                for item in func(*args):
                    conn.send(("item", item))
                conn.send(("ok", None))
            else:
                conn.send(("ok", func(*args)))
        except IngestError as exc:
            conn.send(("error", str(exc)))
        except MemoryError:
            conn.send(("fatal", f"ran out of memory (limit {memory_mb} MB, ingest.memory_mb)"))
            return
        except Exception as exc:  # noqa: BLE001 — reported as this document's failure, not a crash
            conn.send(("error", f"{type(exc).__name__}: {exc}\n{traceback.format_exc()}".split("\n")[0]))


class ExtractionRunner(Protocol):
    """Where one document is extracted: :class:`IsolatedWorker` here, or a task on a cluster.

    ``run`` calls ``func(*args)`` somewhere contained and returns its result, raising
    :class:`IngestError` for a document that failed (timeout, memory, crash). One runner serves one
    thread at a time; ``close`` releases what it holds.

    A runner may also offer ``stream(func, args, timeout)``, as :class:`IsolatedWorker` does: the
    same for a generator function, yielding its items as they come. The pipeline streams pages
    through it where it exists, and otherwise calls ``run(extract_file, (path, options), timeout)``
    and gets each document whole.
    """

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any: ...

    def close(self) -> None: ...


_LIVE: set[int] = set()   # the children alive, each the leader of its own process group


def stop_all() -> None:
    """Kill every extraction child of this process and what each started, from any thread (on
    Ctrl-C: the threads waiting on them see them gone and end now, not after the document)."""
    for group in list(_LIVE):
        try:
            os.killpg(group, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


def _deadline(timeout: float) -> float | None:
    return time.monotonic() + timeout if timeout > 0 else None


class IsolatedWorker:
    """One reusable child process. Not thread-safe: give each thread its own."""

    def __init__(self, memory_mb: int, offline: bool = True) -> None:
        self.memory_mb = memory_mb
        self.offline = offline
        self._process: Any = None
        self._conn: Any = None

    def _start(self) -> None:
        context = _context()
        self._conn, child_end = context.Pipe()
        self._process = context.Process(target=_serve, args=(child_end, self.memory_mb, self.offline), daemon=True)
        forkserver.ensure_running()   # a second or so the first time: not inside the swap below
        with _without_main_module():
            self._process.start()
        _LIVE.add(self._process.pid)
        child_end.close()

    def run(self, func: Callable[..., Any], args: tuple[Any, ...], timeout: float) -> Any:
        """``func(*args)`` in the child; its return value.

        Raises:
            IngestError: the function raised, ran out of memory, crashed or ran past ``timeout``.
        """
        self._send(func, args, streamed=False)
        return self._receive(_deadline(timeout), timeout)[1]

    def stream(self, func: Callable[..., Iterator[Any]], args: tuple[Any, ...], timeout: float) -> Iterator[Any]:
        """The items of the generator ``func(*args)`` run in the child, as it yields them.

        Leaving the loop early stops the child (it would otherwise wait to hand over its next item).

        Raises:
            IngestError: as :meth:`run`, ``timeout`` counting the whole stream.
        """
        self._send(func, args, streamed=True)
        deadline = _deadline(timeout)
        settled = False   # the child finished, reported an error or is gone: nothing to stop
        try:
            while True:
                try:
                    status, value = self._receive(deadline, timeout)
                except IngestError:
                    settled = True
                    raise
                if status == "ok":
                    settled = True
                    return
                yield value
        finally:
            if not settled:
                self.close()

    def _send(self, func: Callable[..., Any], args: tuple[Any, ...], streamed: bool) -> None:
        if self._process is None or not self._process.is_alive():
            self._start()
        try:
            self._conn.send((func, args, streamed))
        except (BrokenPipeError, ConnectionResetError):
            raise IngestError(self._death_reason()) from None

    def _receive(self, deadline: float | None, timeout: float) -> tuple[str, Any]:
        """The child's next message: ``("item", x)`` or ``("ok", result)``; raises for the others."""
        try:
            if not self._conn.poll(None if deadline is None else max(0.0, deadline - time.monotonic())):
                self.close()
                raise IngestError(f"took longer than {timeout:g} s (ingest.timeout) and was stopped")
            status, value = self._conn.recv()
        except (EOFError, BrokenPipeError, ConnectionResetError):
            raise IngestError(self._death_reason()) from None
        if status in ("ok", "item"):
            return status, value
        if status == "fatal":
            self.close()
        raise IngestError(value)

    def _death_reason(self) -> str:
        self._process.join(5)
        code = self._process.exitcode
        self.close()
        if code is not None and code < 0:
            return (f"extraction crashed ({signal.Signals(-code).name}); possibly out of memory "
                    f"(limit {self.memory_mb} MB, ingest.memory_mb)")
        return f"extraction worker exited unexpectedly (code {code})"

    def close(self) -> None:
        process, conn = self._process, self._conn
        self._process = self._conn = None
        if process is None:
            return
        if process.pid is not None:
            _LIVE.discard(process.pid)
            try:
                os.killpg(process.pid, signal.SIGKILL)  # the worker and whatever it started
            except (ProcessLookupError, PermissionError):
                pass
            process.join(5)
        if conn is not None:
            conn.close()

    def __enter__(self) -> IsolatedWorker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

