"""Entities with a shape: dates, money, percentages, quantities, e-mail, URLs, phones, identifiers.

Each shape is a regular expression run over the match form, with a handler that checks the match
and writes its normalised value (see "Spans and values" in :mod:`llmforge.structure.entities`).

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
from collections.abc import Callable, Iterator
from datetime import date
from decimal import Decimal
from urllib.parse import urlsplit, urlunsplit

from llmforge.structure.entities import gazetteer as gz
from llmforge.structure.entities.document import AR_MARKS, Document, Entity, word_alternation

# At most 18 integer digits, so amounts stay exact within the decimal context below.
_NUM = r"\d{1,3}(?:,\d{3}){1,5}(?:\.\d{1,6})?|\d{1,18}(?:\.\d{1,6})?"
_EXACT = decimal.Context(prec=40)
_NUMBER_START = r"(?<![\w.,])"  # a number does not start inside a word or another number
_PHONE_START = r"(?<![\w+\-/.(])"


def _entry(surface: str) -> str:
    """A matched word as the word lists spell it: spaces collapsed, diacritics dropped."""
    return AR_MARKS.sub("", " ".join(surface.split()))


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


def _money(doc: Document, m: re.Match[str]) -> Entity:
    currency = _entry(m.group("cur"))
    code = gz.CURRENCY_PREFIXES.get(currency) if m.group(0).startswith(m.group("cur")) else None
    code = code or gz.CURRENCY_SUFFIXES[currency]
    return doc.entity(m.start(), m.end(), "money", f"{code} {_scaled(m):.2f}", "money")


def _percent(doc: Document, m: re.Match[str]) -> Entity:
    return doc.entity(m.start(), m.end(), "percent", f"{_plain(_decimal(m.group('num')))}%", "percent")


def _quantity(doc: Document, m: re.Match[str]) -> Entity:
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


def _named_date(doc: Document, m: re.Match[str]) -> Entity | None:
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


def _numeric_date(doc: Document, m: re.Match[str]) -> Entity | None:
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


def _email(doc: Document, m: re.Match[str]) -> Entity:
    return doc.entity(m.start(), m.end(), "email", m.group().lower(), "email")


_CLOSERS = {")": "(", "]": "[", "}": "{"}


def _url(doc: Document, m: re.Match[str]) -> Entity | None:
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


def _phone(doc: Document, m: re.Match[str], kind: str, minimum: int, maximum: int) -> Entity | None:
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


def _iban(doc: Document, m: re.Match[str]) -> Entity | None:
    candidate = m.group()
    while len(compact := candidate.replace(" ", "")) >= 15:
        if len(compact) <= 34 and int("".join(str(int(c, 36)) for c in compact[4:] + compact[:4])) % 97 == 1:
            return doc.entity(m.start(), m.start() + len(candidate), "identifier", compact, "iban")
        if " " not in candidate:
            return None
        candidate = candidate.rsplit(" ", 1)[0]
    return None


def _code(doc: Document, m: re.Match[str]) -> Entity | None:
    code = m.group("code") if "code" in m.re.groupindex else m.group()
    digits = sum(c.isdigit() for c in code)
    labelled = "code" in m.re.groupindex
    if digits < (1 if labelled else 3) or (code.isdigit() and len(code) < 5) or len(code) < 4:
        return None
    start = m.start("code") if labelled else m.start()
    return doc.entity(start, start + len(code), "identifier", code, "identifier_labelled" if labelled
                      else "identifier_code")


def _standard(doc: Document, m: re.Match[str]) -> Entity:
    return doc.entity(m.start(), m.end(), "identifier", " ".join(m.group().split()), "standard")


_Handler = Callable[[Document, re.Match[str]], Entity | None]


def pattern_entities(doc: Document) -> Iterator[Entity]:
    """Every entity with a shape in ``doc``, overlapping ones included: the caller resolves them."""
    for pattern, handler in _patterns():
        for match in pattern.finditer(doc.form):
            entity = handler(doc, match)
            if entity is not None:
                yield entity


@functools.cache
def _patterns() -> tuple[tuple[re.Pattern[str], _Handler], ...]:
    """Every shape pattern with its handler, compiled on first use, in the order of the tables."""
    table = [*_amount_patterns(), *_named_date_patterns(), *_numeric_date_patterns(), *_contact_patterns(),
             *_identifier_patterns()]
    return tuple((re.compile(pattern), handler) for pattern, handler in table)


def _amount_patterns() -> list[tuple[str, _Handler]]:
    scales = word_alternation(gz.SCALES)
    units = word_alternation(gz.UNITS)
    money_prefix = word_alternation(gz.CURRENCY_PREFIXES)
    return [
        (rf"(?<![\w$€£¥])(?P<cur>{money_prefix})\s?(?P<num>{_NUM})"
         rf"(?:\s?(?P<scale>{scales})(?!\w)|(?P<letter>[mk]|bn|mn)(?!\w))?", _money),
        (rf"{_NUMBER_START}(?P<num>{_NUM})(?:\s?(?P<scale>{scales}))?\s?(?P<cur>{word_alternation(gz.CURRENCY_SUFFIXES)})"
         r"(?!\w)", _money),
        (rf"{_NUMBER_START}(?P<num>{_NUM})\s?(?:%|(?:percent|per\s?cent|pct)(?!\w)|في\s+الما?ئة(?!\w)"
         r"|بالما?ئة(?!\w)|بالمية(?!\w))", _percent),
        (rf"{_NUMBER_START}(?P<num>{_NUM})(?:\s?(?P<scale>{scales})(?!\w))?\s?(?P<unit>{units})(?![\w/²³])",
         _quantity),
    ]


def _named_date_patterns() -> list[tuple[str, _Handler]]:
    en_months = word_alternation([*gz.EN_MONTHS, *(m.upper() for m in gz.EN_MONTHS)])
    en_weekday = rf"(?:(?:{word_alternation([*gz.EN_WEEKDAYS, *(w.upper() for w in gz.EN_WEEKDAYS)])})\.?,?\s+)?"
    ar_months = word_alternation(gz.AR_MONTHS)
    ar_weekday = rf"(?:(?:{word_alternation(gz.AR_WEEKDAYS)})\s*،?\s+)?"
    hijri_ar = word_alternation(k for k in gz.HIJRI_MONTHS if not k.isascii())
    hijri_en = word_alternation(k for k in gz.HIJRI_MONTHS if k.isascii())
    year = r"(?P<y>\d{4})(?!\d)"
    ar_year = rf"\s*،?\s+(?:(?:عام|سنة)\s+)?{year}"
    ar_month = rf"(?P<mon>{ar_months})(?:\s*[/(]\s*(?:{ar_months})\s*\)?)?"
    ar_day = r"(?P<d>\d{1,2})\s+(?:من\s+)?(?:شهر\s+)?"
    gregorian_era = r"(?:\s?(?:ميلادية|ميلادي|م)(?!\w))?"
    return [
        (rf"(?<!\w){en_weekday}(?P<d>\d{{1,2}})(?:st|nd|rd|th)?\s+(?:of\s+)?(?P<mon>{en_months})\.?,?\s+{year}",
         _named_date),
        (rf"(?<!\w){en_weekday}(?P<mon>{en_months})\.?\s+(?P<d>\d{{1,2}})(?:st|nd|rd|th)?,?\s+{year}", _named_date),
        (rf"(?<!\w)(?P<mon>{en_months})\.?,?\s+{year}", _named_date),
        (rf"(?<!\w)(?:(?P<d>\d{{1,2}})\s+)?(?P<hmon>{hijri_en})\s+{year}(?:\s?(?:AH|A\.H\.))?", _named_date),
        (rf"(?<!\w){ar_weekday}{ar_day}{ar_month}{ar_year}{gregorian_era}", _named_date),
        (rf"(?<!\w){ar_month}{ar_year}{gregorian_era}", _named_date),
        (rf"(?<!\w){ar_weekday}(?:{ar_day})?(?P<hmon>{hijri_ar}){ar_year}(?:\s?(?:هـ|ه|للهجرة)(?!\w))?",
         _named_date),
    ]


def _numeric_date_patterns() -> list[tuple[str, _Handler]]:
    any_era = r"(?:\s?(?P<era>هـ|ه|م|AH)(?!\w))?"
    numeric_end = r"(?!\d|[-/.]\d)"
    return [
        (rf"(?<![\w\-/.])(?P<y>\d{{4}})(?P<sep>[-/.])(?P<m>\d{{1,2}})(?P=sep)(?P<d>\d{{1,2}}){numeric_end}{any_era}",
         _numeric_date),
        (rf"(?<![\w\-/.])(?P<a>\d{{1,2}})(?P<sep>[-/.])(?P<b>\d{{1,2}})(?P=sep)(?P<y>\d{{4}}|\d{{2}}){numeric_end}"
         rf"{any_era}", _numeric_date),
    ]


def _contact_patterns() -> list[tuple[str, _Handler]]:
    cue = (r"tel(?:ephone)?|phone|mobile|mob|cell|fax|call|hotline|helpline|toll[- ]free|whatsapp|"
           r"[وب]?(?:ال)?(?:هاتف|جوال|فاكس|اتصال|موبايل)|اتصل|[وب]?الرقم\s+(?:الموحد|المجاني)")
    phone_number = r"(?P<num>(?:\+|\()?\d[\d().\-]*(?: \(?\d[\d().\-]*){0,5})"
    return [
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
    ]


def _identifier_patterns() -> list[tuple[str, _Handler]]:
    label_en = (r"(?i:\b(?:ref(?:erence)?|account|acct|invoice|contract|permit|licen[cs]e|case|file|order|"
                r"ticket|tender|policy|serial|registration|customer|client|id|no|number)\b)\.?"
                r"(?:\s*(?i:no|number|num|id)\b\.?)?\s*[:#]?\s*")
    label_ar = r"(?<!\w)(?:[وب]?(?:ال)?رقم|رقمه|رقمها|[وب]?(?:ال)?مرجع)\s*[:：]?\s*\(?\s*"
    return [
        (r"(?<!\w)[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4}){2,7}(?: ?[A-Z0-9]{1,3})?(?!\w)", _iban),
        (r"(?<![\w\-/])[A-Z][A-Z0-9]{0,7}(?:[\-/][A-Z0-9]+){1,5}(?![\w\-/])", _code),
        (r"(?<![\w\-/])[A-Z]{2,4}\d{4,12}(?![\w\-/])", _code),
        (rf"(?:{label_en}|{label_ar})(?P<code>(?=\S*\d)(?:[\u0621-\u064a]{{1,3}}/)?[A-Za-z0-9]"
         r"(?:[A-Za-z0-9]|[\-/](?=[A-Za-z0-9])){2,40})(?![\w\-/])", _code),
        (r"(?<![\w/])(?:ISO(?:/IEC)?|IEC|ASTM|ANSI|IEEE|SASO|GSO|API|BS(?: EN)?|EN|DIN)[ \-]?[A-Z]?\d{2,6}"
         r"(?:[\-.]\d{1,4})*(?::\d{4})?(?![\w\-])", _standard),
    ]
