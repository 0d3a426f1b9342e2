"""A long PDF extracted in parts of pages (cluster mode's tasks, here without Ray) and merged gives
the document one whole extraction gives: pages, methods, languages, metadata and notes."""

from __future__ import annotations

import io
from dataclasses import replace
from pathlib import Path

import pytest

from llmforge.cluster.work import merged, page_ranges
from llmforge.errors import IngestError
from llmforge.ingest.extract import ExtractOptions, extract_file
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage
from tests.assets import rendered_text_image, text_pdf

LINES = [["The harbour authority approved new cranes"], ["Water rationing starts on Sunday"],
         ["The ministry of health opened four clinics"]]


def mixed_pdf(path: Path) -> Path:
    """Five pages: text layer, scan, scan, text layer, scan (the scans image-only)."""
    import pypdf

    texts = pypdf.PdfReader(io.BytesIO(text_pdf(["Page one of the pump manual: valves and seals.",
                                                  "Page four: the pressure must stay below 4 bar."])))
    scans = []
    for lines in LINES:
        buffer = io.BytesIO()
        rendered_text_image(lines).save(buffer, "PDF", resolution=300)
        scans.append(pypdf.PdfReader(buffer).pages[0])
    writer = pypdf.PdfWriter()
    for page in (texts.pages[0], scans[0], scans[1], texts.pages[1], scans[2]):
        writer.add_page(page)
    with path.open("wb") as out:
        writer.write(out)
    return path


def test_parts_merge_into_the_whole_document(tmp_path: Path) -> None:
    path, options = mixed_pdf(tmp_path / "mixed.pdf"), ExtractOptions(lang="eng")
    whole = extract_file(path, options)
    ranges = page_ranges(5, 2)
    assert ranges == [(0, 2), (2, 4), (4, 5)]
    parts = [extract_file(path, replace(options, pages=pages)) for pages in ranges]
    reruns: list[tuple[tuple[int, int], int]] = []

    def rerun(pages: tuple[int, int], context: int) -> tuple[str, str, ExtractedDocument]:
        reruns.append((pages, context))
        return extract_file(path, replace(options, pages=pages, arabic_before=context))

    assert [page.page_no for page in parts[1][2].pages] == [3, 4]
    assert parts[1][2].notes == []   # a part says nothing of the whole document's OCR
    assert merged(ranges, parts, rerun) == whole
    assert [page.method for page in whole[2].pages] == ["text-layer", "ocr:tesseract", "ocr:tesseract",
                                                        "text-layer", "ocr:tesseract"]
    assert whole[2].notes == ["3 of 5 pages had no usable text layer and were OCRed"]
    assert "Water rationing" in whole[2].pages[2].text and whole[2].pages[2].language == "en"
    assert reruns == []   # no Arabic page anywhere: no part depends on the one before


def test_the_page_limit_counts_the_whole_document(tmp_path: Path) -> None:
    path = mixed_pdf(tmp_path / "mixed.pdf")
    with pytest.raises(IngestError, match="PDF has 5 pages, over the limit of 4"):
        extract_file(path, ExtractOptions(max_pages=4, pages=(0, 2)))


def part(pages: list[tuple[int, str, str]], arabic_run: int) -> tuple[str, str, ExtractedDocument]:
    return "pdf", "application/pdf", ExtractedDocument(
        pages=[ExtractedPage(number, text, method) for number, text, method in pages],
        metadata={"title": "", "page_count": 4, "arabic_run": arabic_run}, notes=[])


def test_a_part_after_arabic_pages_is_extracted_again_where_that_context_can_change_it() -> None:
    arabic = "هذه صفحة عربية طويلة بما يكفي للقراءة"
    english = "An English page whose text layer holds no Arabic letter"
    again = part([(3, arabic, "ocr:tesseract"), (4, english, "text-layer")], 1)
    calls: list[tuple[tuple[int, int], int]] = []

    def rerun(pages: tuple[int, int], context: int) -> tuple[str, str, ExtractedDocument]:
        calls.append((pages, context))
        return again

    first = part([(1, arabic, "text-layer"), (2, arabic, "text-layer")], 2)
    kind, mime, document = merged([(0, 2), (2, 4)], [first, part([(3, english, "text-layer"),
                                                                  (4, english, "text-layer")], 0)], rerun)
    assert calls == [((2, 4), 2)]
    assert [page.text for page in document.pages] == [arabic, arabic, arabic, english]
    assert document.metadata == {"title": "", "page_count": 4}   # the parts' context stays out
    assert document.notes == ["1 of 4 pages had no usable text layer and were OCRed"]
    # after English pages, or where the first pages were OCRed anyway, nothing is extracted again
    merged([(0, 2), (2, 4)], [part([(1, english, "text-layer")] * 2, 0), part([(3, english, "text-layer")] * 2, 0)],
           rerun)
    merged([(0, 2), (2, 4)], [first, part([(3, english, "ocr:tesseract"), (4, english, "ocr:tesseract")], 0)],
           rerun)
    assert len(calls) == 1
