"""The cluster scenario the tests check, run once as its own process (``python -m
tests.cluster.scenario ROOT``), so that test_airgap.py can run it in a network namespace under
strace and see every connection any of its processes attempts.

One two-node cluster serves it all: ``llmforge cluster up``; the same files ingested and structured
locally (the reference) and through ``--cluster``; a long scanned PDF extracted in parts of pages
on the cluster, against its local extraction; a cluster ingest killed half-way, run again and then
structured; ``llmforge cluster down``. It prints one JSON line of findings for the tests to judge.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from llmforge.ingest.pipeline import ingest_paths
from llmforge.project import Project, init_project
from llmforge.structure.index import ChunkIndex
from llmforge.structure.pipeline import structure_project
from tests.assets import rendered_text_image, text_pdf

SCANS = [
    ["The harbour authority approved new cranes", "for the eastern quay in March."],
    ["Water rationing starts on Sunday", "in the northern districts."],
    ["The ministry of health opened", "four clinics in rural areas."],
    ["Road repairs on the coastal highway", "will last until the end of June."],
]
LONG_SCAN = [f"Page {number} of the long scan: the archive holds {number * 12} boxes" for number in range(1, 6)]
PAGES_PER_TASK = 2   # so that the long scan's five pages make three parts
PARTS = ("documents", "pages", "chunks", "entities", "structured", "index", "vectors")


def write_documents(folder: Path) -> Path:
    """Scans (PNG, and image-only PDFs, one of them long), a text PDF, text, a duplicate and a broken
    file."""
    folder.mkdir(parents=True)
    for number, lines in enumerate(SCANS):
        rendered_text_image(lines).save(folder / (f"scan{number}.png" if number % 2 else f"scan{number}.pdf"))
    first, *rest = [rendered_text_image([line]) for line in LONG_SCAN]
    first.save(folder / "long-scan.pdf", save_all=True, append_images=rest, resolution=300)
    (folder / "manual.pdf").write_bytes(text_pdf(["Page one of the pump manual: valves and seals.",
                                                  "Page two: the pressure must stay below 4 bar."]))
    notes = "The committee met on 12 May 2026 and approved a budget of 40,000 dollars for the archive.\n" * 8
    (folder / "notes.txt").write_text(notes, encoding="utf-8")
    (folder / "notes-copy.txt").write_text(notes, encoding="utf-8")
    (folder / "broken.pdf").write_bytes(b"%PDF-1.4 truncated")
    return folder


def contents(project: Project) -> dict[str, Any]:
    """Everything ingest and structure store, keyed by path instead of the random document ids."""
    with project.catalog() as conn:
        def rows(sql: str) -> list[tuple]:
            return sorted(conn.execute(sql).fetchall(), key=repr)

        paths = dict(conn.execute("SELECT id, source_path FROM documents").fetchall())
        found: dict[str, Any] = {
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


def differences(found: dict[str, Any], reference: dict[str, Any]) -> list[str]:
    """The parts that differ (vectors: by key, and by value beyond 1e-6)."""
    differ = [part for part in PARTS[:-1] if found[part] != reference[part]]
    vectors, expected = found["vectors"], reference["vectors"]
    if vectors.keys() != expected.keys() or any(not np.allclose(vectors[key], value, rtol=0, atol=1e-6)
                                                 for key, value in expected.items()):
        differ.append("vectors")
    return differ


STEPS: dict[str, float] = {}   # seconds per step, reported with the findings


def llmforge(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    started = time.monotonic()
    try:
        return subprocess.run([sys.executable, "-m", "llmforge", *args], capture_output=True, text=True, env=env,
                              check=False)
    finally:
        step = " ".join(arg for arg in args[:3] if not arg.startswith("/"))
        STEPS[step] = STEPS.get(step, 0.0) + time.monotonic() - started


def killed_when_stored(command: list[str], blobs: Path, documents: int) -> int:
    """Run ``command``; SIGKILL it once ``documents`` documents' blobs (original and text) are stored."""
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while process.poll() is None and time.monotonic() < deadline:
        if sum(1 for path in blobs.glob("??/*") if path.is_file()) >= 2 * documents:
            break
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    return process.wait()


def extracted_in_parts(address: str, path: Path) -> dict[str, Any]:
    """The long scan extracted on the cluster in parts of :data:`PAGES_PER_TASK` pages, against
    its local extraction: whether they are equal, and how many tasks it took."""
    from llmforge.cluster.work import RayExtractionRunner, connected
    from llmforge.ingest.extract import ExtractOptions, extract_file

    options = ExtractOptions(lang="eng")
    local = extract_file(path, options)
    with connected(address) as ray:
        runner = RayExtractionRunner(ray, memory_mb=4096, offline=True, pages_per_task=PAGES_PER_TASK)
        on_cluster = runner.run(extract_file, (path, options), timeout=300)
    return {"tasks": runner.tasks, "same": on_cluster == local, "pages": len(local[2].pages),
            "notes": local[2].notes}


def run(root: Path) -> dict[str, Any]:
    import os

    os.environ["LLMFORGE_CLUSTER_PAGES_PER_TASK"] = str(PAGES_PER_TASK)   # the cluster runs split the long scan
    docs = write_documents(root / "docs")
    local = init_project(root / "local")
    started = time.monotonic()
    ingest_paths(local, [docs], recursive=True, workers=2)
    structure_project(local)
    reference = contents(local)
    STEPS["local run"] = time.monotonic() - started
    findings: dict[str, Any] = {"ocr_pages": sum(row[4].startswith("ocr") for row in reference["pages"])}
    env = {**os.environ, "LLMFORGE_CLUSTER_DIR": str(root / "cluster")}
    up = llmforge("cluster", "up", "--workers", "1", "--json", env=env)
    findings["up"] = [up.returncode, up.stderr[-2000:]]
    status = json.loads(llmforge("cluster", "status", "--json", env=env).stdout)
    findings["nodes"] = [[node["role"], node["ip"], node["alive"]] for node in status["nodes"]]
    findings["pids"] = [node["pid"] for node in status["nodes"]]
    try:
        address = json.loads(up.stdout)["address"]
        cluster = init_project(root / "cluster-run")
        ingested = llmforge("-p", str(cluster.root), "ingest", "-r", str(docs), "--cluster", address, "--json")
        structured = llmforge("-p", str(cluster.root), "structure", "--cluster", address)
        findings["cluster_run"] = {"ingest_exit": ingested.returncode, "summary": json.loads(ingested.stdout or "{}"),
                                   "structure_exit": structured.returncode, "stderr": structured.stderr[-2000:],
                                   "differs": differences(contents(cluster), reference)}
        findings["in_parts"] = extracted_in_parts(address, docs / "long-scan.pdf")
        killed = init_project(root / "killed-run")
        on_cluster = [sys.executable, "-m", "llmforge", "-p", str(killed.root)]
        code = killed_when_stored([*on_cluster, "ingest", "-r", str(docs), "--cluster", address],
                                  killed.path("blobs"), 2)
        again = llmforge("-p", str(killed.root), "ingest", "-r", str(docs), "--cluster", address)
        structure_project(killed)   # here: the cluster's embedding is the clean run's to check
        findings["killed_run"] = {"killed": code, "ingest_exit": again.returncode, "stderr": again.stderr[-2000:],
                                  "differs": differences(contents(killed), reference)}
    finally:
        down = llmforge("cluster", "down", "--json", env=env)
        findings["stopped"] = json.loads(down.stdout or '{"stopped": null}')["stopped"]
    findings["seconds"] = {step: round(seconds, 1) for step, seconds in STEPS.items()}
    return findings


if __name__ == "__main__":
    print("FINDINGS " + json.dumps(run(Path(sys.argv[1]))))
