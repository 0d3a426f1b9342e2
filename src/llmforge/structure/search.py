"""Search the chunk index: vector, keyword, or hybrid (min-max linear fusion), with citations.

Fusion was chosen by measurement (bench/retrieval_xquad.py): on XQuAD-ar, BM25 with Arabic
normalisation and light stemming reached R@5 0.964, USE vectors alone 0.878, RRF 0.953 and a
min-max linear fusion with vector weight 0.3–0.5 0.975 — keyword search carries Arabic, and
cross-lingual questions need the vectors. ``search.vector_weight`` sets the weight.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass
from typing import Any

from llmforge.errors import NotFoundError, UsageError
from llmforge.text.normalize import search_form
from llmforge.text.stopwords import ENGLISH_STOPWORDS
from llmforge.project import Project
from llmforge.settings import SEARCH_MODES
from llmforge.text.keywords import arabic_keywords
from llmforge.text.language import query_language
from llmforge.structure.embedders import cached_embedder
from llmforge.structure.storage import project_index
from llmforge.structure.pipeline import index_meta

_QUERY_WORD = re.compile(r"\w+")


@dataclass
class Hit:
    rank: int
    score: float
    chunk_id: str
    document_id: str
    title: str
    source_path: str
    page_start: int
    page_end: int
    text: str
    snippet: str
    vector_score: float | None = None
    keyword_score: float | None = None

    @property
    def citation(self) -> str:
        pages = f"p. {self.page_start}" if self.page_start == self.page_end else \
            f"pp. {self.page_start}-{self.page_end}"
        return f"{self.title}, {pages}"

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "citation": self.citation}


@dataclass
class SearchResult:
    query: str
    mode: str
    language: str
    took_ms: float
    hits: list[Hit]

    def to_dict(self) -> dict[str, Any]:
        return {"query": self.query, "mode": self.mode, "language": self.language,
                "took_ms": round(self.took_ms, 1), "hits": [hit.to_dict() for hit in self.hits]}


def validate_query(query: str, max_chars: int) -> str:
    query = " ".join(query.split())
    if not query:
        raise UsageError("the query is empty")
    if len(query) > max_chars:
        raise UsageError(f"the query is {len(query)} characters long; the limit is {max_chars} "
                         "(search.max_query_chars)")
    if not _QUERY_WORD.search(query):
        raise UsageError("the query has no words to search for")
    return query


def min_max(scores: dict[str, float]) -> dict[str, float]:
    if not scores:
        return {}
    low, high = min(scores.values()), max(scores.values())
    if high - low < 1e-12:
        return {key: 1.0 for key in scores}
    return {key: (value - low) / (high - low) for key, value in scores.items()}


def search(project: Project, query: str, *, k: int | None = None, mode: str | None = None,
           lang: str = "auto") -> SearchResult:
    """The ``k`` best chunks for ``query``, each with its document, pages and a snippet.

    Raises:
        UsageError: an empty, over-long or wordless query; an unknown mode.
        NotFoundError: nothing has been structured yet.
    """
    started = time.perf_counter()
    settings = project.settings
    query = validate_query(query, int(settings["search.max_query_chars"]))
    k = int(k or settings["search.k"])
    mode = mode or str(settings["search.mode"])
    if mode not in SEARCH_MODES:
        raise UsageError(f"unknown search mode {mode!r} (choose from {', '.join(SEARCH_MODES)})")
    if k < 1:
        raise UsageError("k must be at least 1")
    language = query_language(query) if lang in ("auto", "") else {"ara": "ar", "eng": "en"}.get(lang, lang)
    with project.catalog() as conn:
        meta = index_meta(conn)
    index = project_index(project)
    if meta is None or index.count() == 0:
        raise NotFoundError("nothing is indexed yet: run `llmforge structure` after `llmforge ingest`")
    pool = max(4 * k, 20)
    rows: dict[str, dict[str, Any]] = {}
    vector_scores: dict[str, float] = {}
    keyword_scores: dict[str, float] = {}
    if mode in ("vector", "hybrid"):
        vector = cached_embedder(meta["embedder"]).embed([query])[0]
        for row in index.search_vector(vector, pool):
            rows[row["chunk_id"]] = row
            vector_scores[row["chunk_id"]] = 1.0 - float(row["_distance"])
    if mode in ("keyword", "hybrid"):
        keywords = arabic_keywords(query) if language == "ar" else " ".join(_QUERY_WORD.findall(query))
        for row in index.search_keyword(keywords, language, pool):
            rows.setdefault(row["chunk_id"], row)
            keyword_scores[row["chunk_id"]] = float(row["_score"])
    other_language = {chunk_id for chunk_id, row in rows.items() if is_other_script(language, row.get("language"))}
    fused = _fuse(mode, vector_scores, keyword_scores, float(settings["search.vector_weight"]), other_language)
    ranked = sorted(fused, key=lambda chunk_id: (-fused[chunk_id], chunk_id))[:k]
    hits = _hits(project, query, ranked, rows, fused, vector_scores, keyword_scores)
    return SearchResult(query, mode, language, (time.perf_counter() - started) * 1000, hits)


def is_other_script(query_language: str, chunk_language: str | None) -> bool:
    """Whether a chunk cannot share words with the query: by script, not by language guess
    (a short English table row is tagged ``latn``, yet an English query matches it)."""
    parts = set((chunk_language or "und").split("+"))
    if query_language == "ar":
        return "ar" not in parts and parts != {"und"}
    return parts == {"ar"}


def _fuse(mode: str, vector: dict[str, float], keyword: dict[str, float], weight: float,
          other_language: set[str] = frozenset()) -> dict[str, float]:
    """Scores of the chosen mode; hybrid is a min-max linear fusion.

    A chunk in another language than the query cannot match its words, so whatever keyword
    score it has (shared numbers, names) is noise and is left out: such chunks rank by their
    vector score alone, below same-language chunks that match both ways. Measured on XQuAD:
    cross-lingual questions then do as well as pure vector search, and in a mixed corpus the
    same-language passage keeps the top rank.
    """
    if mode == "vector":
        return vector
    if mode == "keyword":
        return keyword
    v, kw = min_max(vector), min_max(keyword)
    fused = {}
    for key in set(v) | set(kw):
        keyword_part = 0.0 if key in other_language else kw.get(key, 0.0)
        fused[key] = weight * v.get(key, 0.0) + (1 - weight) * keyword_part
    return fused


def _hits(project: Project, query: str, ranked: list[str], rows: dict[str, dict[str, Any]],
          fused: dict[str, float], vector: dict[str, float], keyword: dict[str, float]) -> list[Hit]:
    document_ids = sorted({rows[chunk_id]["document_id"] for chunk_id in ranked})
    with project.catalog() as conn:
        documents = {row[0]: row[1:] for row in conn.execute(
            "SELECT id, title, source_path FROM documents WHERE list_contains(?, id)", [document_ids]).fetchall()}
    hits = []
    for chunk_id in ranked:
        row = rows[chunk_id]
        if row["document_id"] not in documents:
            continue  # its document was deleted a moment ago
        title, path = documents[row["document_id"]]
        hits.append(Hit(len(hits) + 1, round(fused[chunk_id], 6), chunk_id, row["document_id"], title or "",
                        path, row["page_start"], row["page_end"], row["text"], snippet(row["text"], query),
                        vector.get(chunk_id), keyword.get(chunk_id)))
    return hits


def snippet(text: str, query: str, width: int = 240) -> str:
    """About ``width`` characters of ``text`` around the densest run of query words, with each
    matching word wrapped in ``**``. Matching uses the search form, so Arabic matches with or
    without diacritics and alef/ya variants."""
    words = {search_form(w) for w in _QUERY_WORD.findall(query)
             if len(w) > 2 and w.lower() not in ENGLISH_STOPWORDS}
    matches = [m for m in _QUERY_WORD.finditer(text) if _matches(search_form(m.group()), words)]
    if not matches:
        return text[:width].replace("\n", " ") + ("…" if len(text) > width else "")
    best = max(matches, key=lambda m: sum(1 for o in matches if 0 <= o.start() - m.start() < width))
    start = max(0, best.start() - width // 4)
    end = min(len(text), start + width)
    out, position = [], start
    for match in matches:
        if match.start() < start or match.end() > end:
            continue
        out.append(text[position:match.start()])
        out.append(f"**{match.group()}**")
        position = match.end()
    out.append(text[position:end])
    return ("…" if start else "") + "".join(out).replace("\n", " ") + ("…" if end < len(text) else "")


def _matches(word: str, query_words: set[str]) -> bool:
    if word in query_words:
        return True
    stemmed = arabic_keywords(word)
    return any(stemmed and stemmed == arabic_keywords(q) for q in query_words) or any(
        len(q) >= 4 and word.startswith(q[:max(4, len(q) - 2)]) for q in query_words)
