"""A bounded in-memory buffer that a background thread writes out in batches.

DuckDB admits one writing process at a time and CLI commands must keep working while the server
runs, so the server never writes a record per request: requests add to a buffer, and a thread
writes it every ``flush_seconds`` (or once ``flush_records`` wait) in one short transaction. When
the catalog is busy the batch waits for the next flush; the buffer is bounded and drops its oldest
records (counted, with a warning) rather than grow without limit. The usage recorder and the audit
recorder are the two users; each says how to write a batch.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from collections.abc import Callable
from typing import Generic, TypeVar

from llmforge.errors import CatalogError

log = logging.getLogger(__name__)
MAX_BUFFER = 100_000
Item = TypeVar("Item")


class BatchWriter(Generic[Item]):
    """Buffers items and hands them, oldest first, to ``write(batch, dropped)`` from a thread.

    ``write`` raises :class:`~llmforge.errors.CatalogError` or ``OSError`` to keep the batch for the
    next flush; ``dropped`` is how many items the full buffer lost since the last written batch.
    """

    def __init__(self, name: str, write: Callable[[list[Item], int], None], flush_seconds: float,
                 flush_records: int) -> None:
        self.name, self._write = name, write
        self.flush_seconds, self.flush_records = flush_seconds, flush_records
        self.max_buffer = MAX_BUFFER
        self._buffer: deque[Item] = deque()
        self._dropped = 0
        self._lock = threading.Lock()       # the buffer
        self._flushing = threading.Lock()   # one flush at a time: batches stay in order
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"{self.name}-flush", daemon=True)
        self._thread.start()

    def add(self, item: Item) -> None:
        with self._lock:
            if len(self._buffer) >= self.max_buffer:
                self._buffer.popleft()
                self._dropped += 1
                log.warning("%s buffer full: the catalog has been busy too long; dropping the oldest record",
                            self.name)
            self._buffer.append(item)
            if len(self._buffer) >= self.flush_records:
                self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(self.flush_seconds)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is buffered; when the writer refuses, keep it for the next try. Returns items written."""
        with self._flushing:
            with self._lock:
                batch, dropped = list(self._buffer), self._dropped
            if not batch and not dropped:
                return 0
            try:
                self._write(batch, dropped)
            except (CatalogError, OSError) as exc:
                log.warning("%s records kept for later: %s", self.name, exc)
                return 0
            with self._lock:
                for _ in range(min(len(batch), len(self._buffer))):
                    self._buffer.popleft()
                self._dropped -= dropped
            return len(batch)

    def close(self) -> None:
        """Stop the thread and write what is left."""
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(10)
        self.flush()
