"""Retrieval-augmented answers with citations.

retrieve (hybrid search) → keep passages while they fit the context budget, numbered →
generate with an instruction to answer only from them → cite the passages that hold the answer's
content words (document, page, chunk); a 0.5B model asked to write [n] markers often wrote only
the marker, so attribution is computed instead of requested. When no passage is similar enough to the question
(vector similarity ``rag.min_score``) nor shares enough of its content words
(``rag.min_coverage``), the answer says so without asking the model at all: a small model
given unrelated passages invents an answer (measured), so the gate comes before generation.
After generation, an answer whose content words are mostly absent from the passages it was
given (``rag.min_grounding``) is replaced by the same "not in the documents" reply: a small model
asked about something the passages do not say tends to invent. An Arabic question gets the
instructions, and so the answer, in Arabic.
"""

from __future__ import annotations

import re
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from llmforge.project import Project
from llmforge.serve.runtime import LlamaRuntime, get_runtime
from llmforge.structure.analysis import query_language
from llmforge.structure.search import Hit, search

INSTRUCTIONS = {
    "en": ("Answer the question using only the sources below, in one short sentence in English. "
           "If the sources do not contain the answer, reply exactly: I could not find this in the documents."),
    "ar": ("أجب عن السؤال مستعيناً بالمصادر أدناه فقط، بجملة قصيرة باللغة العربية. "
           "إذا لم تتضمن المصادر الإجابة فقل حرفياً: لم أجد هذا في الوثائق."),
}
NOT_FOUND = {"en": "I could not find this in the documents.", "ar": "لم أجد هذا في الوثائق."}
RELATIVE_FLOOR = 0.3  # passages scoring under this share of the best one only distract a small model
_CITATION = re.compile(r"\[(\d{1,2})\]")
_REFUSAL = re.compile(r"could not find|not (?:in|contained in) the (?:documents|sources)|don't know|"
                      r"لم أجد|لا تتضمن|لا أعرف|غير موجود", re.IGNORECASE)


@dataclass
class Citation:
    number: int
    chunk_id: str
    document_id: str
    title: str
    source_path: str
    page_start: int
    page_end: int
    citation: str


@dataclass
class Answer:
    question: str
    answer: str
    language: str
    refused: bool
    citations: list[Citation]
    sources: list[Citation] = field(default_factory=list)   # everything the model was shown
    model: str = ""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    took_ms: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class AgentSettings:
    """What an answer depends on; an agent is a named, versioned set of these."""

    model: str | None = None
    system_prompt: str | None = None
    k: int | None = None
    mode: str = "hybrid"
    min_score: float | None = None
    max_tokens: int | None = None
    temperature: float = 0.0


def keyword_coverage(question: str, text: str) -> float:
    """Share of the question's content words (stemmed, stop words dropped) found in ``text``."""
    from llmforge.ingest.normalize import ENGLISH_STOPWORDS
    from llmforge.structure.analysis import arabic_keywords

    words = {w for w in arabic_keywords(question).split()
             if w not in ENGLISH_STOPWORDS and (len(w) > 2 or w.isdigit())}
    if not words:
        return 0.0
    present = set(arabic_keywords(text).split())
    return sum(1 for w in words if w in present or (len(w) > 4 and any(p.startswith(w[:5]) for p in present))) / len(words)


def grounded_share(answer: str, used: list[Hit]) -> float:
    """How much of the answer the passages support: the best share of its content words found
    in one passage (an answer of no content words counts when it appears verbatim)."""
    shares = [keyword_coverage(answer, hit.text) for hit in used]
    if any(shares):
        return max(shares)
    core = answer.strip(" .،؟?!\n")
    return 1.0 if core and any(core in hit.text for hit in used) else 0.0


def attribute(answer: str, used: list[Hit], sources: list[Citation]) -> list[Citation]:
    """The sources the answer came from: those holding most of its content words (a small model
    cites unreliably, so citations are computed, and always point at passages it was given)."""
    scores = [keyword_coverage(answer, hit.text) for hit in used]
    best = max(scores, default=0.0)
    if best == 0.0:
        return sources[:1]
    return [source for source, score in zip(sources, scores) if score >= 0.8 * best]


def _cite(number: int, hit: Hit) -> Citation:
    return Citation(number, hit.chunk_id, hit.document_id, hit.title, hit.source_path, hit.page_start,
                    hit.page_end, hit.citation)


def build_messages(question: str, hits: list[Hit], runtime: LlamaRuntime, language: str,
                   system_prompt: str | None, max_tokens: int) -> tuple[list[dict[str, str]], list[Hit]]:
    """System and user messages with as many numbered passages as fit the context window."""
    system = (system_prompt + "\n\n" if system_prompt else "") + INSTRUCTIONS[language]
    label, source = ("السؤال", "المصدر") if language == "ar" else ("Question", "Source")
    answer_label = "الإجابة" if language == "ar" else "Answer"
    budget = runtime.n_ctx - max_tokens - runtime.count_tokens(system + question) - 64
    used, blocks = [], []
    for hit in hits:
        block = f"{source} [{len(used) + 1}]: {hit.text}"
        cost = runtime.count_tokens(block) + 4
        if cost > budget:
            break
        budget -= cost
        used.append(hit)
        blocks.append(block)
    user = "\n\n".join(blocks) + f"\n\n{label}: {question}\n{answer_label}:"
    return [{"role": "system", "content": system}, {"role": "user", "content": user}], used


def ask(project: Project, question: str, settings: AgentSettings | None = None) -> Answer:
    """Answer ``question`` from the project's documents, citing them (see the module docstring)."""
    started = time.perf_counter()
    settings = settings or AgentSettings()
    config = project.settings
    language = query_language(question)
    k = settings.k or int(config["rag.k"])
    min_score = settings.min_score if settings.min_score is not None else float(config["rag.min_score"])
    max_tokens = settings.max_tokens or int(config["rag.max_tokens"])
    result = search(project, question, k=k, mode=settings.mode)
    best = max((hit.vector_score or 0.0 for hit in result.hits), default=0.0)
    covered = max((keyword_coverage(question, hit.text) for hit in result.hits), default=0.0)
    runtime = get_runtime(project, settings.model)
    if not result.hits or (best < min_score and covered < float(config["rag.min_coverage"])):
        return Answer(question, NOT_FOUND[language], language, True, [], [], runtime.name,
                      took_ms=(time.perf_counter() - started) * 1000)
    top = result.hits[0].score
    relevant = [hit for hit in result.hits if hit.score >= RELATIVE_FLOOR * top]
    messages, used = build_messages(question, relevant, runtime, language, settings.system_prompt, max_tokens)
    reply = runtime.chat(messages, max_tokens=max_tokens, temperature=settings.temperature)
    text = reply["choices"][0]["message"]["content"].strip()
    usage = reply.get("usage", {})
    sources = [_cite(number, hit) for number, hit in enumerate(used, start=1)]
    refused = bool(_REFUSAL.search(text))
    text = _CITATION.sub("", text).strip() if not refused else text
    grounding = grounded_share(text, used)
    if not refused and grounding < float(config["rag.min_grounding"]):
        refused, text = True, NOT_FOUND[language]  # the words of the answer are not in the passages
    citations = [] if refused else attribute(text, used, sources)
    return Answer(question, text, language, refused, citations, sources, runtime.name,
                  usage.get("prompt_tokens", 0), usage.get("completion_tokens", 0),
                  (time.perf_counter() - started) * 1000)
