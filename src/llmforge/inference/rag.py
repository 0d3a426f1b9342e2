"""Retrieval-augmented answers with citations.

retrieve (hybrid search) → keep passages while they fit the context budget, numbered →
generate with an instruction to answer only from them → cite the passages that hold the answer's
content words (document, page, chunk); a 0.5B model asked to write [n] markers often wrote only
the marker, so attribution is computed instead of requested.

A small model given passages that do not answer the question invents an answer from them
(measured on XQuAD with the answer's passage left out of the index), so four checks stand
between it and the reply "not in the documents":

- before generation: no passage similar enough to the question (vector similarity
  ``rag.min_score``) nor holding enough of its content words (``rag.min_coverage``);
- the model says it found nothing. It is first asked once more, with one document's passages
  alone and no way out, when it pointed at that document with a bare "Source [n]" (the 1.5B
  model's habit in Arabic), when a passage of it holds every content word of the question
  (``rag.retry_coverage``) or when its best passage stands out from every other document's
  (``rag.retry_margin``): the model declined answerable questions too;
- the answer's content words are mostly absent from the passages (``rag.min_grounding``);
- the passages the answer is drawn from hold too little of the question's content words
  (``rag.min_evidence``): an answer taken from a neighbouring passage on the same subject.
  Not asked of a question with no content words, or of passages in another language.

An Arabic question gets the instructions, and so the answer, in Arabic. ``Answer.reason`` says
which check refused, and ``Answer.draft`` keeps the model's own words. ``Answer.timings`` says where
the time went: retrieval, the model's load when this answer waited for it, prompt evaluation and
generation as llama.cpp's own timers count them, and the whole (see :func:`_timings`).
"""

from __future__ import annotations

import re
import time
import weakref
from collections.abc import Generator, Iterator
from dataclasses import asdict, dataclass, field
from typing import Any, TypeVar

from llmforge.project import Project
from llmforge.inference.runtime import LlamaRuntime, get_runtime
from llmforge.text.language import query_language
from llmforge.structure.search import Hit, search

INSTRUCTIONS = {
    "en": "Answer the question using only the sources below, in one short sentence in English.",
    "ar": "أجب عن السؤال مستعيناً بالمصادر أدناه فقط، بجملة قصيرة باللغة العربية.",
}
WAY_OUT = {
    "en": "If the sources do not contain the answer, reply exactly: I could not find this in the documents.",
    "ar": "إذا لم تتضمن المصادر الإجابة فقل حرفياً: لم أجد هذا في الوثائق.",
}
NOT_FOUND = {"en": "I could not find this in the documents.", "ar": "لم أجد هذا في الوثائق."}
_T = TypeVar("_T")
RELATIVE_FLOOR = 0.3  # passages scoring under this share of the best one only distract a small model
_CITATION = re.compile(r"\[(\d{1,2})\]")
# "Answer:", "Source [2]:", "A:", "ج:" ... before the reply; the one-letter labels only with a colon
_ECHOED_LABEL = re.compile(r"^\s*(?:(?:(?:source|المصدر)\s*\[?\d{0,2}\]?|answer|الإجابة|الاجابة|الجواب)\s*(?:[:：]\s*|[.\s]*$)"
                           r"|(?:a|ج)\s*[:：]\s*)", re.IGNORECASE)
_NEXT_QUESTION = re.compile(r"\n\s*(?:question|السؤال)\s*[:：]", re.IGNORECASE)   # the model writing the prompt on
_BARE_POINTER = re.compile(r"^\s*(?:source|المصدر)?\s*\[(\d{1,2})\][\s.:]*$", re.IGNORECASE)
_SPACE_BEFORE_MARK = re.compile(r"\s+(?=[.,،؛!?؟](?:\s|$))")  # left by a removed [n]; not ".5"
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
    reason: str = ""   # why it is a refusal: no relevant passage | the model found none | not grounded | ...
    draft: str = ""    # the model's own reply, before the checks (empty when it was not asked)
    timings: dict[str, Any] = field(default_factory=dict)   # milliseconds and tokens, see _timings

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


# Words that frame a question rather than say what it is about ("How *many* ...", "In what *year*",
# "What *type* of ...", "من *قبل*", "كم *عدد*"), as content_words sees them (Arabic ones stemmed): a
# passage rarely repeats them, so counting them held answerable questions under the coverage
# thresholds ("How many pumps ...?" against a passage giving the number).
FRAME_WORDS = frozenset(
    "were been has had can could would should may might will also than then there their they them "
    "these those its his her him she whom whose into about many much more most some such other each "
    "every any all both only name named called type kind year years entity thing "
    # نوع اسم سنة شيء أشياء يسمى تسمى قبل يمكن يكون تكون عدد لديه لدى أيضا خلال بعد (not عام, also
    # "public", nor أحد, also "Sunday": they can be what a question is about)
    "نوع اسم سنه شيء اشياء يسم تسم قبل يمكن يكون تكون عدد ديه لدي ايضا خلال بعد".split())


def content_words(text: str) -> set[str]:
    """The words of ``text`` that say what it is about: stemmed; stop words, question-frame words
    and short words dropped."""
    from llmforge.text.stopwords import ENGLISH_STOPWORDS
    from llmforge.text.keywords import arabic_keywords

    return {w for w in arabic_keywords(text).split()
            if w not in ENGLISH_STOPWORDS and w not in FRAME_WORDS and (len(w) > 2 or w.isdigit())}


def keyword_coverage(question: str, text: str) -> float:
    """Share of the question's content words (stemmed, stop words dropped) found in ``text``."""
    from llmforge.text.keywords import arabic_keywords

    words = content_words(question)
    if not words:
        return 0.0
    present = set(arabic_keywords(text).split())
    return sum(1 for word in words if _found(word, present)) / len(words)


_LEFT_SUFFIXES = ("ات", "ت", "ه", "ها", "هم", "ي", "ين", "ون")   # after search_form, ة is ه


def _found(word: str, present: set[str]) -> bool:
    """Whether ``word`` (a stem) is among the ``present`` stems: the same, or the same beginning
    (five letters, or a short Arabic stem that the passage writes with a suffix light stemming left
    on: خدم of خدمة in خدماتها, هوي of هوية in هويتها; not علم in علماء)."""
    if word in present:
        return True
    if len(word) > 4:
        return any(p.startswith(word[:5]) for p in present)
    return len(word) >= 3 and "\u0600" <= word[0] <= "\u06ff" and any(word + end in present for end in _LEFT_SUFFIXES)


def grounded_share(answer: str, used: list[Hit]) -> float:
    """How much of the answer the passages support: the best share of its content words found
    in one passage (an answer of no content words counts when it appears verbatim)."""
    shares = [keyword_coverage(answer, hit.text) for hit in used]
    if any(shares):
        return max(shares)
    core = answer.strip(" .،؟?!\n")
    return 1.0 if core and any(core in hit.text for hit in used) else 0.0


def supporting(answer: str, used: list[Hit]) -> list[int]:
    """Indexes of the passages the answer is drawn from: those holding most of its content words
    (the first passage when none holds any)."""
    scores = [keyword_coverage(answer, hit.text) for hit in used]
    best = max(scores, default=0.0)
    if best == 0.0:
        return [0] if used else []
    return [i for i, score in enumerate(scores) if score >= 0.8 * best]


def evidence(question: str, used: list[Hit], support: list[int]) -> float:
    """The share of the question's content words in the document the answer is drawn from
    (``support``, from :func:`supporting`): the passages of it the model was shown, together, since
    a question's words and its answer often sit in neighbouring chunks. An answer lifted from
    another passage on the same subject scores low."""
    documents = {used[i].document_id for i in support}
    return max((keyword_coverage(question, " ".join(hit.text for hit in used if hit.document_id == document))
                for document in documents), default=0.0)


def _evidence_applies(question: str, language: str, used: list[Hit], support: list[int]) -> bool:
    """Word overlap says nothing about a question with no content words ("What is AI?") or one
    asked in another language than the passages the answer comes from."""
    return bool(content_words(question)) and all(query_language(used[i].text) == language for i in support)


def _own_reply(text: str) -> str:
    """The reply up to where the model goes on to write a "Question:" of its own."""
    return _NEXT_QUESTION.split(text, maxsplit=1)[0]


def clean_reply(text: str, question: str) -> str:
    """The answer without what a small model echoes around it: the question, "Answer:" or
    "Source [n]:" labels, [n] markers, a "Question:" of its own after the answer."""
    text = _own_reply(text).strip()
    if question.strip() and text.startswith(question.strip()):
        text = text[len(question.strip()):]
    text = text.strip()
    while (stripped := _ECHOED_LABEL.sub("", text, count=1)) != text:   # "Answer: Source [2]: 1987"
        text = stripped
    return _SPACE_BEFORE_MARK.sub("", _CITATION.sub("", text)).strip()


def _retry_document(question: str, draft: str, used: list[Hit], ranked: list[Hit], retry_coverage: float,
                    retry_margin: float) -> str:
    """The document worth asking about once more after the model declined ("" for none):

    - the one it pointed at with a bare "Source [n]";
    - else one holding ``retry_coverage`` of the question's content words (by default all of them:
      a passage that has every word of "When was pump station 4 closed?" but "closed" must not be
      made to answer it);
    - else the best passage's document when it stands out: another document was retrieved, and
      none of its passages (in ``ranked``, all that search returned) scores above ``retry_margin``
      of the best. In the XQuAD recordings, no decline whose best passage was a wrong one (30) had
      every other document under 0.49 of it; 7 of the 13 whose best passage was the gold one did
      (0.18–0.41). Hybrid scores are min-max scaled over the search's candidates, so in a corpus of
      a few documents the others score lower and the rule fires more readily; the caller passes 0
      (never) for other search modes, whose scores the margin was not measured on.
    """
    pointer = _BARE_POINTER.match(_own_reply(draft))
    if pointer and 1 <= int(pointer[1]) <= len(used):
        return used[int(pointer[1]) - 1].document_id
    coverages = [keyword_coverage(question, hit.text) for hit in used]
    best = max(coverages, default=0.0)
    if used and best >= retry_coverage:
        return used[coverages.index(best)].document_id
    if not used or retry_margin <= 0 or used[0].score <= 0:
        return ""
    top = used[0]
    others = [hit.score for hit in ranked if hit.document_id != top.document_id]
    return top.document_id if others and max(others) <= retry_margin * top.score else ""


def _declined(text: str) -> bool:
    """The model found no answer, or wrote nothing but labels and markers."""
    return bool(_REFUSAL.search(text)) or not text.strip(" .:،\n")


def _cite(number: int, hit: Hit) -> Citation:
    return Citation(number, hit.chunk_id, hit.document_id, hit.title, hit.source_path, hit.page_start,
                    hit.page_end, hit.citation)


def build_messages(question: str, hits: list[Hit], runtime: LlamaRuntime, language: str,
                   system_prompt: str | None, max_tokens: int,
                   way_out: bool = True) -> tuple[list[dict[str, str]], list[Hit]]:
    """System and user messages with as many numbered passages as fit the context window;
    ``way_out`` tells the model how to say the passages hold no answer."""
    instructions = INSTRUCTIONS[language] + (" " + WAY_OUT[language] if way_out else "")
    system = (system_prompt + "\n\n" if system_prompt else "") + instructions
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


def ask(project: Project, question: str, settings: AgentSettings | None = None,
        runtime: LlamaRuntime | None = None) -> Answer:
    """Answer ``question`` from the project's documents, citing them (see the module docstring).

    ``runtime``: the model, already resolved (the server resolves what a caller names; default:
    ``settings.model`` through :func:`get_runtime`)."""
    return _drain(_answering(project, question, settings, runtime, stream=False))[0]


def ask_stream(project: Project, question: str, settings: AgentSettings | None = None,
               runtime: LlamaRuntime | None = None) -> Iterator[dict[str, Any]]:
    """:func:`ask` as events while the model writes, for a reader who should not wait for the end.

    Yields ``{"type": "delta", "text"}`` for each piece of the model's reply as it comes (until the
    model starts writing a question of its own); ``{"type": "restart"}`` when the model declined and
    is asked once more (drop what came before); then one ``{"type": "answer", ...}``: what
    :meth:`Answer.to_dict` holds, each citation with its passage's ``text``, and ``first_token_ms``.
    The final answer went through the same cleaning and checks as :func:`ask`'s, so it can differ
    from the pieces: a refusal with its ``reason`` replaces them. Errors before the first event
    (no index, a prompt over the context window) are raised from the first ``next()``.
    """
    started = time.perf_counter()
    first_token_ms: float | None = None
    events = _answering(project, question, settings, runtime, stream=True)
    while True:
        try:
            event = next(events)
        except StopIteration as done:
            answer, used = done.value
            break
        if first_token_ms is None and event["type"] == "delta":
            first_token_ms = (time.perf_counter() - started) * 1000
        yield event
    passages = {hit.chunk_id: hit.text for hit in used}
    final = answer.to_dict()
    final["citations"] = [{**citation, "text": passages.get(citation["chunk_id"], "")} for citation in final["citations"]]
    yield {"type": "answer", **final, "first_token_ms": first_token_ms}


Events = Generator[dict[str, Any], None, tuple[Answer, list[Hit]]]


def _drain(events: Generator[Any, None, _T]) -> _T:
    """Run ``events`` to its end, dropping what it yields; its return value."""
    while True:
        try:
            next(events)
        except StopIteration as done:
            return done.value


def _answering(project: Project, question: str, settings: AgentSettings | None, runtime: LlamaRuntime | None,
               stream: bool) -> Events:
    """The pipeline behind :func:`ask` and :func:`ask_stream`: yields the reply's pieces when
    ``stream``; returns the answer and the passages the model was shown."""
    started = time.perf_counter()
    settings = settings or AgentSettings()
    config = project.settings
    language = query_language(question)
    k = settings.k or int(config["rag.k"])
    min_score = settings.min_score if settings.min_score is not None else float(config["rag.min_score"])
    max_tokens = settings.max_tokens or int(config["rag.max_tokens"])
    searching = time.perf_counter()
    result = search(project, question, k=k, mode=settings.mode)
    retrieval_ms = (time.perf_counter() - searching) * 1000
    best = max((hit.vector_score or 0.0 for hit in result.hits), default=0.0)
    covered = max((keyword_coverage(question, hit.text) for hit in result.hits), default=0.0)
    loaded_here = runtime is None
    runtime = runtime or get_runtime(project, settings.model)
    load_ms = _load_ms(runtime, loaded_here)
    if not result.hits or (best < min_score and covered < float(config["rag.min_coverage"])):
        took_ms = (time.perf_counter() - started) * 1000
        return Answer(question, NOT_FOUND[language], language, True, [], [], runtime.name, took_ms=took_ms,
                      reason="no relevant passage",
                      timings=_timings(retrieval_ms, load_ms, None, took_ms)), []
    top = result.hits[0].score
    relevant = [hit for hit in result.hits if hit.score >= RELATIVE_FLOOR * top]
    generation = _Generation(runtime, settings, language, max_tokens, stream)
    draft, used = yield from generation.answer(question, relevant, way_out=True)
    text = clean_reply(draft, question)
    if _declined(text):
        margin = float(config["rag.retry_margin"]) if settings.mode == "hybrid" else 0.0
        document = _retry_document(question, draft, used, result.hits, float(config["rag.retry_coverage"]), margin)
        if document:
            yield {"type": "restart"}
            draft, used = yield from generation.answer(question, [hit for hit in used if hit.document_id == document],
                                                       way_out=False)
            text = clean_reply(draft, question)
    support = supporting(text, used)
    reason = "the model found no answer" if _declined(text) else ""
    if not reason and grounded_share(text, used) < float(config["rag.min_grounding"]):
        reason = "answer not in the passages"
    if not reason and _evidence_applies(question, language, used, support) and \
            evidence(question, used, support) < float(config["rag.min_evidence"]):
        reason = "the passages with the answer are not about the question"
    sources = [_cite(number, hit) for number, hit in enumerate(used, start=1)]
    citations = [] if reason else [sources[i] for i in support]
    took_ms = (time.perf_counter() - started) * 1000
    return Answer(question, NOT_FOUND[language] if reason else text, language, bool(reason), citations, sources,
                  runtime.name, generation.prompt_tokens, generation.completion_tokens, took_ms, reason, draft,
                  _timings(retrieval_ms, load_ms, generation.llama, took_ms)), used


_LOAD_REPORTED: weakref.WeakSet[Any] = weakref.WeakSet()   # runtimes whose load an answer has counted
_LLAMA_COUNTERS = ("prompt_eval_ms", "eval_ms", "prompt_eval_tokens", "eval_tokens")


def _load_ms(runtime: Any, loaded_here: bool) -> float | None:
    """llama.cpp's load time of ``runtime`` when this answer waited for it: it got the model itself
    (a caller that passes one loaded it) and is the first to use it; else 0. None for a runtime
    without llama.cpp's timers (a stand-in)."""
    if not hasattr(runtime, "perf"):
        return None
    counters = runtime.perf()
    if not loaded_here or runtime in _LOAD_REPORTED or counters["prompt_eval_ms"] or counters["eval_ms"]:
        return 0.0
    _LOAD_REPORTED.add(runtime)
    return float(runtime.load_ms)


def _timings(retrieval_ms: float, load_ms: float | None, llama: dict[str, float] | None,
             total_ms: float) -> dict[str, Any]:
    """Where an answer's time went, in milliseconds: ``retrieval_ms`` (the search), ``load_ms`` (the
    model's load, when this answer waited for it), ``prompt_eval_ms`` and ``generation_ms`` with
    ``prompt_eval_tokens`` and ``generated_tokens`` (llama.cpp's own timers over this answer's
    model calls; tokens a cached prompt prefix spared are not evaluated), ``model_ms`` (the three
    together: the model's own work) and ``total_ms``. The model's figures are None for a runtime
    without llama.cpp's timers. In a server, another request's generation on the same model
    between this answer's calls would be counted in them too; the CLI runs one answer at a time."""
    timed = load_ms is not None
    llama = (llama or dict.fromkeys(_LLAMA_COUNTERS, 0)) if timed else dict.fromkeys(_LLAMA_COUNTERS)
    model_ms = load_ms + llama["prompt_eval_ms"] + llama["eval_ms"] if timed else None
    return {"retrieval_ms": round(retrieval_ms, 1), "load_ms": _ms(load_ms),
            "prompt_eval_ms": _ms(llama["prompt_eval_ms"]), "prompt_eval_tokens": llama["prompt_eval_tokens"],
            "generation_ms": _ms(llama["eval_ms"]), "generated_tokens": llama["eval_tokens"],
            "model_ms": _ms(model_ms), "total_ms": round(total_ms, 1)}


def _ms(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


@dataclass
class _Generation:
    """The model calls behind one answer, with their token counts added up; ``stream`` yields the
    reply's pieces as they come."""

    runtime: LlamaRuntime
    settings: AgentSettings
    language: str
    max_tokens: int
    stream: bool = False
    prompt_tokens: int = 0
    completion_tokens: int = 0
    llama: dict[str, float] | None = None   # llama.cpp's counters over these calls (None: no timers)

    def answer(self, question: str, hits: list[Hit], *, way_out: bool) -> Generator[dict[str, Any], None,
                                                                                     tuple[str, list[Hit]]]:
        messages, used = build_messages(question, hits, self.runtime, self.language, self.settings.system_prompt,
                                        self.max_tokens, way_out)
        before = self.runtime.perf() if hasattr(self.runtime, "perf") else None
        reply = (yield from self._streamed(messages)) if self.stream else self._whole(messages)
        if before is not None:
            after = self.runtime.perf()
            self.llama = {name: (self.llama or {}).get(name, 0) + after[name] - before[name] for name in _LLAMA_COUNTERS}
        return reply, used

    def _whole(self, messages: list[dict[str, str]]) -> str:
        reply = self.runtime.chat(messages, max_tokens=self.max_tokens, temperature=self.settings.temperature)
        usage = reply.get("usage", {})
        self.prompt_tokens += usage.get("prompt_tokens", 0)
        self.completion_tokens += usage.get("completion_tokens", 0)
        return (reply["choices"][0]["message"]["content"] or "").strip()

    def _streamed(self, messages: list[dict[str, str]]) -> Generator[dict[str, Any], None, str]:
        """The reply, its pieces yielded until the model goes on to write a question of its own
        (the rest is still read, so the draft is what :func:`ask` would get)."""
        chunks = self.runtime.chat(messages, max_tokens=self.max_tokens, temperature=self.settings.temperature,
                                   stream=True)
        self.prompt_tokens += self.runtime.chat_prompt_tokens(messages)
        pieces: list[str] = []
        for chunk in chunks:
            piece = (chunk["choices"][0].get("delta") or {}).get("content") or ""
            if not piece:
                continue
            self.completion_tokens += 1   # llama.cpp streams one token per chunk
            pieces.append(piece)
            if not _NEXT_QUESTION.search("".join(pieces)):
                yield {"type": "delta", "text": piece}
        return "".join(pieces).strip()
