"""Layout-aware OCR: line crops, two-column pages in reading order, ``--lang auto`` on lines.

Images are rendered by :mod:`llmforge.testing.scans` (Debian fonts-hosny-amiri, fonts-noto-core;
tests skip without them). ``bench/ocr_layouts.py`` measures the same layouts at scale.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from llmforge.ingest import ocr
from llmforge.ingest.layout import COLUMNS, LINE, PAGE, analyse_layout
from llmforge.structure.chunking import chunk_pages
from llmforge.testing import scans
from tests.ingest.test_ocr import char_error_rate

ARABIC_RIGHT = ("تبدأ الرحلة من الميناء القديم عند شروق الشمس ويصعد المسافرون إلى السفينة "
                "ومعهم صناديق التمر والقماش")
ARABIC_LEFT = ("في السوق الكبير يبيع التجار النحاس والزجاج الملون ويشتري الناس الخبز "
               "والعسل قبل صلاة الظهر")
ENGLISH_LEFT = "Farmers bring wheat and barley to the mill on the hill every autumn before the rains"
ENGLISH_RIGHT = "Sailors mend their nets on the quay while gulls circle above the fishing boats"


def font(family: str) -> str:
    if scans.font_file(family) is None:
        pytest.skip(f"font {family!r} is not installed (bash scripts/setup.sh)")
    return family


@pytest.fixture
def tesseract() -> None:
    engine = ocr.TesseractEngine()
    if engine.binary is None or not {"ara", "eng"} <= ocr.tesseract_languages(engine.binary):
        pytest.skip("tesseract with the ara and eng languages is not installed")


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


def raw_page_mode(image: Image.Image, lang: str, tmp_path: Path) -> str:
    path = tmp_path / "raw.png"
    image.save(path, dpi=(300, 300))
    return subprocess.run(["tesseract", str(path), "-", "-l", lang], capture_output=True, text=True,
                          env=dict(os.environ, OMP_THREAD_LIMIT="1"), check=True).stdout


# --- layout from the pixels (no OCR) --------------------------------------------------------


def test_a_line_crop_is_a_line_with_its_ink_boxed() -> None:
    image = scans.line_image(scans.TUNED.arabic[0], font("Amiri"), 14, margin=1.0)
    layout = analyse_layout(gray(image), 300)
    assert layout.kind == LINE
    left, top, right, bottom = layout.box
    assert 0 < left and 0 < top and right < image.width and bottom < image.height


def test_a_page_and_a_lone_line_on_a_page_are_pages() -> None:
    page, _ = scans.page_image(list(scans.TUNED.arabic[:3]), font("Noto Naskh Arabic"))
    assert analyse_layout(gray(page), 300).kind == PAGE
    lone, _ = scans.page_image([scans.TUNED.arabic[0][:20]], "Noto Naskh Arabic")
    assert analyse_layout(gray(lone), 300).kind == PAGE


def test_two_columns_are_split_at_the_gutter() -> None:
    image, _ = scans.two_column_image(ARABIC_RIGHT, ARABIC_LEFT, font("Amiri"))
    layout = analyse_layout(gray(image), 300)
    assert layout.kind == COLUMNS
    (_, gutter_left), (gutter_right, _) = layout.columns
    assert image.width * 0.4 < gutter_left < gutter_right < image.width * 0.6


def test_words_strewn_over_a_form_are_no_columns() -> None:
    """A blank strip down the middle is no gutter unless lines have ink on both sides of it."""
    words = " ".join(scans.TUNED.arabic).split()
    for seed in range(3):
        form, _ = scans.sparse_image(words[seed:], font("Amiri"), seed)
        assert analyse_layout(gray(form), 300).kind != COLUMNS


# --- reading --------------------------------------------------------------------------------


@pytest.mark.parametrize(("family", "kind", "line"), [("Amiri", "clean", 0),
                                                     ("Noto Naskh Arabic", "noise", 2)])
def test_an_arabic_line_reads_better_than_raw_page_mode(tesseract: None, tmp_path: Path,
                                                          family: str, kind: str, line: int) -> None:
    """Raw Tesseract in page mode read these lines at CER 0.49 and 0.29; as lines, under 0.1."""
    text = scans.TUNED.arabic[line]
    image = scans.degrade(scans.line_image(text, font(family), 14), kind, seed=5)
    result = ocr.ocr_image(image, lang="auto")
    mine = char_error_rate(result.text, text)
    assert result.language == "ara"
    assert mine <= 0.1
    assert mine < char_error_rate(raw_page_mode(image, "ara", tmp_path), text)


def test_a_line_cut_from_a_paragraph_reads_as_a_line(tesseract: None) -> None:
    crop, text = scans.line_crops(" ".join(scans.TUNED.arabic[:2]), font("Noto Naskh Arabic"), 14)[1]
    assert char_error_rate(ocr.ocr_image(crop, lang="ara").text, text) <= 0.1


@pytest.mark.parametrize(("first", "second", "family"), [
    (ARABIC_RIGHT, ARABIC_LEFT, "Amiri"),
    (ENGLISH_LEFT, ENGLISH_RIGHT, "Noto Serif"),
], ids=["arabic", "english"])
def test_two_columns_read_column_by_column(tesseract: None, first: str, second: str,
                                           family: str) -> None:
    image, truth = scans.two_column_image(first, second, font(family))
    result = ocr.ocr_image(image, lang="auto")
    assert char_error_rate(result.text, truth) <= 0.05
    assert_column_order(result.text, truth)


def assert_column_order(text: str, truth: str) -> None:
    """Every line of the first column comes before every line of the second, in order.

    A line is found by its longest word that was read right (a misread word or two allowed).
    """
    lines = [line for column in truth.split("\n\n") for line in column.splitlines()]
    read = " ".join(text.split())
    positions = []
    for line in lines:
        found = [read.find(word) for word in sorted(line.split(), key=len, reverse=True)]
        positions.append(next((at for at in found if at >= 0), -1))
    assert -1 not in positions, (positions, text)
    assert positions == sorted(positions), (positions, text)


def test_an_ingested_two_column_scan_keeps_column_order(cli, project, tmp_path: Path,
                                                        tesseract: None) -> None:
    """Through the real pipeline: the stored page text and its chunks run column by column."""
    image, truth = scans.two_column_image(ARABIC_RIGHT, ARABIC_LEFT, font("Amiri"))
    path = tmp_path / "columns.png"
    image.save(path, dpi=(300, 300))
    assert cli("ingest", path).exit_code == 0
    document_id = json.loads(cli("documents", "list", "--json").stdout)[0]["id"]
    shown = cli("documents", "show", document_id)
    assert shown.exit_code == 0
    page_text = json.loads(cli("documents", "show", document_id, "--json").stdout)["pages"][0]["text"]
    assert_column_order(page_text, truth)
    assert_column_order(shown.stdout, truth)
    chunks = chunk_pages([(1, page_text)], lambda text: len(text.split()), chunk_tokens=16, overlap=0)
    assert_column_order(" ".join(chunk.text for chunk in chunks), truth)
