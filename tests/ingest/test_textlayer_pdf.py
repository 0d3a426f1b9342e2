"""Text layers that lie, tables of figures, and lines that mix Arabic and Latin, in PDFs made here.

The PDFs embed DejaVu Sans whole and draw each line glyph by glyph, left to right, as PDF
producers do (Arabic therefore reversed and shaped); the ToUnicode map says what each glyph means,
truthfully or, for a lying font, not. OCR is the real Tesseract.
"""

from __future__ import annotations

import io
import re
import struct
import unicodedata
import zlib
from collections.abc import Callable
from pathlib import Path

import pypdfium2
import pytest

from llmforge.errors import IngestError
from llmforge.ingest import pdf
from llmforge.ingest.extract import ExtractOptions, extract_file
from llmforge.ingest.ocr import ocr_image
from tests.assets import text_pdf

FONT = Path("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf")
ARABIC_LINES = ["تقرير محطة المياه", "يجب فحص المضخة كل شهر"]  # no lam-alef: shaped() makes no ligatures


class TrueType:
    """Just enough of a TrueType font to typeset with: its Unicode cmap and glyph advances."""

    def __init__(self, data: bytes) -> None:
        self.data = data
        count = struct.unpack_from(">H", data, 4)[0]
        self.tables = {data[12 + 16 * i:16 + 16 * i].decode(): struct.unpack_from(">I", data, 20 + 16 * i)[0]
                       for i in range(count)}
        self.units = struct.unpack_from(">H", data, self.tables["head"] + 18)[0]
        metrics = struct.unpack_from(">H", data, self.tables["hhea"] + 34)[0]
        self.advances = struct.unpack_from(f">{2 * metrics}H", data, self.tables["hmtx"])[::2]
        self.cmap = self._cmap()

    def _cmap(self) -> dict[int, int]:
        """The (3, 1) subtable, format 4: segments of code points mapped by delta or glyph array."""
        base = self.tables["cmap"]
        for i in range(struct.unpack_from(">H", self.data, base + 2)[0]):
            platform, encoding, offset = struct.unpack_from(">HHI", self.data, base + 4 + 8 * i)
            if (platform, encoding) == (3, 1):
                break
        table = base + offset
        n = struct.unpack_from(">H", self.data, table + 6)[0] // 2
        ends, starts, deltas, ranges = (struct.unpack_from(f">{n}H", self.data, table + 14 + 2 * n * k + 2 * (k > 0))
                                        for k in range(4))
        ranges_at = table + 16 + 6 * n
        mapping = {}
        for s, (end, start, delta, offset) in enumerate(zip(ends, starts, deltas, ranges)):
            for code in range(start, min(end, 0xFFFE) + 1):
                glyph = code if not offset else struct.unpack_from(
                    ">H", self.data, ranges_at + 2 * s + offset + 2 * (code - start))[0]
                if glyph:
                    mapping[code] = (glyph + delta) & 0xFFFF
        return mapping

    def advance(self, glyph: int) -> int:
        return self.advances[min(glyph, len(self.advances) - 1)] * 1000 // self.units


_RIGHT_JOINING = set("اأإآدذرزوؤة")


def shaped(word: str) -> str:
    """Arabic letters as their contextual presentation forms (the glyphs a font draws)."""
    out = []
    for i, ch in enumerate(word):
        if not "\u0621" <= ch <= "\u064a":
            out.append(ch)
            continue
        before = i > 0 and "\u0621" <= word[i - 1] <= "\u064a" and word[i - 1] not in _RIGHT_JOINING
        after = i + 1 < len(word) and "\u0621" <= word[i + 1] <= "\u064a" and ch not in _RIGHT_JOINING
        form = {(False, False): "ISOLATED", (False, True): "INITIAL", (True, True): "MEDIAL",
                (True, False): "FINAL"}[(before, after)]
        out.append(unicodedata.lookup(f"{unicodedata.name(ch)} {form} FORM"))
    return "".join(out)


def drawn(line: str) -> str:
    """A logical line as a left-to-right paragraph draws it: Arabic runs shaped and reversed."""
    return re.sub("[\u0621-\u064a]+(?: [\u0621-\u064a]+)*", lambda m: shaped(m.group())[::-1], line)


Meaning = Callable[[str], str]


def font_pdf(lines: list[str], meaning: Meaning | None = None, *, font_name: str = "DejaVuSans",
             pages_before: list[list[str]] = ()) -> bytes:
    """A page drawing ``lines`` (in drawing order) in DejaVu Sans, called ``font_name``;
    ``meaning(glyph's character)`` is what the ToUnicode map claims each glyph is (by default the
    truth, NFKC as producers do). ``pages_before``: truthful pages that come first."""
    if not FONT.exists():
        pytest.skip("DejaVu Sans is not installed (fonts-dejavu-core)")
    font = TrueType(FONT.read_bytes())
    pages = [(page, None) for page in pages_before] + [(lines, meaning)]
    objects: list[bytes] = [b"<< /Type /Catalog /Pages 2 0 R >>", b""]
    program = len(objects) + 1
    objects.append(stream(zlib.compress(font.data), f" /Length1 {len(font.data)} /Filter /FlateDecode"))
    kids = []
    for page_lines, page_meaning in pages:
        first = len(objects) + 1  # page, contents, Type0 font, CID font, descriptor, ToUnicode
        kids.append(f"{first} 0 R")
        claims, content = typeset(font, page_lines, page_meaning)
        widths = " ".join(f"{g} [{font.advance(g)}]" for g in sorted(claims))
        objects += [
            (f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Resources << /Font << /F1 {first + 2} 0 R "
             f">> >> /Contents {first + 1} 0 R >>").encode(),
            stream(content),
            (f"<< /Type /Font /Subtype /Type0 /BaseFont /{font_name} /Encoding /Identity-H "
             f"/DescendantFonts [{first + 3} 0 R] /ToUnicode {first + 5} 0 R >>").encode(),
            (f"<< /Type /Font /Subtype /CIDFontType2 /BaseFont /{font_name} /CIDToGIDMap /Identity /DW 600 "
             f"/CIDSystemInfo << /Registry (Adobe) /Ordering (Identity) /Supplement 0 >> "
             f"/FontDescriptor {first + 4} 0 R /W [{widths}] >>").encode(),
            (f"<< /Type /FontDescriptor /FontName /{font_name} /Flags 32 /FontBBox [-1021 -463 1793 1232] "
             f"/ItalicAngle 0 /Ascent 928 /Descent -236 /CapHeight 729 /StemV 80 /FontFile2 {program} 0 R >>").encode(),
            stream(to_unicode(claims)),
        ]
    objects[1] = f"<< /Type /Pages /Kids [{' '.join(kids)}] /Count {len(kids)} >>".encode()
    out = io.BytesIO()
    out.write(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(b"%d 0 obj\n%s\nendobj\n" % (number, body))
    xref = out.tell()
    out.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    out.write(b"".join(b"%010d 00000 n \n" % offset for offset in offsets))
    out.write(b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(objects) + 1, xref))
    return out.getvalue()


def typeset(font: TrueType, lines: list[str], meaning: Meaning | None) -> tuple[dict[int, str], bytes]:
    """What each glyph used claims to be, and the content stream drawing ``lines`` glyph by glyph."""
    meaning = meaning or (lambda ch: unicodedata.normalize("NFKC", ch))
    claims: dict[int, str] = {}
    operations = ["BT /F1 20 Tf 30 TL 60 740 Td"]
    for line in lines:
        glyphs = [font.cmap[ord(ch)] for ch in line]
        claims.update((glyph, meaning(ch)) for glyph, ch in zip(glyphs, line))
        operations.append(f"<{''.join(f'{g:04X}' for g in glyphs)}> Tj T*")
    operations.append("ET")
    return claims, "\n".join(operations).encode()


def to_unicode(claims: dict[int, str]) -> bytes:
    bfchar = "\n".join(f"<{g:04X}> <{text.encode('utf-16-be').hex()}>" for g, text in sorted(claims.items()))
    return ("/CIDInit /ProcSet findresource begin 12 dict begin begincmap /CMapName /Claims def /CMapType 2 def\n"
            "/CIDSystemInfo << /Registry (Adobe) /Ordering (UCS) /Supplement 0 >> def\n"
            f"1 begincodespacerange <0000> <FFFF> endcodespacerange\n{len(claims)} beginbfchar\n{bfchar}\n"
            "endbfchar endcmap CMapName currentdict /CMap defineresource pop end end").encode()


def stream(data: bytes, extra: str = "") -> bytes:
    return f"<< /Length {len(data)}{extra} >>\nstream\n".encode() + data + b"\nendstream"


def lying(alphabet: str) -> Callable[[str], str]:
    """A ToUnicode map that sends each distinct glyph to the next character of ``alphabet``."""
    assigned: dict[str, str] = {}
    return lambda ch: " " if ch == " " else assigned.setdefault(ch, alphabet[len(assigned) % len(alphabet)])


def real_ocr(image, lang):  # noqa: ANN001, ANN201 — the extractor's OCR function: real Tesseract
    return ocr_image(image, lang=lang)


def no_ocr(image, lang):  # noqa: ANN001, ANN201
    raise AssertionError("OCR was not expected here")


def extract(tmp_path: Path, data: bytes, ocr=real_ocr, lang: str = "auto"):  # noqa: ANN001, ANN201
    """The last page of the PDF ``data``, extracted as ingest would (OCR mode auto)."""
    path = tmp_path / "page.pdf"
    path.write_bytes(data)
    document = pdf.extract_pdf(path, password=None, ocr_mode="auto", lang=lang, max_pages=10, dpi=150,
                               max_pixels=50_000_000, ocr=ocr)
    return document.pages[-1]


# --- layers that lie --------------------------------------------------------------------

@pytest.mark.parametrize("alphabet", [
    "᧒ᥱᦎᦫᥐᥑᥒᥓᥔᥕᥖᥗᥘᥙ",                # Tai Le and New Tai Lue: rare blocks
    "ԔϸЇΰaԖϻkЎβϡeԘωЉ",                # Greek, Cyrillic (supplement too) and Latin, mixed in words
])
def test_lying_font_is_replaced_by_ocr(tmp_path: Path, alphabet: str) -> None:
    data = font_pdf([drawn(line) for line in ARABIC_LINES], meaning=lying(alphabet))
    layer = pypdfium2.PdfDocument(data)[0].get_textpage().get_text_range()
    assert not re.search("[\u0600-\u06ff]", layer)  # the layer does lie
    page = extract(tmp_path, data)
    assert page.method == "ocr:tesseract"
    assert not set(page.text) & set(alphabet)
    assert re.search("محطة|المياه|المضخة|شهر", page.text), page.text


PLAIN_LATIN = "etaoinshrdlucmfwypvbgkqjxz"  # a lie that reads as fluent-looking Latin letters


def test_plausible_lie_in_an_arabic_font_is_caught_by_a_trial_ocr(tmp_path: Path) -> None:
    data = font_pdf([drawn(line) for line in ARABIC_LINES], meaning=lying(PLAIN_LATIN),
                    font_name="ABCDEF+TraditionalArabic")
    page = extract(tmp_path, data)
    assert page.method == "ocr:tesseract"
    assert re.search("محطة|المياه|المضخة|شهر", page.text), page.text


def test_plausible_lie_among_arabic_pages_is_caught_by_a_trial_ocr(tmp_path: Path) -> None:
    arabic_page = [drawn("تقرير محطة المياه الشهري"), drawn("فحص المضخة الرئيسية")]
    data = font_pdf([drawn(line) for line in ARABIC_LINES], meaning=lying(PLAIN_LATIN),
                    pages_before=[arabic_page, arabic_page])
    page = extract(tmp_path, data)
    assert page.method == "ocr:tesseract"
    assert re.search("محطة|المياه|المضخة|شهر", page.text), page.text


def test_suspect_layer_stands_when_ocr_cannot_run(tmp_path: Path) -> None:
    def missing_tesseract(image, lang):  # noqa: ANN001, ANN202 — what ocr raises without the binary
        raise IngestError("OCR engine tesseract is not available")

    data = font_pdf([drawn(line) for line in ARABIC_LINES], meaning=lying(PLAIN_LATIN), font_name="Amiri")
    assert extract(tmp_path, data, ocr=missing_tesseract).method == "text-layer"
    with pytest.raises(IngestError):  # a page with no usable layer still needs OCR
        extract(tmp_path, text_pdf([""]), ocr=missing_tesseract)


def test_english_in_an_arabic_font_keeps_its_layer(tmp_path: Path) -> None:
    lines = ["The pump station report for March", "Check the main pump every month"]
    page = extract(tmp_path, font_pdf(lines, font_name="ABCDEF+Amiri-Regular"))  # OCR asked, and agrees
    assert page.method == "text-layer" and page.text.replace("\r", "").split("\n") == lines


def test_honest_arabic_layer_is_read_once(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    second_readings = []
    monkeypatch.setattr(pdf._PypdfFallback, "page_text", lambda self, index: second_readings.append(index) or "")
    page = extract(tmp_path, font_pdf([drawn(line) for line in ARABIC_LINES]), ocr=no_ocr)
    assert page.method == "text-layer"
    assert page.text.replace("\r", "").split("\n") == ARABIC_LINES
    assert second_readings == []  # a clean Arabic page needs no pypdf second opinion


def test_honest_greek_and_cyrillic_layer_is_kept(tmp_path: Path) -> None:
    lines = ["Привет, мир: отчёт о насосной станции", "Καλημέρα κόσμε, η αντλία λειτουργεί"]
    page = extract(tmp_path, font_pdf(lines), ocr=no_ocr)
    assert page.method == "text-layer" and "насосной" in page.text and "αντλία" in page.text


def test_grid_of_numbers_is_real_text(tmp_path: Path) -> None:
    grid = "1 2 3\n4 5 6\n7 8 9"
    page = extract(tmp_path, text_pdf([grid]))  # few letters: OCR is consulted, and reads no better
    assert page.method == "text-layer"
    assert page.text.replace("\r", "") == grid


# --- lines that mix Arabic and Latin ------------------------------------------------------

def test_mixed_lines_come_out_in_logical_order(tmp_path: Path) -> None:
    lines = ["Arabic: مرحبا بالعالم", "Hello مرحبا بالعالم world and more", "see (مرحبا) now",
             "تقرير محطة المياه", "English line, unchanged."]
    path = tmp_path / "mixed.pdf"
    path.write_bytes(font_pdf([drawn(line) for line in lines]))
    _, _, document = extract_file(path, ExtractOptions(ocr_mode="never"))
    assert document.pages[0].text.split("\n") == lines
