"""Entities in English and Arabic text, offline: patterns, cue words, gazetteers, capitals.

No model and no network. What has a shape — dates, money, percentages, quantities, e-mail
addresses, URLs, phone numbers, identifiers — is found by regular expressions; people,
organisations and places by cue words, small hand-written lists (:mod:`.gazetteer`) and, in
English, capitalisation. For the three name types precision comes before recall: a name is only
proposed with a cue, since an index full of false names is worse than a sparse one.

Matching runs on a *match form* of the text of the same length — Arabic-Indic digits (٠-٩, ۰-۹)
become ASCII, ٫ ٬ ٪ become . , % and no-break spaces become spaces — so every offset is an offset
into the input and ``text[e.start:e.end] == e.text`` always holds.

English names
    A person follows a title (Mr., Dr., Prof., Sheikh ...) or starts with a common first name and
    goes on in capitalised words. An organisation is a capitalised run that ends in a suffix
    (Saudi Electricity Company, ... Ltd) or a head word with its of-phrase (Ministry of Energy),
    or one of a few well-known names; an acronym given in brackets after one, "(NWC)", is then an
    organisation wherever it appears. A place is a gazetteer entry that stands alone ("Jordan" in
    "Michael Jordan" or "Jordan Valley Authority" is not one), "Kingdom/Port of <place>", or an
    unknown capitalised run after in/at/from and before ", <known place>" or Province/Governorate.

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

Spans and values
    Titles are not part of a person. A clitic (و ف ب ل ك) is left out of an Arabic span when what
    remains is the name; in a fused لل form the whole word is kept and the value gets its article
    back (للرياض → value الرياض). A weekday written next to a date belongs to it. Bare years,
    months without a year and times of day are not dates; counts without a unit are not
    quantities. Amounts are exact decimals ("USD 1250000.00"), percentages "12.5%", quantities
    "<number> <SI symbol>", phones "+<digits>" (or the local digits) with ";ext=N".

Numeric dates
    YYYY-MM-DD and YYYY/MM/DD read as written. For a/b/yyyy: a > 12 means day/month, b > 12 means
    month/day (US order), and when both are ≤ 12 it is day/month — the order of Arabic, British
    and most international documents — with a lower confidence. Two-digit years only with "/"
    (00-69 → 20xx). A year from 1300 to 1500, or any year followed by هـ or AH, is Hijri: its
    value ends in " AH" and is not converted.

Identifiers
    Uppercase codes with three or more digits joined by - or / (INV-2024-0042, CR/2024/118),
    letter-digit codes (AB12345), a code after a label (Ref, Invoice No., Account number, رقم) —
    the span is the code, not the label — IBANs (mod-97 checksum; value without spaces) and
    standard numbers (ISO 9001:2015, IEC 61850): a standard number names a document, so it is
    indexed like one.
"""

from __future__ import annotations

import decimal
import functools
import re
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from datetime import date
from decimal import Decimal
from typing import NamedTuple
from urllib.parse import urlsplit, urlunsplit

from llmforge.structure import gazetteer as gz

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
# Of two candidates of the same length the more specific type wins: a number after "رقم الهاتف"
# is a phone, not an identifier.
_SPECIFICITY = {"email": 10, "url": 9, "date": 8, "phone": 7, "money": 6, "percent": 6, "quantity": 5,
                "identifier": 4, "organization": 3, "person": 2, "place": 1}


@dataclass(frozen=True)
class Entity:
    """An entity: its type, its surface text ``input[start:end]`` and a normalised value."""

    type: str
    text: str
    start: int
    end: int
    value: str
    confidence: float


def extract_entities(text: str, language: str | None = None) -> list[Entity]:
    """The entities of ``text``, sorted by start and non-overlapping.

    Where candidates overlap, the longest wins, then the more specific type, then the higher
    confidence.

    Args:
        text: any text; offsets refer to it as given.
        language: a hint as :func:`llmforge.ingest.normalize.detect_language` returns it ("en",
            "ar", "ar+en", "latn", "und") or None. The name rules of a script the hint leaves out
            are skipped ("en": no Arabic names); patterns with a shape always run.
    """
    if not text:
        return []
    doc = _Document(text)
    english, arabic = _scripts(language)
    found = list(_pattern_entities(doc))
    if english:
        found += [*_english_people(doc), *_english_orgs(doc), *_english_places(doc)]
    if arabic:
        found += [*_arabic_people(doc), *_arabic_orgs(doc), *_arabic_places(doc)]
    found += _acronyms(doc, [e for e in found if e.type == "organization"])
    return _resolve(found, len(text))


def _scripts(language: str | None) -> tuple[bool, bool]:
    parts = set((language or "").lower().replace("-", "+").split("+"))
    english, arabic = bool(parts & {"en", "latn"}), "ar" in parts
    return (english, arabic) if english or arabic else (True, True)


def _resolve(candidates: list[Entity], length: int) -> list[Entity]:
    taken = bytearray(length)
    kept = []
    for entity in sorted(candidates, key=lambda e: (e.start - e.end, -_SPECIFICITY[e.type], -e.confidence,
                                                    e.start)):
        if entity.end > entity.start and taken.find(1, entity.start, entity.end) < 0:
            taken[entity.start:entity.end] = b"\x01" * (entity.end - entity.start)
            kept.append(entity)
    return sorted(kept, key=lambda e: e.start)


# --- the document: match form and tokens ---------------------------------------------------------

_MATCH_FORM = str.maketrans({**{chr(0x0660 + d): str(d) for d in range(10)},
                             **{chr(0x06F0 + d): str(d) for d in range(10)},
                             "\u066b": ".", "\u066c": ",", "\u066a": "%", "\u00a0": " ", "\u202f": " ",
                             "\u2009": " "})
_LATIN = "A-Za-z\u00c0-\u024f\u1e00-\u1eff"
_TOKEN = re.compile(rf"[{_LATIN}](?:[{_LATIN}'’]|-(?=[{_LATIN}]))*|[\u0621-\u065f\u0670-\u06d3]+|\d+|\n|\S")
_AR_MARKS = re.compile("[\u064b-\u065f\u0670\u0640]")
_AR_FOLD = str.maketrans("أإآٱىة", "اااايه")


def _fold(word: str) -> str:
    """An Arabic word without diacritics and tatweel, with alef, ya and ta-marbuta variants unified."""
    return _AR_MARKS.sub("", word).translate(_AR_FOLD)


class _Token(NamedTuple):
    text: str
    start: int
    end: int
    key: str     # folded for Arabic, as written otherwise
    script: str  # "latin", "arabic" or "other"


class _Document:
    def __init__(self, text: str) -> None:
        self.text = text
        self.form = text.translate(_MATCH_FORM)

    @functools.cached_property
    def tokens(self) -> list[_Token]:
        return [_token(m) for m in _TOKEN.finditer(self.form)]

    def entity(self, start: int, end: int, type_: str, value: str, kind: str) -> Entity:
        while end < len(self.text) and _AR_MARKS.match(self.text, end):  # دولاراً: keep the tanween
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


def _token(match: re.Match[str]) -> _Token:
    word = match.group()
    if "\u0621" <= word[0] <= "\u06d3":
        return _Token(word, match.start(), match.end(), _fold(word), "arabic")
    return _Token(word, match.start(), match.end(), word, "latin" if word[0].isalpha() else "other")


# --- patterns with a shape -----------------------------------------------------------------------

# At most 18 integer digits, so amounts stay exact within the decimal context below.
_NUM = r"\d{1,3}(?:,\d{3}){1,5}(?:\.\d{1,6})?|\d{1,18}(?:\.\d{1,6})?"
_EXACT = decimal.Context(prec=40)
_NUMBER_START = r"(?<![\w.,])"  # a number does not start inside a word or another number
_PHONE_START = r"(?<![\w+\-/.(])"


def _words(words: Iterable[str]) -> str:
    """A regex alternation of ``words``, longest first; a space matches any run of spaces and an
    Arabic letter may carry diacritics or tatweel (مربّعاً matches مربعا)."""
    return "|".join(re.sub("([\u0621-\u064a])", "\\1[\u064b-\u065f\u0670\u0640]*",
                           re.escape(w).replace(r"\ ", r"\s+"))
                    for w in sorted(set(words), key=len, reverse=True))


def _entry(surface: str) -> str:
    """A matched word as the word lists spell it: spaces collapsed, diacritics dropped."""
    return _AR_MARKS.sub("", " ".join(surface.split()))


def _decimal(number: str) -> Decimal:
    return Decimal(number.replace(",", ""))


def _plain(number: Decimal) -> str:
    """A decimal without exponent or trailing zeros: 1250000, 12.5."""
    text = format(number, "f")
    return text.rstrip("0").rstrip(".") if "." in text else text


def _scaled(match: re.Match[str]) -> Decimal:
    scale, letter = match.group("scale"), match.groupdict().get("letter")
    factor = gz.SCALES[_entry(scale)] if scale else {"m": 10**6, "k": 10**3, "bn": 10**9, "mn": 10**6}.get(letter, 1)
    return _EXACT.multiply(_decimal(match.group("num")), Decimal(factor))


def _money(doc: _Document, m: re.Match[str]) -> Entity:
    currency = _entry(m.group("cur"))
    code = gz.CURRENCY_PREFIXES.get(currency) if m.group(0).startswith(m.group("cur")) else None
    code = code or gz.CURRENCY_SUFFIXES[currency]
    return doc.entity(m.start(), m.end(), "money", f"{code} {_scaled(m):.2f}", "money")


def _percent(doc: _Document, m: re.Match[str]) -> Entity:
    return doc.entity(m.start(), m.end(), "percent", f"{_plain(_decimal(m.group('num')))}%", "percent")


def _quantity(doc: _Document, m: re.Match[str]) -> Entity:
    unit = gz.UNITS[_entry(m.group("unit"))]
    return doc.entity(m.start(), m.end(), "quantity", f"{_plain(_scaled(m))} {unit}", "quantity")


def _date_value(year: int, month: int, day: int | None, hijri: bool) -> str | None:
    if hijri:
        if not (1 <= month <= 12 and (day is None or 1 <= day <= 30)):
            return None
    else:
        try:
            date(year, month, day or 1)
        except ValueError:
            return None
    value = f"{year:04d}-{month:02d}" + (f"-{day:02d}" if day else "")
    return f"{value} AH" if hijri else value


def _named_date(doc: _Document, m: re.Match[str]) -> Entity | None:
    groups = m.groupdict()
    year, day = int(m.group("y")), int(groups["d"]) if groups.get("d") else None
    if groups.get("hmon"):
        month, hijri = gz.HIJRI_MONTHS[_entry(m.group("hmon"))], True
    else:
        name = _entry(m.group("mon"))
        month, hijri = gz.AR_MONTHS.get(name) or gz.EN_MONTHS[name.title()[:1] + name[1:].lower()], False
    if not (1300 <= year <= 1600 if hijri else 1000 <= year <= 2199):
        return None
    value = _date_value(year, month, day, hijri)
    return doc.entity(m.start(), m.end(), "date", value, "date_named") if value else None


def _numeric_date(doc: _Document, m: re.Match[str]) -> Entity | None:
    groups = m.groupdict()
    kind = "date_numeric"
    if groups.get("a"):  # a/b/y: see "Numeric dates" in the module docstring
        a, b, year_text = int(m.group("a")), int(m.group("b")), m.group("y")
        if len(year_text) == 2 and m.group("sep") != "/":
            return None
        year = int(year_text) + (2000 if int(year_text) < 70 else 1900) if len(year_text) == 2 else int(year_text)
        day, month = (b, a) if b > 12 >= a else (a, b)
        kind = "date_ambiguous" if a <= 12 and b <= 12 and a != b else kind
    else:
        year, month, day, kind = int(m.group("y")), int(m.group("m")), int(m.group("d")), "date_iso"
    era = m.group("era") or ""
    hijri = era in ("هـ", "ه", "AH") or (not era and 1300 <= year <= 1500)
    if not hijri and not 1900 <= year <= 2100:
        return None
    value = _date_value(year, month, day, hijri)
    return doc.entity(m.start(), m.end(), "date", value, kind) if value else None


def _email(doc: _Document, m: re.Match[str]) -> Entity:
    return doc.entity(m.start(), m.end(), "email", m.group().lower(), "email")


_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _url(doc: _Document, m: re.Match[str]) -> Entity | None:
    url = m.group()
    while url and (url[-1] in ".,;:!?'\""
                   or (url[-1] in _CLOSERS and url.count(_CLOSERS[url[-1]]) < url.count(url[-1]))):
        url = url[:-1]  # a sentence's full stop, or the bracket around "(see www.x.org)"
    if "." not in url.split("//")[-1]:
        return None
    return doc.entity(m.start(), m.start() + len(url), "url", _canonical_url(url), "url")


def _canonical_url(url: str) -> str:
    """Scheme and host lower-cased, http:// added to a bare host, a default port dropped."""
    if not re.match(r"(?i)[a-z][a-z0-9+.\-]*://", url):
        url = "http://" + url
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    scheme, netloc = parts.scheme.lower(), parts.netloc.lower()
    if (scheme, netloc.rpartition(":")[2]) in {("http", "80"), ("https", "443")}:
        netloc = netloc.rpartition(":")[0]
    return urlunsplit((scheme, netloc, parts.path, parts.query, parts.fragment))


_EXTENSION = re.compile(r"(?i)\s*,?\s*(?:ext\.?|extension|x|تحويلة|داخلي)\s*[.:#]?\s*(\d{1,6})(?!\d)")


def _phone(doc: _Document, m: re.Match[str], kind: str, minimum: int, maximum: int) -> Entity | None:
    start, number = m.start("num"), m.group("num").rstrip(" .-(")
    if number.count(")") > number.count("("):
        number = number[: number.rindex(")")].rstrip(" .-")
    while sum(c.isdigit() for c in number) > maximum and " " in number.strip():
        number = number.rstrip()[: number.rstrip().rindex(" ")].rstrip(" .-")
    digits = re.sub(r"\D", "", number)
    if not minimum <= len(digits) <= maximum:
        return None
    if number.startswith("00") and not _calling_code(number[2:]):
        return None  # 004-118723-001 is an account number, not 00 + country code 4
    end = start + len(number)
    value = "+" + digits[2:] if number.startswith("00") else ("+" if number.startswith("+") else "") + digits
    extension = _EXTENSION.match(doc.form, end)
    if extension:
        end, value = extension.end(), f"{value};ext={extension.group(1)}"
    return doc.entity(start, end, "phone", value, kind)


def _calling_code(number: str) -> bool:
    group = re.match(r"\d+", number)
    return bool(group) and any(group.group().startswith(code) for code in gz.CALLING_CODES)


def _iban(doc: _Document, m: re.Match[str]) -> Entity | None:
    candidate = m.group()
    while len(compact := candidate.replace(" ", "")) >= 15:
        if len(compact) <= 34 and int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1:
            return doc.entity(m.start(), m.start() + len(candidate), "identifier", compact, "iban")
        if " " not in candidate:
            return None
        candidate = candidate.rsplit(" ", 1)[0]
    return None


def _code(doc: _Document, m: re.Match[str]) -> Entity | None:
    code = m.group("code") if "code" in m.re.groupindex else m.group()
    digits = sum(c.isdigit() for c in code)
    labelled = "code" in m.re.groupindex
    if digits < (1 if labelled else 3) or (code.isdigit() and len(code) < 5) or len(code) < 4:
        return None
    start = m.start("code") if labelled else m.start()
    return doc.entity(start, start + len(code), "identifier", code, "identifier_labelled" if labelled
                      else "identifier_code")


def _standard(doc: _Document, m: re.Match[str]) -> Entity:
    return doc.entity(m.start(), m.end(), "identifier", " ".join(m.group().split()), "standard")


_Handler = Callable[[_Document, re.Match[str]], Entity | None]


def _pattern_entities(doc: _Document) -> Iterator[Entity]:
    for pattern, handler in _patterns():
        for match in pattern.finditer(doc.form):
            entity = handler(doc, match)
            if entity is not None:
                yield entity


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], _Handler], ...]:
    """Every shape pattern with its handler, compiled on first use."""
    scales = _words(gz.SCALES)
    units = _words(gz.UNITS)
    en_months = _words([*gz.EN_MONTHS, *(m.upper() for m in gz.EN_MONTHS)])
    en_weekday = rf"(?:(?:{_words([*gz.EN_WEEKDAYS, *(w.upper() for w in gz.EN_WEEKDAYS)])})\.?,?\s+)?"
    ar_months = _words(gz.AR_MONTHS)
    ar_weekday = rf"(?:(?:{_words(gz.AR_WEEKDAYS)})\s*،?\s+)?"
    hijri_ar = _words(k for k in gz.HIJRI_MONTHS if not k.isascii())
    hijri_en = _words(k for k in gz.HIJRI_MONTHS if k.isascii())
    year = r"(?P<y>\d{4})(?!\d)"
    ar_year = rf"\s*،?\s+(?:(?:عام|سنة)\s+)?{year}"
    ar_month = rf"(?P<mon>{ar_months})(?:\s*[/(]\s*(?:{ar_months})\s*\)?)?"
    ar_day = r"(?P<d>\d{1,2})\s+(?:من\s+)?(?:شهر\s+)?"
    gregorian_era = r"(?:\s?(?:ميلادية|ميلادي|م)(?!\w))?"
    any_era = r"(?:\s?(?P<era>هـ|ه|م|AH)(?!\w))?"
    numeric_end = r"(?!\d|[-/.]\d)"
    money_prefix = _words(gz.CURRENCY_PREFIXES)
    cue = (r"tel(?:ephone)?|phone|mobile|mob|cell|fax|call|hotline|helpline|toll[- ]free|whatsapp|"
           r"[وب]?(?:ال)?(?:هاتف|جوال|فاكس|اتصال|موبايل)|اتصل|[وب]?الرقم\s+(?:الموحد|المجاني)")
    phone_number = r"(?P<num>(?:\+|\()?\d[\d().\-]*(?: \(?\d[\d().\-]*){0,5})"
    label_en = (r"(?i:\b(?:ref(?:erence)?|account|acct|invoice|contract|permit|licen[cs]e|case|file|order|"
                r"ticket|tender|policy|serial|registration|customer|client|id|no|number)\b)\.?"
                r"(?:\s*(?i:no|number|num|id)\b\.?)?\s*[:#]?\s*")
    label_ar = r"(?<!\w)(?:[وب]?(?:ال)?رقم|رقمه|رقمها|[وب]?(?:ال)?مرجع)\s*[:：]?\s*\(?\s*"
    table: list[tuple[str, _Handler]] = [
        (rf"(?<![\w$€£¥])(?P<cur>{money_prefix})\s?(?P<num>{_NUM})"
         rf"(?:\s?(?P<scale>{scales})(?!\w)|(?P<letter>[mk]|bn|mn)(?!\w))?", _money),
        (rf"{_NUMBER_START}(?P<num>{_NUM})(?:\s?(?P<scale>{scales}))?\s?(?P<cur>{_words(gz.CURRENCY_SUFFIXES)})"
         r"(?!\w)", _money),
        (rf"{_NUMBER_START}(?P<num>{_NUM})\s?(?:%|(?:percent|per\s?cent|pct)(?!\w)|في\s+الما?ئة(?!\w)"
         r"|بالما?ئة(?!\w)|بالمية(?!\w))", _percent),
        (rf"{_NUMBER_START}(?P<num>{_NUM})(?:\s?(?P<scale>{scales})(?!\w))?\s?(?P<unit>{units})(?![\w/²³])",
         _quantity),
        (rf"(?<!\w){en_weekday}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{en_months})\.?,?\s+{year}",
         _named_date),
        (rf"(?<!\w){en_weekday}(?P<mon>{en_months})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+{year}", _named_date),
        (rf"(?<!\w)(?P<mon>{en_months})\.?,?\s+{year}", _named_date),
        (rf"(?<!\w)(?:(?P<d>\d{{1,2}})\s+)?(?P<hmon>{hijri_en})\s+{year}(?:\s?(?:AH|A\.H\.))?", _named_date),
        (rf"(?<!\w){ar_weekday}{ar_day}{ar_month}{ar_year}{gregorian_era}", _named_date),
        (rf"(?<!\w){ar_month}{ar_year}{gregorian_era}", _named_date),
        (rf"(?<!\w){ar_weekday}(?:{ar_day})?(?P<hmon>{hijri_ar}){ar_year}(?:\s?(?:هـ|ه|للهجرة)(?!\w))?",
         _named_date),
        (rf"(?<![\w\-/.])(?P<y>\d{{4}})(?P<sep>[-/.])(?P<m>\d{{1,2}})(?P=sep)(?P<d>\d{{1,2}}){numeric_end}{any_era}",
         _numeric_date),
        (rf"(?<![\w\-/.])(?P<a>\d{{1,2}})(?P<sep>[-/.])(?P<b>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}}){numeric_end}"
         rf"{any_era}", _numeric_date),
        (r"(?<![\w.+\-])[A-Za-z0-9][A-Za-z0-9._%+\-]*@(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+"
         r"[A-Za-z]{2,24}(?![A-Za-z0-9\-])", _email),
        (r"(?<![\w@/.\-])(?i:(?:https?|ftp)://|www\.)[^\s<>\"'«»،؛]+", _url),
        (r"(?<![\w@/.\-])(?:[A-Za-z0-9](?:[A-Za-z0-9\-]*[A-Za-z0-9])?\.)+(?:com|org|net|gov|edu|int|info)"
         r"(?:\.[a-z]{2})?(?:/[^\s<>\"'«»،؛]*)?(?![\w\-@])", _url),
        (rf"{_PHONE_START}(?P<num>(?:\+|00)\d{{1,3}}(?:[ .\-]?\(?\d{{1,4}}\)?){{1,6}})(?!\d)",
         lambda d, m: _phone(d, m, "phone_international", 8, 15)),
        (rf"{_PHONE_START}(?P<num>(?:\(0?\d{{2,4}}\)[ .\-]?|0\d{{1,3}}[ .\-])\d{{3,4}}[ .\-]?\d{{3,4}})"
         r"(?![\w\-/]|[.,]\d)", lambda d, m: _phone(d, m, "phone_local", 9, 12)),
        (rf"{_PHONE_START}(?P<num>\(?\d{{3}}\)?[ .\-]\d{{3}}[.\-]\d{{4}})(?![\w\-/]|[.,]\d)",
         lambda d, m: _phone(d, m, "phone_local", 10, 10)),
        (rf"(?i)(?<!\w)(?:{cue})(?!\w)[^\d\n+(]{{0,20}}?{phone_number}",
         lambda d, m: _phone(d, m, "phone_cued", 8, 15)),
        (r"(?<!\w)[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?!\w)", _iban),
        (r"(?<![\w\-/])[A-Z][A-Z0-9]{0,7}(?:[\-/][A-Z0-9]+){1,5}(?![\w\-/])", _code),
        (r"(?<![\w\-/])[A-Z]{2,4}\d{4,12}(?![\w\-/])", _code),
        (rf"(?:{label_en}|{label_ar})(?P<code>(?=\S*\d)(?:[\u0621-\u064a]{{1,3}}/)?[A-Za-z0-9]"
         r"(?:[A-Za-z0-9]|[\-/](?=[A-Za-z0-9])){2,40})(?![\w\-/])", _code),
        (r"(?<![\w/])(?:ISO(?:/IEC)?|IEC|ASTM|ANSI|IEEE|SASO|GSO|API|BS(?: EN)?|EN|DIN)[ \-]?[A-Z]?\d{2,6}"
         r"(?:[\-.]\d{1,4})*(?::\d{4})?(?![\w\-])", _standard),
    ]
    return tuple((re.compile(pattern), handler) for pattern, handler in table)


# --- word lists, folded once ---------------------------------------------------------------------

class _Lexicon(NamedTuple):
    en_places: dict[str, list[tuple[str, ...]]]   # first word -> entries, longest first
    en_orgs: re.Pattern[str]
    en_stop: frozenset[str]
    en_name_breaks: frozenset[str]
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


def _index(names: Iterable[tuple[str, ...]]) -> dict[str, list[tuple[str, ...]]]:
    index: dict[str, list[tuple[str, ...]]] = {}
    for words in sorted(set(names), key=len, reverse=True):
        index.setdefault(words[0], []).append(words)
    return index


def _folded(words: Iterable[str]) -> frozenset[str]:
    return frozenset(_fold(w) for w in words)


@functools.cache
def _lexicon() -> _Lexicon:
    calendar = {*gz.EN_MONTHS, *gz.EN_WEEKDAYS, *(k for k in gz.HIJRI_MONTHS if k.isascii())}
    ar_keywords = _folded(gz.AR_ORG_KEYWORDS)
    ar_titles = _folded(gz.AR_TITLES)
    ar_calendar = _folded(w for k in [*gz.AR_MONTHS, *gz.HIJRI_MONTHS, *gz.AR_WEEKDAYS] for w in k.split())
    return _Lexicon(
        en_places=_index(tuple(_TOKEN.findall(name)) for name in gz.EN_PLACES),
        en_orgs=re.compile(rf"(?<![\w\-])(?:{_words(gz.EN_ORGS)})(?![\w\-])"),
        en_stop=frozenset(gz.EN_STOP_CAPS | calendar),
        en_name_breaks=frozenset(gz.EN_ORG_SUFFIXES | gz.EN_ORG_HEADS | gz.EN_FACILITY_WORDS | gz.EN_PLACE_SUFFIXES),
        ar_places=_index(tuple(_fold(name).split()) for name in gz.AR_PLACES + gz.AR_PLACES_NEED_CUE),
        ar_need_cue=frozenset(tuple(_fold(name).split()) for name in gz.AR_PLACES_NEED_CUE),
        ar_place_cues=_folded(gz.AR_PLACE_CUES),
        ar_place_vetoes={_fold(k): _folded(v) for k, v in gz.AR_PLACE_VETOES.items()},
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


# --- English names -------------------------------------------------------------------------------

_EN_CONNECTORS = frozenset({"and", "&", "of", "for", "the", "on", "de"})
_EN_PREPOSITIONS = frozenset({"in", "at", "from", "near", "to", "of", "outside", "across", "around", "into"})


def _is_cap(doc: _Document, index: int) -> bool:
    """A capitalised word that may be part of a name (not "The", a month or a long heading word)."""
    if not 0 <= index < len(doc.tokens):
        return False
    token = doc.tokens[index]
    return (token.script == "latin" and token.text[0].isupper() and token.text not in _lexicon().en_stop
            and not (token.text.isupper() and len(token.text) > 5))


def _after_title(doc: _Document, index: int) -> bool:
    before = doc.word(index - 1)
    return before in gz.EN_TITLES or (before == "." and doc.word(index - 2) in gz.EN_TITLES)


def _name_end(doc: _Document, index: int) -> int:
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


def _english_people(doc: _Document) -> Iterator[Entity]:
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


def _of_phrase_end(doc: _Document, index: int) -> int:
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


def _english_orgs(doc: _Document) -> Iterator[Entity]:
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


def _en_place_at(doc: _Document, index: int) -> int:
    """End of the gazetteer place starting at token ``index``, or ``index``."""
    for words in _lexicon().en_places.get(doc.word(index), ()):
        if all(doc.word(index + k) == w for k, w in enumerate(words)):
            return index + len(words)
    return index


def _english_places(doc: _Document) -> Iterator[Entity]:
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


def _cued_place(doc: _Document, index: int) -> Iterator[Entity]:
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


def _acronyms(doc: _Document, orgs: list[Entity]) -> list[Entity]:
    """"Saudi Water Authority (SWA)": SWA becomes an organisation everywhere in the text."""
    acronyms = set()
    for org in orgs:
        match = re.compile(r"\s*\(\s*([A-Z][A-Za-z&]{1,9})\s*\)").match(doc.form, org.end)
        if match and sum(c.isupper() for c in match.group(1)) >= 2:
            acronyms.add(match.group(1))
    if not acronyms:
        return []
    pattern = re.compile(rf"(?<![\w\-])(?:{_words(acronyms)})(?![\w\-])")
    return [doc.entity(m.start(), m.end(), "organization", m.group(), "organization_acronym")
            for m in pattern.finditer(doc.form)]


# --- Arabic names --------------------------------------------------------------------------------

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


def _cut(token: _Token, letters: int) -> int:
    """Offset just after the first ``letters`` letters of ``token`` (and their diacritics)."""
    offset = 0
    while letters and offset < len(token.text):
        offset += 1
        if not _AR_MARKS.match(token.text[offset - 1]):
            letters -= 1
    while offset < len(token.text) and _AR_MARKS.match(token.text[offset]):
        offset += 1
    return token.start + offset


def _arabic(doc: _Document, index: int) -> bool:
    return 0 <= index < len(doc.tokens) and doc.tokens[index].script == "arabic"


def _key(doc: _Document, index: int) -> str:
    return doc.tokens[index].key if _arabic(doc, index) else ""


def _any_base(doc: _Document, index: int, words: frozenset[str]) -> bool:
    return _arabic(doc, index) and any(b.word in words for b in _bases(doc.tokens[index].key))


def _ar_span(doc: _Document, first: int, base: _Base, last: int) -> tuple[int, int, str]:
    """Start, end and value of tokens first..last with ``base``'s clitics left out."""
    start, end = _cut(doc.tokens[first], base.cut), doc.tokens[last].end
    text = doc.text[start:end]
    return start, end, ("ال" + text[2:] if base.fused else text)


def _arabic_places(doc: _Document) -> Iterator[Entity]:
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


def _ar_boundary(doc: _Document, index: int) -> bool:
    return not _arabic(doc, index) or _any_base(doc, index, _lexicon().ar_stop)


def _ar_name_end(doc: _Document, index: int, untitled: bool, first: str | None = None) -> int:
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


def _ar_title_end(doc: _Document, index: int) -> int:
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


def _arabic_people(doc: _Document) -> Iterator[Entity]:
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


def _org_keyword(doc: _Document, index: int) -> _Base | None:
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


def _ar_org_end(doc: _Document, index: int, definite: bool) -> int:
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


def _arabic_orgs(doc: _Document) -> Iterator[Entity]:
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
