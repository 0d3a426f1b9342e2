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
from dataclasses import astuple, dataclass
from datetime import datetime, timezone
from typing import Any

from llmforge.batching import BatchWriter
from llmforge.catalog import transaction
from llmforge.project import Project

log = logging.getLogger(__name__)
FLUSH_SECONDS = 2.0
FLUSH_RECORDS = 200
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


class UsageRecorder(BatchWriter[UsageRecord]):
    """Buffers usage records and flushes them from a background thread (:mod:`llmforge.batching`)."""

    def __init__(self, project: Project) -> None:
        super().__init__("usage", self._insert, FLUSH_SECONDS, FLUSH_RECORDS)
        self.project = project
        self.enabled = not project.read_only   # a replica keeps no usage rows: its metrics count requests

    def record(self, caller: str, method: str, route: str, status: int, latency_ms: float,
               model: str | None = None, prompt_tokens: int = 0, completion_tokens: int = 0,
               key_prefix: str | None = None) -> None:
        if self.enabled:
            self.add(UsageRecord(datetime.now(timezone.utc), caller, method, route, model, prompt_tokens,
                                 completion_tokens, latency_ms, status, key_prefix))

    def _insert(self, batch: list[UsageRecord], _dropped: int) -> None:
        with self.project.catalog() as conn, transaction(conn):
            conn.executemany(f"INSERT INTO usage ({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                             [astuple(r) for r in batch])


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
