from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmforge.errors import IngestError
from llmforge.ingest.ocr import OcrResult
from llmforge.ingest.pdf import extract_pdf, parse_pdf_date
from tests.assets import encrypted_pdf, text_pdf


def no_ocr(image, lang):  # noqa: ANN001 — these tests must not need OCR
    raise AssertionError("OCR was not expected here")


def extract(path: Path, password: str | None = None, ocr_mode: str = "auto", ocr=no_ocr):  # noqa: ANN001
    return extract_pdf(path, password=password, ocr_mode=ocr_mode, lang="auto", max_pages=100,
                       dpi=150, max_pixels=50_000_000, ocr=ocr)


def write(tmp_path: Path, name: str, data: bytes) -> Path:
    path = tmp_path / name
    path.write_bytes(data)
    return path


def test_text_layer_per_page_with_metadata(tmp_path: Path) -> None:
    pages = ["The first page talks about water treatment plants.",
             "The second page is about chlorine dosing schedules."]
    document = extract(write(tmp_path, "a.pdf", text_pdf(pages, title="Plant manual")))
    assert [p.page_no for p in document.pages] == [1, 2]
    assert [p.method for p in document.pages] == ["text-layer", "text-layer"]
    assert document.pages[1].text.strip() == pages[1]
    assert document.metadata["title"] == "Plant manual"
    assert document.metadata["created"] == "2024-01-02T03:04:05+00:00"
    assert document.metadata["page_count"] == 2


def test_encrypted_pdf_needs_the_password(tmp_path: Path) -> None:
    path = write(tmp_path, "e.pdf", encrypted_pdf(["Confidential minutes of the board meeting."], "s3cret"))
    with pytest.raises(IngestError, match="encrypted PDF: pass its password with --password"):
        extract(path)
    with pytest.raises(IngestError, match="wrong password"):
        extract(path, password="nope")
    assert "Confidential minutes" in extract(path, password="s3cret").pages[0].text


@pytest.mark.parametrize("damage", ["truncate", "garbage"])
def test_corrupt_pdf(tmp_path: Path, damage: str) -> None:
    data = text_pdf(["hello"])
    data = data[:60] if damage == "truncate" else b"%PDF-1.4\n" + b"\x00garbage" * 50
    with pytest.raises(IngestError, match="corrupt or unreadable PDF"):
        extract(write(tmp_path, "c.pdf", data))


def test_page_limit(tmp_path: Path) -> None:
    path = write(tmp_path, "long.pdf", text_pdf([f"page {i} text" for i in range(5)]))
    with pytest.raises(IngestError, match="5 pages, over the limit of 3"):
        extract_pdf(path, password=None, ocr_mode="never", lang="auto", max_pages=3, dpi=150,
                    max_pixels=10**8, ocr=no_ocr)


def test_empty_page_goes_to_ocr_and_never_means_never(tmp_path: Path) -> None:
    path = write(tmp_path, "blank.pdf", text_pdf(["", "Some real text on the second page of this file."]))
    seen = []

    def fake_ocr(image, lang):  # noqa: ANN001
        seen.append(image.size)
        return OcrResult("recognised words from the scan", 91.0, "eng", 0.0, "fake", (), rotation=90)

    document = extract(path, ocr=fake_ocr)
    assert document.pages[0].method == "ocr:fake" and document.pages[0].ocr_confidence == 91.0
    assert document.pages[0].rotation == 90 and document.pages[1].rotation == 0
    assert document.pages[1].method == "text-layer"
    assert len(seen) == 1 and seen[0][0] > 1000  # rendered at 150 dpi: 8.5 in → 1275 px
    never = extract(path, ocr_mode="never")
    assert never.pages[0].method == "none" and never.pages[0].text == ""


def test_pdf_dates() -> None:
    assert parse_pdf_date("D:20220414132421+05'24'") == "2022-04-14T13:24:21+05:24"
    assert parse_pdf_date("D:2019") == "2019-01-01T00:00:00+00:00"
    assert parse_pdf_date("garbage") == ""


# --- third-party files, when ../shared/corpora is present -------------------------------

def test_corpus_arabic_habibi_reads_logically(corpora: Path) -> None:
    document = extract(corpora / "pdf/py-pdf-sample-files/habibi.pdf", ocr_mode="never")
    from llmforge.text.normalize import normalize_text

    assert normalize_text(document.pages[0].text) == "حَبيبي habibi حَبيبي"


def test_corpus_multilang_arabic(corpora: Path) -> None:
    text = extract(corpora / "pdf/pypdf/multilang.pdf").pages[0].text
    assert "مرحبا بالعالم" in text and "Привет, мир" in text


@pytest.mark.parametrize("name, password", [
    ("pypdf/crazyones-encrypted-256.pdf", "password"),
    ("pypdf/r4-aes-user-password.pdf", "asdfzxcv"),
    ("pypdf/r6-user-password.pdf", "asdfzxcv"),
    ("py-pdf-sample-files/libreoffice-writer-password.pdf", "openpassword"),
])
def test_corpus_encrypted(corpora: Path, name: str, password: str) -> None:
    path = corpora / "pdf" / name
    with pytest.raises(IngestError, match="password"):
        extract(path)
    assert extract(path, password=password, ocr_mode="never").pages


def test_corpus_crazyones_matches_expected_text(corpora: Path) -> None:
    import unicodedata

    expected = unicodedata.normalize("NFKC", (corpora / "pdf/pypdf/crazyones.txt").read_text())
    text = extract(corpora / "pdf/pypdf/crazyones.pdf").pages[0].text
    assert " ".join(expected.split())[:200] in " ".join(text.split())


def test_corpus_page_counts_match_upstream_metadata(corpora: Path) -> None:
    folder = corpora / "pdf/py-pdf-sample-files"
    listed = json.loads((folder / "files.json").read_text())["data"]
    checked = 0
    for entry in listed:
        path = folder / Path(entry["path"]).name
        if path.exists() and not entry.get("encrypted") and entry.get("pages", 0) <= 20:
            document = extract(path, ocr_mode="never")
            assert len(document.pages) == entry["pages"], entry["path"]
            checked += 1
    assert checked >= 5


def test_cid_garbage_layer_goes_to_ocr(tmp_path: Path) -> None:
    garbage = "".join(f"(cid:{n})" for n in range(60))
    path = write(tmp_path, "cid.pdf", text_pdf([garbage]))

    document = extract(path, ocr=lambda image, lang: OcrResult("short", 80.0, "eng", 0.0, "fake", ()))
    assert document.pages[0].method == "ocr:fake" and document.pages[0].text == "short"
