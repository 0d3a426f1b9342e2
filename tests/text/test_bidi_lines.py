"""Visual-to-logical reordering of whole lines (llmforge.text.bidi)."""

from __future__ import annotations

import pytest

from llmforge.text.bidi import paragraph_is_rtl, reorder, visual_line_to_logical
from llmforge.text.normalize import normalize_text, visual_to_logical


@pytest.mark.parametrize("logical, rtl", [
    ("Arabic: مرحبا بالعالم", False),
    ("Hello مرحبا بالعالم world and more", False),
    ("see (مرحبا) now", False),
    ("الكتاب في المكتبة والقلم على الطاولة 2024", True),
    ("نظام الإدارة يعمل مع llmforge على الحاسوب الرئيسي", True),
    ("عدد المضخات (25) في المحطة", True),
    ("في سنة ٢٠٢٣ م", True),
    ("Only English here, 42 times.", False),
])
def test_a_line_drawn_then_read_back(logical: str, rtl: bool) -> None:
    visual = reorder(logical, rtl)
    assert reorder(visual, rtl) == logical
    assert visual_line_to_logical(visual) == logical


def test_drawn_order_of_a_left_to_right_line() -> None:
    visual = reorder("Arabic: مرحبا بالعالم", rtl=False)
    assert visual == "Arabic: " + "مرحبا بالعالم"[::-1]  # Latin stays put, the Arabic run turns
    assert not paragraph_is_rtl(visual)


def test_direction_of_ambiguous_lines() -> None:
    visual = reorder("Hi مرحبا", rtl=False)  # Latin at one end, Arabic at the other, no punctuation
    assert not paragraph_is_rtl(visual, rtl_context=False)
    assert paragraph_is_rtl(visual, rtl_context=True)
    assert paragraph_is_rtl(visual)  # no context: the script with more letters


def test_normalize_repairs_visual_pages_line_by_line() -> None:
    logical = ["الكتاب في المكتبة والقلم على الطاولة", "Arabic: مرحبا بالعالم", "المدرسة الكبيرة في المدينة"]
    visual = "\n".join(reorder(line, rtl=i != 1) for i, line in enumerate(logical))
    assert visual_to_logical(visual).split("\n") == logical
    assert normalize_text(visual).split("\n") == logical
