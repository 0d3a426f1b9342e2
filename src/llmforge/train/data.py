"""Training datasets: corpus text, operator examples and synthetic QA pairs, split by document.

    build_dataset(project, sources=("corpus", "extra.jsonl"), synthesize_qa=50)
      corpus       one "text" row per catalog chunk (continued pre-training)
      FILE.jsonl   one "chat" row per line: {"messages": [...]} or {"instruction", "input", "output"};
                   every line is checked first, and one bad line imports nothing
      synthetic    a local model writes a question and its short answer for sampled chunks, in the
                   chunk's language; a pair whose answer is not in its chunk is dropped
    -> datasets/<name>/{train,eval}/ (Arrow, one schema) + dataset.json (:class:`DatasetInfo`)

The split is by document, never by row: neighbouring chunks overlap (``structure.overlap``) and a
QA pair quotes its chunk, so a row-level split would leak held-out text into training. Documents
are ranked by a hash of (seed, document id) rather than shuffled, so a document's rank does not
move when others are added. Operator examples have no document; each distinct example is its own
group, and examples and documents are held out in separate pools so neither crowds out the other.

A dataset is written to a hidden temporary sibling and renamed into place only when complete: a
failed build leaves the previous dataset of that name as it was.
"""

from __future__ import annotations

import codecs
import hashlib
import json
import logging
import os
import random
import re
import shutil
import tempfile
from collections import Counter, deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field, fields
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmforge.errors import NotFoundError, TrainError, UsageError
from llmforge.text.language import script_letters
from llmforge.text.normalize import search_form
from llmforge.locks import pid_alive
from llmforge.project import Project
from llmforge.textstore import catalog_key, open_text

if TYPE_CHECKING:
    import datasets

log = logging.getLogger(__name__)

Messages = list[dict[str, str]]
Generate = Callable[[Messages], str]
Progress = Callable[[int, int], None]

COLUMNS = ("kind", "text", "messages", "answer", "document_id", "chunk_id", "source")
SPLITS = ("train", "eval")
ROLES = ("system", "user", "assistant")
INFO_FILE = "dataset.json"
MIN_CHUNK_CHARS = 20         # shorter chunks (a stray heading, a page number) teach nothing
MIN_QA_CHUNK_CHARS = 80      # too little text to ask a question about
SUBSTANTIVE_CHARS = 160      # chunks at least this long are asked about first
MAX_ANSWER_CHARS = 200       # a "short answer" longer than this is a copied passage
MAX_JSONL_BYTES = 256 * 1024 * 1024
MAX_REPORTED_ERRORS = 8
QA_MAX_TOKENS = 160
_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_TEMPORARY = re.compile(r"^\.(?P<name>.+)\.(?P<kind>tmp|old)-(?P<pid>\d+)-")


@dataclass(frozen=True)
class DatasetInfo:
    """What ``dataset.json`` records about a built dataset.

    ``sha256`` hashes the rows of both splits in order, so equal inputs and seed give an equal
    hash. ``documents`` are the catalog documents the rows came from, ``eval_documents`` those
    held out; ``notes`` say what a reader should know (one document only, QA pairs dropped).
    """

    name: str
    path: Path
    sha256: str
    kinds: tuple[str, ...]
    train_rows: int
    eval_rows: int
    documents: tuple[str, ...]
    sources: tuple[str, ...]
    created_at: str
    eval_documents: tuple[str, ...] = ()
    eval_fraction: float = 0.0
    seed: int = 0
    qa_pairs: int = 0
    qa_discarded: int = 0
    notes: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["path"] = str(self.path)
        return {key: list(value) if isinstance(value, tuple) else value for key, value in data.items()}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> DatasetInfo:
        values: dict[str, Any] = {}
        for spec in fields(cls):
            if spec.name in data:
                value = data[spec.name]
                values[spec.name] = tuple(value) if isinstance(value, list) else value
        values["path"] = Path(values["path"])
        return cls(**values)


@dataclass(frozen=True)
class _Chunk:
    id: str
    document_id: str
    seq: int
    language: str
    text: str


# --- building ------------------------------------------------------------------------------


def build_dataset(project: Project, *, name: str = "default", sources: Sequence[str] = ("corpus",),
                  synthesize_qa: int = 0, eval_fraction: float | None = None, seed: int | None = None,
                  generate: Generate | None = None, progress: Progress | None = None) -> DatasetInfo:
    """Build dataset ``name`` (replacing one of that name only once the new one is complete).

    Args:
        sources: ``"corpus"`` (the catalog's chunks) and/or paths of ``.jsonl`` example files.
        synthesize_qa: how many chunks to ask the local model a question about (0: none).
        eval_fraction: share of documents held out (default: setting train.eval_fraction).
        seed: seed of the split and of the QA chunk sample (default: setting train.seed).
        generate: ``messages -> reply text`` for QA synthesis (default: the serve.model runtime).
        progress: called with (chunks asked, chunks to ask) during QA synthesis.

    Raises:
        UsageError: a bad name, fraction, count or source.
        NotFoundError: an example file does not exist.
        TrainError: invalid example lines (all listed), no chunks, or nothing to train on.
    """
    _check_name(name)
    fraction = float(project.settings["train.eval_fraction"] if eval_fraction is None else eval_fraction)
    if not 0.0 <= fraction <= 1.0:
        raise UsageError(f"eval fraction must be between 0 and 1, not {fraction}")
    seed = int(project.settings["train.seed"] if seed is None else seed)
    if synthesize_qa < 0:
        raise UsageError("the number of QA pairs to synthesise cannot be negative")
    if not sources and not synthesize_qa:
        raise UsageError("no dataset sources: give 'corpus', .jsonl files or a number of QA pairs to synthesise")
    use_corpus, files = _parse_sources(sources)
    file_rows = _read_example_files(files)  # before any slow work: a typo in line 3 fails at once
    chunks = _read_chunks(project) if use_corpus or synthesize_qa else []
    corpus_rows = [_corpus_row(chunk) for chunk in chunks if len(chunk.text.strip()) >= MIN_CHUNK_CHARS]
    qa = _synthesize(project, chunks, synthesize_qa, seed, generate, progress) if synthesize_qa else _Synthesis()
    rows = corpus_rows * use_corpus + qa.rows + file_rows
    if not rows:
        raise TrainError("empty dataset: the sources hold no rows (corpus chunks are all shorter than "
                         f"{MIN_CHUNK_CHARS} characters, or no QA pair survived)")
    train, held, split_notes = _split(rows, fraction, seed)
    splits = {"train": train, "eval": held}
    target = project.path("datasets") / name
    info = DatasetInfo(
        name=name, path=target, sha256=_content_hash(splits),
        kinds=tuple(kind for kind in ("text", "chat") if any(row["kind"] == kind for row in rows)),
        train_rows=len(train), eval_rows=len(held),
        documents=tuple(sorted({row["document_id"] for row in rows if row["document_id"]})),
        sources=("corpus",) * use_corpus + tuple(str(path) for path in files),
        created_at=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        eval_documents=tuple(sorted({row["document_id"] for row in held if row["document_id"]})),
        eval_fraction=fraction, seed=seed, qa_pairs=len(qa.rows), qa_discarded=qa.discarded,
        notes=tuple(qa.notes + split_notes),
    )
    _save(project, info, splits)
    log.info("built dataset %s: %d train rows, %d eval rows, sha256 %s", name, len(train), len(held), info.sha256)
    return info


def _check_name(name: str) -> None:
    if not _NAME.fullmatch(name):
        raise UsageError(f"invalid dataset name {name!r}: use up to 64 letters, digits, '-', '_' and '.', "
                         "starting with a letter or digit")


def _parse_sources(sources: Sequence[str]) -> tuple[bool, list[Path]]:
    if isinstance(sources, str):
        sources = (sources,)
    use_corpus, files = False, []
    for source in sources:
        if source == "corpus":
            use_corpus = True
            continue
        path = Path(source).expanduser().absolute()
        if path.suffix.lower() != ".jsonl":
            raise UsageError(f"unknown dataset source {source!r}: give 'corpus' or a .jsonl file")
        if not path.is_file():
            raise NotFoundError(f"example file {path} does not exist")
        if path not in files:
            files.append(path)
    return use_corpus, files


def _row(kind: str, *, text: str = "", messages: Messages | None = None, answer: str = "",
         document_id: str = "", chunk_id: str = "", source: str) -> dict[str, Any]:
    return {"kind": kind, "text": text, "messages": messages or [], "answer": answer,
            "document_id": document_id, "chunk_id": chunk_id, "source": source}


def _corpus_row(chunk: _Chunk) -> dict[str, Any]:
    return _row("text", text=chunk.text, document_id=chunk.document_id, chunk_id=chunk.id, source="corpus")


def _read_chunks(project: Project) -> list[_Chunk]:
    with project.catalog() as conn:
        rows = conn.execute("SELECT id, document_id, seq, coalesce(language, ''), text FROM chunks "
                            "ORDER BY document_id, seq").fetchall()
    if not rows:
        raise TrainError("no chunks: run `llmforge structure` first")
    key = catalog_key(project)   # an encrypted project's chunk text is sealed in the catalog
    return [_Chunk(chunk_id, document_id, seq, language, open_text(key, text, chunk_id))
            for chunk_id, document_id, seq, language, text in rows]


# --- example files -------------------------------------------------------------------------


def _read_example_files(files: Iterable[Path]) -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    errors: list[str] = []
    for path in files:
        file_rows, file_errors = _read_jsonl(path)
        rows += file_rows
        errors += file_errors
    if errors:
        shown = "\n".join(f"  {error}" for error in errors[:MAX_REPORTED_ERRORS])
        more = f"\n  … and {len(errors) - MAX_REPORTED_ERRORS} more" if len(errors) > MAX_REPORTED_ERRORS else ""
        raise TrainError(f"{len(errors)} problem(s) in the example files; nothing was imported:\n{shown}{more}")
    return rows


def _read_jsonl(path: Path) -> tuple[list[dict[str, Any]], list[str]]:
    """The chat rows of one file and its problems, each as ``file:line: what``."""
    size = path.stat().st_size
    if size > MAX_JSONL_BYTES:
        return [], [f"{path}: {size:,} bytes is over the {MAX_JSONL_BYTES:,}-byte limit of an example file; "
                    "split it into several files"]
    data = path.read_bytes()
    data = data[len(codecs.BOM_UTF8):] if data.startswith(codecs.BOM_UTF8) else data
    rows, errors = [], []
    for number, raw in enumerate(data.split(b"\n"), 1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            errors.append(f"{path}:{number}: not UTF-8 (byte 0x{raw[exc.start]:02x} at column {exc.start + 1})")
            continue
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as exc:
            errors.append(f"{path}:{number}: not valid JSON ({exc.msg} at column {exc.colno})")
            continue
        messages, problem = example_messages(record)
        if messages is None:
            errors.append(f"{path}:{number}: {problem}")
        else:
            rows.append(_row("chat", messages=messages, source=f"file:{path.name}"))
    if not rows and not errors:
        errors.append(f"{path}: empty dataset (the file holds no examples)")
    return rows, errors


def example_messages(record: Any) -> tuple[Messages | None, str]:
    """The chat messages of one example line, or ``(None, problem)``.

    Chat format: ``{"messages": [{"role", "content"}, ...]}`` ending with an assistant turn.
    Instruction format: ``{"instruction", "input" (optional), "output"}``, turned into a user turn
    (instruction, blank line, input) and an assistant turn (output).
    """
    if not isinstance(record, dict):
        return None, "expected a JSON object"
    if "messages" in record:
        return _chat_messages(record["messages"])
    if "instruction" in record or "output" in record:
        return _instruction_messages(record)
    return None, 'expected "messages" (chat format) or "instruction" and "output" (instruction format)'


def _chat_messages(messages: Any) -> tuple[Messages | None, str]:
    if not isinstance(messages, list) or not messages:
        return None, '"messages" must be a non-empty list'
    checked: Messages = []
    for number, message in enumerate(messages, 1):
        if not isinstance(message, dict):
            return None, f"message {number} is not an object"
        role, content = message.get("role"), message.get("content")
        if role not in ROLES:
            return None, f"message {number}: role {role!r} is not one of {', '.join(ROLES)}"
        if not isinstance(content, str) or not content.strip():
            return None, f"message {number}: content must be a non-empty string"
        checked.append({"role": role, "content": content})
    if not any(message["role"] == "user" for message in checked):
        return None, "no user message"
    if checked[-1]["role"] != "assistant":
        return None, "the last message must be the assistant's (the answer to learn)"
    return checked, ""


def _instruction_messages(record: dict[str, Any]) -> tuple[Messages | None, str]:
    instruction, extra, output = record.get("instruction"), record.get("input") or "", record.get("output")
    for key, value in (("instruction", instruction), ("output", output)):
        if not isinstance(value, str) or not value.strip():
            return None, f'"{key}" must be a non-empty string'
    if not isinstance(extra, str):
        return None, '"input" must be a string'
    user = f"{instruction}\n\n{extra}" if extra.strip() else instruction
    return [{"role": "user", "content": user}, {"role": "assistant", "content": output}], ""


# --- synthetic QA --------------------------------------------------------------------------

_LABEL = re.compile(
    r"^[\s*_#>•-]*(?P<label>q(?:uestion)?|a(?:nswer)?|س|سؤال|السؤال|ج|جواب|الجواب|إجابة|الإجابة|الاجابة)"
    r"\s*\d*\s*[*_]*\s*[:：]\s*(?P<rest>.*)$", re.IGNORECASE)
_QUESTION_LABELS = {"q", "question", "س", "سؤال", "السؤال"}
_QUOTES = "*_`\"'“”‘’«» "


def _script(text: str) -> str:
    """``ar`` or ``latn``, whichever has more letters in ``text`` ("" for neither)."""
    arabic, latin = script_letters(text)
    return "ar" if arabic > latin else "latn" if latin > arabic else ""


def qa_prompt(passage: str, language: str = "") -> Messages:
    """Messages asking for one question about ``passage`` and its short, quoted answer."""
    script = _script(passage)
    name = "Arabic" if script == "ar" else "English" if language == "en" else "the language of the passage"
    system = ("You write one exam question about a passage, and its answer.\n"
              f"- Write the question in {name}, the language of the passage.\n"
              "- The answer is a short phrase copied word for word from the passage.\n"
              "Reply with exactly two lines and nothing else:\nQ: <question>\nA: <answer>")
    ask = "اكتب سؤالاً واحداً بالعربية عن هذا النص، وإجابته القصيرة منقولة حرفياً من النص." \
        if script == "ar" else "Write one question about this passage, and its short answer."
    return [{"role": "system", "content": system}, {"role": "user", "content": f"{ask}\n\nPassage:\n{passage}"}]


def parse_qa(reply: str) -> tuple[str, str] | None:
    """``(question, answer)`` from a ``Q: …`` / ``A: …`` reply (markdown, Arabic labels and a
    label alone on its line tolerated), or None when either is missing."""
    found: dict[str, str] = {}
    current = ""
    for line in reply.splitlines():
        match = _LABEL.match(line)
        if match:
            current = "q" if match["label"].lower() in _QUESTION_LABELS else "a"
            if found.get(current):
                break  # a second pair: keep the first
            found[current] = match["rest"].strip(_QUOTES)
        elif current and not found[current] and line.strip():
            found[current] = line.strip(_QUOTES)
    question, answer = found.get("q", ""), found.get("a", "").rstrip(".,;:!،؛۔ ").strip(_QUOTES)
    return (question, answer) if question and answer else None


def _match_form(text: str) -> str:
    return " ".join(search_form(text).split())


_WORD = re.compile(r"\S+")
_PUNCTUATION = ".,;:!?()[]{}\"'“”‘’«»،؛؟…-–—"
GROUNDED_SHARE = 0.75  # of an answer's words that must appear, in order and unbroken, in the passage
_SENTENCE_END = ".,;:!?،؛؟… "
_NEGATIONS = frozenset(search_form(w) for w in "not no never none nor without لا لم لن ليس ليست غير بدون ما".split())


def ground_answer(answer: str, passage: str) -> str:
    """The passage's own words for ``answer``: the longest unbroken run of the answer's words
    (compared in search form) found in the passage, when it covers at least GROUNDED_SHARE of
    them; "" otherwise. A small model's "It isolates the main during repairs" becomes the
    passage's "isolates the main during repairs"; "Mill Lane Pump Station" for a passage that
    only says "Mill Lane" is not grounded."""
    wanted = [key for key in (_word_key(word) for word in answer.split()) if key]
    words = list(_WORD.finditer(passage))
    keys = [_word_key(word.group()) for word in words]
    best, best_end = 0, 0
    previous = [0] * (len(wanted) + 1)  # longest common run ending at passage word i-1, answer word j-1
    for i, key in enumerate(keys, 1):
        current = [0] * (len(wanted) + 1)
        for j, target in enumerate(wanted, 1):
            if key and key == target:
                current[j] = previous[j - 1] + 1
                if current[j] > best:
                    best, best_end = current[j], i
        previous = current
    if not wanted or best < GROUNDED_SHARE * len(wanted):
        return ""
    run = Counter(keys[best_end - best:best_end])
    if any(key in _NEGATIONS for key in (Counter(wanted) - run)):
        return ""   # "not the eastern main" is not "the eastern main"
    first, last = words[best_end - best], words[best_end - 1]
    return passage[first.start():last.end()].rstrip(_SENTENCE_END)


def _word_key(word: str) -> str:
    return search_form(word).strip(_PUNCTUATION)


def check_qa(question: str, answer: str, passage: str) -> str:
    """Why a pair is unusable ("" when it is fine): the answer must be short and in the passage,
    the question in the passage's script."""
    if len(answer) > MAX_ANSWER_CHARS:
        return "answer too long"
    if _match_form(answer) not in _match_form(passage):
        return "answer not in the chunk"
    if _script(passage) and _script(question) != _script(passage):
        return "question not in the chunk's language"
    return ""


def _pick_chunks(chunks: Sequence[_Chunk], count: int, seed: int) -> list[_Chunk]:
    """``count`` chunks, round-robin over documents in a seeded order, long chunks first."""
    rng = random.Random(f"qa:{seed}")
    by_document: dict[str, list[_Chunk]] = {}
    for chunk in chunks:
        if len(chunk.text.strip()) >= MIN_QA_CHUNK_CHARS:
            by_document.setdefault(chunk.document_id, []).append(chunk)
    queues = []
    for document in sorted(by_document):
        ordered = list(by_document[document])
        rng.shuffle(ordered)
        ordered.sort(key=lambda chunk: len(chunk.text) < SUBSTANTIVE_CHARS)  # stable: seeded order kept
        queues.append(deque(ordered))
    rng.shuffle(queues)
    picked: list[_Chunk] = []
    while len(picked) < count and any(queues):
        for queue in queues:
            if queue and len(picked) < count:
                picked.append(queue.popleft())
    return sorted(picked, key=lambda chunk: (chunk.document_id, chunk.seq))


def _local_model(project: Project) -> Generate:
    from llmforge.inference.runtime import get_runtime

    runtime = get_runtime(project, str(project.settings["serve.model"]))

    def generate(messages: Messages) -> str:
        reply = runtime.chat(messages, max_tokens=QA_MAX_TOKENS, temperature=0)
        return reply["choices"][0]["message"]["content"] or ""

    return generate


@dataclass
class _Synthesis:
    rows: list[dict[str, Any]] = field(default_factory=list)
    discarded: int = 0
    notes: list[str] = field(default_factory=list)


def _synthesize(project: Project, chunks: Sequence[_Chunk], count: int, seed: int, generate: Generate | None,
                progress: Progress | None) -> _Synthesis:
    """QA chat rows for up to ``count`` chunks, with notes on what was discarded and why."""
    picked = _pick_chunks(chunks, count, seed)
    notes = []
    if len(picked) < count:
        notes.append(f"only {len(picked)} chunks are long enough to ask about ({count} QA pairs asked for)")
    if picked and generate is None:
        generate = _local_model(project)
    rows, discarded = [], Counter[str]()
    for done, chunk in enumerate(picked, 1):
        pair = parse_qa(generate(qa_prompt(chunk.text, chunk.language)))  # type: ignore[misc]
        if pair and check_qa(*pair, chunk.text) == "answer not in the chunk":
            pair = (pair[0], ground_answer(pair[1], chunk.text) or pair[1])
        problem = check_qa(*pair, chunk.text) if pair else "unparsable reply"
        if problem:
            discarded[problem] += 1
        else:
            question, answer = pair  # type: ignore[misc]
            rows.append(_row("chat", messages=[{"role": "user", "content": question},
                                               {"role": "assistant", "content": answer}],
                             answer=answer, document_id=chunk.document_id, chunk_id=chunk.id, source="synthetic"))
        if progress:
            progress(done, len(picked))
    if discarded:
        reasons = ", ".join(f"{n} {reason}" for reason, n in sorted(discarded.items()))
        notes.append(f"synthetic QA: kept {len(rows)} of {len(picked)} pairs; discarded {reasons}")
    return _Synthesis(rows, sum(discarded.values()), notes)


# --- split, hash, storage ------------------------------------------------------------------


def _group(row: dict[str, Any]) -> str:
    if row["document_id"]:
        return row["document_id"]
    return "example:" + hashlib.sha256(_canonical(row["messages"]).encode()).hexdigest()[:16]


def _held_out(groups: Sequence[str], fraction: float, seed: int) -> list[str]:
    if len(groups) < 2 or fraction <= 0:
        return []
    count = min(len(groups) - 1, max(1, round(len(groups) * fraction)))
    return sorted(groups, key=lambda group: hashlib.sha256(f"{seed}:{group}".encode()).hexdigest())[:count]


def _split(rows: list[dict[str, Any]], fraction: float, seed: int) -> tuple[list, list, list[str]]:
    """Rows for train and eval (no group in both), and notes on what could not be held out."""
    groups = [_group(row) for row in rows]   # an operator example's group is a hash of its messages
    documents = sorted({row["document_id"] for row in rows if row["document_id"]})
    examples = sorted({group for row, group in zip(rows, groups) if not row["document_id"]})
    held = set(_held_out(documents, fraction, seed)) | set(_held_out(examples, fraction, seed))
    notes = []
    if fraction > 0 and len(documents) == 1:
        notes.append(f"only one document ({documents[0]}): all its rows are in train, none in eval")
    if fraction > 0 and len(examples) == 1:
        notes.append("only one distinct operator example: it is in train")
    train = [row for row, group in zip(rows, groups) if group not in held]
    return train, [row for row, group in zip(rows, groups) if group in held], notes


def _canonical(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _content_hash(splits: dict[str, Iterable[dict[str, Any]]]) -> str:
    digest = hashlib.sha256()
    for split in SPLITS:
        for row in splits[split]:
            digest.update(_canonical([split, {column: row[column] for column in COLUMNS}]).encode())
            digest.update(b"\n")
    return digest.hexdigest()


def dataset_features() -> datasets.Features:
    """The one Arrow schema of every split of every dataset."""
    import datasets

    string = datasets.Value("string")
    return datasets.Features({
        "kind": string, "text": string,
        "messages": datasets.List({"role": string, "content": string}),
        "answer": string, "document_id": string, "chunk_id": string, "source": string,
    })


def _save(project: Project, info: DatasetInfo, splits: dict[str, list[dict[str, Any]]]) -> None:
    import datasets

    directory = project.path("datasets")
    directory.mkdir(parents=True, exist_ok=True)
    temporary = Path(tempfile.mkdtemp(prefix=f".{info.name}.tmp-{os.getpid()}-", dir=directory))
    try:
        features = dataset_features()
        frames = datasets.DatasetDict({
            split: datasets.Dataset.from_dict({column: [row[column] for row in rows] for column in COLUMNS},
                                              features=features)
            for split, rows in splits.items()})
        bars_were_on = not datasets.are_progress_bars_disabled()
        datasets.disable_progress_bars()
        try:
            # An empty split saved with the default sharding gets no data file and cannot be loaded.
            frames.save_to_disk(str(temporary), num_shards={s: None if rows else 1 for s, rows in splits.items()})
        finally:
            if bars_were_on:
                datasets.enable_progress_bars()
        (temporary / INFO_FILE).write_text(json.dumps(info.to_dict(), ensure_ascii=False, indent=2) + "\n",
                                           encoding="utf-8")
        _install(project, temporary, info.path)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _install(project: Project, temporary: Path, target: Path) -> None:
    """Rename ``temporary`` to ``target``, moving an existing ``target`` aside first (a directory
    cannot be renamed over a non-empty one)."""
    from llmforge.locks import writer_lock

    wait = float(project.settings["lock.wait"])
    with writer_lock(target.parent / ".lock", f"train data build {target.name}", wait):
        _recover_interrupted(target.parent)
        previous = None
        if target.exists():
            previous = target.with_name(f".{target.name}.old-{os.getpid()}-{os.urandom(4).hex()}")
            os.replace(target, previous)
        try:
            os.replace(temporary, target)
        except BaseException:
            if previous is not None:
                os.replace(previous, target)
            raise
    if previous is not None:
        shutil.rmtree(previous, ignore_errors=True)


def _recover_interrupted(directory: Path) -> None:
    """Clear what builds killed mid-way left: temporary directories go; a previous dataset moved
    aside but never replaced comes back."""
    for entry in directory.iterdir():
        match = _TEMPORARY.match(entry.name)
        if not match or pid_alive(int(match["pid"])):
            continue
        target = directory / match["name"]
        if match["kind"] == "old" and not target.exists():
            os.replace(entry, target)
            log.warning("restored dataset %s, which an interrupted build had moved aside", match["name"])
        else:
            shutil.rmtree(entry, ignore_errors=True)


# --- reading -------------------------------------------------------------------------------


def _read_info(directory: Path) -> DatasetInfo:
    try:
        data = json.loads((directory / INFO_FILE).read_text(encoding="utf-8"))
        return DatasetInfo.from_dict({**data, "path": str(directory)})  # the project may have moved
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise TrainError(f"dataset {directory.name} is damaged ({INFO_FILE}: {exc}); build it again") from None


def list_datasets(project: Project) -> list[DatasetInfo]:
    """Every readable dataset of the project, by name (damaged ones are logged and left out)."""
    directory = project.path("datasets")
    if not directory.is_dir():
        return []
    found = []
    for entry in sorted(directory.iterdir()):
        if entry.name.startswith(".") or not (entry / INFO_FILE).is_file():
            continue
        try:
            found.append(_read_info(entry))
        except TrainError as exc:
            log.warning("%s", exc)
    return found


def load_dataset_info(project: Project, name: str) -> DatasetInfo:
    """The :class:`DatasetInfo` of dataset ``name``.

    Raises:
        NotFoundError: no such dataset (the message lists the known ones).
        TrainError: its ``dataset.json`` is unreadable.
    """
    directory = project.path("datasets") / name
    if not _NAME.fullmatch(name) or not (directory / INFO_FILE).is_file():
        known = ", ".join(info.name for info in list_datasets(project))
        hint = f"known: {known}" if known else "none built yet; run `llmforge train data build`"
        raise NotFoundError(f"no dataset {name!r} ({hint})")
    return _read_info(directory)


def open_splits(info: DatasetInfo, *, verify: bool = False) -> datasets.DatasetDict:
    """The ``train`` and ``eval`` splits of a dataset (memory-mapped Arrow).

    Args:
        verify: recompute the content hash and compare it with ``info.sha256``.

    Raises:
        TrainError: the files are missing or damaged, or (with ``verify``) changed since the build.
    """
    import datasets

    try:
        splits = datasets.load_from_disk(str(info.path))
    except (OSError, ValueError) as exc:
        raise TrainError(f"dataset {info.name} cannot be read ({exc}); build it again") from None
    if not isinstance(splits, datasets.DatasetDict) or set(splits) != set(SPLITS):
        raise TrainError(f"dataset {info.name} does not hold the splits {' and '.join(SPLITS)}; build it again")
    if verify and _content_hash({split: splits[split] for split in SPLITS}) != info.sha256:
        raise TrainError(f"dataset {info.name} changed since it was built (sha256 mismatch); build it again")
    return splits
