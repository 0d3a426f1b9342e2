"""Structuring throughput, search latency and memory, each against its baseline in this process.

    .venv/bin/python bench/structure_search.py [--json] [--chunks N] [--large N]

1. Embedding throughput: ``llmforge structure`` (chunking, entities, embedding, LanceDB and catalog
   writes) over a corpus, in chunks per second, against calling the packaged USE model directly on
   the very same chunk texts, batched the same way.
2. Search latency p50/p95 over 10k and ``--large`` (default 100k) chunks of synthetic clustered
   512-d vectors: brute force, then with the IVF-PQ index (refine_factor 10) and its recall@10
   against brute force; and the full hybrid ``search()`` over the 10k table.
3. Memory: peak RSS growth of a fresh process while structuring 100 and 800 documents (about 1.2k
   and 10k chunks) with a fast synthetic embedder (the model is not what is measured here): with
   batches of ``structure.batch_chunks`` it should not grow with the corpus.
"""

from __future__ import annotations

import argparse
import json
import resource
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.project import init_project  # noqa: E402
from llmforge.structure.embedders import EmbedderSpec, cached_embedder, register_embedder  # noqa: E402
from llmforge.structure.index import ChunkIndex  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402

XQUAD = REPO.parent / "shared" / "corpora" / "qa" / "xquad"


def corpus_texts(limit: int) -> list[str]:
    """Documents to structure: XQuAD passages (both languages) when present, else generated."""
    if XQUAD.is_dir():
        texts = []
        for language in ("en", "ar"):
            data = json.loads((XQUAD / f"xquad.{language}.json").read_text(encoding="utf-8"))["data"]
            texts += [p["context"] for article in data for p in article["paragraphs"]]
        return texts[:limit]
    return [" ".join(f"Valve {d}-{n} on line {n} was inspected on 3 March 2025 and recorded." for n in range(30))
            for d in range(limit)]


def write_docs(folder: Path, texts: list[str]) -> None:
    folder.mkdir(parents=True)
    for number, text in enumerate(texts):
        (folder / f"{number:05d}.txt").write_text(text, encoding="utf-8")


def embedding_throughput(work: Path, documents: int, rounds: int = 2) -> dict[str, float]:
    """Best of ``rounds`` alternating runs of each side (the machine's load varies over time);
    the model is loaded once beforehand for both."""
    write_docs(work / "docs", corpus_texts(documents))
    model = cached_embedder("use-multilingual")
    structure_times, direct_times, chunks = [], [], 0
    for round_number in range(rounds):
        project = init_project(work / f"throughput-{round_number}")
        ingest_paths(project, [work / "docs"], recursive=True)
        started = time.perf_counter()
        chunks = structure_project(project).chunks
        structure_times.append(time.perf_counter() - started)
        with project.catalog() as conn:
            texts = [row[0] for row in conn.execute("SELECT text FROM chunks ORDER BY id").fetchall()]
        batch = int(project.settings["structure.batch_chunks"])
        started = time.perf_counter()
        for start in range(0, len(texts), batch):
            model.embed(texts[start:start + batch])
        direct_times.append(time.perf_counter() - started)
    structure_s, direct_s = min(structure_times), min(direct_times)
    return {"chunks": chunks, "structure_chunks_per_s": chunks / structure_s,
            "direct_embed_chunks_per_s": chunks / direct_s, "ratio": direct_s / structure_s}


def synthetic_table(root: Path, rows: int, dim: int = 512, clusters: int = 256) -> tuple[ChunkIndex, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, rows)] + 0.35 * rng.normal(size=(rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = ChunkIndex(root)
    for start in range(0, rows, 20000):
        part = vectors[start:start + 20000]
        index.add([{"chunk_id": f"d{(start + i) // 10}:{(start + i) % 10}", "document_id": f"d{(start + i) // 10}",
                    "seq": (start + i) % 10, "page_start": 1, "page_end": 1, "text": f"synthetic chunk {start + i}",
                    "text_en": f"synthetic chunk {start + i}", "text_ar": "", "language": "en",
                    "vector": vector.tolist()} for i, vector in enumerate(part)], dim)
    return index, vectors


def latency(index: ChunkIndex, queries: np.ndarray, k: int = 10) -> tuple[dict[str, float], list[list[str]]]:
    times, results = [], []
    for query in queries:
        started = time.perf_counter()
        rows = index.search_vector(query, k)
        times.append((time.perf_counter() - started) * 1000)
        results.append([row["chunk_id"] for row in rows])
    ordered = sorted(times)
    return {"p50_ms": statistics.median(ordered), "p95_ms": ordered[int(0.95 * (len(ordered) - 1))]}, results


def search_latency(work: Path, rows: int, queries: int = 100) -> dict[str, float]:
    index, vectors = synthetic_table(work / f"lance-{rows}", rows)
    rng = np.random.default_rng(11)
    picks = vectors[rng.integers(0, rows, queries)] + 0.05 * rng.normal(size=(queries, vectors.shape[1]))
    picks = (picks / np.linalg.norm(picks, axis=1, keepdims=True)).astype(np.float32)
    brute, truth = latency(index, picks)
    index.refresh_indexes(vector_index_min_rows=1)
    indexed, found = latency(index, picks)
    recall = statistics.mean(len(set(a) & set(b)) / 10 for a, b in zip(truth, found))
    return {"rows": rows, "brute_p50_ms": brute["p50_ms"], "brute_p95_ms": brute["p95_ms"],
            "ivfpq_p50_ms": indexed["p50_ms"], "ivfpq_p95_ms": indexed["p95_ms"], "ivfpq_recall@10": recall}


class HashEmbedder:
    """Fast stand-in embedder (random projection of hashed words) for the memory measurement."""

    name, version, dim = "bench-hash", "1", 512

    def embed(self, texts: list[str]) -> np.ndarray:
        out = np.zeros((len(texts), self.dim), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.split():
                out[row, hash(word) % self.dim] += 1.0
        out /= np.maximum(np.linalg.norm(out, axis=1, keepdims=True), 1e-9)
        return out

    def count_tokens(self, text: str) -> int:
        return len(text.split())


def memory(work: Path, documents: int) -> dict[str, float]:
    """Run :func:`_memory` in a fresh interpreter, so peak RSS is this stage's alone."""
    import subprocess

    out = subprocess.run([sys.executable, __file__, "--memory-stage", str(documents), "--work", str(work)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _memory(work: Path, documents: int) -> dict[str, float]:
    """Ingest in a child process (its memory is not ours), then structure here and report how far
    this process's peak RSS rose above what it was once everything was imported and loaded."""
    import subprocess

    register_embedder(EmbedderSpec("bench-hash", lambda _name: HashEmbedder(), "benchmark stand-in"))
    project = init_project(work / f"memory-{documents}")
    folder = work / f"memory-docs-{documents}"
    write_docs(folder, [" ".join(f"Line {n} of record {d}: valve inspected, pressure noted." for n in range(40))
                        for d in range(documents)])
    subprocess.run([sys.executable, "-m", "llmforge", "-q", "-p", str(project.root), "ingest", str(folder), "-r"],
                   check=True, capture_output=True)
    ChunkIndex(project.path("lancedb")).count()  # imports lancedb before the baseline
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    report = structure_project(project, embedder="bench-hash")
    after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return {"chunks": report.chunks, "peak_rss_before_mb": before / 1024, "peak_rss_growth_mb": (after - before) / 1024}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--documents", type=int, default=200, help="documents for the throughput run")
    parser.add_argument("--large", type=int, default=100_000, help="rows of the large latency table")
    parser.add_argument("--memory-stage", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--work", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_stage:
        print(json.dumps(_memory(args.work, args.memory_stage)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = {"throughput": embedding_throughput(work, args.documents),
                  "latency": [search_latency(work, 10_000), search_latency(work, args.large)],
                  "memory": [memory(work, 100), memory(work, 800)]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    t = result["throughput"]
    print(f"structure: {t['chunks']} chunks at {t['structure_chunks_per_s']:.1f}/s; direct USE "
          f"{t['direct_embed_chunks_per_s']:.1f}/s; ratio {t['ratio']:.2f}")
    for row in result["latency"]:
        print(f"{row['rows']:>7} chunks: brute force p50 {row['brute_p50_ms']:.1f} ms, p95 {row['brute_p95_ms']:.1f} ms;"
              f" IVF-PQ p50 {row['ivfpq_p50_ms']:.1f} ms, p95 {row['ivfpq_p95_ms']:.1f} ms, "
              f"recall@10 {row['ivfpq_recall@10']:.3f}")
    for row in result["memory"]:
        print(f"memory: {row['chunks']} chunks structured, peak RSS grew {row['peak_rss_growth_mb']:.0f} MB")


if __name__ == "__main__":
    main()
