"""Answer scores as the field reports them: SQuAD's exact match and token F1, with MLQA's
normalisation per language, each the best over a question's gold answers; and token recall, for
replies longer than the gold span.

A reply "contains the gold answer" undercounts right answers when a gold answer is a longer span
than a right reply needs, and overcounts a long reply that happens to hold it. Exact match and
token F1 after normalisation are what SQuAD, XQuAD and MLQA publish, so figures computed here can be
read beside theirs.

Normalisation follows MLQA's evaluation script: lower case; every punctuation character removed
(Unicode category P, which takes in Arabic ، ؛ ؟ « », and ASCII punctuation); articles removed
(English *a*, *an*, *the* as words; Arabic ال); tokens split on whitespace. Two differences, both for
Arabic: ال is removed at the start of a word only (MLQA's pattern removes it wherever it occurs, so
مال became م), and diacritics and tatweel are removed too, since the same word written with or
without harakat is the same answer. Letters are otherwise left as written (no alef or ta-marbuta
folding): that would score more leniently than the published figures.
"""

from __future__ import annotations

import re
import string
import unicodedata
from collections import Counter
from collections.abc import Sequence

from llmforge.text.normalize import _ARABIC_DIACRITICS, TATWEEL

ARTICLES = {"en": re.compile(r"\b(?:a|an|the)\b"), "ar": re.compile(r"(?<!\w)ال(?=\w)")}


def _is_punctuation(ch: str) -> bool:
    """MLQA's set: Unicode punctuation, and ASCII's (which counts $ + < = > ^ ` | ~ too)."""
    return ch in string.punctuation or unicodedata.category(ch).startswith("P")


def normalize_answer(text: str, language: str) -> str:
    """``text`` as MLQA compares answers in ``language`` (see the module docstring); a language
    without articles listed in :data:`ARTICLES` loses none."""
    text = "".join(ch for ch in text.lower() if not _is_punctuation(ch))
    if language == "ar":
        text = _ARABIC_DIACRITICS.sub("", text.replace(TATWEEL, ""))
    if language in ARTICLES:
        text = ARTICLES[language].sub(" ", text)
    return " ".join(text.split())


def _common(predicted: list[str], expected: list[str]) -> int:
    return sum((Counter(predicted) & Counter(expected)).values())


def _f1(predicted: list[str], expected: list[str]) -> float:
    common = _common(predicted, expected)
    if not common:
        return 0.0
    precision, recall = common / len(predicted), common / len(expected)
    return 2 * precision * recall / (precision + recall)


def exact_match(prediction: str, golds: Sequence[str], language: str) -> float:
    """1.0 when the normalised prediction equals one of the normalised gold answers."""
    predicted = normalize_answer(prediction, language)
    return float(any(predicted == normalize_answer(gold, language) for gold in golds))


def token_f1(prediction: str, golds: Sequence[str], language: str) -> float:
    """The best token F1 of the normalised prediction against each gold answer (0 without any
    token in common, an empty prediction included)."""
    predicted = normalize_answer(prediction, language).split()
    return max((_f1(predicted, normalize_answer(gold, language).split()) for gold in golds), default=0.0)


def token_recall(prediction: str, golds: Sequence[str], language: str) -> float:
    """The best share of a gold answer's normalised tokens that the prediction holds: F1 without
    its precision, so a right answer in a whole sentence scores as high as the bare span. Compares
    replies of different lengths (F1 of a sentence-long reply is low however right it is)."""
    predicted = normalize_answer(prediction, language).split()
    return max((_common(predicted, expected) / len(expected)
                for expected in (normalize_answer(gold, language).split() for gold in golds) if expected), default=0.0)
