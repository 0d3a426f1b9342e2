"""Structuring throughput, search latency and memory, each against its baseline in this process.

    .venv/bin/python bench/structure_search.py [--json] [--documents N] [--large N] [--rounds N]

1. Embedding throughput: ``llmforge structure`` (chunking, entities, embedding, LanceDB and catalog
   writes) over a corpus, in chunks per second, against calling the packaged USE model directly on
   the very same chunk texts, batched the same way; best of ``--rounds`` alternating runs, in wall
   and in CPU seconds (the machine is shared: CPU time is what the work costs). Two corpora: the
   one the code was tuned on (XQuAD's English passages when ../shared/corpora holds them, else a
   generated one) and a held-out one never looked at while tuning (XQuAD's Arabic passages, else
   another generated mix with a different seed).
2. Search latency p50/p95 over 10k and ``--large`` (default 100k) chunks of synthetic clustered
   512-d vectors: brute force, then with the IVF-PQ index (refine_factor 10) and its recall@10
   against brute force.
3. Memory: the peak RSS (``VmHWM``) of a child process that does nothing but structure about
   1,000 and then about 8,000 chunks with a fast synthetic embedder (the model is not what is
   measured here), and the same child's RSS once everything is imported, before structuring: with
   batches of ``structure.batch_chunks`` the peak should not grow with the corpus. Not
   ``ru_maxrss``: Linux keeps it across ``execve``, so a child started by a large parent reports
   the parent's size (the earlier "grew 0 MB" for both sizes: a baseline already at the peak).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.project import Project, init_project  # noqa: E402
from llmforge.structure.embedders import EmbedderSpec, cached_embedder, register_embedder  # noqa: E402
from llmforge.structure.index import ChunkIndex  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402

XQUAD = REPO.parent / "shared" / "corpora" / "qa" / "xquad"


def corpus_texts(limit: int, held_out: bool = False) -> list[str]:
    """Documents to structure: XQuAD passages when present (English to tune on, Arabic held out),
    else generated ones (two seeds and mixes)."""
    if XQUAD.is_dir():
        language = "ar" if held_out else "en"
        data = json.loads((XQUAD / f"xquad.{language}.json").read_text(encoding="utf-8"))["data"]
        return [p["context"] for article in data for p in article["paragraphs"]][:limit]
    return generated_texts(limit, seed=2 if held_out else 1, arabic_share=0.6 if held_out else 0.2)


WORDS = {"en": "valve pump station pressure operator shift chlorine analyser record inspected logged sample "
               "manager handover alarm reservoir filter dosing maintenance report".split(),
         "ar": "صمام مضخة محطة ضغط المشغل وردية الكلور جهاز سجل فحص عينة المدير تسليم إنذار خزان مرشح "
               "جرعة صيانة تقرير".split()}


def generated_texts(count: int, seed: int, arabic_share: float) -> list[str]:
    """``count`` documents of headings, paragraphs of random-length sentences and a few tables,
    Arabic or English (``arabic_share`` of them Arabic)."""
    rng = np.random.default_rng(seed)
    texts = []
    for number in range(count):
        words = WORDS["ar" if rng.random() < arabic_share else "en"]
        blocks = []
        for _ in range(int(rng.integers(2, 6))):
            blocks.append(" ".join(rng.choice(words, 3)).title())
            sentences = [" ".join(rng.choice(words, int(rng.integers(4, 25)))) + rng.choice([".", "?", "؟"])
                         for _ in range(int(rng.integers(2, 9)))]
            blocks.append(" ".join(sentences) + f" {number}-{int(rng.integers(1, 999))}")
            if rng.random() < 0.2:
                blocks.append("\n".join(" | ".join(rng.choice(words, 3)) for _ in range(4)))
        texts.append("\n\n".join(blocks))
    return texts


def write_docs(folder: Path, texts: list[str]) -> None:
    folder.mkdir(parents=True)
    for number, text in enumerate(texts):
        (folder / f"{number:05d}.txt").write_text(text, encoding="utf-8")


def embedding_throughput(work: Path, documents: int, rounds: int, held_out: bool) -> dict[str, float]:
    """Best of ``rounds`` alternating runs of each side (the machine's load varies over time), each
    structuring a fresh copy of one ingested project; the model is loaded once beforehand for both."""
    name = "held-out" if held_out else "tuned"
    write_docs(work / f"docs-{name}", corpus_texts(documents, held_out))
    template = init_project(work / f"template-{name}")
    ingest_paths(template, [work / f"docs-{name}"], recursive=True)
    model = cached_embedder("use-multilingual")
    model.embed(["warm up"])
    ChunkIndex(template.path("lancedb")).count()   # imports lancedb once, outside both timings
    structure_times, direct_times, chunks = [], [], 0
    for round_number in range(rounds):
        project = Project(Path(shutil.copytree(template.root, work / f"throughput-{name}-{round_number}")))
        started = time.perf_counter(), time.process_time()
        chunks = structure_project(project).chunks
        structure_times.append((time.perf_counter() - started[0], time.process_time() - started[1]))
        with project.catalog() as conn:
            texts = [row[0] for row in conn.execute("SELECT text FROM chunks ORDER BY id").fetchall()]
        batch = int(project.settings["structure.batch_chunks"])
        started = time.perf_counter(), time.process_time()
        for start in range(0, len(texts), batch):
            model.embed(texts[start:start + batch])
        direct_times.append((time.perf_counter() - started[0], time.process_time() - started[1]))
    (structure_s, structure_cpu), (direct_s, direct_cpu) = min(structure_times), min(direct_times)
    return {"corpus": name, "chunks": chunks, "structure_chunks_per_s": chunks / structure_s,
            "direct_embed_chunks_per_s": chunks / direct_s, "ratio": direct_s / structure_s,
            "cpu_ratio": min(t[1] for t in direct_times) / min(t[1] for t in structure_times)}


def synthetic_table(root: Path, rows: int, dim: int = 512, clusters: int = 256) -> tuple[ChunkIndex, np.ndarray]:
    rng = np.random.default_rng(7)
    centres = rng.normal(size=(clusters, dim)).astype(np.float32)
    vectors = centres[rng.integers(0, clusters, rows)] + 0.35 * rng.normal(size=(rows, dim)).astype(np.float32)
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    index = ChunkIndex(root)
    for start in range(0, rows, 20000):
        numbers = range(start, min(start + 20000, rows))
        texts = [f"synthetic chunk {n}" for n in numbers]
        index.add({"chunk_id": [f"d{n // 10}:{n % 10}" for n in numbers], "document_id": [f"d{n // 10}" for n in numbers],
                   "seq": [n % 10 for n in numbers], "page_start": [1] * len(texts), "page_end": [1] * len(texts),
                   "text": texts, "text_en": texts, "text_ar": [""] * len(texts), "language": ["en"] * len(texts)},
                  vectors[start:start + 20000])
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
    """Ingest ``documents`` generated records here (through the CLI, in its own process), then
    structure them in a fresh child that reports its own peak RSS (see :func:`_memory`)."""
    project = init_project(work / f"memory-{documents}")
    folder = work / f"memory-docs-{documents}"
    write_docs(folder, [" ".join(f"Line {n} of record {d}: valve inspected, pressure noted." for n in range(40))
                        for d in range(documents)])
    subprocess.run([sys.executable, "-m", "llmforge", "-q", "-p", str(project.root), "ingest", str(folder), "-r"],
                   check=True, capture_output=True)
    out = subprocess.run([sys.executable, __file__, "--memory-stage", str(project.root)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out.strip().splitlines()[-1])


def _memory(root: Path) -> dict[str, float]:
    """Structure the project at ``root`` in this process, which does nothing else, and report its
    RSS before structuring (everything imported, the index opened) and its peak (``VmHWM``)."""
    register_embedder(EmbedderSpec("bench-hash", lambda _name: HashEmbedder(), "benchmark stand-in"))
    project = Project(root)
    ChunkIndex(project.path("lancedb")).count()  # imports lancedb before the baseline
    ready = _status_mb("VmRSS")
    report = structure_project(project, embedder="bench-hash")
    return {"chunks": report.chunks, "rss_ready_mb": ready, "peak_rss_mb": _status_mb("VmHWM")}


def _status_mb(field: str) -> float:
    """A memory figure of this process from /proc/self/status (VmRSS: now; VmHWM: its peak)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"/proc/self/status has no {field}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--documents", type=int, default=200, help="documents for the throughput runs")
    parser.add_argument("--rounds", type=int, default=2, help="alternating runs of each side per corpus")
    parser.add_argument("--large", type=int, default=100_000, help="rows of the large latency table")
    parser.add_argument("--memory-stage", type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.memory_stage:
        print(json.dumps(_memory(args.memory_stage)))
        return
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        result = {"throughput": [embedding_throughput(work, args.documents, args.rounds, held_out)
                                 for held_out in (False, True)],
                  "latency": [search_latency(work, 10_000), search_latency(work, args.large)],
                  "memory": [memory(work, 100), memory(work, 800)]}
    if args.json:
        print(json.dumps(result, indent=2))
        return
    for t in result["throughput"]:
        print(f"structure ({t['corpus']}): {t['chunks']} chunks at {t['structure_chunks_per_s']:.1f}/s; direct USE "
              f"{t['direct_embed_chunks_per_s']:.1f}/s; ratio {t['ratio']:.2f} (CPU time {t['cpu_ratio']:.2f})")
    for row in result["latency"]:
        print(f"{row['rows']:>7} chunks: brute force p50 {row['brute_p50_ms']:.1f} ms, p95 {row['brute_p95_ms']:.1f} ms;"
              f" IVF-PQ p50 {row['ivfpq_p50_ms']:.1f} ms, p95 {row['ivfpq_p95_ms']:.1f} ms, "
              f"recall@10 {row['ivfpq_recall@10']:.3f}")
    small, large = result["memory"]
    for row in result["memory"]:
        print(f"memory: {row['chunks']} chunks structured, RSS {row['rss_ready_mb']:.0f} MB when ready, "
              f"peak {row['peak_rss_mb']:.0f} MB")
    print(f"memory: peak grew {large['peak_rss_mb'] - small['peak_rss_mb']:.0f} MB from {small['chunks']} to "
          f"{large['chunks']} chunks")


if __name__ == "__main__":
    main()
