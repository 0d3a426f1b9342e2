"""Retrieval quality on XQuAD: 240 parallel Arabic/English passages, 1,190 questions each.

    .venv/bin/python bench/retrieval_xquad.py [--json] [--limit N] [--chunk-tokens N]

Each passage is ingested as its own document and structured with the default embedder; every
question is asked in vector, keyword and hybrid mode (hybrid at several vector weights), and the
rank of the gold passage's document (first chunk of it among the hits) gives recall@1, recall@5
and MRR@10. Three settings: Arabic questions over Arabic passages, English over English, and
cross-lingual (Arabic questions over English passages), and a mixed corpus holding both versions
of every passage (either counts as gold). Baselines for the ratios are the single
modes measured in the same run. Needs ../shared/corpora/qa/xquad.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.project import Project, init_project  # noqa: E402
from llmforge.text.keywords import arabic_keywords  # noqa: E402
from llmforge.structure.index import ChunkIndex  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402
from llmforge.structure.embedders import cached_embedder  # noqa: E402
from llmforge.structure.search import _QUERY_WORD, _fuse, is_other_script  # noqa: E402

XQUAD = REPO.parent / "shared" / "corpora" / "qa" / "xquad"
WEIGHTS = (0.2, 0.3, 0.4, 0.5, 0.6)
POOL = 50


def load(language: str) -> tuple[list[str], list[tuple[str, int]]]:
    """Passages, and (question, index of its passage) pairs."""
    data = json.loads((XQUAD / f"xquad.{language}.json").read_text(encoding="utf-8"))["data"]
    passages, questions = [], []
    for article in data:
        for paragraph in article["paragraphs"]:
            passages.append(paragraph["context"])
            questions += [(qa["question"], len(passages) - 1) for qa in paragraph["qas"]]
    return passages, questions


def build(work: Path, language: str, passages: list[str], chunk_tokens: int | None,
          extra: list[str] = ()) -> tuple[Project, dict[str, int]]:
    """A project holding the passages (and ``extra`` ones: a parallel translation, mapped to the
    same passage numbers, so either version counts as the gold passage)."""
    folder = work / f"passages-{language}"
    folder.mkdir()
    for number, passage in enumerate(passages):
        (folder / f"{number:04d}.txt").write_text(passage, encoding="utf-8")
    for number, passage in enumerate(extra):
        (folder / f"{number:04d}.x.txt").write_text(passage, encoding="utf-8")
    project = init_project(work / f"project-{language}")
    ingest_paths(project, [folder], recursive=True)
    structure_project(project, chunk_tokens=chunk_tokens)
    with project.catalog() as conn:
        mapping = {doc: int(Path(path).name[:4]) for doc, path in conn.execute(
            "SELECT id, source_path FROM documents WHERE status = 'ingested'").fetchall()}
    return project, mapping


def ranks(project: Project, mapping: dict[str, int], questions: list[tuple[str, int]],
          query_language: str) -> dict[str, list[int | None]]:
    """Rank (1-based) of the gold passage per question and method; None when not in the top 10."""
    index = ChunkIndex(project.path("lancedb"))
    embedder = cached_embedder("use-multilingual")
    vectors = embedder.embed([q for q, _ in questions])
    out: dict[str, list[int | None]] = {"vector": [], "keyword": [], **{f"hybrid@{w}": [] for w in WEIGHTS}}
    for (question, gold), vector in zip(questions, vectors):
        vector_scores, keyword_scores, documents, other = {}, {}, {}, set()
        for row in index.search_vector(vector, POOL):
            vector_scores[row["chunk_id"]] = 1.0 - float(row["_distance"])
            documents[row["chunk_id"]] = row["document_id"]
            if is_other_script(query_language, row["language"]):
                other.add(row["chunk_id"])
        keywords = arabic_keywords(question) if query_language == "ar" else " ".join(_QUERY_WORD.findall(question))
        for row in index.search_keyword(keywords, query_language, POOL):
            keyword_scores[row["chunk_id"]] = float(row["_score"])
            documents[row["chunk_id"]] = row["document_id"]
            if is_other_script(query_language, row["language"]):
                other.add(row["chunk_id"])
        for method in out:
            mode = method.split("@")[0]
            weight = float(method.split("@")[1]) if "@" in method else 0.0
            fused = _fuse(mode, vector_scores, keyword_scores, weight, other)
            ordered = sorted(fused, key=lambda chunk: -fused[chunk])
            seen: list[int] = []
            for chunk in ordered:
                passage = mapping[documents[chunk]]
                if passage not in seen:
                    seen.append(passage)
            out[method].append(seen.index(gold) + 1 if gold in seen[:10] else None)
    return out


def summarise(rank_list: list[int | None]) -> dict[str, float]:
    n = len(rank_list)
    return {"recall@1": sum(r == 1 for r in rank_list) / n,
            "recall@5": sum(r is not None and r <= 5 for r in rank_list) / n,
            "mrr@10": sum(1 / r for r in rank_list if r) / n}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--limit", type=int, default=0, help="only the first N questions per setting")
    parser.add_argument("--chunk-tokens", type=int, default=None)
    args = parser.parse_args()
    if not XQUAD.is_dir():
        sys.exit(f"XQuAD not found at {XQUAD}")
    results: dict[str, dict[str, dict[str, float]]] = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        ar_passages, ar_questions = load("ar")
        en_passages, en_questions = load("en")
        if args.limit:
            ar_questions, en_questions = ar_questions[:args.limit], en_questions[:args.limit]
        ar_project, ar_map = build(work, "ar", ar_passages, args.chunk_tokens)
        en_project, en_map = build(work, "en", en_passages, args.chunk_tokens)
        mixed_project, mixed_map = build(work, "ar+en", ar_passages, args.chunk_tokens, en_passages)
        settings = {"ar→ar": (ar_project, ar_map, ar_questions, "ar"),
                    "en→en": (en_project, en_map, en_questions, "en"),
                    "ar→en": (en_project, en_map, ar_questions, "ar"),
                    "ar→ar+en": (mixed_project, mixed_map, ar_questions, "ar"),
                    "en→ar+en": (mixed_project, mixed_map, en_questions, "en")}
        for name, (project, mapping, questions, language) in settings.items():
            per_method = ranks(project, mapping, questions, language)
            results[name] = {method: summarise(r) for method, r in per_method.items()}
    if args.json:
        print(json.dumps({"results": results, "seconds": time.perf_counter() - started}, indent=2))
        return
    for name, methods in results.items():
        count = len(ar_questions if name.startswith("ar") else en_questions)
        print(f"\n{name}   ({count} questions)")
        print(f"  {'method':<12} {'R@1':>6} {'R@5':>6} {'MRR@10':>7}")
        for method, scores in methods.items():
            print(f"  {method:<12} {scores['recall@1']:6.3f} {scores['recall@5']:6.3f} {scores['mrr@10']:7.3f}")
    print(f"\n{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
