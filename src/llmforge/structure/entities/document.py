"""The text an extractor works on: the :class:`Entity` it returns, the match form and the tokens.

Every rule module reads a :class:`Document` and builds its entities through
:meth:`Document.entity`, so offsets always refer to the input and each pattern kind gets its one
fixed confidence from :data:`CONFIDENCE`.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import NamedTuple

ENTITY_TYPES = ("date", "money", "percent", "quantity", "email", "phone", "url", "identifier", "person",
                "organization", "place")

# One fixed confidence per pattern kind: shapes with a checksum or an unambiguous syntax highest,
# names found from a first-name list or an unknown capitalised run lowest.
CONFIDENCE = {
    "email": 0.99, "url": 0.97, "iban": 0.99, "date_iso": 0.97, "date_named": 0.95, "date_numeric": 0.85,
    "date_ambiguous": 0.7, "money": 0.95, "percent": 0.97, "quantity": 0.9, "phone_international": 0.9,
    "phone_cued": 0.85, "phone_local": 0.75, "standard": 0.9, "identifier_labelled": 0.85,
    "identifier_code": 0.8, "person_title": 0.85, "person_name": 0.7, "organization_known": 0.9,
    "organization_keyword": 0.85, "organization_suffix": 0.8, "organization_acronym": 0.75,
    "place_gazetteer": 0.9, "place_cue": 0.7,
}


@dataclass(frozen=True)
class Entity:
    """An entity: its type, its surface text ``input[start:end]`` and a normalised value."""

    type: str
    text: str
    start: int
    end: int
    value: str
    confidence: float


_MATCH_FORM = str.maketrans({**{chr(0x0660 + d): str(d) for d in range(10)},
                             **{chr(0x06F0 + d): str(d) for d in range(10)},
                             "\u066b": ".", "\u066c": ",", "\u066a": "%", "\u00a0": " ", "\u202f": " ",
                             "\u2009": " "})
_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"
TOKEN_PATTERN = re.compile(rf"[{_LATIN}](?:[{_LATIN}'’]|-(?=[{_LATIN}]))*|[\u0621-\u065f\u0670-\u06d3]+|\d+|\n|\S")
AR_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_AR_FOLD = str.maketrans("أإآٱىة", "اااايه")


def fold(word: str) -> str:
    """An Arabic word without diacritics and tatweel, with alef, ya and ta-marbuta variants unified."""
    return AR_MARKS.sub("", word).translate(_AR_FOLD)


def word_alternation(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first; a space matches any run of spaces and an
    Arabic letter may carry diacritics or tatweel (مربّعاً matches مربعا)."""
    return "|".join(re.sub("([\u0621-\u064a])", "\\1[\u064b-\u065f\u0670\u0640]*",
                           re.escape(w).replace(r"\ ", r"\s+"))
                    for w in sorted(set(words), key=len, reverse=True))


class Token(NamedTuple):
    text: str
    start: int
    end: int
    key: str     # folded for Arabic, as written otherwise
    script: str  # "latin", "arabic" or "other"


class Document:
    """A text, its match form (same length, so offsets carry over) and its tokens."""

    def __init__(self, text: str) -> None:
        self.text = text
        self.form = text.translate(_MATCH_FORM)

    @functools.cached_property
    def tokens(self) -> list[Token]:
        return [_token(m) for m in TOKEN_PATTERN.finditer(self.form)]

    def entity(self, start: int, end: int, type_: str, value: str, kind: str) -> Entity:
        while end < len(self.text) and AR_MARKS.match(self.text, end):  # دولاراً: keep the tanween
            end += 1
        return Entity(type_, self.text[start:end], start, end, value, CONFIDENCE[kind])

    def span(self, first: int, last: int, type_: str, kind: str) -> Entity:
        """The entity covering tokens ``first`` to ``last``, its value the text as written."""
        start, end = self.tokens[first].start, self.tokens[last].end
        if self.text.endswith(("'s", "’s"), start, end):  # John C. Messenger's translation
            end -= 2
        return self.entity(start, end, type_, self.text[start:end], kind)

    def word(self, index: int) -> str:
        return self.tokens[index].text if 0 <= index < len(self.tokens) else ""


def _token(match: re.Match[str]) -> Token:
    word = match.group()
    if "\u0621" <= word[0] <= "\u06d3":
        return Token(word, match.start(), match.end(), fold(word), "arabic")
    return Token(word, match.start(), match.end(), word, "latin" if word[0].isalpha() else "other")


def first_word_index(names: Iterable[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    """Multi-word names by their first word, longest first, so a lookup at a token tries the
    longest entry that starts there before its prefixes."""
    index: dict[str, list[tuple[str, ...]]] = {}
    for words in sorted(set(names), key=len, reverse=True):
        index.setdefault(words[0], []).append(words)
    return index
