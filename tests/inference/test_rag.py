"""The checks between a small model's reply and the answer a user sees (no model needed)."""

from __future__ import annotations

import pytest

from llmforge.inference import rag
from llmforge.structure.search import Hit


def _hit(text: str, document: str, chunk: str | None = None, score: float = 1.0) -> Hit:
    return Hit(rank=1, score=score, chunk_id=chunk or f"{document}-{abs(hash(text)) % 1000}", document_id=document,
               title=document, source_path=f"/docs/{document}.txt", page_start=1, page_end=1, text=text,
               snippet=text[:40])


PUMPS = [
    _hit("Pump station 4 on Mill Lane was commissioned in 1987.", "pumps", "p1"),
    _hit("It was rebuilt in 2016 after the flood.", "pumps", "p2"),
]
VALVES = [_hit("Valve V-17 was serviced in 2016 by the eastern team.", "valves", "v1")]


@pytest.mark.parametrize(("reply", "question", "expected"), [
    ("Source [2]: It was rebuilt in 2016 [2].", "When?", "It was rebuilt in 2016."),
    ("Answer: 1987", "When?", "1987"),
    ("المصدر [3]: دعا فريدريك وليام", "من؟", "دعا فريدريك وليام"),
    ("الإجابة: حسن الترابي", "من؟", "حسن الترابي"),
    ("متى بدأت؟  المصدر [4]: سيطرت فرنسا", "متى بدأت؟", "سيطرت فرنسا"),
    ("Answering machines exist.", "What?", "Answering machines exist."),
    ("Answer: Source [2]: 1987", "When?", "1987"),            # labels in a row
    ("It costs .5 dollars [1].", "How much?", "It costs .5 dollars."),
    ("Source [1]: In 1987.\n\nQuestion: When was it built?\n\nAnswer: 1987", "When?", "In 1987."),
    ("المصدر [1]: عام 1987\n\nالسؤال: متى؟", "متى؟", "عام 1987"),
    # labels evaluation's own cleaner knew before it gave way to this one
    ("A: Paris [1].", "Where?", "Paris."),
    ("ج: القاهرة", "أين؟", "القاهرة"),
    ("الاجابة: القاهرة", "أين؟", "القاهرة"),
    ("A dam was built.", "What?", "A dam was built."),      # "A" is a label only with a colon
    ("", "When?", ""),
])
def test_clean_reply_drops_what_the_model_echoed(reply: str, question: str, expected: str) -> None:
    assert rag.clean_reply(reply, question) == expected


@pytest.mark.parametrize(("text", "declined"), [
    ("I could not find this in the documents.", True),
    ("لم أجد هذا في الوثائق.", True),
    ("", True),
    (rag.clean_reply("المصدر [1]", "q"), True),      # nothing but the marker
    (rag.clean_reply("Source [1].", "q"), True),
    ("In 1987.", False),
])
def test_declined(text: str, declined: bool) -> None:
    assert rag._declined(text) is declined


def test_supporting_passages_hold_the_answers_words() -> None:
    used = PUMPS + VALVES
    assert rag.supporting("rebuilt in 2016", used) == [1]
    assert rag.supporting("2016", used) == [1, 2]              # both hold it: both are cited
    assert rag.supporting("something else entirely", used) == [0]
    assert rag.supporting("anything", []) == []


def test_evidence_reads_the_answers_document_as_a_whole() -> None:
    used = PUMPS + VALVES
    question = "When was pump station 4 on Mill Lane rebuilt?"
    # the answer sits in p2, the question's words in p1: the document together holds both
    assert rag.evidence(question, used, rag.supporting("It was rebuilt in 2016", used)) >= 0.8
    assert rag.keyword_coverage(question, PUMPS[1].text) < 0.5
    # an answer lifted from the other document, about something else
    assert rag.evidence(question, used, rag.supporting("serviced by the eastern team", used)) < 0.35


def test_grounded_share() -> None:
    assert rag.grounded_share("rebuilt in 2016 after the flood", PUMPS) == 1.0
    assert rag.grounded_share("demolished by the council in 1999", PUMPS) < 0.5
    assert rag.grounded_share("4", PUMPS) == 1.0   # no content words, but verbatim
    assert rag.grounded_share("", PUMPS) == 0.0


def test_retry_document_follows_a_bare_pointer_or_a_covering_passage() -> None:
    used = PUMPS + VALVES
    question = "When was pump station 4 on Mill Lane commissioned?"
    assert rag._retry_document(question, "Source [3]", used, used, 1.0, 0.5) == "valves"    # the model's pointer wins
    assert rag._retry_document(question, "المصدر [1].", used, used, 1.0, 0.5) == "pumps"
    assert rag._retry_document(question, "Source [3]\n\nQuestion: When?", used, used, 1.5, 0.5) == "valves"
    assert rag._retry_document(question, "Source [9]", used, used, 1.0, 0.5) == "pumps"     # out of range: coverage decides
    assert rag._retry_document(question, "I could not find this.", used, used, 1.0, 0.5) == "pumps"   # every word there
    assert rag._retry_document(question, "I could not find this.", used, used, 1.5, 0.5) == ""       # above 1: never
    # every word but the one asked about: the model is not made to answer
    assert rag._retry_document("When was pump station 4 on Mill Lane closed?", "I could not find this.",
                               used, used, 1.0, 0.5) == ""
    assert rag._retry_document("When was pump station 4 on Mill Lane closed?", "I could not find this.",
                               used, used, 0.6, 0.5) == "pumps"


def test_evidence_is_not_asked_of_a_question_without_content_words_or_in_another_language() -> None:
    support = rag.supporting("in 2016", PUMPS)
    assert rag._evidence_applies("When was pump station 4 rebuilt?", "en", PUMPS, support)
    assert not rag._evidence_applies("What is it?", "en", PUMPS, support)          # no content words
    arabic = [_hit("أعيد بناء المحطة عام 2016 بعد الفيضان.", "pumps-ar", "a1")]
    assert not rag._evidence_applies("When was pump station 4 rebuilt?", "en", arabic, rag.supporting("2016", arabic))


@pytest.mark.parametrize(("question", "content"), [
    ("How many pumps were rebuilt in 2016?", "pumps rebuilt 2016"),
    ("In what year was the station named?", "station"),
    ("What type of valve is V-17?", "valve V-17"),
    ("كم عدد المضخات التي أعيد بناؤها؟", "المضخات أعيد بناؤها"),
    ("من قبل من تم بناء المحطة سنة 1987؟", "بناء المحطة 1987"),
])
def test_content_words_leave_out_the_questions_frame(question: str, content: str) -> None:
    assert rag.content_words(question) == rag.content_words(content)
    assert len(rag.content_words(content)) == len(content.split())


def test_a_frame_word_the_passage_lacks_does_not_lower_coverage() -> None:
    # "How many ...?" against a passage giving the number: every word that matters is there
    assert rag.keyword_coverage("How many pumps were rebuilt in 2016?", "Three pumps were rebuilt in 2016.") == 1.0


def test_retry_document_when_the_best_passage_stands_out() -> None:
    question = "Who ran pump station 4 before the flood?"      # no passage holds every word
    best = _hit("Pump station 4 on Mill Lane was run by Anne Ward.", "pumps", "pumps:1", score=1.0)
    same = _hit("It was rebuilt in 2016 after the flood.", "pumps", "pumps:2", score=0.9)
    other = _hit("Valve V-17 was serviced in 2016 by the eastern team.", "valves", "valves:0", score=0.3)
    declined = "I could not find this in the documents."

    def retry(used: list[Hit], ranked: list[Hit] | None = None, margin: float = 0.4) -> str:
        return rag._retry_document(question, declined, used, ranked or used, 1.0, margin)

    # other documents at 0.3 of the best: a standout (the same document's second passage does not count)
    assert retry([best, same, other]) == "pumps"
    assert retry([best, same, other], margin=0.25) == ""         # 0.3 > 0.25
    assert retry([best, same, other], margin=0.0) == ""          # 0: never
    # a crowd of similar passages from several documents: no retry
    crowd = _hit("Pump station 5 was run by the council.", "council", "council:0", score=0.8)
    assert retry([best, crowd, other]) == ""
    # the other documents were retrieved but not shown (under the relative floor): they still count
    assert retry([best, same], ranked=[best, same, other]) == "pumps"
    # nothing else retrieved (a one-document corpus): no crowd to tell a true decline by, no retry
    assert retry([best, same]) == ""
    assert retry([]) == ""


def test_a_short_arabic_stem_matches_its_form_with_a_suffix_left_on() -> None:
    # خدمة stems to خدم, خدماتها to خدمات: one service, written with another suffix
    assert rag.keyword_coverage("ما اسم الخدمة؟", "أعادت الشركة تسمية خدماتها") == 1.0
    assert rag.keyword_coverage("ما اسم الخدمة؟", "الخادم المناوب") == 0.0     # another word of the root
    assert rag.keyword_coverage("من هو العلم؟", "كبار العلماء") == 0.0          # علماء is no suffixed علم
    assert rag.keyword_coverage("Who ran the pump?", "The pumping station") == 0.0   # English keeps exact stems


@pytest.mark.parametrize("question", ["What is the area of France?", "ما هو دور النائب العام؟", "ماذا حدث يوم الأحد؟"])
def test_words_that_can_be_the_subject_stay_content_words(question: str) -> None:
    assert len(rag.content_words(question)) >= 2
