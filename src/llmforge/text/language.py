"""Which language a text is in: one count of letters, two questions asked of it.

* :func:`detect_language` labels a page or a chunk (``ar``, ``en``, ``ar+en``, ``latn``, ``und``):
  a script counts when it holds a tenth of the letters, so a mostly Arabic page quoting English
  is ``ar+en``.
* :func:`query_language` picks the keyword analyser for a query (``ar`` or ``en``): Arabic wins
  with a third of the letters, since a short Arabic question often carries a Latin name or term.
"""

from __future__ import annotations

import re

from llmforge.text.normalize import ARABIC_BLOCK, PRESENTATION_FORMS, count_letters, is_latin1
from llmforge.text.stopwords import ENGLISH_STOPWORDS

LANGUAGES = ("ar", "en", "ar+en", "latn", "und")
_ARABIC_LETTER = re.compile(f"[{ARABIC_BLOCK}{PRESENTATION_FORMS}]")
_LATIN_EXTENDED = re.compile("[\u0100-\u024f]")


def script_letters(text: str) -> tuple[int, int]:
    """How many Arabic and how many Latin letters ``text`` holds."""
    if is_latin1(text):
        return 0, count_letters(text)
    arabic = len(_ARABIC_LETTER.findall(text)) if _ARABIC_LETTER.search(text) else 0
    # Latin-1's letters counted on bytes (the rest dropped), Latin Extended by expression
    western = count_letters(text.encode("latin-1", "ignore").decode("latin-1"))
    return arabic, western + (len(_LATIN_EXTENDED.findall(text)) if _LATIN_EXTENDED.search(text) else 0)


def detect_language(text: str) -> str:
    """``ar``, ``en``, ``ar+en``, ``latn`` (Latin script, not evidently English) or ``und``."""
    arabic, latin = script_letters(text)
    if arabic + latin < 10:
        return "und"
    parts = []
    if arabic >= 0.1 * (arabic + latin):
        parts.append("ar")
    if latin >= 0.1 * (arabic + latin):
        words = text.lower().split()
        english = sum(map(ENGLISH_STOPWORDS.__contains__, words))
        parts.append("en" if words and english / len(words) >= 0.05 else "latn")
    return "+".join(parts) or "und"


def query_language(query: str) -> str:
    """``ar`` when Arabic letters make up at least a third of the query's letters, else ``en``."""
    arabic, latin = script_letters(query)
    return "ar" if arabic and arabic * 3 >= arabic + latin else "en"
