from __future__ import annotations

import pytest

from llmforge.text.qa_metrics import exact_match, normalize_answer, token_f1, token_recall


@pytest.mark.parametrize(("text", "language", "normalised"), [
    ("The Denver Broncos!", "en", "denver broncos"),
    ("  a   cat,  an   owl (and) THE end.", "en", "cat owl and end"),
    ("theory of the atom", "en", "theory of atom"),            # only whole-word articles go
    ("$5 + 3 = 8", "en", "5 3 8"),                             # ASCII symbols are MLQA punctuation too
    ("«الحظر»، نعم؟ لا؛", "ar", "حظر نعم لا"),                # Arabic punctuation and the article
    ("الْمَحَطَّةُ الرَّئِيسِيَّةُ", "ar", "محطة رئيسية"),       # diacritics go, letters stay as written
    ("مـحـطـة", "ar", "محطة"),                                 # tatweel
    ("مال الدولة", "ar", "مال دولة"),                          # ال inside a word stays (MLQA would cut مال)
    ("والحظر", "ar", "والحظر"),                                # only at the start of a word
    ("The الحظر", "ar", "the حظر"),                            # each language's own articles
])
def test_normalisation(text: str, language: str, normalised: str) -> None:
    assert normalize_answer(text, language) == normalised


def test_exact_match_is_the_best_over_gold_answers() -> None:
    golds = ["Denver Broncos", "the Broncos"]
    assert exact_match("The Broncos.", golds, "en") == 1.0
    assert exact_match("Broncos won", golds, "en") == 0.0
    assert exact_match("الحظر.", ["حظر النفط", "الحظر"], "ar") == 1.0


@pytest.mark.parametrize(("prediction", "golds", "language", "f1"), [
    ("Denver Broncos won", ["Denver Broncos"], "en", 0.8),                   # P 2/3, R 1
    ("Broncos", ["Denver Broncos"], "en", 2 / 3),                             # P 1, R 1/2
    ("Broncos", ["Denver Broncos", "Broncos"], "en", 1.0),                    # the best gold
    ("Carolina Panthers", ["Denver Broncos"], "en", 0.0),
    ("", ["Denver Broncos"], "en", 0.0),
    ("broncos broncos", ["Broncos"], "en", 2 / 3),                            # tokens counted with multiplicity
    ("كان الحظر النفطي", ["لقد كان للحظر"], "ar", 1 / 3),                   # كان shared: P 1/3, R 1/3
    ("الحظر النفطي", ["حظر النفط"], "ar", 0.5),                             # حظر after the article; النفطي ≠ نفط
])
def test_token_f1(prediction: str, golds: list[str], language: str, f1: float) -> None:
    assert token_f1(prediction, golds, language) == pytest.approx(f1)


@pytest.mark.parametrize(("prediction", "golds", "language", "recall"), [
    ("Peyton Manning was 39 years old.", ["39"], "en", 1.0),                # the whole sentence holds it
    ("Manning", ["Peyton Manning", "Manning"], "en", 1.0),                   # the best gold
    ("Manning", ["Peyton Manning"], "en", 0.5),
    ("كان عمره 39 عاماً.", ["39 عاما"], "ar", 1.0),                          # the tanwin goes
    ("كان عمره 39 سنة", ["39 عاما"], "ar", 0.5),
    ("", ["39"], "en", 0.0),
])
def test_token_recall(prediction: str, golds: list[str], language: str, recall: float) -> None:
    assert token_recall(prediction, golds, language) == pytest.approx(recall)


def test_no_gold_answer_scores_zero() -> None:
    assert token_f1("anything", [], "en") == 0.0
    assert exact_match("anything", [], "en") == 0.0
    assert token_recall("anything", [], "en") == 0.0
