from __future__ import annotations

from collections import Counter

import pytest

from llmforge.structure.entities import CONFIDENCE, ENTITY_TYPES, Entity, extract_entities
from tests.structure.entities_gold import ARABIC, ENGLISH, GOLD, Example

# Measured with `.venv/bin/python bench/entities_eval.py` on the gold set: en P 1.000 R 0.963,
# ar P 1.000 R 0.955. The floors sit 0.05 below (and precision never below the 0.8 the index needs).
MIN_PRECISION = {"en": 0.95, "ar": 0.95}
MIN_RECALL = {"en": 0.91, "ar": 0.90}


def found(text: str, language: str | None = None) -> list[tuple[str, str, str]]:
    return [(e.type, e.text, e.value) for e in extract_entities(text, language)]


def assert_well_formed(text: str, entities: list[Entity]) -> None:
    for entity in entities:
        assert text[entity.start:entity.end] == entity.text
        assert entity.type in ENTITY_TYPES
        assert 0.0 <= entity.confidence <= 1.0
        assert entity.text == entity.text.strip() and entity.value
    for before, after in zip(entities, entities[1:]):
        assert before.end <= after.start, (before, after)


@pytest.mark.parametrize(("text", "expected"), [
    ("Signed on 7 March 2025.", ("date", "7 March 2025", "2025-03-07")),
    ("Due March 7th, 2025 at noon", ("date", "March 7th, 2025", "2025-03-07")),
    ("Valid until Mar. 2026", ("date", "Mar. 2026", "2026-03")),
    ("On Friday, 14 March 2025 we met", ("date", "Friday, 14 March 2025", "2025-03-14")),
    ("Issued 2025-01-15T10:00", ("date", "2025-01-15", "2025-01-15")),
    ("Starts 1 Ramadan 1446 AH", ("date", "1 Ramadan 1446 AH", "1446-09-01 AH")),
    ("Budget of $1.2 million", ("money", "$1.2 million", "USD 1200000.00")),
    ("paid 1,250 US dollars", ("money", "1,250 US dollars", "USD 1250.00")),
    ("a fee of £30m per year", ("money", "£30m", "GBP 30000000.00")),
    ("Fees: EUR 3,400.50", ("money", "EUR 3,400.50", "EUR 3400.50")),
    ("up 8 per cent", ("percent", "8 per cent", "8%")),
    ("turbidity of 1.5 NTU", ("quantity", "1.5 NTU", "1.5 NTU")),
    ("a flow of 600,000 m3/day", ("quantity", "600,000 m3/day", "600000 m³/d")),
    ("rated 50 °C", ("quantity", "50 °C", "50 °C")),
    ("write to Ops.Team@Example.COM today", ("email", "Ops.Team@Example.COM", "ops.team@example.com")),
    ("see HTTPS://Example.org:443/a?b=1).", ("url", "HTTPS://Example.org:443/a?b=1", "https://example.org/a?b=1")),
    ("at www.example.org/faq.", ("url", "www.example.org/faq", "http://www.example.org/faq")),
    ("call +966 11 465 2000 extension 12", ("phone", "+966 11 465 2000 extension 12", "+966114652000;ext=12")),
    ("Tel: (202) 555-0147", ("phone", "(202) 555-0147", "2025550147")),
    ("Invoice INV-2024-0042 attached", ("identifier", "INV-2024-0042", "INV-2024-0042")),
    ("quoting REF: AB12345", ("identifier", "AB12345", "AB12345")),
    ("IBAN SA03 8000 0000 6080 1016 7519 only", ("identifier", "SA03 8000 0000 6080 1016 7519",
                                                 "SA0380000000608010167519")),
    ("certified to ISO 9001:2015", ("identifier", "ISO 9001:2015", "ISO 9001:2015")),
    ("said Dr. Khalid Al-Harbi yesterday", ("person", "Khalid Al-Harbi", "Khalid Al-Harbi")),
    ("with John F. Kennedy", ("person", "John F. Kennedy", "John F. Kennedy")),
    ("by the Ministry of Energy today", ("organization", "Ministry of Energy", "Ministry of Energy")),
    ("Thames Water Ltd. said", ("organization", "Thames Water Ltd.", "Thames Water Ltd.")),
    ("We paid Acme Water Ltd. The rest", ("organization", "Acme Water Ltd", "Acme Water Ltd")),
    ("offices in Riyadh and", ("place", "Riyadh", "Riyadh")),
    ("the plant in Qurayyat Governorate", ("place", "Qurayyat Governorate", "Qurayyat Governorate")),
])
def test_english_types(text: str, expected: tuple[str, str, str]) -> None:
    assert expected in found(text, "en")


@pytest.mark.parametrize(("text", "expected"), [
    ("صدر في 7 مارس 2025.", ("date", "7 مارس 2025", "2025-03-07")),
    ("الاجتماع يوم الخميس ١٣ آذار ٢٠٢٥م", ("date", "الخميس ١٣ آذار ٢٠٢٥م", "2025-03-13")),
    ("في 6 تشرين الأول/أكتوبر 1973،", ("date", "6 تشرين الأول/أكتوبر 1973", "1973-10-06")),
    ("حتى ١٥ رمضان ١٤٤٦ هـ", ("date", "١٥ رمضان ١٤٤٦ هـ", "1446-09-15 AH")),
    ("بتاريخ 1446/09/15هـ", ("date", "1446/09/15هـ", "1446-09-15 AH")),
    ("في ذي الحجة 1445", ("date", "ذي الحجة 1445", "1445-12 AH")),
    ("بقيمة ٢٫٥ مليون ريال", ("money", "٢٫٥ مليون ريال", "SAR 2500000.00")),
    ("مبلغ 750 ألف دينار أردني", ("money", "750 ألف دينار أردني", "JOD 750000.00")),
    ("نحو 230000 دولاراً", ("money", "230000 دولاراً", "USD 230000.00")),
    ("بنسبة ٣٠٪ تقريبا", ("percent", "٣٠٪", "30%")),
    ("7.6 في المائة", ("percent", "7.6 في المائة", "7.6%")),
    ("تركيز 45 ملغم/لتر", ("quantity", "45 ملغم/لتر", "45 mg/L")),
    ("1.8 مليون متر مكعب", ("quantity", "1.8 مليون متر مكعب", "1800000 m³")),
    ("قدرة ۲۴۰۰ ميغاواط", ("quantity", "۲۴۰۰ ميغاواط", "2400 MW")),
    ("البريد Info@SEC.com.sa للاستفسار", ("email", "Info@SEC.com.sa", "info@sec.com.sa")),
    ("الموقع https://etimad.sa/tenders، ثم", ("url", "https://etimad.sa/tenders", "https://etimad.sa/tenders")),
    ("هاتف +٩٦٦ ١١ ٢٣٤ ٥٦٧٨ تحويلة ٣٠٥", ("phone", "+٩٦٦ ١١ ٢٣٤ ٥٦٧٨ تحويلة ٣٠٥", "+966112345678;ext=305")),
    ("الاتصال على الرقم الموحد ٩٢٠٠٠١١٢٣", ("phone", "٩٢٠٠٠١١٢٣", "920001123")),
    ("المناقصة رقم 45/2025 متاحة", ("identifier", "45/2025", "45/2025")),
    ("قال الدكتور خالد بن عبدالله الحربي إن", ("person", "خالد بن عبدالله الحربي", "خالد بن عبدالله الحربي")),
    ("أكد محمد العتيبي أن", ("person", "محمد العتيبي", "محمد العتيبي")),
    ("أعلنت وزارة البيئة والمياه والزراعة أمس", ("organization", "وزارة البيئة والمياه والزراعة",
                                                "وزارة البيئة والمياه والزراعة")),
    ("وفق الهيئة العامة للإحصاء.", ("organization", "الهيئة العامة للإحصاء", "الهيئة العامة للإحصاء")),
    ("في القاهرة", ("place", "القاهرة", "القاهرة")),
    ("وصل إلى مدينة الخبر", ("place", "الخبر", "الخبر")),
])
def test_arabic_types(text: str, expected: tuple[str, str, str]) -> None:
    assert expected in found(text, "ar")


def test_every_type_is_found_in_both_languages() -> None:
    for examples in (ENGLISH, ARABIC):
        types = {e.type for example in examples for e in extract_entities(example.text, example.language)}
        assert types == set(ENTITY_TYPES)


def test_offsets_order_and_no_overlap_on_the_gold_set() -> None:
    for example in GOLD:
        assert_well_formed(example.text, extract_entities(example.text, example.language))


def test_clitics_stay_out_of_arabic_spans() -> None:
    text = "افتتح فرعا بالرياض وللقاهرة ولوزارة الطاقة"
    entities = extract_entities(text)
    assert_well_formed(text, entities)
    assert [(e.type, e.text, e.value) for e in entities] == [
        ("place", "الرياض", "الرياض"), ("place", "للقاهرة", "القاهرة"),
        ("organization", "وزارة الطاقة", "وزارة الطاقة")]


def test_diacritics_do_not_hide_names_or_words() -> None:
    assert ("place", "عمّان", "عمّان") in found("في عمّان")
    assert ("quantity", "19 كيلومتراً مربّعاً", "19 km²") in found("نحو 19 كيلومتراً مربّعاً")


def test_both_arabic_indic_digit_sets_give_ascii_values() -> None:
    assert found("٢٠٢٥-٠٣-٠٧") == [("date", "٢٠٢٥-٠٣-٠٧", "2025-03-07")]
    assert found("۲۰۲۵/۰۳/۰۷") == [("date", "۲۰۲۵/۰۳/۰۷", "2025-03-07")]
    assert found("١٬٢٥٠٬٠٠٠ ريال") == [("money", "١٬٢٥٠٬٠٠٠ ريال", "SAR 1250000.00")]


def test_numeric_dates_follow_the_documented_order() -> None:
    (day_first,), (us,), (ambiguous,) = (extract_entities(t) for t in ("31/03/2025", "03/31/2025", "05/06/2025"))
    assert (day_first.value, us.value, ambiguous.value) == ("2025-03-31", "2025-03-31", "2025-06-05")
    assert ambiguous.confidence == CONFIDENCE["date_ambiguous"] < day_first.confidence
    assert found("12/05/24") == [("date", "12/05/24", "2024-05-12")]
    assert found("31/02/2025") == []
    assert found("version 3.4.12") == []


@pytest.mark.parametrize(("text", "wrong_type"), [
    ("Customers may 2025 contact us", "date"),             # lower-case "may" is not a month
    ("the Jordan Valley Authority said", "place"),         # a place inside an organisation
    ("approved by the Board of Directors", "organization"),  # a body, not a named organisation
    ("Michael Jordan visited", "place"),                   # a first name, not the country
    ("water from the James River", "person"),              # a river, not a person
    ("along SR 99 north", "money"),                        # a state route, not Saudi riyals
    ("account 004-118723-001", "phone"),                   # 00 + 4 is not a calling code
    ("IBAN SA03 8000 0000 6080 1016 7518 only", "identifier"),  # checksum fails (and no label)
    ("ونشرت الصحيفة الخبر أمس", "place"),                  # الخبر is "the news" without a cue
    ("نصف قطر الدائرة", "place"),                           # a radius, not Qatar
    ("يقول الدكتور يمكن أن", "person"),                     # a title followed by a verb
    ("وجرى عمومًا تطبيق ما قاله السيد عمومًا", "person"),   # an adverb
    ("أعلنت الشركة المعنية عن", "organization"),           # "the company concerned"
    ("اجتمع مجلس الإدارة أمس", "organization"),            # the board of directors
    ("حازت على جائزة الشركة المرموقة لـ المدن", "organization"),  # "the prestigious company for"
    ("ورسمها المهندس المعماري", "person"),                  # a title with no name
])
def test_precision_traps(text: str, wrong_type: str) -> None:
    assert not [e for e in found(text) if e[0] == wrong_type]


def test_place_inside_an_organisation_loses_to_it() -> None:
    assert found("the Jordan Valley Authority said") == [
        ("organization", "Jordan Valley Authority", "Jordan Valley Authority")]


def test_an_acronym_defined_once_is_an_organisation_everywhere() -> None:
    text = "The Saudi Water Authority (SWA) reported. Later SWA said more."
    assert [e[1] for e in found(text) if e[0] == "organization"] == ["Saudi Water Authority", "SWA", "SWA"]


def test_a_phone_cue_beats_an_identifier_label() -> None:
    assert found("رقم الهاتف 0112345678") == [("phone", "0112345678", "0112345678")]


def test_language_hint_skips_the_other_scripts_names_only() -> None:
    text = "Dr. Sarah Thompson met الدكتور خالد الحربي on 7 March 2025 و 8 مارس 2025"
    english = found(text, "en")
    assert ("person", "Sarah Thompson", "Sarah Thompson") in english
    assert not [e for e in english if e[1] == "خالد الحربي"]
    assert ("date", "8 مارس 2025", "2025-03-08") in english
    both = found(text, "ar+en")
    assert ("person", "خالد الحربي", "خالد الحربي") in both and ("person", "Sarah Thompson", "Sarah Thompson") in both
    assert found(text, "und") == both == found(text)


def test_empty_and_plain_text() -> None:
    assert extract_entities("") == []
    assert extract_entities("   \n ") == []
    assert extract_entities("nothing to see here, just words") == []


def test_long_text_gives_the_same_entities_per_copy() -> None:
    sample = "\n".join(example.text for example in GOLD)
    per_copy = len(extract_entities(sample))
    copies = 100_000 // len(sample) + 1
    text = "\n".join([sample] * copies)
    assert len(text) >= 100_000
    entities = extract_entities(text)
    assert len(entities) == per_copy * copies
    assert_well_formed(text, entities)


def scores(examples: list[Example]) -> tuple[float, float]:
    tp = fp = fn = 0
    for example in examples:
        predicted = Counter((e.type, e.text) for e in extract_entities(example.text, example.language))
        gold = Counter(example.entities)
        tp += sum((predicted & gold).values())
        fp += sum((predicted - gold).values())
        fn += sum((gold - predicted).values())
    return tp / (tp + fp), tp / (tp + fn)


@pytest.mark.parametrize("language", ["en", "ar"])
def test_gold_set_precision_and_recall(language: str) -> None:
    precision, recall = scores([e for e in GOLD if e.language == language])
    assert precision >= MIN_PRECISION[language] >= 0.8
    assert recall >= MIN_RECALL[language]


def test_gold_labels_are_spans_of_their_sentences() -> None:
    assert len(ENGLISH) >= 25 and len(ARABIC) >= 25
    for example in GOLD:
        for type_, text in example.entities:
            assert type_ in ENTITY_TYPES and text in example.text, (type_, text)
