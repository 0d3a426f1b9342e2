"""Plain text and Markdown: find the encoding, say which one was used."""

from __future__ import annotations

import codecs
import itertools
import re
import unicodedata
from collections.abc import Callable, Iterator
from pathlib import Path

from llmforge.errors import IngestError
from llmforge.ingest.detect import utf16_without_bom
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Legacy single-byte encodings an Arabic or Western office produces, most specific first.
_LEGACY = ("cp1256", "iso-8859-6", "cp1252", "latin-1")
_ARABIC = re.compile("[\u0600-\u06ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


PAGE_CHARS = 1_000_000   # a longer text file is cut into pages of about this size, at paragraph breaks
_PIECE = 1 << 20


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of unknown encoding; return ``(text, encoding)`` (see :func:`choose_encoding`).

    Raises:
        IngestError: a BOM with content that does not decode by it.
    """
    codec, label = choose_encoding(data[:_HEAD], lambda encoding: _decodes_bytes(data, encoding))
    try:
        return data.decode(codec), label
    except UnicodeDecodeError as exc:
        raise IngestError(f"text file has a {codec} BOM but invalid content: {exc}") from None


def choose_encoding(head: bytes, decodes: Callable[[str], bool]) -> tuple[str, str]:
    """The codec to read a text with and the name to report, from its first bytes ``head`` and
    ``decodes(codec)``, whether the whole text decodes with a codec.

    Order: a BOM decides; then UTF-16 without BOM; then strict UTF-8; then the legacy encoding
    whose result reads most plausibly (words in one script, no control characters).
    """
    for bom, encoding in _BOMS:
        if head.startswith(bom):
            return encoding, "utf-16" if encoding == "utf-16" else "utf-8 (BOM)"
    utf16 = utf16_without_bom(head[:8192])  # before UTF-8: NUL bytes are valid UTF-8 too
    if utf16 and decodes(utf16):
        return utf16, utf16
    if decodes("utf-8"):
        return "utf-8", "utf-8"
    best: tuple[float, str] | None = None
    for encoding in _LEGACY:
        if not decodes(encoding):
            continue
        score = plausibility(head.decode(encoding, "ignore"))
        if best is None or score > best[0]:
            best = (score, encoding)
    assert best is not None  # latin-1 decodes anything
    return best[1], best[1]


_HEAD = 65536   # more bytes than plausibility() reads characters of a single-byte encoding


def _decodes_bytes(data: bytes, encoding: str) -> bool:
    try:
        data.decode(encoding)
    except UnicodeDecodeError:
        return False
    return True


def _decodes_file(path: Path, encoding: str) -> bool:
    decoder = codecs.getincrementaldecoder(encoding)()
    try:
        with open(path, "rb") as handle:
            while piece := handle.read(_PIECE):
                decoder.decode(piece)
        decoder.decode(b"", final=True)
    except UnicodeDecodeError:
        return False
    return True


def plausibility(text: str) -> float:
    """Higher for text whose words each stay in one script and which has no stray controls.

    A wrong Arabic code page turns letters into accented Latin inside Arabic words (or the reverse),
    a Western code page turns Arabic into words made mostly of accented letters, and C1 control
    characters appear where a Windows code page had punctuation.
    """
    sample = text[:20000]
    score = 0.0
    for word in sample.split():
        word = word.strip(".,;:!?()[]{}\"'«»،؛؟-")
        if not word:
            continue
        arabic, latin = bool(_ARABIC.search(word)), bool(_LATIN.search(word))
        accented = sum(1 for ch in word if "\u00c0" <= ch <= "\u024f")
        if arabic and latin:
            score -= 3.0
        elif latin and len(word) > 1 and accented * 2 > len(word):
            score -= 2.0  # Arabic bytes read as a Western code page: words of accented letters
        else:
            score += 1.0
    score -= 5.0 * sum(1 for ch in sample if unicodedata.category(ch) == "Cc" and ch not in "\n\r\t\f")
    return score


def extract_text_file(path: Path, max_bytes: int) -> ExtractedDocument:
    """The text of ``path`` as pages of about :data:`PAGE_CHARS` characters, read one at a time
    (a file of any size is never whole in memory); one page for a file shorter than that."""
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(f"text file of {size} bytes is over the limit ({max_bytes} bytes)")
    with open(path, "rb") as handle:
        head = handle.read(_HEAD)
    codec, encoding = choose_encoding(head, lambda candidate: _decodes_file(path, candidate))
    pages = _pages(path, codec)
    first_page = next(pages, ExtractedPage(page_no=1, text="", method="text"))
    first = next((line.strip() for line in first_page.text.splitlines() if line.strip()), "")
    # A short first line without closing punctuation is a title; otherwise the file name serves.
    title = first.lstrip("# ").strip() if len(first) <= 80 and first[-1:] not in ".!?؟,،;:" else ""
    return ExtractedDocument(
        pages=itertools.chain([first_page], pages),
        metadata={"title": title, "encoding": encoding},
        notes=[f"encoding: {encoding}"],
    )


def _pages(path: Path, codec: str) -> Iterator[ExtractedPage]:
    """Pages of the decoded text, each cut at the last paragraph break (else line break) before
    :data:`PAGE_CHARS` characters."""
    decoder = codecs.getincrementaldecoder(codec)()
    pending, number = "", 0
    with open(path, "rb") as handle:
        while True:
            piece = handle.read(_PIECE)
            try:
                pending += decoder.decode(piece, final=not piece)
            except UnicodeDecodeError as exc:
                raise IngestError(f"text file has a {codec} BOM but invalid content: {exc}") from None
            while len(pending) > PAGE_CHARS or (not piece and pending):
                cut = _page_end(pending) if len(pending) > PAGE_CHARS else len(pending)
                number += 1
                yield ExtractedPage(page_no=number, text=pending[:cut], method="text")
                pending = pending[cut:]
            if not piece:
                break
    if number == 0:
        yield ExtractedPage(page_no=1, text="", method="text")


def _page_end(text: str) -> int:
    for separator in ("\n\n", "\n", " "):
        cut = text.rfind(separator, 0, PAGE_CHARS)
        if cut > 0:
            return cut + len(separator)
    return PAGE_CHARS
