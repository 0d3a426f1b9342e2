"""Pages scanned sideways or upside down are turned upright and the turn is recorded.

Pages are rendered by :mod:`llmforge.testing.scans` (Debian fonts-noto-core; skipped without).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from llmforge.ingest import ocr
from llmforge.ingest.orientation import may_lie_sideways, turn_clockwise
from llmforge.testing import scans
from tests.ingest.test_ocr import char_error_rate


def page(lang: str) -> tuple:
    family = "Noto Naskh Arabic" if lang == "ara" else "Noto Serif"
    if scans.font_file(family) is None:
        pytest.skip(f"font {family!r} is not installed (bash scripts/setup.sh)")
    texts = scans.TUNED.arabic if lang == "ara" else scans.TUNED.english
    return scans.page_image(list(texts[:3]), family, size=(1240, 1000))


@pytest.fixture
def tesseract() -> None:
    engine = ocr.TesseractEngine()
    languages = ocr.tesseract_languages(engine.binary) if engine.binary else frozenset()
    if not {"ara", "eng", "osd"} <= languages:
        pytest.skip("tesseract with the ara, eng and osd data is not installed")


def test_turn_clockwise_is_exact_and_undoes_itself() -> None:
    image, _ = page("eng")
    turned = turn_clockwise(image, 90)
    assert turned.size == (image.height, image.width) and turned.info["dpi"] == image.info["dpi"]
    assert np.array_equal(np.asarray(turn_clockwise(turned, 270)), np.asarray(image))


@pytest.mark.parametrize("lang", ["ara", "eng"])
def test_sideways_lines_are_told_from_upright_ones_without_ocr(lang: str) -> None:
    image, _ = page(lang)
    gray = np.asarray(image)
    assert not may_lie_sideways(gray)
    assert not may_lie_sideways(np.asarray(turn_clockwise(image, 180)))
    assert may_lie_sideways(np.asarray(turn_clockwise(image, 90)))


@pytest.mark.parametrize(("lang", "turned"), [("ara", 90), ("eng", 180), ("ara", 270)])
def test_a_turned_page_is_read_upright_and_the_turn_recorded(tesseract: None, lang: str,
                                                             turned: int) -> None:
    image, truth = page(lang)
    result = ocr.ocr_image(turn_clockwise(image, turned), lang="auto")
    assert result.rotation == (360 - turned) % 360
    assert result.language == lang
    assert char_error_rate(result.text, truth) <= 0.05


def test_an_upright_page_is_not_turned(tesseract: None) -> None:
    image, truth = page("eng")
    result = ocr.ocr_image(image, lang="eng")
    assert result.rotation == 0 and char_error_rate(result.text, truth) <= 0.02


def test_an_ingested_sideways_scan_shows_its_turn(cli, project, tmp_path: Path,
                                                  tesseract: None) -> None:
    image, truth = page("eng")
    path = tmp_path / "sideways.png"
    turn_clockwise(image, 90).save(path, dpi=(300, 300))
    assert cli("ingest", path).exit_code == 0
    document_id = json.loads(cli("documents", "list", "--json").stdout)[0]["id"]
    shown = cli("documents", "show", document_id)
    assert "turned 270°" in shown.stdout
    stored = json.loads(cli("documents", "show", document_id, "--json").stdout)["pages"][0]
    assert stored["rotation"] == 270
    assert char_error_rate(stored["text"], truth) <= 0.05
