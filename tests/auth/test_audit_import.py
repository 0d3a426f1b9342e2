"""`audit import`: replicas' audit files brought into the catalog's chain, once, and only intact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmforge.auth import audit
from llmforge.errors import AuditError
from llmforge.project import Project


def replica_file(path: Path, first: int, count: int) -> list[audit.AuditRecord]:
    """Append ``count`` request records to a replica's file, as a server on a snapshot does."""
    events = [audit._event("http.GET", "bob", "abcd1234", "10.0.0.7", f"/v1/search?n={n}", 200, 3.5, {"n": n})
              for n in range(first, first + count)]
    return audit.append_file(path, events)


def imported(project: Project) -> list[audit.AuditRecord]:
    return [r for r in audit.list_records(project, limit=10_000) if r.details and "replica" in r.details
            and isinstance(r.details["replica"], dict)]


def test_import_copies_each_record_once_and_chains_it(project: Project, tmp_path: Path) -> None:
    audit.record_local(project, "config.set", "x")
    file = tmp_path / "replica-1.jsonl"
    originals = replica_file(file, 1, 3)

    result = audit.import_file(project, file)
    assert (result.replica, result.imported, result.already) == ("replica-1", 3, 0)
    assert result.file_head == f"3:{originals[-1].hash}" and result.chain == originals[0].hash
    copies = imported(project)
    assert [c.details["replica"]["seq"] for c in copies] == [1, 2, 3]
    assert [c.details["replica"]["hash"] for c in copies] == [o.hash for o in originals]
    first = copies[0]   # the request as the replica saw it: time, caller, route, status
    assert (first.ts, first.actor, first.key_prefix, first.client, first.action, first.target, first.status) == (
        originals[0].ts, "bob", "abcd1234", "10.0.0.7", "http.GET", "/v1/search?n=1", 200)
    assert first.details["details"] == {"n": 1}
    closing = audit.list_records(project, action="audit.import")
    assert len(closing) == 1 and closing[0].details["file_head"] == result.file_head
    assert closing[0].actor == audit.LOCAL_ACTOR and closing[0].target == "replica-1.jsonl"
    check = audit.verify(project)
    assert check.ok and check.count == 1 + 3 + 1 and check.head == result.head

    again = audit.import_file(project, file)                 # nothing new: nothing copied, nothing recorded
    assert (again.imported, again.already) == (0, 3) and audit.verify(project).count == 5

    replica_file(file, 4, 2)                                  # the replica served more since
    grown = audit.import_file(project, file, replica="pod-a")
    assert (grown.imported, grown.already) == (2, 3)
    assert [c.details["replica"]["seq"] for c in imported(project)] == [1, 2, 3, 4, 5]
    assert audit.verify(project).ok


def test_two_replicas_keep_their_own_chains(project: Project, tmp_path: Path) -> None:
    one, two = tmp_path / "a.jsonl", tmp_path / "b.jsonl"
    replica_file(one, 1, 2)
    replica_file(two, 1, 4)
    assert audit.import_file(project, one).imported == 2
    assert audit.import_file(project, two).imported == 4   # same seqs, another chain: not "already there"
    names = [c.details["replica"]["name"] for c in imported(project)]
    assert names == ["a", "a", "b", "b", "b", "b"]


def test_a_tampered_file_is_refused_whole(project: Project, tmp_path: Path) -> None:
    file = tmp_path / "replica.jsonl"
    replica_file(file, 1, 4)
    lines = file.read_text().splitlines()
    record = json.loads(lines[2])
    record["actor"] = "mallory"
    lines[2] = json.dumps(record, sort_keys=True)
    file.write_text("\n".join(lines) + "\n")
    with pytest.raises(AuditError, match=r"^refusing to import replica.jsonl: audit record 3 "):
        audit.import_file(project, file)
    assert audit.verify(project).count == 0


def test_a_file_rewritten_or_cut_after_an_import_is_refused(project: Project, tmp_path: Path) -> None:
    file = tmp_path / "replica.jsonl"
    originals = replica_file(file, 1, 4)
    audit.import_file(project, file)
    count = audit.verify(project).count

    # Cut after record 2: the earlier import copied up to record 4.
    file.write_text("".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in originals[:2]))
    with pytest.raises(AuditError, match="imported before, but the file ends at record 2"):
        audit.import_file(project, file)

    # Rewritten from record 3 on, chain recomputed: verifies alone, but record 4 is not what was copied.
    file.write_text("".join(json.dumps(r.to_dict(), sort_keys=True) + "\n" for r in originals[:2]))
    audit.append_file(file, [audit._event("http.GET", "mallory", None, None, "/v1/x", 200, 1.0, None)] * 3)
    assert audit.verify_file(file).ok
    with pytest.raises(AuditError, match="its record 4 differs from the one imported before"):
        audit.import_file(project, file)
    assert audit.verify(project).count == count


def test_cli_import_json_and_errors(cli, project: Project, tmp_path: Path) -> None:
    file = tmp_path / "r1.jsonl"
    replica_file(file, 1, 2)
    head = audit.verify_file(file).head
    out = cli("audit", "import", file, "--expect-head", head, "--json")
    assert out.exit_code == 0
    body = json.loads(out.stdout)
    assert body["imports"][0]["imported"] == 2 and body["head"] == audit.verify(project).head

    missing = cli("audit", "import", tmp_path / "nope.jsonl")
    assert missing.exit_code == 2 and missing.stderr.startswith("error: cannot read the audit file")
    wrong_head = cli("audit", "import", file, "--expect-head", "9:" + "0" * 64)
    assert wrong_head.exit_code == 1 and "audit record 9 is missing" in wrong_head.stderr
    assert len(wrong_head.stderr.strip().splitlines()) == 1
    two = cli("audit", "import", file, file, "--replica", "x")
    assert two.exit_code == 2
