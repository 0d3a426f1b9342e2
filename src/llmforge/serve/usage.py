"""Usage records: one per request, written to the catalog in batches.

DuckDB admits one writing process at a time, and CLI commands must keep working while the server
runs, so requests never write to the catalog themselves: they append to an in-memory buffer that
a background thread flushes every ``FLUSH_SECONDS`` (or ``FLUSH_RECORDS`` records) in one short
transaction. If the catalog is busy the batch waits for the next flush; the buffer is bounded
and drops its oldest records (with a warning) rather than grow without limit. A server on a
read-only project (a replica) records no usage rows; its ``/metrics`` still count requests and
tokens, and its audit file every request.
"""

from __future__ import annotations

import logging
import threading
from collections import deque
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from typing import Any

from llmforge.catalog import transaction
from llmforge.errors import CatalogError
from llmforge.project import Project

log = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0
FLUSH_RECORDS = 200
MAX_BUFFER = 100_000
GROUPS = {"key": "key_prefix", "caller": "caller", "user": "caller", "agent": "model", "model": "model", "route": "route",
          "day": "date_trunc('day', ts)"}   # caller: the user's name (a key's requests count as its owner's)
_COLUMNS = "ts, caller, method, route, model, prompt_tokens, completion_tokens, latency_ms, status, key_prefix"


@dataclass(frozen=True)
class UsageRecord:
    ts: datetime
    caller: str
    method: str
    route: str
    model: str | None
    prompt_tokens: int
    completion_tokens: int
    latency_ms: float
    status: int
    key_prefix: str | None = None


class UsageRecorder:
    """Buffers usage records and flushes them from a background thread."""

    def __init__(self, project: Project) -> None:
        self.project = project
        self.enabled = not project.read_only   # a replica keeps no usage rows: its metrics count requests
        self._buffer: deque[UsageRecord] = deque()
        self._lock = threading.Lock()
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="usage-flush", daemon=True)
        self._thread.start()

    def record(self, caller: str, method: str, route: str, status: int, latency_ms: float,
               model: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
               key_prefix: str | None = None) -> None:
        if not self.enabled:
            return
        record = UsageRecord(datetime.now(timezone.utc), caller, method, route, model, prompt_tokens,
                             completion_tokens, latency_ms, status, key_prefix)
        with self._lock:
            if len(self._buffer) >= MAX_BUFFER:
                self._buffer.popleft()
                log.warning("usage buffer full: the catalog has been busy too long; dropping the oldest record")
            self._buffer.append(record)
            if len(self._buffer) >= FLUSH_RECORDS:
                self._wake.set()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.wait(FLUSH_SECONDS)
            self._wake.clear()
            self.flush()

    def flush(self) -> int:
        """Write what is buffered; on a busy catalog keep it for the next try. Returns rows written."""
        with self._lock:
            batch = list(self._buffer)
        if not batch:
            return 0
        try:
            with self.project.catalog() as conn, transaction(conn):
                conn.executemany(f"INSERT INTO usage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [astuple(r) for r in batch])
        except CatalogError as exc:
            log.warning("usage records kept for later: %s", exc)
            return 0
        with self._lock:
            for _ in range(min(len(batch), len(self._buffer))):
                self._buffer.popleft()
        return len(batch)

    def close(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join(10)
        self.flush()


def usage_summary(project: Project, since: datetime | None = None, by: str = "day",
                  user: str | None = None) -> list[dict[str, Any]]:
    """Requests, tokens and latency grouped by ``by`` (key, caller, user, agent, model, route or day),
    of every caller or of ``user`` alone (an analyst sees only its own usage)."""
    from llmforge.errors import UsageError

    if by not in GROUPS:
        raise UsageError(f"cannot group usage by {by!r} (choose from {', '.join(GROUPS)})")
    column = GROUPS[by]
    with project.catalog() as conn:
        rows = conn.execute(
            f"SELECT {column} AS grp, count(*), sum(prompt_tokens), sum(completion_tokens), "
            "avg(latency_ms), quantile_cont(latency_ms, 0.95), sum(CASE WHEN status >= 400 THEN 1 ELSE 0 END) "
            "FROM usage WHERE (? IS NULL OR ts >= ?) AND (?::VARCHAR IS NULL OR caller = ?) GROUP BY grp ORDER BY grp",
            [since, since, user, user]).fetchall()
    return [{by: str(row[0]) if row[0] is not None else None, "requests": row[1], "prompt_tokens": row[2] or 0,
             "completion_tokens": row[3] or 0, "avg_latency_ms": round(row[4] or 0, 2),
             "p95_latency_ms": round(row[5] or 0, 2), "errors": row[6]} for row in rows]
