"""The audit log: a hash chain that names the first record edited, deleted, inserted or reordered."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import replace
from datetime import datetime, timedelta, timezone

import duckdb
import pytest

from llmforge.auth import audit
from llmforge.errors import CatalogLockedError, UsageError
from llmforge.project import Project

KEY = "lf_abcd1234_" + "S" * 43


@contextmanager
def raw(project: Project) -> Iterator[duckdb.DuckDBPyConnection]:
    """The catalog opened behind llmforge's back, as someone tampering with it would."""
    conn = duckdb.connect(str(project.catalog_path))
    try:
        yield conn
    finally:
        conn.close()


def fill(project: Project, n: int = 5) -> None:
    for i in range(1, n + 1):
        audit.record(project, action=f"test.{i}", actor="alice", key_prefix="abcd1234", client="10.0.0.1",
                     target=f"/v1/thing/{i}", status=200, latency_ms=i * 1.5, details={"n": i})


def rows(project: Project) -> list[tuple]:
    with raw(project) as conn:
        return conn.execute("SELECT seq, prev_hash, hash FROM audit_log ORDER BY seq").fetchall()


def test_records_are_chained_from_genesis(project: Project) -> None:
    fill(project, 3)
    chain = rows(project)
    assert [r[0] for r in chain] == [1, 2, 3]
    assert chain[0][1] == audit.GENESIS == "0" * 64
    assert chain[1][1] == chain[0][2] and chain[2][1] == chain[1][2]
    result = audit.verify(project)
    assert (result.ok, result.count, result.head) == (True, 3, f"3:{chain[2][2]}")


def test_the_hash_is_sha256_of_sorted_json_with_a_fixed_time_format(project: Project) -> None:
    fill(project, 1)
    first = audit.list_records(project)[0]
    fields = {"seq": 1, "ts": first.ts.strftime("%Y-%m-%dT%H:%M:%S.%fZ"), "action": "test.1", "actor": "alice",
              "key_prefix": "abcd1234", "client": "10.0.0.1", "target": "/v1/thing/1", "status": 200,
              "latency_ms": 1.5, "details": {"n": 1}, "prev_hash": "0" * 64}
    payload = json.dumps(fields, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert first.ts.tzinfo is not None and first.ts.utcoffset() == timedelta(0)
    assert first.hash == hashlib.sha256(payload.encode()).hexdigest()


def test_secrets_never_reach_the_log(project: Project) -> None:
    assert audit.is_secret_name("password") and audit.is_secret_name("api_key")
    assert audit.is_secret_name("refreshToken") and audit.is_secret_name("client-secret")
    assert not audit.is_secret_name("key_prefix") and not audit.is_secret_name("prompt_tokens")
    assert not audit.is_secret_name("token_id") and not audit.is_secret_name("monkey")
    audit.record(project, action="users.create", actor="local", key_prefix=KEY, target=f"rotated {KEY}",
                 details={"password": "hunter2hunter2", "new_password": "x", "api_key": KEY,
                          "headers": {"Authorization": "Bearer abc.def", "accept": "json"},
                          "note": f"made {KEY}", "tokens": ["eyJhbGc.eyJzdWIi.c2lnbmF0dXJl"],
                          "key_prefix": "abcd1234", "prompt_tokens": 12})
    with raw(project) as conn:
        stored = " ".join(str(v) for v in conn.execute("SELECT * FROM audit_log").fetchone())
    for secret in ("hunter2", "S" * 20, "abc.def", "eyJ"):
        assert secret not in stored
    got = audit.list_records(project)[0]
    assert got.details["password"] == got.details["new_password"] == audit.REDACTED
    assert got.details["headers"] == {"Authorization": audit.REDACTED, "accept": "json"}
    assert got.details["note"] == f"made lf_abcd1234_{audit.REDACTED}"
    assert got.details["tokens"] == [audit.REDACTED]        # "tokens" may be a count; a JWT value is found itself
    assert got.details["key_prefix"] == "abcd1234" and got.details["prompt_tokens"] == 12
    assert got.key_prefix == audit.REDACTED                 # a whole key passed as the prefix
    assert got.target == f"rotated lf_abcd1234_{audit.REDACTED}"
    assert audit.verify(project).ok


def tamper(project: Project, *statements: str) -> None:
    with raw(project) as conn:
        for statement in statements:
            conn.execute(statement)


def forged_row(project: Project, seq: int, prev_hash: str, hash_: str | None = None) -> str:
    record = audit.AuditRecord(seq, datetime.now(timezone.utc), "users.create", "mallory", None, None, "mallory",
                               200, None, None, prev_hash, "")
    record = replace(record, hash=hash_ or record.computed_hash())
    with raw(project) as conn:
        conn.execute("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", audit._row(record))
    return record.hash


@pytest.mark.parametrize("how, bad_seq, words", [
    ("edit", 3, "audit record 3 was altered"),
    ("edit-details", 4, "audit record 4 was altered"),
    ("delete", 3, "audit record 3 is missing"),
    ("delete-first", 1, "audit record 1 is missing"),
    ("insert-made-up-hash", 6, "audit record 6 was altered"),
    ("insert-wrong-link", 6, "audit record 6 does not follow record 5"),
    ("swap", 2, "audit record 2 was altered"),
])
def test_tampering_is_named_by_verify(cli, project: Project, how: str, bad_seq: int, words: str) -> None:
    fill(project, 5)
    assert cli("audit", "verify").exit_code == 0
    if how == "edit":
        tamper(project, "UPDATE audit_log SET status = 403 WHERE seq = 3")
    elif how == "edit-details":
        tamper(project, """UPDATE audit_log SET details = '{"n": 40}' WHERE seq = 4""")
    elif how == "delete":
        tamper(project, "DELETE FROM audit_log WHERE seq = 3")
    elif how == "delete-first":
        tamper(project, "DELETE FROM audit_log WHERE seq = 1")
    elif how == "insert-made-up-hash":
        forged_row(project, 6, rows(project)[-1][2], "f" * 64)
    elif how == "insert-wrong-link":
        forged_row(project, 6, "e" * 64)
    elif how == "swap":
        tamper(project, "UPDATE audit_log SET seq = 102 WHERE seq = 2", "UPDATE audit_log SET seq = 2 WHERE seq = 3",
               "UPDATE audit_log SET seq = 3 WHERE seq = 102")
    result = cli("audit", "verify")
    assert result.exit_code == 1
    assert result.stderr.startswith(f"error: {words}") and result.stderr.count("\n") == 1, result.stderr
    assert audit.verify(project).first_bad_seq == bad_seq
    as_json = json.loads(cli("audit", "verify", "--json").stdout)
    assert (as_json["ok"], as_json["first_bad_seq"]) == (False, bad_seq)


def test_expect_head_detects_a_rewritten_tail(cli, project: Project) -> None:
    fill(project, 3)
    out = cli("audit", "verify")
    assert out.exit_code == 0 and "3 records" in out.stdout
    head = out.stdout.split("head ")[1].strip()
    fill(project, 2)
    assert cli("audit", "verify", "--expect-head", head).exit_code == 0   # later records do not matter
    # An attacker who can write the catalog rewrites record 2 and recomputes everything after it:
    records = audit.list_records(project)
    rewritten = audit._chain([replace(r, actor="mallory") for r in records[1:]], (1, records[0].hash))
    tamper(project, "DELETE FROM audit_log WHERE seq >= 2")
    with raw(project) as conn:
        conn.executemany("INSERT INTO audit_log VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                         [audit._row(r) for r in rewritten])
    assert cli("audit", "verify").exit_code == 0                          # the chain alone cannot tell
    result = cli("audit", "verify", "--expect-head", head)
    assert result.exit_code == 1 and result.stderr.startswith("error: audit record 3 is not the expected head")


def test_expect_head_detects_truncation_and_refuses_a_malformed_head(cli, project: Project) -> None:
    fill(project, 4)
    head = audit.verify(project).head
    tamper(project, "DELETE FROM audit_log WHERE seq = 4")
    result = cli("audit", "verify", "--expect-head", head)
    assert result.exit_code == 1 and "audit record 4 is missing: the log ends at record 3" in result.stderr
    assert cli("audit", "verify", "--expect-head", "4:nothex").exit_code == 2
    with pytest.raises(UsageError):
        audit.verify(project, "x:" + "0" * 64)


def test_empty_log_verifies(cli, project: Project) -> None:
    result = cli("audit", "verify")
    assert result.exit_code == 0 and "0 records" in result.stdout


def test_threads_append_one_chain(project: Project) -> None:
    def write(n: int) -> None:
        for i in range(8):
            audit.record(project, action="thread.write", target=f"{n}/{i}")

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    result = audit.verify(project)
    assert (result.ok, result.count) == (True, 32)


def test_processes_append_one_chain(project: Project) -> None:
    script = ("import sys; from llmforge.project import Project; from llmforge.auth import audit\n"
              "p = Project(__import__('pathlib').Path(sys.argv[1]))\n"
              "for i in range(10): audit.record(p, action='process.write', target=sys.argv[2] + str(i))\n")
    procs = [subprocess.Popen([sys.executable, "-c", script, str(project.root), f"p{n}-"]) for n in range(3)]
    assert [p.wait(120) for p in procs] == [0, 0, 0]
    audit.record(project, action="parent.write")
    result = audit.verify(project)
    assert (result.ok, result.count) == (True, 31)


def test_recorder_batches_in_order(project: Project) -> None:
    recorder = audit.AuditRecorder(project)
    for i in range(5):
        recorder.record(action="http.GET", actor="bob", target=f"/v1/{i}", status=200, latency_ms=3)
    assert audit.list_records(project) == []
    assert recorder.flush() == 5
    audit.record(project, action="config.set", actor="local")     # a CLI writer between two flushes
    recorder.start()
    recorder.record(action="http.POST", target="/v1/last", status=201)
    recorder.close()
    got = audit.list_records(project)
    assert [r.target for r in got] == [f"/v1/{i}" for i in range(5)] + [None, "/v1/last"]
    assert [r.seq for r in got] == list(range(1, 8)) and got[0].latency_ms == 3.0
    assert audit.verify(project).ok


def test_recorder_keeps_records_while_the_catalog_is_busy_and_notes_drops(
        project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    recorder = audit.AuditRecorder(project)
    recorder.max_buffer = 3
    for i in range(5):
        recorder.record(action="http.GET", target=str(i))
    real_append = audit.append

    def busy(*_args: object) -> None:
        raise CatalogLockedError("the catalog is locked by process 1")

    monkeypatch.setattr(audit, "append", busy)
    assert recorder.flush() == 0
    monkeypatch.setattr(audit, "append", real_append)
    assert recorder.flush() == 3
    got = audit.list_records(project)
    assert [r.action for r in got] == ["audit.dropped", "http.GET", "http.GET", "http.GET"]
    assert got[0].details == {"records": 2} and [r.target for r in got[1:]] == ["2", "3", "4"]
    assert recorder.flush() == 0 and audit.verify(project).ok


def test_list_filters(cli, project: Project) -> None:
    fill(project, 3)
    audit.record(project, action="config.set", actor="local", target="serve.port", details={"value": 9000})
    audit.record_serve_event(project, "start", "https://0.0.0.0:8443", {"tls": True})
    assert [r.seq for r in audit.list_records(project, limit=2)] == [4, 5]
    assert [r.seq for r in audit.list_records(project, user="alice")] == [1, 2, 3]
    assert [r.action for r in audit.list_records(project, action="test.")] == ["test.1", "test.2", "test.3"]
    assert audit.list_records(project, since=datetime.now(timezone.utc) + timedelta(hours=1)) == []
    listed = json.loads(cli("audit", "list", "--user", "local", "--json").stdout)
    assert [(r["action"], r["target"]) for r in listed] == [("config.set", "serve.port"),
                                                             ("serve.start", "https://0.0.0.0:8443")]
    table = cli("audit", "list", "--action", "serve")
    assert table.exit_code == 0 and "serve.start" in table.stdout and "config.set" not in table.stdout
    with pytest.raises(UsageError):
        audit.record_serve_event(project, "restart", "http://x")


def test_cli_changes_are_audited(cli, project: Project, tmp_path) -> None:
    from tests.test_registry import add_version

    assert cli("config", "set", "serve.port", "9001").exit_code == 0
    add_version(project)
    assert cli("models", "promote", "ops@v1", "--force").exit_code == 0
    path = tmp_path / "note.txt"
    path.write_text("Operators sign the handover sheet at the end of each shift.")
    assert cli("ingest", path).exit_code == 0
    doc_id = json.loads(cli("documents", "list", "--json").stdout)[0]["id"]
    assert cli("documents", "delete", doc_id).exit_code == 0
    got = [(r.action, r.actor, r.target) for r in audit.list_records(project)]
    assert got == [("config.set", "local", "serve.port"), ("models.promote", "local", "ops@v1"),
                   ("documents.delete", "local", doc_id)]
    assert audit.list_records(project)[0].details == {"value": 9001}
