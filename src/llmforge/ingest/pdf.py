"""PDF: the text layer page by page, OCR where a page has no usable one or its layer lies.

Which library reads the text layer is decided per page by evidence. PDFium (pypdfium2) is fast
and keeps Arabic words intact where pypdf splits them at ligature glyphs; but on some files
(habibi.pdf: a ToUnicode map giving several code points per glyph) PDFium returns Arabic in
visual order with stray Greek glyphs while pypdf reads it right. So PDFium goes first, and a page
whose PDFium text is doubtful (broken words, mixed-script words, unusual letters, a low score) is
read by pypdf too; the better-scoring text wins. Clean pages, Arabic ones included, are read once.

PDFium puts a line that mixes Arabic and Latin in the order of whichever direction has more runs
(``Arabic: مرحبا بالعالم`` comes out ``مرحبا بالعالم :Arabic``); :func:`reading_order` undoes that
and reorders the line as a whole with :mod:`llmforge.text.bidi`.

A text layer can lie: a font whose ToUnicode map sends glyphs to unrelated code points gives
fluent-looking nonsense (``Ԕ ϸЇ ΰ``, ``᧒ᥱᦎᦫ`` for "عربي"). A suspect layer (letters of unusual
scripts, words that switch script, or not one Arabic letter where the page's fonts are Arabic
ones or the two pages before it were Arabic) and one with too little text are compared with a
trial OCR of the rendered page. A confident OCR reading in another script exposes a suspect
layer; otherwise the better reading is kept (:func:`reading_value`): digits and punctuation are
real text, so a table of figures keeps its layer unless OCR reads clearly more.
"""

from __future__ import annotations

import ctypes
import logging
import re
import unicodedata
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from itertools import groupby
from pathlib import Path
from typing import Any

import pypdfium2 as pdfium
import pypdfium2.raw as pdfium_c

from llmforge.errors import IngestError
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage
from llmforge.text.bidi import MIRRORED, visual_line_to_logical
from llmforge.text.language import script_letters
from llmforge.text.normalize import Assessment, assess, count_letters, is_latin1

log = logging.getLogger(__name__)

USABLE_QUALITY = 0.5   # below this a text layer is garbage (cid codes, mojibake, symbols)
MIN_LETTERS = 20        # fewer letters than this on a page: compare the layer with OCR
DOUBT_BROKEN = 0.1      # share of broken words (score below quality) that asks for a second reading
IMPLAUSIBLE_BROKEN = 0.25  # share of broken words that makes a layer worth checking against OCR
IMPLAUSIBLE_UNUSUAL = 0.1  # share of letters outside the usual scripts that does the same
OCR_MARGIN = 1.2        # OCR replaces a text layer only when it reads this much more real text
CONFIDENT_OCR = 60.0    # mean word confidence at which a trial OCR may contradict a suspect layer
# Font names that declare an Arabic typeface (a subset prefix "ABCDEF+" does not matter).
_ARABIC_FONT = re.compile("arab|naskh|kufi|amiri|nastaliq|thuluth|diwani|ruqaa|lotus|mitra|nazanin|yagut"
                          "|badr|majalla|scheherazade|lateef|kacst|andalus|aldhabi|uthman|hafs", re.IGNORECASE)
_ARABIC = re.compile("[\u0600-\u06ff\ufb50-\ufdff\ufe70-\ufeff]")
_LATIN = re.compile("[A-Za-z\u00c0-\u024f]")

OcrFunction = Callable[[Any, str], Any]  # (PIL image, lang) -> OcrResult


def open_pdf(path: Path, password: str | None) -> pdfium.PdfDocument:
    """Open with the given password, or the empty one; a clear error when that fails."""
    try:
        return pdfium.PdfDocument(str(path), password=password)
    except pdfium.PdfiumError as exc:
        message = str(exc)
        if "password" in message.lower():
            if password:
                raise IngestError("wrong password for this encrypted PDF") from None
            raise IngestError("encrypted PDF: pass its password with --password") from None
        raise IngestError(f"corrupt or unreadable PDF ({message.removeprefix('Failed to load document ')})") from None


def extract_pdf(path: Path, *, password: str | None, ocr_mode: str, lang: str, max_pages: int,
                dpi: int, max_pixels: int, ocr: OcrFunction,
                on_page: Callable[[int, int], None] | None = None, pages: tuple[int, int] | None = None,
                arabic_before: int = 0) -> ExtractedDocument:
    """Every page's text: text layer where usable, OCR where not (``ocr_mode`` auto|always|never).

    ``pages``: only the pages ``first <= index < last`` (0-based), for a long document extracted in
    parts (cluster mode); ``max_pages`` still applies to the whole document. A part carries no OCR
    note (:func:`ocr_note` over the whole document belongs to whoever merges the parts), and its
    metadata says under ``arabic_run`` how many pages at its end were mostly Arabic: a page's
    reading depends on the two before it, so the part after it starts from ``arabic_before``.
    """
    document = open_pdf(path, password)
    try:
        count = len(document)
        if count == 0:
            raise IngestError("PDF has no pages")
        if count > max_pages:
            raise IngestError(f"PDF has {count} pages, over the limit of {max_pages} (ingest.max_pages)")
        fallback = _PypdfFallback(path, password)
        first, last = pages or (0, count)
        extracted: list[ExtractedPage] = []
        # arabic_before counts the mostly Arabic pages just before the current one
        for index in range(first, min(last, count)):
            page = document[index]
            try:
                extracted.append(_extract_page(page, index, fallback, ocr_mode, lang, dpi, max_pixels, ocr,
                                               neighbours_arabic=arabic_before >= 2))
            finally:
                page.close()
            arabic_before = arabic_before + 1 if _mostly_arabic(extracted[-1].text) else 0
            if on_page:
                on_page(index + 1, count)
        metadata = _metadata(document)
        metadata["page_count"] = count
        if pages is not None:
            metadata["arabic_run"] = arabic_before
            return ExtractedDocument(pages=extracted, metadata=metadata)
        note = ocr_note(extracted, count)
        return ExtractedDocument(pages=extracted, metadata=metadata, notes=[note] if note else [])
    finally:
        document.close()


def ocr_note(pages: list[ExtractedPage], count: int) -> str:
    """The note on a document of ``count`` pages that OCR read some of ``pages`` ('' when none)."""
    ocred = sum(p.method.startswith("ocr") for p in pages)
    return f"{ocred} of {count} pages had no usable text layer and were OCRed" if ocred else ""


def _extract_page(page: pdfium.PdfPage, index: int, fallback: _PypdfFallback, ocr_mode: str,
                  lang: str, dpi: int, max_pixels: int, ocr: OcrFunction,
                  neighbours_arabic: bool = False) -> ExtractedPage:
    text, arabic_fonts = "", False
    if ocr_mode != "always":
        text, arabic_fonts = _read_layer(page)
    found = assess(text)
    if ocr_mode != "always" and _doubtful(found):
        alternative = fallback.page_text(index)
        if alternative:
            second = assess(alternative)
            if second.score > found.score:
                text, found = alternative, second
    # Arabic fonts, or Arabic pages around it, and not one Arabic letter: the layer may lie fluently.
    missing_arabic = ((arabic_fonts or neighbours_arabic) and found.letters >= MIN_LETTERS
                      and not _ARABIC.search(text))
    suspect = _implausible(found) or missing_arabic
    readable = found.letters >= MIN_LETTERS and found.quality >= USABLE_QUALITY
    if ocr_mode == "never" or (ocr_mode == "auto" and readable and not suspect):
        method = "text-layer" if text.strip() else "none"
        return ExtractedPage(index + 1, text, method)
    image = render_page(page, dpi, max_pixels)
    try:
        result = ocr(image, lang)
    except IngestError as exc:
        if ocr_mode == "always" or not readable:
            raise
        # only a suspicion asked for OCR: without it, the layer stands as it always did
        log.warning("page %d: no trial OCR of a suspect text layer (%s); layer kept", index + 1, exc)
        return ExtractedPage(index + 1, text, "text-layer")
    layer = reading_value(found)
    contradicted = suspect and _contradicts(result, text)
    if (ocr_mode == "auto" and layer and not contradicted
            and layer * OCR_MARGIN >= reading_value(assess(result.text), result.confidence)):
        return ExtractedPage(index + 1, text, "text-layer")
    return ExtractedPage(index + 1, result.text, f"ocr:{result.engine}", result.confidence,
                         deskew_angle=result.deskew_angle, rotation=result.rotation)


def _read_layer(page: pdfium.PdfPage) -> tuple[str, bool]:
    """PDFium's text of the page in reading order, and whether the page sets text in fonts made
    for Arabic (asked only of pages without Arabic letters, from a few sampled characters)."""
    textpage = page.get_textpage()
    try:
        text = textpage.get_text_range().replace("\ufffe", "")  # PDFium's joined-hyphen mark
        arabic_fonts = not _ARABIC.search(text) and bool(text.strip()) and _arabic_fonts(textpage)
    finally:
        textpage.close()
    return _in_reading_order(text), arabic_fonts


def _arabic_fonts(textpage: pdfium.PdfTextPage, samples: int = 4) -> bool:
    count = textpage.count_chars()
    buffer = ctypes.create_string_buffer(256)
    flags = ctypes.c_int()
    for index in range(0, count, max(1, count // samples)):
        length = pdfium_c.FPDFText_GetFontInfo(textpage, index, buffer, len(buffer), ctypes.byref(flags))
        if 0 < length <= len(buffer) and _ARABIC_FONT.search(buffer.value.decode("utf-8", "replace")):
            return True
    return False


def _mostly_arabic(text: str) -> bool:
    if not _ARABIC.search(text):
        return False
    arabic, latin = script_letters(text)
    return arabic > latin


def _contradicts(result: Any, layer: str) -> bool:
    """Whether a confident OCR reading is in another script than the layer: the trial read that
    exposes a layer whose letters are plausible but not the page's."""
    confident = result.confidence is not None and result.confidence >= CONFIDENT_OCR
    return (confident and count_letters(result.text) >= MIN_LETTERS
            and _mostly_arabic(result.text) != _mostly_arabic(layer))


def _in_reading_order(text: str) -> str:
    if is_latin1(text) or not _ARABIC.search(text):
        return text
    lines = text.split("\r\n")
    mixed = [bool(_ARABIC.search(line) and _LATIN.search(line)) for line in lines]
    if not any(mixed):
        return text
    rtl = _mostly_arabic(text)   # the page's direction: a mixed line's context
    return "\r\n".join(reading_order(line, rtl) if is_mixed else line for line, is_mixed in zip(lines, mixed))


def _doubtful(found: Assessment) -> bool:
    """Whether a reading is worth a second one: low score, broken words or unusual letters."""
    return (found.score < USABLE_QUALITY or found.quality - found.score >= DOUBT_BROKEN
            or found.unusual_share >= IMPLAUSIBLE_UNUSUAL)


def _implausible(found: Assessment) -> bool:
    """Whether a layer's scripts betray a lying font: unusual letters, or many words that switch
    script (Greek inside Cyrillic inside Latin)."""
    return found.unusual_share >= IMPLAUSIBLE_UNUSUAL or found.quality - found.score >= IMPLAUSIBLE_BROKEN


def reading_value(found: Assessment, confidence: float | None = None) -> float:
    """How much plausible text a reading holds: its letters and digits, weighed by its score, less
    half its share of unusual letters, and for OCR by the engine's own confidence."""
    plausibility = max(0.0, found.score - found.unusual_share / 2)
    value = (found.letters + found.digits) * plausibility
    return value * confidence / 100 if confidence is not None else value


_PDFIUM_DIRECTION = {"R": "R", "AL": "R", "L": "L",
                     **dict.fromkeys(("AN", "EN", "NSM", "CS", "ES", "ET", "BN"), "weak")}


def reading_order(line: str, rtl_context: bool | None = None) -> str:
    """A mixed Arabic and Latin line of PDFium text in logical order (``rtl_context``: whether the
    page around it is mostly Arabic, for lines that cannot tell their direction themselves).

    PDFium cuts a drawn line into runs of one direction and, when right-to-left runs outnumber
    left-to-right ones, emits the runs in reverse order, reversing (and mirroring) the Arabic ones
    and the neutral ones that follow them. Undoing exactly that recovers the line as drawn; the
    bidi algorithm run backwards then gives the logical order of the whole line.
    """
    runs = [(kind, "".join(chars)) for kind, chars in
            groupby(line, key=lambda ch: _PDFIUM_DIRECTION.get(unicodedata.bidirectional(ch), "N"))]
    kinds = [kind for kind, _ in runs]
    rtl = kinds.count("R") > kinds.count("L")
    current = "R" if rtl else "L"
    drawn = []
    for kind, text in runs:
        if kind == "R" or (kind == "N" and current == "R"):
            current = "R"
            text = text[::-1].translate(MIRRORED)
        elif kind != "weak":
            current = "L"
        drawn.append(text)
    return visual_line_to_logical("".join(reversed(drawn) if rtl else drawn), rtl_context)


def render_page(page: pdfium.PdfPage, dpi: int, max_pixels: int) -> Any:
    """The page as a greyscale PIL image at ``dpi``, scaled down to stay under ``max_pixels``."""
    width, height = page.get_size()  # points
    scale = dpi / 72
    pixels = width * scale * height * scale
    if pixels > max_pixels:
        scale *= (max_pixels / pixels) ** 0.5
    bitmap = page.render(scale=scale, grayscale=True)
    try:
        return bitmap.to_pil().convert("L")
    finally:
        bitmap.close()


class _PypdfFallback:
    """pypdf over the same file, opened only when a page needs a second opinion."""

    def __init__(self, path: Path, password: str | None) -> None:
        self.path = path
        self.password = password
        self._reader: Any = None
        self._failed = False

    def page_text(self, index: int) -> str:
        if self._failed:
            return ""
        try:
            if self._reader is None:
                import pypdf

                self._reader = pypdf.PdfReader(str(self.path))
                if self._reader.is_encrypted:
                    self._reader.decrypt(self.password or "")
            return self._reader.pages[index].extract_text() or ""
        except Exception as exc:  # noqa: BLE001 — a second opinion may fail; PDFium's text stands
            log.debug("pypdf could not read page %d of %s: %s", index + 1, self.path, exc)
            self._failed = True
            return ""


def _metadata(document: pdfium.PdfDocument) -> dict[str, Any]:
    try:
        info = document.get_metadata_dict(skip_empty=True)
    except (pdfium.PdfiumError, UnicodeDecodeError, ValueError):
        info = {}  # malformed metadata is not worth failing the document for
    return {
        "title": info.get("Title", ""),
        "author": info.get("Author", ""),
        "created": parse_pdf_date(info.get("CreationDate", "")),
        "producer": info.get("Producer", ""),
    }


_PDF_DATE = re.compile(r"D?:?(\d{4})(\d{2})?(\d{2})?(\d{2})?(\d{2})?(\d{2})?\s*(Z|[+-]\d{2}'?\d{2}'?)?")


def parse_pdf_date(raw: str) -> str:
    """``D:20220414132421+05'24'`` → ``2022-04-14T13:24:21+05:24``; '' when unparseable."""
    match = _PDF_DATE.match(raw.strip()) if raw else None
    if not match:
        return ""
    year, month, day, hour, minute, second, zone = match.groups()
    try:
        tz = timezone.utc
        if zone and zone != "Z":
            digits = zone.replace("'", "")
            offset = timedelta(hours=int(digits[1:3]), minutes=int(digits[3:5] or 0))
            tz = timezone(offset if digits[0] == "+" else -offset)
        moment = datetime(int(year), int(month or 1), int(day or 1), int(hour or 0),
                          int(minute or 0), int(second or 0), tzinfo=tz)
    except ValueError:
        return ""
    return moment.isoformat()
