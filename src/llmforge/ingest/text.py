"""Plain text and Markdown: find the encoding, say which one was used."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from llmforge.errors import IngestError
from llmforge.ingest.detect import utf16_without_bom
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage

_BOMS = ((b"\xef\xbb\xbf", "utf-8-sig"), (b"\xff\xfe", "utf-16"), (b"\xfe\xff", "utf-16"))
# Legacy single-byte encodings an Arabic or Western office produces, most specific first.
_LEGACY = ("cp1256", "iso-8859-6", "cp1252", "latin-1")
_ARABIC = re.compile("[\u0600-\u06ff]")
_LATIN = re.compile(r"[A-Za-z\u00c0-\u024f]")


def decode_text(data: bytes) -> tuple[str, str]:
    """Decode bytes of unknown encoding; return ``(text, encoding)``.

    Order: a BOM decides; then UTF-16 without BOM; then strict UTF-8; then the legacy encoding
    whose result reads most plausibly (words in one script, no control characters).
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            try:
                return data.decode(encoding), "utf-16" if encoding == "utf-16" else "utf-8 (BOM)"
            except UnicodeDecodeError as exc:
                raise IngestError(f"text file has a {encoding} BOM but invalid content: {exc}") from None
    utf16 = utf16_without_bom(data[:8192])  # before UTF-8: NUL bytes are valid UTF-8 too
    if utf16:
        try:
            return data.decode(utf16), utf16
        except UnicodeDecodeError:
            pass
    try:
        return data.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        pass
    best: tuple[float, str, str] | None = None
    for encoding in _LEGACY:
        try:
            text = data.decode(encoding)
        except UnicodeDecodeError:
            continue
        score = plausibility(text)
        if best is None or score > best[0]:
            best = (score, text, encoding)
    assert best is not None  # latin-1 decodes anything
    return best[1], best[2]


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
    size = path.stat().st_size
    if size > max_bytes:
        raise IngestError(f"text file of {size} bytes is over the limit ({max_bytes} bytes)")
    text, encoding = decode_text(path.read_bytes())
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")
    # A short first line without closing punctuation is a title; otherwise the file name serves.
    title = first.lstrip("# ").strip() if len(first) <= 80 and first[-1:] not in ".!?؟,،;:" else ""
    return ExtractedDocument(
        pages=[ExtractedPage(page_no=1, text=text, method="text")],
        metadata={"title": title, "encoding": encoding},
        notes=[f"encoding: {encoding}"],
    )
