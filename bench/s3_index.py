"""The chunk index on an S3-compatible store against the same index on local disk.

    .venv/bin/python bench/s3_index.py [--json] [--documents N] [--queries N] [--rounds N]

One corpus is ingested once; each round structures a fresh copy of that project twice, once with
the index in ``<project>/lancedb`` and once on ``moto_server`` (moto's S3 stand-in on loopback:
every LanceDB read and write is a real HTTP request, but to an in-memory emulator, not to MinIO
or Ceph on a network, so this measures the object-store code path's overhead, not a production
store), then runs the same hybrid searches on both. Reports chunks per second of ``structure``
and search latency p50/p95 for both, the ratios (S3 over local), and the table versions left
after the compaction that ends ``structure``. Best of ``--rounds`` alternating runs.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO), str(REPO / "bench")]

from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.project import Project, init_project  # noqa: E402
from llmforge.settings import write_setting  # noqa: E402
from llmforge.structure.embedders import cached_embedder  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402
from llmforge.structure.search import search  # noqa: E402
from llmforge.structure.storage import project_index  # noqa: E402
from structure_search import corpus_texts, write_docs  # noqa: E402
from tests.structure.s3_store import KEYS, create_bucket, moto_server  # noqa: E402

QUERIES = ["When did the Normans conquer England?", "Which team won Super Bowl 50?", "What is the Amazon rainforest?",
           "How do steam engines work?", "Who founded the university?", "What causes oxygen to be reactive?"]


def run_side(template: Path, target: Path, queries: int, s3: tuple[str, str] | None) -> dict[str, float]:
    """Structure a copy of ``template`` (the index on ``s3`` = (endpoint, bucket) when given) and
    time ``queries`` hybrid searches on it."""
    project = Project(Path(shutil.copytree(template, target)))
    if s3:
        for name, value in (("index.uri", f"s3://{s3[1]}/index"), ("index.endpoint", s3[0]),
                            ("index.allow_http", "true")):
            write_setting(project.settings_path, name, value)
        project.reload_settings()
    started = time.perf_counter()
    report = structure_project(project)
    structure_s = time.perf_counter() - started
    times = []
    for number in range(queries):
        started = time.perf_counter()
        search(project, QUERIES[number % len(QUERIES)], k=5)
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return {"chunks": report.chunks, "structure_s": structure_s, "chunks_per_s": report.chunks / structure_s,
            "search_p50_ms": statistics.median(times), "search_p95_ms": times[int(0.95 * (len(times) - 1))],
            "versions": report.indexes.get("versions", 0), "rows": project_index(project).count()}


def measure(documents: int, queries: int, rounds: int) -> dict[str, object]:
    os.environ.update(KEYS)
    cached_embedder("use-multilingual").embed(["warm up"])
    with tempfile.TemporaryDirectory() as tmp, moto_server() as endpoint:
        work = Path(tmp)
        write_docs(work / "docs", corpus_texts(documents))
        template = init_project(work / "template")
        ingest_paths(template, [work / "docs"], recursive=True)
        sides: dict[str, list[dict[str, float]]] = {"local": [], "s3": []}
        for number in range(rounds):
            sides["local"].append(run_side(template.root, work / f"local-{number}", queries, None))
            bucket = create_bucket(endpoint, f"bench-{number}")
            sides["s3"].append(run_side(template.root, work / f"s3-{number}", queries, (endpoint, bucket)))
    best = {side: {"chunks_per_s": max(r["chunks_per_s"] for r in runs),
                   "search_p50_ms": min(r["search_p50_ms"] for r in runs),
                   "search_p95_ms": min(r["search_p95_ms"] for r in runs),
                   "versions": max(r["versions"] for r in runs), "rows": runs[-1]["rows"], "chunks": runs[-1]["chunks"]}
            for side, runs in sides.items()}
    return {**best, "structure_ratio": best["s3"]["chunks_per_s"] / best["local"]["chunks_per_s"],
            "search_p50_ratio": best["s3"]["search_p50_ms"] / best["local"]["search_p50_ms"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--documents", type=int, default=100)
    parser.add_argument("--queries", type=int, default=30)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    result = measure(args.documents, args.queries, args.rounds)
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for side in ("local", "s3"):
        row = result[side]
        print(f"{side:>5}: structure {row['chunks']} chunks at {row['chunks_per_s']:.1f}/s; hybrid search p50 "
              f"{row['search_p50_ms']:.1f} ms, p95 {row['search_p95_ms']:.1f} ms; {row['versions']} table "
              f"version(s) left, {row['rows']} rows")
    print(f"S3 (moto) / local: structure throughput {result['structure_ratio']:.2f}, "
          f"search p50 latency {result['search_p50_ratio']:.2f}")


if __name__ == "__main__":
    main()
