"""Cluster mode gives the same catalog and index as a local run, and a killed run converges.

A real two-node Ray cluster on loopback (tests/cluster/conftest.py), real Tesseract, DuckDB and
LanceDB; documents compared by path, since document ids are random.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from llmforge.ingest.pipeline import ingest_paths
from llmforge.project import Project, init_project
from llmforge.structure.index import ChunkIndex
from llmforge.structure.pipeline import structure_project
from tests.assets import rendered_text_image, text_pdf

pytestmark = pytest.mark.slow

SCANS = [
    ["The harbour authority approved new cranes", "for the eastern quay in March."],
    ["Water rationing starts on Sunday", "in the northern districts."],
    ["The ministry of health opened", "four clinics in rural areas."],
    ["Road repairs on the coastal highway", "will last until the end of June."],
]


@pytest.fixture(scope="module")
def documents(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Scans (PNG, and image-only PDFs), a text PDF, text, a duplicate and a broken file."""
    folder = tmp_path_factory.mktemp("docs")
    for number, lines in enumerate(SCANS):
        image = rendered_text_image(lines)
        image.save(folder / (f"scan{number}.png" if number % 2 else f"scan{number}.pdf"))
    (folder / "manual.pdf").write_bytes(text_pdf(["Page one of the pump manual: valves and seals.",
                                                  "Page two: the pressure must stay below 4 bar."]))
    notes = "The committee met on 12 May 2026 and approved a budget of 40,000 dollars for the archive.\n" * 8
    (folder / "notes.txt").write_text(notes, encoding="utf-8")
    (folder / "notes-copy.txt").write_text(notes, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    return folder


@pytest.fixture(scope="module")
def local_reference(documents: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    project = init_project(tmp_path_factory.mktemp("local") / "project")
    ingest_paths(project, [documents], recursive=True, workers=2)
    structure_project(project)
    return contents(project)


def contents(project: Project) -> dict[str, Any]:
    """Everything ingest and structure store, keyed by path instead of the random document ids."""
    with project.catalog() as conn:
        def rows(sql: str) -> list[tuple]:
            return sorted(conn.execute(sql).fetchall(), key=repr)

        paths = dict(conn.execute("SELECT id, source_path FROM documents").fetchall())
        found = {
            "documents": rows("SELECT source_path, version, status, sha256, size, kind, mime, title, page_count, "
                              "languages, text_sha256, notes, error FROM documents"),
            "pages": rows("SELECT d.source_path, p.page_no, p.text, p.search_text, p.method, p.ocr_confidence, "
                          "p.language, p.deskew_angle, p.rotation, p.chars FROM pages p JOIN documents d "
                          "ON d.id = p.document_id"),
            "chunks": rows("SELECT d.source_path, c.seq, c.page_start, c.page_end, c.char_start, c.char_end, "
                           "c.tokens, c.heading, c.language, c.text FROM chunks c JOIN documents d "
                           "ON d.id = c.document_id"),
            "entities": rows("SELECT d.source_path, e.page_no, e.start_char, e.end_char, e.type, e.text, e.value "
                             "FROM entities e JOIN documents d ON d.id = e.document_id"),
            "structured": rows("SELECT d.source_path, s.chunks FROM structured_documents s JOIN documents d "
                               "ON d.id = s.document_id"),
        }
    table = ChunkIndex(project.path("lancedb")).table().to_arrow().to_pylist()
    found["index"] = sorted((paths[row["document_id"]], row["seq"], row["text"], row["text_ar"], row["language"])
                            for row in table)
    found["vectors"] = {(paths[row["document_id"]], row["seq"]): np.asarray(row["vector"]) for row in table}
    return found


def assert_same(cluster: dict[str, Any], local: dict[str, Any]) -> None:
    for part in ("documents", "pages", "chunks", "entities", "structured", "index"):
        assert cluster[part] == local[part], part
    assert cluster["vectors"].keys() == local["vectors"].keys()
    for key, vector in local["vectors"].items():
        np.testing.assert_allclose(cluster["vectors"][key], vector, rtol=0, atol=1e-6, err_msg=str(key))


def test_a_cluster_run_stores_what_a_local_run_stores(cli, ray_cluster: str, documents: Path,
                                                      local_reference: dict[str, Any], project: Project) -> None:
    ingested = cli("ingest", documents, "--recursive", "--cluster", ray_cluster, "--json")
    assert ingested.exit_code == 3, ingested.stderr   # broken.pdf fails, as it does locally
    summary = json.loads(ingested.stdout)
    assert (summary["ingested"], summary["skipped"], summary["failed"]) == (len(SCANS) + 2, 1, 1)
    structured = cli("structure", "--cluster", ray_cluster, "--json")
    assert structured.exit_code == 0, structured.stderr
    assert json.loads(structured.stdout)["documents"] == len(SCANS) + 2
    found = contents(project)
    assert sum(row[4].startswith("ocr") for row in found["pages"]) == len(SCANS)
    assert_same(found, local_reference)


def _killed_when(command: list[str], env: dict[str, str], ready: Any) -> int:
    """Run ``command``, SIGKILL it as soon as ``ready()`` holds; its return code."""
    process = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 120
    while process.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    return process.returncode


def test_a_cluster_run_killed_half_way_converges_when_run_again(ray_cluster: str, documents: Path,
                                                                local_reference: dict[str, Any],
                                                                project: Project) -> None:
    env = {**os.environ, "LLMFORGE_CLUSTER_ADDRESS": ray_cluster, "LLMFORGE_STRUCTURE_BATCH_CHUNKS": "1"}
    llmforge = [sys.executable, "-m", "llmforge", "-p", str(project.root)]
    blobs = project.path("blobs")

    def some_documents_stored() -> bool:   # two documents' original and text, at least
        return sum(1 for path in blobs.glob("??/*") if path.is_file()) >= 4

    assert _killed_when([*llmforge, "ingest", "-r", str(documents)], env, some_documents_stored) == -signal.SIGKILL
    assert subprocess.run([*llmforge, "ingest", "-r", str(documents)], env=env, capture_output=True).returncode == 3
    versions = project.path("lancedb") / "chunks.lance" / "_versions"

    def some_batches_indexed() -> bool:   # one chunk per batch: a few batches written of many
        return versions.is_dir() and len(list(versions.iterdir())) >= 3

    assert _killed_when([*llmforge, "structure"], env, some_batches_indexed) == -signal.SIGKILL
    again = subprocess.run([*llmforge, "structure"], env=env, capture_output=True, text=True)
    assert again.returncode == 0, again.stderr
    assert_same(contents(project), local_reference)
