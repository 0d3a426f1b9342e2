"""Entities in English and Arabic text, offline: patterns, cue words, gazetteers, capitals.

No model and no network. What has a shape — dates, money, percentages, quantities, e-mail
addresses, URLs, phone numbers, identifiers — is found by regular expressions; people,
organisations and places by cue words, small hand-written lists (:mod:`.gazetteer`) and, in
English, capitalisation. For the three name types precision comes before recall: a name is only
proposed with a cue, since an index full of false names is worse than a sparse one.

Matching runs on a *match form* of the text of the same length — Arabic-Indic digits (٠-٩, ۰-۹)
become ASCII, ٫ ٬ ٪ become . , % and no-break spaces become spaces — so every offset is an offset
into the input and ``text[e.start:e.end] == e.text`` always holds.

The rules live in one module each: :mod:`.shapes` (dates, money, percentages, quantities, e-mail,
URLs, phones, identifiers), :mod:`.english` and :mod:`.arabic` (people, organisations, places),
all reading a :class:`~.document.Document`; :mod:`.gazetteer` holds the word lists. This module
runs them and resolves overlaps.

Spans and values
    Titles are not part of a person. A clitic (و ف ب ل ك) is left out of an Arabic span when what
    remains is the name; in a fused لل form the whole word is kept and the value gets its article
    back (للرياض → value الرياض). A weekday written next to a date belongs to it. Bare years,
    months without a year and times of day are not dates; counts without a unit are not
    quantities. Amounts are exact decimals ("USD 1250000.00"), percentages "12.5%", quantities
    "<number> <SI symbol>", phones "+<digits>" (or the local digits) with ";ext=N".
"""

from __future__ import annotations

import re

from llmforge.structure.entities import arabic, english, shapes
from llmforge.structure.entities.document import CONFIDENCE, Document, ENTITY_TYPES, Entity, word_alternation

__all__ = ["CONFIDENCE", "ENTITY_TYPES", "Entity", "extract_entities"]

# Of two candidates of the same length the more specific type wins: a number after "رقم الهاتف"
# is a phone, not an identifier.
_SPECIFICITY = {"email": 10, "url": 9, "date": 8, "phone": 7, "money": 6, "percent": 6, "quantity": 5,
                "identifier": 4, "organization": 3, "person": 2, "place": 1}


def extract_entities(text: str, language: str | None = None) -> list[Entity]:
    """The entities of ``text``, sorted by start and non-overlapping.

    Where candidates overlap, the longest wins, then the more specific type, then the higher
    confidence.

    Args:
        text: any text; offsets refer to it as given.
        language: a hint as :func:`llmforge.text.language.detect_language` returns it ("en",
            "ar", "ar+en", "latn", "und") or None. The name rules of a script the hint leaves out
            are skipped ("en": no Arabic names); patterns with a shape always run.
    """
    if not text:
        return []
    doc = Document(text)
    english_names, arabic_names = _scripts(language)
    found = list(shapes.pattern_entities(doc))
    if english_names:
        found += [*english.people(doc), *english.organizations(doc), *english.places(doc)]
    if arabic_names:
        found += [*arabic.people(doc), *arabic.organizations(doc), *arabic.places(doc)]
    found += _acronyms(doc, [e for e in found if e.type == "organization"])
    return _resolve(found, len(text))


def _scripts(language: str | None) -> tuple[bool, bool]:
    """Whether to run the English and the Arabic name rules: those the hint names, else both."""
    parts = set((language or "").lower().replace("-", "+").split("+"))
    english_names, arabic_names = bool(parts & {"en", "latn"}), "ar" in parts
    return (english_names, arabic_names) if english_names or arabic_names else (True, True)


def _acronyms(doc: Document, orgs: list[Entity]) -> list[Entity]:
    """"Saudi Water Authority (SWA)": SWA becomes an organisation everywhere in the text."""
    acronyms = set()
    for org in orgs:
        match = re.compile(r"\s*\(\s*([A-Z][A-Za-z&]{1,9})\s*\)").match(doc.form, org.end)
        if match and sum(c.isupper() for c in match.group(1)) >= 2:
            acronyms.add(match.group(1))
    if not acronyms:
        return []
    pattern = re.compile(rf"(?<![\w\-])(?:{word_alternation(acronyms)})(?![\w\-])")
    return [doc.entity(m.start(), m.end(), "organization", m.group(), "organization_acronym")
            for m in pattern.finditer(doc.form)]



def _resolve(candidates: list[Entity], length: int) -> list[Entity]:
    """The candidates that survive overlap resolution (longest, then most specific, then most
    confident first), sorted by start."""
    taken = bytearray(length)
    kept = []
    for entity in sorted(candidates, key=lambda e: (e.start - e.end, -_SPECIFICITY[e.type], -e.confidence,
                                                    e.start)):
        if entity.end > entity.start and taken.find(1, entity.start, entity.end) < 0:
            taken[entity.start:entity.end] = b"\x01" * (entity.end - entity.start)
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)
