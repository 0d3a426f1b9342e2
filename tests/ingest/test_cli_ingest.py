from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.assets import text_pdf


def test_ingest_json_and_partial_failure_exit_code(cli, project, tmp_path: Path) -> None:
    good = tmp_path / "good.txt"
    good.write_text("Operators sign the handover sheet at the end of each shift.")
    bad = tmp_path / "bad.pdf"
    bad.write_bytes(b"%PDF-1.4 truncated")
    result = cli("ingest", good, bad, "--json")
    assert result.exit_code == 3, result.stderr
    summary = json.loads(result.stdout)
    assert (summary["ingested"], summary["failed"]) == (1, 1)
    only_bad = cli("ingest", bad)
    assert only_bad.exit_code == 1 and "failed" in only_bad.stdout


def test_documents_commands(cli, project, tmp_path: Path) -> None:
    path = tmp_path / "manual.pdf"
    path.write_bytes(text_pdf(["Page one of the pump manual, with enough words to read.",
                               "Page two of the pump manual, about valves and seals."]))
    assert cli("ingest", path).exit_code == 0
    listed = json.loads(cli("documents", "list", "--json").stdout)
    assert len(listed) == 1 and listed[0]["page_count"] == 2
    doc_id = listed[0]["id"]
    shown = cli("documents", "show", doc_id[:5])
    assert shown.exit_code == 0 and "page 2 · text-layer" in shown.stdout and "valves and seals" in shown.stdout
    assert cli("documents", "show", "zzzzzz").exit_code == 1
    assert "at least 4 characters" in cli("documents", "show", "ab").stderr
    deleted = json.loads(cli("documents", "delete", doc_id, "--json").stdout)
    assert deleted["pages_deleted"] == 2
    assert json.loads(cli("documents", "list", "--json").stdout) == []


def test_ingest_usage_errors(cli, project, tmp_path: Path) -> None:
    assert cli("ingest", tmp_path).exit_code == 2            # a directory without --recursive
    assert cli("ingest", "x.txt", "--ocr", "sometimes").exit_code == 2
    assert cli("ingest").exit_code == 2


def test_second_writer_is_refused_with_a_clear_message(project, tmp_path: Path) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from llmforge.project import Project; from pathlib import Path\n"
         "with Project(Path(sys.argv[1])).writer_lock('ingest'):\n"
         "    print('locked', flush=True); time.sleep(30)", str(project.root)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        (tmp_path / "a.txt").write_text("some text for the knowledge base")
        result = subprocess.run([sys.executable, "-m", "llmforge", "-p", str(project.root), "ingest",
                                 str(tmp_path / "a.txt")], capture_output=True, text=True, timeout=60)
        assert result.returncode == 1
        assert f"pid {holder.pid}" in result.stderr and "--wait" in result.stderr
    finally:
        holder.kill()
        holder.wait()
