"""English people, organisations and places: cue words, capitalisation and the gazetteer.

English names
    A person follows a title (Mr., Dr., Prof., Sheikh ...) or starts with a common first name and
    goes on in capitalised words. An organisation is a capitalised run that ends in a suffix
    (Saudi Electricity Company, ... Ltd) or a head word with its of-phrase (Ministry of Energy),
    or one of a few well-known names; an acronym given in brackets after one, "(NWC)", is then an
    organisation wherever it appears. A place is a gazetteer entry that stands alone ("Jordan" in
    "Michael Jordan" or "Jordan Valley Authority" is not one), "Kingdom/Port of <place>", or an
    unknown capitalised run after in/at/from and before ", <known place>" or Province/Governorate.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator
from typing import NamedTuple

from llmforge.structure.entities import gazetteer as gz
from llmforge.structure.entities.document import (
    TOKEN_PATTERN,
    Document,
    Entity,
    first_word_index,
    word_alternation,
)

_EN_CONNECTORS = frozenset({"and", "&", "of", "for", "the", "on", "de"})
_EN_PREPOSITIONS = frozenset({"in", "at", "from", "near", "to", "of", "outside", "across", "around", "into"})


class _Lexicon(NamedTuple):
    en_places: dict[str, list[tuple[str, ...]]]   # first word -> entries, longest first
    en_orgs: re.Pattern[str]
    en_stop: frozenset[str]
    en_name_breaks: frozenset[str]


@functools.cache
def _lexicon() -> _Lexicon:
    """The English word lists in the form the rules look them up, built on first use."""
    calendar = {*gz.EN_MONTHS, *gz.EN_WEEKDAYS, *(k for k in gz.HIJRI_MONTHS if k.isascii())}
    return _Lexicon(
        en_places=first_word_index(tuple(TOKEN_PATTERN.findall(name)) for name in gz.EN_PLACES),
        en_orgs=re.compile(rf"(?<![\w\-])(?:{word_alternation(gz.EN_ORGS)})(?![\w\-])"),
        en_stop=frozenset(gz.EN_STOP_CAPS | calendar),
        en_name_breaks=frozenset(gz.EN_ORG_SUFFIXES | gz.EN_ORG_HEADS | gz.EN_FACILITY_WORDS | gz.EN_PLACE_SUFFIXES),
    )


def _is_cap(doc: Document, index: int) -> bool:
    """A capitalised word that may be part of a name (not "The", a month or a long heading word)."""
    if not 0 <= index < len(doc.tokens):
        return False
    token = doc.tokens[index]
    return (token.script == "latin" and token.text[0].isupper() and token.text not in _lexicon().en_stop
            and not (token.text.isupper() and len(token.text) > 5))


def _after_title(doc: Document, index: int) -> bool:
    before = doc.word(index - 1)
    return before in gz.EN_TITLES or (before == "." and doc.word(index - 2) in gz.EN_TITLES)


def _name_end(doc: Document, index: int) -> int:
    """End of the capitalised name starting at ``index`` (particles such as bin, Al inside)."""
    breaks, end = _lexicon().en_name_breaks, index
    while end - index < 6:
        word = doc.word(end)
        if len(word) == 1 and word.isupper() and end > index and doc.word(end + 1) == "." and _is_cap(doc, end + 2):
            end += 2  # George W. Bush
        elif _is_cap(doc, end) and word not in breaks:
            end += 1
        elif word in gz.EN_NAME_PARTICLES and end > index and _is_cap(doc, end + 1):
            end += 1
        else:
            break
    if doc.word(end) in breaks or end == index:  # King Fahd Road, King Abdullah University
        return index
    return end


def people(doc: Document) -> Iterator[Entity]:
    """People after a title, or from a common first name and further capitalised words."""
    for i, token in enumerate(doc.tokens):
        if token.text in gz.EN_TITLES and (token.text not in gz.EN_TITLES_NEED_DOT or doc.word(i + 1) == "."):
            first = i + 2 if doc.word(i + 1) == "." else i + 1
            end = _name_end(doc, first)
            if end > first:
                yield doc.span(first, end - 1, "person", "person_title")
        elif token.text in gz.EN_GIVEN_NAMES and not _is_cap(doc, i - 1) and not _after_title(doc, i):
            end = _name_end(doc, i)
            if end - i >= 2 and not _is_cap(doc, end):
                yield doc.span(i, end - 1, "person", "person_name")


def _of_phrase_end(doc: Document, index: int) -> int:
    """End of "of|for [the] Capitalised (and|of ... Capitalised)*" at ``index``, or ``index``."""
    first = index + 1 + (doc.word(index + 1) == "the")
    if doc.word(index) not in ("of", "for") or not _is_cap(doc, first):
        return index
    if doc.word(first) in gz.EN_GENERIC_ORG_OBJECTS:
        return index
    end = first + 1
    while True:
        if _is_cap(doc, end):
            end += 1
            continue
        after = end
        while doc.word(after) in _EN_CONNECTORS:
            after += 1
        if after == end or not _is_cap(doc, after):
            return end
        end = after + 1


def organizations(doc: Document) -> Iterator[Entity]:
    """Organisations: capitalised runs ending in a suffix, head words with their of-phrase, known names."""
    tokens = doc.tokens
    for i, token in enumerate(tokens):
        is_head, is_suffix = token.text in gz.EN_ORG_HEADS, token.text in gz.EN_ORG_SUFFIXES
        if not (is_head or is_suffix) or not token.text[0].isupper():
            continue
        start = i
        while _is_cap(doc, start - 1) or (doc.word(start - 1) == "&" and _is_cap(doc, start - 2)):
            start -= 1
        while tokens[start].script != "latin" or not tokens[start].text[0].isupper():
            start += 1
        end = _of_phrase_end(doc, i + 1) if is_head else i + 1
        end = end if end > i + 1 else i + 1
        while doc.word(end) in gz.EN_LEGAL_FORMS:
            end += 1
        if start == i and end == i + 1:
            continue
        if (doc.word(end) == "." and tokens[end - 1].text in gz.EN_LEGAL_FORMS | {"Corp", "Co", "Inc", "Ltd"}
                and end + 1 < len(tokens) and not doc.word(end + 1)[:1].isupper() and doc.word(end + 1) != "\n"):
            end += 1  # "Ltd. said": the abbreviation's full stop; "Ltd. The": the sentence's
        yield doc.span(start, end - 1, "organization", "organization_keyword" if is_head and end > i + 1
                       else "organization_suffix")
    for match in _lexicon().en_orgs.finditer(doc.form):
        yield doc.entity(match.start(), match.end(), "organization", match.group(), "organization_known")


def _en_place_at(doc: Document, index: int) -> int:
    """End of the gazetteer place starting at token ``index``, or ``index``."""
    for words in _lexicon().en_places.get(doc.word(index), ()):
        if all(doc.word(index + k) == w for k, w in enumerate(words)):
            return index + len(words)
    return index


def places(doc: Document) -> Iterator[Entity]:
    """Gazetteer places standing alone, "Kingdom/Port of <place>" and cued unknown places."""
    for i, token in enumerate(doc.tokens):
        if token.script != "latin" or not token.text[0].isupper():
            continue
        end = _en_place_at(doc, i)
        if end > i and not _is_cap(doc, i - 1) and not _after_title(doc, i):
            if doc.word(end) in gz.EN_PLACE_SUFFIXES:
                end += 1
            if not _is_cap(doc, end) or doc.word(end) in gz.EN_ORG_SUFFIXES:
                yield doc.span(i, end - 1, "place", "place_gazetteer")
            continue
        if token.text in gz.EN_PLACE_HEADS and doc.word(i + 1) == "of" and _en_place_at(doc, i + 2) > i + 2:
            yield doc.span(i, _en_place_at(doc, i + 2) - 1, "place", "place_gazetteer")
        elif doc.word(i - 1) in _EN_PREPOSITIONS and _is_cap(doc, i):
            yield from _cued_place(doc, i)


def _cued_place(doc: Document, index: int) -> Iterator[Entity]:
    """An unknown capitalised run after a preposition, before ", <known place>" or "Province"."""
    end = index
    while end - index < 3 and _is_cap(doc, end) and doc.word(end) not in _lexicon().en_name_breaks:
        end += 1
    if end == index or _en_place_at(doc, index) > index:
        return
    if doc.word(end) in gz.EN_PLACE_SUFFIXES:
        end += 1
    elif not (doc.word(end) == "," and _en_place_at(doc, end + 1) > end + 1):
        return
    yield doc.span(index, end - 1, "place", "place_cue")

