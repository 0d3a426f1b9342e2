"""Run one extraction in a child process with a memory limit and a timeout.

Parsers meet hostile input here (zip and flate bombs, pathological PDFs); a child process is the
only boundary that contains a runaway C library: ``RLIMIT_AS`` caps its memory, the parent kills it
at the deadline, and a crash takes down only that document. Children come from a forkserver
(cheap to start, and safe beside the parent's threads).
"""

from __future__ import annotations

import multiprocessing
import os
import resource
import signal
import traceback
from collections.abc import Callable
from typing import Any

from llmforge.errors import IngestError

_PRELOAD = ["llmforge.ingest.extract", "llmforge.ingest.pdf", "llmforge.ingest.docx", "pypdf", "docx",
            "PIL.Image"]


def _context() -> multiprocessing.context.BaseContext:
    context = multiprocessing.get_context("forkserver")
    context.set_forkserver_preload(_PRELOAD)
    return context


def _child(conn: Any, func: Callable[..., Any], args: tuple[Any, ...], memory_mb: int) -> None:
    os.environ["OMP_THREAD_LIMIT"] = "1"  # parallelism comes from processes, not OpenMP threads
    if memory_mb > 0:
        limit = memory_mb * 1024 * 1024
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
    try:
        conn.send(("ok", func(*args)))
    except IngestError as exc:
        conn.send(("error", str(exc), ""))
    except MemoryError:
        conn.send(("error", f"ran out of memory (limit {memory_mb} MB, ingest.memory_mb)", ""))
    except Exception as exc:  # noqa: BLE001 — reported as this document's failure, not a crash
        conn.send(("error", f"{type(exc).__name__}: {exc}", traceback.format_exc()))
    finally:
        conn.close()


def run_isolated(func: Callable[..., Any], args: tuple[Any, ...], *, timeout: float,
                 memory_mb: int) -> Any:
    """``func(*args)`` in a child process; its return value, or :class:`IngestError`.

    Raises:
        IngestError: the function raised, ran out of memory, crashed or ran past ``timeout``.
    """
    context = _context()
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, func, args, memory_mb), daemon=True)
    process.start()
    sender.close()
    try:
        if not receiver.poll(timeout if timeout > 0 else None):
            raise IngestError(f"took longer than {timeout:g} s (ingest.timeout) and was stopped")
        message = receiver.recv()
    except EOFError:
        process.join(5)
        code = process.exitcode
        if code is not None and code < 0:
            name = signal.Signals(-code).name
            raise IngestError(f"extraction crashed ({name}); possibly out of memory "
                              f"(limit {memory_mb} MB, ingest.memory_mb)") from None
        raise IngestError(f"extraction worker exited unexpectedly (code {code})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
    if message[0] == "ok":
        return message[1]
    raise IngestError(message[1])
