"""The audit log: append-only, hash-chained records of security-relevant actions.

Each record is one row of the catalog's ``audit_log`` table. Its ``hash`` is the SHA-256 of a
canonical serialisation (JSON with sorted keys, no spaces, the time as ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
in UTC) of every other field, ``prev_hash`` included; ``prev_hash`` is the previous record's hash
(64 zeros for the first), and ``seq`` goes up by exactly one. :func:`verify` recomputes the chain
and names the first record that was altered, is missing, or does not follow the one before it.

Threat model, honestly:

* The chain detects an edit, deletion, insertion or reordering by anyone who does not also
  recompute the chain from the point of change onwards. It is not a signature: whoever can write
  the catalog and run this code can rewrite the whole tail after the change, or append records
  that verify. So ``llmforge audit verify`` prints the head (``SEQ:HASH``); an operator who copies
  it somewhere the catalog's writers cannot reach (a daily line in another machine's log, paper)
  can later run ``audit verify --expect-head SEQ:HASH``, which fails unless that record is still in
  an intact chain: a rewrite from at or before it is then detected, appended records are not.
* Truncating the tail is detected only by ``--expect-head`` with a head past the new end.
* Records never hold secrets: detail keys named like password, secret, token or key, values that
  look like an Authorization header, and an API key's secret part or a JWT anywhere in a text
  field are replaced by ``[redacted]`` before anything is hashed or stored (:func:`redact`).

Writers: DuckDB admits one writing process per file and the catalog is opened briefly
(:meth:`~llmforge.project.Project.catalog`), so each append reads the last ``(seq, hash)`` and
inserts in one transaction, retrying when another writer won the same ``seq`` (the primary key
refuses the loser). The HTTP server does not write per request: :class:`AuditRecorder` buffers
records and a background thread appends them, in order, in batches.

A server on a read-only project (a replica serving a snapshot) cannot write the catalog, and must
not drop its records either: it appends them to a file of its own (JSON Lines, one record per
line, chained exactly as the catalog's records are, from seq 1), which :func:`verify_file` checks.
:func:`import_file` brings a verified replica file into the catalog's chain, so one log holds
every replica's requests, each imported record naming the file record it copies.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import math
import os
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import duckdb

from llmforge.batching import BatchWriter
from llmforge.catalog import transaction
from llmforge.errors import AuditError, CatalogError, UsageError
from llmforge.project import Project

log = logging.getLogger(__name__)

GENESIS = "0" * 64
LOCAL_ACTOR = "local"          # the operator at this machine's shell
REDACTED = "[redacted]"
MAX_KEY_PREFIX = 16            # longer is no prefix: it may be a whole key, so it is not stored
_ATTEMPTS = 20
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SECRET_WORDS = {"password", "passwd", "pwd", "passphrase", "secret", "token", "key", "apikey", "authorization",
                 "cookie", "credential", "credentials", "bearer", "jwt", "signature"}
_SAFE_LAST_WORDS = {"prefix", "id", "name", "count", "type", "kind"}   # key_prefix, token_id: not secrets
_CREDENTIAL_VALUE = re.compile(r"^\s*(bearer|basic)\s+\S", re.IGNORECASE)
_API_KEY = re.compile(r"\b(lf_[a-z0-9]{8}_)[A-Za-z0-9_-]{16,}")            # keep the prefix, drop the secret
_JWT = re.compile(r"\beyJ[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+")
_COLUMNS = ("seq, epoch_us(ts), actor, key_prefix, client, action, target, status, latency_ms, details, "
            "prev_hash, hash")
_append_lock = threading.Lock()   # one appending thread per process; other processes wait on the file


@dataclass(frozen=True)
class AuditRecord:
    """One record of the chain (``hash`` covers every other field)."""

    seq: int
    ts: datetime
    action: str
    actor: str | None
    key_prefix: str | None
    client: str | None
    target: str | None
    status: int | None
    latency_ms: float | None
    details: dict[str, Any] | None
    prev_hash: str
    hash: str

    def computed_hash(self) -> str:
        """The hash this record's fields call for (compare with :attr:`hash`)."""
        fields = asdict(self)
        del fields["hash"]
        fields["ts"] = _timestamp(self.ts)
        payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
        return hashlib.sha256(payload.encode("utf-8")).hexdigest()

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ts": _timestamp(self.ts)}


@dataclass(frozen=True)
class VerifyResult:
    """What :func:`verify` found: ``ok``, or the first bad record and why."""

    ok: bool
    count: int
    first_bad_seq: int | None = None
    reason: str | None = None
    head_seq: int | None = None
    head_hash: str | None = None

    @property
    def head(self) -> str | None:
        """``SEQ:HASH`` of the last record read, for the operator to keep elsewhere."""
        return None if self.head_seq is None else f"{self.head_seq}:{self.head_hash}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "head": self.head}


def _timestamp(ts: datetime) -> str:
    return ts.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _words(name: str) -> list[str]:
    spaced = re.sub(r"([a-z0-9])([A-Z])", r"\1 \2", name)
    return [word for word in re.split(r"[^a-z0-9]+", spaced.lower()) if word]


def is_secret_name(name: str) -> bool:
    """Whether a detail key is named like a secret (``password``, ``api_key``, ``refreshToken``, ...)."""
    words = _words(name)
    if not words or words[-1] in _SAFE_LAST_WORDS:
        return False
    return any(word in _SECRET_WORDS for word in words)


def _scrub(text: str) -> str:
    """``text`` without an Authorization header's credentials, an API key's secret or a JWT."""
    if _CREDENTIAL_VALUE.match(text):
        return REDACTED
    return _JWT.sub(REDACTED, _API_KEY.sub(lambda m: m.group(1) + REDACTED, text))


def redact(value: Any) -> Any:
    """``value`` with every secret-named key's value, and every credential-looking string, redacted."""
    if isinstance(value, dict):
        return {str(k): REDACTED if is_secret_name(str(k)) else redact(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [redact(item) for item in value]
    if isinstance(value, str):
        return _scrub(value)
    if isinstance(value, float) and not math.isfinite(value):
        return None
    return value


def _event(action: str, actor: str | None, key_prefix: str | None, client: str | None, target: str | None,
           status: int | None, latency_ms: float | None, details: dict | None) -> AuditRecord:
    """An unchained record (seq 0, no hashes) with its fields checked and secrets removed."""
    if not action or not isinstance(action, str):
        raise UsageError("an audit record needs an action")
    if details is not None:
        details = json.loads(json.dumps(redact(details), default=str))  # plain JSON types, as read back
    actor, client, target = (None if v is None else _scrub(str(v)) for v in (actor, client, target))
    if key_prefix is not None and len(key_prefix) > MAX_KEY_PREFIX:
        key_prefix = REDACTED
    if latency_ms is not None:
        latency_ms = float(latency_ms) if math.isfinite(latency_ms) else None
    return AuditRecord(0, datetime.now(timezone.utc), action, actor, key_prefix, client, target,
                       None if status is None else int(status), latency_ms, details, "", "")


def _chain(events: list[AuditRecord], last: tuple[int, str] | None) -> list[AuditRecord]:
    seq, prev = last or (0, GENESIS)
    chained = []
    for event in events:
        seq += 1
        record = replace(event, seq=seq, prev_hash=prev)
        record = replace(record, hash=record.computed_hash())
        chained.append(record)
        prev = record.hash
    return chained


def _row(record: AuditRecord) -> list[Any]:
    details = None if record.details is None else json.dumps(record.details, sort_keys=True, ensure_ascii=False)
    return [record.seq, record.ts, record.actor, record.key_prefix, record.client, record.action, record.target,
            record.status, record.latency_ms, details, record.prev_hash, record.hash]


def append(project: Project, events: list[AuditRecord]) -> list[AuditRecord]:
    """Chain ``events`` (in order) after the last record and store them in one transaction.

    Raises:
        CatalogError: the catalog stayed busy, or another writer kept winning the same ``seq``.
    """
    if not events:
        return []
    project.require_writable("the audit log")   # a replica appends to its own file (append_file)
    for attempt in range(_ATTEMPTS):
        try:
            with _append_lock, project.catalog() as conn, transaction(conn):
                records = _chain(events, _last(conn))
                conn.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                                 [_row(r) for r in records])
            return records
        except (duckdb.TransactionException, duckdb.ConstraintException):
            time.sleep(min(0.005 * 2 ** attempt, 0.2))   # another writer took this seq: chain after it
        except duckdb.Error as exc:
            raise CatalogError(f"cannot write the audit log: {exc}") from None
    raise CatalogError(f"cannot write the audit log: other writers won {_ATTEMPTS} times in a row")


def _last(conn: duckdb.DuckDBPyConnection) -> tuple[int, str] | None:
    """``(seq, hash)`` of the catalog's last record; None for an empty log."""
    return conn.execute("SELECT seq, hash FROM audit_log ORDER BY seq DESC LIMIT 1").fetchone()


def record(project: Project, *, action: str, actor: str | None = None, key_prefix: str | None = None,
           client: str | None = None, target: str | None = None, status: int | None = None,
           latency_ms: float | None = None, details: dict | None = None) -> None:
    """Append one record now (a CLI action; the server batches through :class:`AuditRecorder`).

    ``action`` is dotted, most general first (``config.set``, ``http.POST``); ``details`` must be
    JSON-like and is stored without its secrets (:func:`redact`).
    """
    append(project, [_event(action, actor, key_prefix, client, target, status, latency_ms, details)])


def record_local(project: Project, action: str, target: str | None = None, details: dict | None = None) -> None:
    """Record an action of the operator at this machine's shell (actor ``local``, client ``cli``)."""
    record(project, action=action, actor=LOCAL_ACTOR, client="cli", target=target, details=details)


def record_serve_event(project: Project, event: str, url: str, details: dict | None = None) -> None:
    """Record that ``llmforge serve`` started or stopped (``event``: start or stop) at ``url``."""
    if event not in ("start", "stop"):
        raise UsageError(f"serve event must be start or stop, got {event!r}")
    record_local(project, f"serve.{event}", target=url, details=details)


class AuditRecorder(BatchWriter[AuditRecord]):
    """Buffers the server's audit records and appends them, in order, from a background thread
    (:mod:`llmforge.batching`).

    A flush happens every ``audit.flush_seconds`` or once ``audit.flush_records`` are waiting. When
    the catalog is busy the records wait for the next flush; past the buffer's bound the oldest are
    dropped with a warning, and the next flush first appends an ``audit.dropped`` record saying how
    many, so the loss is itself in the chain.
    """

    def __init__(self, project: Project, file: Path | None = None) -> None:
        super().__init__("audit", self._append, float(project.settings["audit.flush_seconds"]),
                         int(project.settings["audit.flush_records"]))
        self.project = project
        self.file = file   # append here instead of the catalog (a server on a read-only project)

    def record(self, *, action: str, actor: str | None = None, key_prefix: str | None = None,
               client: str | None = None, target: str | None = None, status: int | None = None,
               latency_ms: float | None = None, details: dict | None = None) -> None:
        """Queue a record (same fields as :func:`record`); it is chained when flushed."""
        self.add(_event(action, actor, key_prefix, client, target, status, latency_ms, details))

    def _append(self, batch: list[AuditRecord], dropped: int) -> None:
        notice = []   # the loss goes into the chain first: the dropped records were the oldest
        if dropped:
            notice.append(_event("audit.dropped", None, None, None, None, None, None, {"records": dropped}))
        if self.file is not None:
            append_file(self.file, notice + batch)
        else:
            append(self.project, notice + batch)


def _from_row(row: tuple) -> AuditRecord:
    seq, ts_us, actor, key_prefix, client, action, target, status, latency_ms, details, prev_hash, hash_ = row
    return AuditRecord(seq, _EPOCH + timedelta(microseconds=ts_us), action, actor, key_prefix, client, target,
                       status, latency_ms, None if details is None else json.loads(details), prev_hash, hash_)


def list_records(project: Project, since: datetime | None = None, user: str | None = None,
                 action: str | None = None, limit: int = 100) -> list[AuditRecord]:
    """The latest ``limit`` records (oldest first) since ``since``, by actor ``user``, whose action
    starts with ``action``."""
    with project.catalog() as conn:
        rows = conn.execute(
            f"SELECT {_COLUMNS} FROM audit_log WHERE (?::TIMESTAMPTZ IS NULL OR ts >= ?::TIMESTAMPTZ) "
            "AND (?::VARCHAR IS NULL OR actor = ?) AND (?::VARCHAR IS NULL OR starts_with(action, ?)) "
            "ORDER BY seq DESC LIMIT ?", [since, since, user, user, action, action, limit]).fetchall()
    return [_from_row(row) for row in reversed(rows)]


def _rows(conn: duckdb.DuckDBPyConnection) -> Iterator[tuple]:
    cursor = conn.execute(f"SELECT {_COLUMNS} FROM audit_log ORDER BY seq")
    while batch := cursor.fetchmany(10_000):
        yield from batch


def _fault(row: tuple, expected_seq: int, prev_hash: str) -> str | None:
    """Why the row read after ``expected_seq - 1`` (whose hash is ``prev_hash``) breaks the chain."""
    seq = row[0]
    if seq > expected_seq:
        after = f"from record {expected_seq - 1} to {seq}" if expected_seq > 1 else f"starts at record {seq}"
        return f"audit record {expected_seq} is missing: the chain {after} (deleted?)"
    if seq < expected_seq:
        return f"audit record {seq} is out of place: expected record {expected_seq} (inserted?)"
    try:
        altered = _from_row(row).computed_hash() != row[-1]
    except (ValueError, TypeError):
        altered = True
    if altered:
        return f"audit record {seq} was altered: its hash does not match its contents"
    if row[-2] != prev_hash:
        return (f"audit record {seq} does not follow record {seq - 1}: its prev_hash is not that record's "
                "hash (inserted, deleted or reordered)")
    return None


def verify(project: Project, expect_head: str | None = None) -> VerifyResult:
    """Recompute the whole chain; with ``expect_head`` (``SEQ:HASH`` from an earlier verify) also
    check that this record is still in it, unchanged."""
    wanted = _parse_head(expect_head) if expect_head else None
    with project.catalog() as conn:
        return _verify_rows(_rows(conn), wanted)


def verify_file(path: Path, expect_head: str | None = None) -> VerifyResult:
    """:func:`verify` for a replica's audit file (see :func:`append_file`).

    Raises:
        UsageError: the file cannot be read.
    """
    wanted = _parse_head(expect_head) if expect_head else None
    try:
        with open(path, encoding="utf-8") as handle:
            return _verify_rows(_file_rows(handle), wanted)
    except OSError as exc:
        raise _unreadable(path, exc) from None


def _unreadable(path: Path, exc: OSError) -> UsageError:
    return UsageError(f"cannot read the audit file {path}: {exc.strerror or exc}")


def _verify_rows(rows: Iterator[tuple | str], wanted: tuple[int, str] | None) -> VerifyResult:
    """Walk the chain; a row that is a string is a line that holds no record (the reason)."""
    count, head_seq, head_hash, seen_wanted = 0, None, GENESIS, False
    for row in rows:
        reason = row if isinstance(row, str) else _fault(row, count + 1, head_hash)
        if reason:
            bad = count + 1 if isinstance(row, str) or row[0] > count + 1 else row[0]
            return VerifyResult(False, count, bad, reason, head_seq, head_hash if head_seq else None)
        count, head_seq, head_hash = count + 1, row[0], row[-1]
        if wanted and row[0] == wanted[0]:
            if row[-1] != wanted[1]:
                return VerifyResult(False, count, row[0], f"audit record {row[0]} is not the expected head "
                                    f"{wanted[1][:16]}…: the log was rewritten at or before it",
                                    head_seq, head_hash)
            seen_wanted = True
    result = VerifyResult(True, count, None, None, head_seq, head_hash if head_seq else None)
    if wanted and not seen_wanted:
        return replace(result, ok=False, first_bad_seq=wanted[0],
                       reason=f"audit record {wanted[0]} is missing: the log ends at record {head_seq or 0} "
                              "(truncated?)")
    return result


def _parse_head(text: str) -> tuple[int, str]:
    seq, _, hash_ = text.strip().partition(":")
    if not seq.isdigit() or int(seq) < 1 or not re.fullmatch(r"[0-9a-f]{64}", hash_):
        raise UsageError(f"expected head {text!r} is not SEQ:HASH (a record number, ':' and 64 hex digits)")
    return int(seq), hash_


def server_audit_file(project: Project, audit_file: Path | None) -> Path | None:
    """Where a server on ``project`` appends its audit records: its catalog (None) when the project
    is writable; ``audit_file`` when it is read-only (a replica), which must then be given and
    writable, since a server that cannot keep its audit log must not serve.

    Raises:
        UsageError: a read-only project without ``audit_file``, an ``audit_file`` beside a writable
            project's catalog (one log, not two), or a file that cannot be appended to.
    """
    if not project.read_only:
        if audit_file is not None:
            raise UsageError("--audit-file is for a read-only project (a replica): this project is writable, "
                             "so its audit log stays in its catalog")
        return None
    if audit_file is None:
        raise UsageError("the project is read-only here, so the server cannot write the audit log into its "
                         "catalog: serve it as a read-only replica with --audit-file PATH, a writable file "
                         "outside the project")
    try:
        with open(audit_file, "ab"):
            pass
    except OSError as exc:
        raise UsageError(f"cannot append to the audit file {audit_file}: {exc.strerror or exc}") from None
    return Path(audit_file)

# --- a replica's audit file -----------------------------------------------------------------------

def append_file(path: Path, events: list[AuditRecord]) -> list[AuditRecord]:
    """Chain ``events`` after the last record of the JSON Lines file ``path`` and append them
    (fsynced), for a server whose project is read-only. An exclusive ``flock`` keeps two writers
    of one file from forking its chain; a line torn by a crash stays, and verify reports it."""
    if not events:
        return []
    with open(path, "a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        last, torn = _last_in_file(handle)
        records = _chain(events, last)
        lines = b"".join(json.dumps(r.to_dict(), sort_keys=True, ensure_ascii=False).encode("utf-8") + b"\n"
                         for r in records)
        handle.write((b"\n" if torn else b"") + lines)
        handle.flush()
        os.fsync(handle.fileno())
    return records


def _last_in_file(handle: Any) -> tuple[tuple[int, str] | None, bool]:
    """``(seq, hash)`` of the file's last whole record (None: no record yet), and whether the file
    ends in a partial line."""
    size = handle.seek(0, os.SEEK_END)
    handle.seek(max(0, size - 65536))
    tail = handle.read()
    torn = bool(tail) and not tail.endswith(b"\n")
    for line in reversed(tail.splitlines()):
        try:
            fields = json.loads(line)
            return (int(fields["seq"]), str(fields["hash"])), torn
        except (ValueError, KeyError, TypeError):
            continue
    return None, torn


def _file_rows(handle: Any) -> Iterator[tuple | str]:
    """The file's records as the catalog's row tuples (see ``_COLUMNS``); a line that is not a
    record comes as the reason, a string."""
    for number, line in enumerate(handle, 1):
        if not line.strip():
            continue
        try:
            f = json.loads(line)
            ts_us = (datetime.fromisoformat(f["ts"].replace("Z", "+00:00")) - _EPOCH) // timedelta(microseconds=1)
            details = None if f["details"] is None else json.dumps(f["details"], sort_keys=True, ensure_ascii=False)
            yield (f["seq"], ts_us, f["actor"], f["key_prefix"], f["client"], f["action"], f["target"], f["status"],
                   f["latency_ms"], details, f["prev_hash"], f["hash"])
        except (ValueError, KeyError, TypeError, AttributeError):
            yield f"line {number} holds no audit record (torn by a crash, or edited)"


# --- a replica's file brought into the catalog's chain ---------------------------------------------

IMPORT_BATCH = 1000   # records per transaction: a big file goes in as several, resumable at each


@dataclass(frozen=True)
class ImportResult:
    """What :func:`import_file` did with one replica file."""

    replica: str
    chain: str                  # hash of the file's first record: names the replica's chain
    file_head: str | None       # SEQ:HASH of the file's last record, verified
    imported: int               # records copied by this call
    already: int                # records of the file copied by earlier imports
    head: str | None            # SEQ:HASH of the catalog's chain afterwards

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def import_file(project: Project, path: Path, replica: str | None = None,
                expect_head: str | None = None) -> ImportResult:
    """Copy the records of a replica's audit file (``serve --audit-file``) into the catalog's chain.

    The file must verify first (and contain ``expect_head`` when given); a file that does not is
    refused whole. Each copied record keeps its time, actor, key prefix, client, action, target,
    status and latency; its details become ``{"replica": {name, chain, seq, hash}, "details": ...}``
    so it names the record it copies, and the catalog chains it like any other. An
    ``audit.import`` record closes each import with the file's verified head, so the catalog's
    chain commits to that replica's chain up to there.

    Importing is idempotent and incremental: records already imported from the same chain (named
    by the hash of its first record) are skipped, and a file that grew since is imported from where
    the last import stopped, after checking that the record it stopped at is unchanged.

    Raises:
        AuditError: the file does not verify, or it no longer holds what an earlier import copied
            (rewritten or truncated since).
        ReadOnlyProjectError: the catalog cannot be written here.
    """
    project.require_writable("the audit log")
    wanted = _parse_head(expect_head) if expect_head else None
    try:   # read once: verified, then copied from the same rows
        with open(path, encoding="utf-8") as handle:
            rows = list(_file_rows(handle))
    except OSError as exc:
        raise _unreadable(path, exc) from None
    result = _verify_rows(iter(rows), wanted)
    if not result.ok:
        raise AuditError(f"refusing to import {path.name}: {result.reason}")
    name = replica or path.stem
    records = [_from_row(row) for row in rows]   # all rows are records once the file verifies
    if not records:
        return ImportResult(name, "", None, 0, 0, _head(project))
    chain = records[0].hash
    done_seq, done_hash = _imported_head(project, chain)
    if done_seq > len(records):
        raise AuditError(f"refusing to import {path.name}: records up to {done_seq} of this replica's chain were "
                         f"imported before, but the file ends at record {len(records)} (truncated?)")
    if done_seq and records[done_seq - 1].hash != done_hash:
        raise AuditError(f"refusing to import {path.name}: its record {done_seq} differs from the one imported "
                         "before (the file was rewritten)")
    todo = records[done_seq:]
    head = None
    for start in range(0, len(todo), IMPORT_BATCH):
        batch = [_copied(record, name, chain) for record in todo[start:start + IMPORT_BATCH]]
        if start + IMPORT_BATCH >= len(todo):
            batch.append(_event("audit.import", LOCAL_ACTOR, None, "cli", path.name, None, None, {
                "replica": name, "chain": chain, "from_seq": todo[0].seq, "to_seq": todo[-1].seq,
                "file_head": result.head, "records": len(todo)}))
        stored = append(project, batch)
        head = f"{stored[-1].seq}:{stored[-1].hash}"
    log.info("imported %d audit records of %s (%d already there)", len(todo), name, done_seq)
    return ImportResult(name, chain, result.head, len(todo), done_seq, head or _head(project))


def _head(project: Project) -> str | None:
    """``SEQ:HASH`` of the catalog's last record, read without walking the chain."""
    with project.catalog() as conn:
        last = _last(conn)
    return f"{last[0]}:{last[1]}" if last else None


def _imported_head(project: Project, chain: str) -> tuple[int, str]:
    """``(seq, hash)`` of the last record of ``chain`` imported so far; ``(0, "")`` when none."""
    with project.catalog() as conn:
        row = conn.execute(
            "SELECT CAST(json_extract_string(details, '$.replica.seq') AS BIGINT) AS seq, "
            "json_extract_string(details, '$.replica.hash') FROM audit_log "
            "WHERE json_extract_string(details, '$.replica.chain') = ? ORDER BY seq DESC LIMIT 1",
            [chain]).fetchone()
    return (int(row[0]), str(row[1])) if row else (0, "")


def _copied(record: AuditRecord, replica: str, chain: str) -> AuditRecord:
    """An unchained copy of a replica's record that names the original."""
    details = {"replica": {"name": replica, "chain": chain, "seq": record.seq, "hash": record.hash},
               "details": redact(record.details)}
    return replace(record, seq=0, details=details, prev_hash="", hash="")
