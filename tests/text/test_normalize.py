from __future__ import annotations

import unicodedata

import pytest

from llmforge.text.language import detect_language
from llmforge.text.normalize import assess, looks_visual_order, normalize_text, search_form, visual_to_logical


def quality(text: str) -> float:
    return assess(text).quality


ARABIC = "العربية لغة جميلة، والكتابة بها من اليمين إلى اليسار."


def test_arabic_with_harakat_is_kept_byte_identical() -> None:
    # shadda (U+0651) before fatha (U+064E): NFC would swap them; stored text must not.
    word = "\u0645\u064f\u062d\u064e\u0645\u0651\u064e\u062f"  # محمد with damma, fatha, shadda+fatha
    assert "\u0651\u064e" in word
    assert normalize_text(word) == word
    assert unicodedata.normalize("NFC", word) != word


def test_presentation_forms_become_letters() -> None:
    presentation = "\ufe8e\ufedf\ufecc\ufeae\ufe91\ufef2"  # ا ل ع ر ب ي in presentation forms
    assert normalize_text(presentation) == "العربي"


def test_latin_is_composed_and_controls_removed() -> None:
    text = "cafe\u0301\u200f \u202bword\u202c\x07 soft\u00adhyphen"
    assert normalize_text(text) == "café word softhyphen"


def test_hyphenated_line_breaks_joined_paragraphs_kept() -> None:
    text = "an exam-\nple of\r\nwrapped   text\n\n\n\nnext  paragraph"
    assert normalize_text(text) == "an example of\nwrapped text\n\nnext paragraph"


def test_pdfium_hyphen_marker_dropped() -> None:
    assert normalize_text("dan\ufffegerous") == "dangerous"


def test_visual_order_arabic_is_repaired() -> None:
    logical = "الكتاب في المكتبة والقلم على الطاولة 2024"
    visual = visual_to_logical(logical)  # reversing is its own inverse for one line
    assert visual != logical
    assert looks_visual_order(visual)
    assert not looks_visual_order(logical)
    assert normalize_text(visual) == logical


def test_visual_order_keeps_latin_runs_readable() -> None:
    logical = "نظام الإدارة يعمل مع llmforge على الحاسوب الرئيسي"
    assert visual_to_logical(visual_to_logical(logical)) == logical
    assert "llmforge" in visual_to_logical(logical)


def test_search_form_unifies_arabic_variants() -> None:
    assert search_form("إِسْلَام") == search_form("اسلام")
    assert search_form("مدرسة") == search_form("مدرسه")
    assert search_form("على") == search_form("علي")
    assert search_form("العـــربية") == search_form("العربية")
    assert search_form("٢٠٢٤ Hello") == "2024 hello"


@pytest.mark.parametrize("text, expected", [
    (ARABIC, "ar"),
    ("The quick brown fox jumps over the lazy dog and runs to the river.", "en"),
    ("Der schnelle braune Fuchs springt über den faulen Hund.", "latn"),
    (ARABIC + " This is the English part of the same page, with the usual words.", "ar+en"),
    ("12 34 ...", "und"),
])
def test_detect_language(text: str, expected: str) -> None:
    assert detect_language(text) == expected


def test_quality_flags_extraction_garbage() -> None:
    assert quality("A normal sentence of English words.") > 0.8
    assert quality("(cid:12)(cid:4)(cid:77)(cid:3) (cid:9)") < 0.5
    assert quality("\ue001\ue002\ue003\ue004 \ue005") < 0.5
    assert quality("Ã©tÃ© Ã  la plage Ã©tÃ©") < quality("été à la plage été")
    assert quality("") == 0.0
    assert quality("%%% ### 123 *** ||| ...") < 0.5


def test_extraction_score_prefers_clean_arabic() -> None:
    good = "حَبيبي habibi حَبيبي"
    broken = " يبيبَح˴ ϲΒϴΒhabibi يبيبَح"
    assert assess(good).score > assess(broken).score


def test_lone_surrogates_are_dropped() -> None:
    assert normalize_text("bro\ud800ken te\udfffxt") == "broken text"


def test_visual_order_keeps_arabic_indic_numbers() -> None:
    logical = "في سنة ٢٠٢٣ م"
    assert visual_to_logical(visual_to_logical(logical)) == logical
    assert "٢٠٢٣" in visual_to_logical(logical)
