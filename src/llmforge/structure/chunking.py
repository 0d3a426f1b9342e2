"""Token-aware chunking that respects paragraphs, sentences, headings and tables.

A document's pages are cut into blocks (paragraphs, headings, tables), blocks too large for one
chunk into sentences (Latin and Arabic punctuation: . ! ? ؟ ؛ ۔ and the Arabic comma ، as a last
resort), sentences still too large into word runs. Blocks are then packed greedily into chunks
of at most ``chunk_tokens`` tokens of the embedder's tokenizer; each chunk after the first in a
section repeats the last ``overlap`` tokens' worth of sentences of the previous one. A heading
starts a new chunk (when the current one is at least half full) and travels with the text under
it; a table too large for one chunk is split by rows, its header row repeated in each part.

Every chunk knows where it came from: first and last page, and character offsets into those
pages' text, so a search hit or an answer can cite "document, page".
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

TokenCounter = Callable[[str], int]

_PARAGRAPH = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?؟؛۔])[\"'»”)\]]*\s+")
_LINE_END = re.compile(r"\n")
_CLAUSE_END = re.compile(r"(?<=[،,;:])\s+")
_TABLE_ROW = re.compile(r"^[^\n|]*\|[^\n]*$")


@dataclass(frozen=True)
class Span:
    """A piece of text and where it sits: page number and character offsets into that page."""

    text: str
    page: int
    start: int
    end: int
    kind: str = "text"  # text | heading | table
    block: int = 0      # which paragraph it belongs to: pieces of one are joined by a space


@dataclass(frozen=True)
class Chunk:
    seq: int
    text: str
    tokens: int
    page_start: int
    page_end: int
    char_start: int   # offset into page_start's text
    char_end: int     # offset into page_end's text
    heading: str      # the heading this chunk sits under ("" if none)


def is_heading(block: str) -> bool:
    """A short single line without closing punctuation that looks like a title."""
    line = block.strip()
    if "\n" in line or not line or len(line) > 90:
        return False
    if line.startswith("#"):
        return True
    if line[-1] in ".!?؟,،;؛:|" or sum(ch.isalpha() for ch in line) < 3:
        return False
    numbered = re.match(r"^(\d+(\.\d+)*|[IVX]+|[A-Z])[.)]?\s+\S", line)
    words = line.split()
    titled = sum(w[:1].isupper() for w in words) >= max(1, len(words) * 0.6)
    return bool(numbered) or titled or line.isupper() or (len(words) <= 6 and not line[0].islower())


def blocks(pages: Iterable[tuple[int, str]]) -> Iterator[Span]:
    """Paragraph-level spans of every page, typed as heading, table or text."""
    number = 0
    for page_no, text in pages:
        position = 0
        for match in [*_PARAGRAPH.finditer(text), None]:
            end = match.start() if match else len(text)
            piece = text[position:end]
            stripped = piece.strip()
            if stripped:
                offset = position + piece.index(stripped)
                rows = stripped.split("\n")
                kind = "table" if len(rows) >= 2 and all(_TABLE_ROW.match(r) for r in rows) else (
                    "heading" if is_heading(stripped) else "text")
                yield Span(stripped, page_no, offset, offset + len(stripped), kind, number)
                number += 1
            position = match.end() if match else len(text)


def _split(span: Span, pattern: re.Pattern[str]) -> list[Span]:
    pieces, position = [], 0
    for match in [*pattern.finditer(span.text), None]:
        end = match.start() if match else len(span.text)
        piece = span.text[position:end].strip()
        if piece:
            start = span.text.index(piece, position)
            pieces.append(Span(piece, span.page, span.start + start, span.start + start + len(piece),
                               span.kind, span.block))
        position = match.end() if match else len(span.text)
    return pieces


def _words(span: Span, limit: int, count: TokenCounter) -> list[Span]:
    """Runs of whole words under ``limit`` tokens (for a sentence with no usable punctuation)."""
    pieces: list[Span] = []
    words = [(m.start(), m.end()) for m in re.finditer(r"\S+", span.text)]
    begin = 0
    while begin < len(words):
        end = begin + 1
        while end < len(words) and count(span.text[words[begin][0]:words[end][1]]) <= limit:
            end += 1
        a, b = words[begin][0], words[end - 1][1]
        pieces.append(Span(span.text[a:b], span.page, span.start + a, span.start + b, span.kind, span.block))
        begin = end
    return pieces


def _fit(span: Span, limit: int, count: TokenCounter) -> list[tuple[Span, int]]:
    """``span`` cut into pieces of at most ``limit`` tokens, at the gentlest boundary that works,
    each with its token count (counted once: counting is most of chunking's time)."""
    tokens = count(span.text)
    if tokens <= limit:
        return [(span, tokens)]
    if span.kind == "table":
        pieces = _table_parts(span, limit, count)
    else:
        for pattern in (_SENTENCE_END, _LINE_END, _CLAUSE_END):
            parts = _split(span, pattern)
            if len(parts) > 1:
                return [piece for part in parts for piece in _fit(part, limit, count)]
        pieces = _words(span, limit, count)
    return [(piece, count(piece.text)) for piece in pieces]


def _table_parts(span: Span, limit: int, count: TokenCounter) -> list[Span]:
    rows = _split(Span(span.text, span.page, span.start, span.end, "text", span.block), _LINE_END)
    header, parts, current = rows[0], [], [rows[0]]
    for row in rows[1:]:
        candidate = "\n".join(r.text for r in [*current, row])
        if len(current) > 1 and count(candidate) > limit:
            parts.append(current)
            current = [header, row]
        else:
            current.append(row)
    parts.append(current)
    out = []
    for part in parts:
        body = part[1:] if part[0] is header and len(parts) > 1 and part is not parts[0] else part
        text = "\n".join(r.text for r in part)
        first = body[0] if body else part[0]
        out.append(Span(text, first.page, first.start, part[-1].end, "table", span.block))
    return out


class _Packer:
    """Greedy packing of spans into chunks; token counts of pieces are summed (each piece is
    counted once), and each finished chunk is counted exactly."""

    def __init__(self, count: TokenCounter, chunk_tokens: int, overlap: int) -> None:
        self.count = count
        self.limit = chunk_tokens
        self.overlap = overlap
        self.chunks: list[Chunk] = []
        self.spans: list[tuple[Span, int]] = []   # the chunk being filled, with token counts
        self.heading = ""                        # the heading in force
        self.chunk_heading = ""                  # the heading in force when this chunk began

    def used(self) -> int:
        return sum(tokens for _, tokens in self.spans) + (self.count(self.chunk_heading) if self._needs_prefix() else 0)

    def _needs_prefix(self) -> bool:
        return bool(self.chunk_heading) and bool(self.spans) and self.spans[0][0].kind != "heading"

    def add_heading(self, span: Span) -> None:
        if self.spans and self.used() >= self.limit // 2:
            self.flush(keep_overlap=False)
        self.heading = span.text.lstrip("#").strip()
        if not self.spans:
            self.chunk_heading = self.heading
        self.spans.append((span, self.count(span.text)))

    def add(self, span: Span) -> None:
        budget = self.limit - (self.count(self.heading) + 1 if self.heading else 0)
        for piece, tokens in _fit(span, max(budget, 16), self.count):
            if self.spans and self.used() + tokens > self.limit:
                self.flush(keep_overlap=True)
                while self.spans and self.used() + tokens > self.limit:
                    self.spans.pop(0)  # the carried overlap must not push the chunk over the limit
            if not self.spans:
                self.chunk_heading = self.heading
            self.spans.append((piece, tokens))

    def flush(self, keep_overlap: bool) -> None:
        if not self.spans:
            return
        spans = [span for span, _ in self.spans]
        prefix = f"{self.chunk_heading}\n" if self._needs_prefix() else ""
        text = prefix + join_spans(spans)
        self.chunks.append(Chunk(len(self.chunks), text, self.count(text), spans[0].page, spans[-1].page,
                                 spans[0].start, spans[-1].end, self.chunk_heading))
        carried: list[tuple[Span, int]] = []
        if keep_overlap and self.overlap:
            for span, tokens in reversed(self.spans):
                if span.kind == "heading" or tokens + sum(t for _, t in carried) > self.overlap:
                    break
                carried.insert(0, (span, tokens))
        self.spans = carried
        self.chunk_heading = self.heading


def chunk_pages(pages: Iterable[tuple[int, str]], count: TokenCounter, chunk_tokens: int = 200,
                overlap: int = 30) -> list[Chunk]:
    """Chunks of a document given as ``(page_no, text)`` pairs; see the module docstring."""
    if chunk_tokens < 16:
        raise ValueError("chunk_tokens must be at least 16")
    packer = _Packer(count, chunk_tokens, max(0, min(overlap, chunk_tokens // 2)))
    for block in blocks(pages):
        if block.kind == "heading":
            packer.add_heading(block)
        else:
            packer.add(block)
    packer.flush(keep_overlap=False)
    return packer.chunks


def join_spans(spans: list[Span]) -> str:
    """Pieces of one paragraph joined by a space, paragraphs by a line break."""
    parts = [spans[0].text]
    for previous, span in zip(spans, spans[1:]):
        parts.append((" " if span.block == previous.block else "\n") + span.text)
    return "".join(parts)
