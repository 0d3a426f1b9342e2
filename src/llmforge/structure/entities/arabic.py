"""Arabic people, organisations and places: cue words, folded word lists and clitic stripping.

Arabic names
    Arabic has no capital letters, so every Arabic name needs a cue word. Words are compared after
    folding (diacritics and tatweel removed; أ إ آ ٱ → ا, ى → ي, ة → ه) and after stripping one
    conjunction (و ف) and one preposition (ب ل ك; لل → ال), so بالرياض and وللرياض find الرياض.

    * person: a title (السيد، الدكتور، المهندس، الشيخ، معالي ...) and one to four name units —
      a word, "بن/بنت/آل/أبو + word", "عبد + ال..." — ending at a particle, a verb of saying, a
      role word or punctuation. A definite word counts only when it is a nisba (الحربي) or ends
      the name. With no title: a listed, unambiguous first name (خالد، not أمل "hope") followed
      by a second unit that is a name, a nisba or بن/آل.
    * organization: a keyword (وزارة، هيئة، جامعة، شركة، مصرف/بنك، مجلس، مؤسسة ...) and its
      genitive phrase: up to two bare nouns (هيئة تنظيم ...), one definite genitive, then only
      what extends a name — و-coordination, ل/لل-complements, nisba and listed adjectives, names
      after الملك/الأمير — and never past a known place. With the article (الشركة، الهيئة) the
      keyword needs an adjective such as السعودية/العامة or a لل-complement to name something.
    * place: gazetteer entries; those that are ordinary words too (الخبر "the news", ينبع
      "springs from") only right after مدينة/محافظة/منطقة.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Iterable, Iterator
from typing import NamedTuple

from llmforge.structure.entities import gazetteer as gz
from llmforge.structure.entities.document import AR_MARKS, Document, Entity, Token, first_word_index, fold


class _Lexicon(NamedTuple):
    ar_places: dict[str, list[tuple[str, ...]]]
    ar_need_cue: frozenset[tuple[str, ...]]
    ar_place_cues: frozenset[str]
    ar_place_vetoes: dict[str, frozenset[str]]
    ar_titles: frozenset[str]
    ar_title_continuations: frozenset[str]
    ar_org_keywords: frozenset[str]
    ar_stop: frozenset[str]
    ar_given: frozenset[str]
    ar_ambiguous: frozenset[str]
    ar_connectors: frozenset[str]
    ar_facility: frozenset[str]
    ar_org_adjectives: frozenset[str]
    ar_org_stop: frozenset[str]
    ar_org_generic: frozenset[str]
    ar_generic_objects: frozenset[str]


def _folded(words: Iterable[str]) -> frozenset[str]:
    return frozenset(fold(w) for w in words)


@functools.cache
def _lexicon() -> _Lexicon:
    """The Arabic word lists, folded once, built on first use."""
    ar_keywords = _folded(gz.AR_ORG_KEYWORDS)
    ar_titles = _folded(gz.AR_TITLES)
    ar_calendar = _folded(w for k in [*gz.AR_MONTHS, *gz.HIJRI_MONTHS, *gz.AR_WEEKDAYS] for w in k.split())
    return _Lexicon(
        ar_places=first_word_index(tuple(fold(name).split()) for name in gz.AR_PLACES + gz.AR_PLACES_NEED_CUE),
        ar_need_cue=frozenset(tuple(fold(name).split()) for name in gz.AR_PLACES_NEED_CUE),
        ar_place_cues=_folded(gz.AR_PLACE_CUES),
        ar_place_vetoes={fold(k): _folded(v) for k, v in gz.AR_PLACE_VETOES.items()},
        ar_titles=ar_titles,
        ar_title_continuations=_folded(gz.AR_TITLE_CONTINUATIONS),
        ar_org_keywords=ar_keywords | frozenset("ال" + k for k in ar_keywords),
        ar_stop=_folded(gz.AR_NAME_STOPWORDS) | ar_titles | ar_keywords | ar_calendar,
        ar_given=_folded(gz.AR_GIVEN_NAMES),
        ar_ambiguous=_folded(gz.AR_AMBIGUOUS_GIVEN),
        ar_connectors=_folded(gz.AR_NAME_CONNECTORS),
        ar_facility=_folded(gz.AR_FACILITY_WORDS),
        ar_org_adjectives=_folded(gz.AR_ORG_NAME_ADJECTIVES),
        # Nationality adjectives end a person's name but belong to a bank's: البنك الأهلي السعودي.
        ar_org_stop=_folded(gz.AR_ORG_STOP) | {w for w in _folded(gz.AR_NAME_STOPWORDS) if not _is_nisba(w)},
        ar_org_generic=_folded(gz.AR_ORG_GENERIC),
        ar_generic_objects=_folded(gz.AR_GENERIC_ORG_OBJECTS),
    )


class _Base(NamedTuple):
    cut: int     # letters of clitics before the word
    word: str    # the folded word without them
    fused: bool  # لل + word: the span keeps the whole token, the value gets ال back


@functools.lru_cache(maxsize=65536)
def _bases(key: str) -> tuple[_Base, ...]:
    """A folded word and its readings without one conjunction (و ف) and one preposition (ب ل ك)."""
    found, cut, rest = [_Base(0, key, False)], 0, key
    if rest[:1] in ("و", "ف") and len(rest) > 2:
        cut, rest = 1, rest[1:]
        found.append(_Base(1, rest, False))
    if rest.startswith("لل") and len(rest) > 3:
        found.append(_Base(cut, "ال" + rest[2:], True))
    elif rest[:1] in ("ب", "ل", "ك") and len(rest) > 3:
        found.append(_Base(cut + 1, rest[1:], False))
    return tuple(found)


def _cut(token: Token, letters: int) -> int:
    """Offset just after the first ``letters`` letters of ``token`` (and their diacritics)."""
    offset = 0
    while letters and offset < len(token.text):
        offset += 1
        if not AR_MARKS.match(token.text[offset - 1]):
            letters -= 1
    while offset < len(token.text) and AR_MARKS.match(token.text[offset]):
        offset += 1
    return token.start + offset


def _arabic(doc: Document, index: int) -> bool:
    return 0 <= index < len(doc.tokens) and doc.tokens[index].script == "arabic"


def _key(doc: Document, index: int) -> str:
    return doc.tokens[index].key if _arabic(doc, index) else ""


def _any_base(doc: Document, index: int, words: frozenset[str]) -> bool:
    return _arabic(doc, index) and any(b.word in words for b in _bases(doc.tokens[index].key))


def _ar_span(doc: Document, first: int, base: _Base, last: int) -> tuple[int, int, str]:
    """Start, end and value of tokens first..last with ``base``'s clitics left out."""
    start, end = _cut(doc.tokens[first], base.cut), doc.tokens[last].end
    text = doc.text[start:end]
    return start, end, ("ال" + text[2:] if base.fused else text)


def places(doc: Document) -> Iterator[Entity]:
    """Gazetteer places, clitics stripped; a place that is also a common word needs its cue."""
    lex = _lexicon()
    for i, token in enumerate(doc.tokens):
        if token.script != "arabic":
            continue
        for base in _bases(token.key):
            words = next((w for w in lex.ar_places.get(base.word, ())
                          if all(_key(doc, i + k) == x for k, x in enumerate(w[1:], 1))), None)
            if words is None or (words in lex.ar_need_cue and not _any_base(doc, i - 1, lex.ar_place_cues)):
                continue
            if _key(doc, i - 1) in lex.ar_place_vetoes.get(base.word, ()):
                break
            start, end, value = _ar_span(doc, i, base, i + len(words) - 1)
            yield doc.entity(start, end, "place", value, "place_gazetteer")
            break


def _is_nisba(word: str) -> bool:
    return word.startswith("ال") and len(word) >= 5 and (word.endswith("ي") or word.endswith("يه"))


def _ar_boundary(doc: Document, index: int) -> bool:
    return not _arabic(doc, index) or _any_base(doc, index, _lexicon().ar_stop)


def _ar_name_end(doc: Document, index: int, untitled: bool, first: str | None = None) -> int:
    """End of the name units starting at token ``index`` (see "Arabic names" above), or ``index``."""
    lex, units, at = _lexicon(), [], index
    while len(units) < 4 and _arabic(doc, at) and not _any_base(doc, at, lex.ar_stop):
        key = first if at == index and first else doc.tokens[at].key
        if _TANWEEN.search(doc.tokens[at].text):  # عمومًا، قائلًا: adverbs, not names
            break
        if key in lex.ar_connectors or key == "عبد":
            if not _arabic(doc, at + 1) or _any_base(doc, at + 1, lex.ar_stop):
                break
            units.append((at + 2, "given" if key == "عبد" else "connector"))
            at += 2
            continue
        if not units:
            if key not in lex.ar_given and (key.startswith("ال") or untitled or key[0] in "يتن"):
                break  # يمكن، تقول: a title followed by a verb
            if untitled and key in lex.ar_ambiguous:
                break
            kind = "given"
        elif key in lex.ar_given:
            kind = "given"
        elif key.startswith("ال") and len(key) >= 4 and key not in lex.ar_org_stop and key not in lex.ar_places:
            kind = "nisba" if _is_nisba(key) else "definite"
        else:
            break
        units.append((at + 1, kind))
        at += 1
    while units and units[-1][1] == "definite" and not _ar_boundary(doc, units[-1][0]):
        units.pop()
    if untitled and (len(units) < 2 or units[1][1] == "definite"):
        return index
    return units[-1][0] if units else index


_TANWEEN = re.compile("[\u064b-\u064d]")


def _ar_title_end(doc: Document, index: int) -> int:
    """End of the chain of titles starting at ``index`` (السيد، معالي الدكتور، د.), or ``index``."""
    lex, end = _lexicon(), index
    while _arabic(doc, end):
        if _any_base(doc, end, lex.ar_titles) or (end > index and doc.tokens[end].key in lex.ar_title_continuations):
            end += 1
        elif (doc.tokens[end].key in gz.AR_TITLE_ABBREVIATIONS and doc.word(end + 1) == "."
              and (end > index or _ar_boundary(doc, index - 1)) and not doc.word(index - 1).isdigit()):
            end += 2  # د. خالد — but not the initial in "أرلي د. كاثي" or the unit in "5 د.ك"
        else:
            break
    return end


def people(doc: Document) -> Iterator[Entity]:
    """People after a title, or from a listed first name and a second name unit."""
    lex, after_title = _lexicon(), -1
    for i, token in enumerate(doc.tokens):
        if token.script != "arabic" or i < after_title:
            continue
        title_end = _ar_title_end(doc, i)
        if title_end > i:
            after_title = title_end
            if _any_base(doc, i - 1, lex.ar_facility | lex.ar_org_keywords):  # طريق الملك فهد
                continue
            end = _ar_name_end(doc, title_end, untitled=False)
            if end > title_end:
                yield doc.span(title_end, end - 1, "person", "person_title")
            continue
        if _any_base(doc, i - 1, lex.ar_facility | lex.ar_org_keywords | lex.ar_connectors | lex.ar_given):
            continue
        base = next((b for b in _bases(token.key) if b.word in lex.ar_given and not b.fused), None)
        if base is not None and base.word not in lex.ar_ambiguous:
            end = _ar_name_end(doc, i, untitled=True, first=base.word)
            if end > i:
                start, stop, value = _ar_span(doc, i, base, end - 1)
                yield doc.entity(start, stop, "person", value, "person_name")


def _org_keyword(doc: Document, index: int) -> _Base | None:
    keywords = _lexicon().ar_org_keywords
    return next((b for b in _bases(doc.tokens[index].key) if b.word in keywords), None)


def _feminine(word: str) -> bool:
    return word.endswith("ه")  # folded ة


def _agrees(adjective: str, keyword: str, previous: str) -> bool:
    """An adjective after the genitive belongs to the name when it agrees in gender with the keyword
    or the word before it (or follows a sound feminine plural): الاتحاد الأوروبي but not
    "الاتحاد الأوروبي التشريعية", which describes the noun before the name."""
    return (_feminine(adjective) == _feminine(keyword) or _feminine(adjective) == _feminine(previous)
            or previous.endswith("ات"))


def _verb_like(word: str) -> bool:
    """يعمل، تديرها، ورسمها: an imperfect verb or a word with a pronoun suffix ends a name."""
    return word[:1] == "ي" or word.endswith(("ها", "هم", "هما"))


# Words after which the next word is a personal name inside an organisation's name (folded:
# الأمير → الامير, آل → ال): جامعة الملك سعود، مركز الملك عبدالله.
_NAME_LEADERS = frozenset({"الملك", "الامير", "الشيخ", "الامام", "ال", "بن", "عبد"})


def _ar_org_end(doc: Document, index: int, definite: bool) -> int:
    """End of the genitive phrase of the organisation keyword at ``index``, or ``index + 1``."""
    lex, keyword = _lexicon(), doc.tokens[index].key
    accepted: list[tuple[int, str]] = []  # (token index, kind)
    at, bare, genitive, name_next, complement = index + 1, 0, False, False, False
    while _arabic(doc, at) and len(accepted) < 7:
        key = doc.tokens[at].key
        word = key[1:] if key[:1] == "و" and len(key) > 3 and key[1:3] == "ال" else key
        if key in lex.ar_org_stop or _any_base(doc, at, lex.ar_org_stop) or key.startswith("بال"):
            break
        if word != key and _org_keyword(doc, at):  # "... والشركة": another organisation begins
            break
        if name_next:
            kind, name_next = "name", False
        elif word in _NAME_LEADERS:
            kind, name_next, genitive = "name", True, True
        elif word in lex.ar_given:
            kind = "name"
        elif (genitive or definite) and word[:1] == "ل" and not word.startswith("ال") and len(word) > 3:
            kind, complement = "complement", True
        elif word.startswith("ال"):
            adjective = _is_nisba(word) or word in lex.ar_org_adjectives
            previous = doc.tokens[accepted[-1][0]].key if accepted else keyword
            if genitive and not (complement or word != key or (adjective and _agrees(word, keyword, previous))):
                break
            kind, genitive, complement = "definite", True, False
        elif genitive or bare >= 2 or word in lex.ar_org_generic or (bare and key[0] != "و") or _verb_like(key):
            break  # a second bare noun only coordinated: شركة مياه وكهرباء ...
        else:
            kind, bare = "bare", bare + 1
        accepted.append((at, kind))
        at += 1
        if kind == "definite" and word in lex.ar_places and word not in lex.ar_org_adjectives:
            break  # شركة مياه الإمارات ends at the place; الشركة السعودية goes on
    while accepted and (accepted[-1][1] == "bare" or (name_next and accepted[-1][1] == "name")):
        accepted.pop()  # a trailing bare noun, or a الملك with no name after it
        name_next = False
    if not accepted:
        return index + 1
    first = doc.tokens[accepted[0][0]].key
    if definite and not (first in lex.ar_org_adjectives or any(kind == "complement" for _, kind in accepted)):
        return index + 1
    if first in lex.ar_generic_objects:
        return index + 1
    return accepted[-1][0] + 1


def organizations(doc: Document) -> Iterator[Entity]:
    """Organisations: a keyword and its genitive phrase."""
    for i, token in enumerate(doc.tokens):
        if token.script != "arabic":
            continue
        base = _org_keyword(doc, i)
        if base is None:
            continue
        end = _ar_org_end(doc, i, definite=base.word.startswith("ال"))
        if end > i + 1:
            start, stop, value = _ar_span(doc, i, base, end - 1)
            yield doc.entity(start, stop, "organization", value, "organization_keyword")
