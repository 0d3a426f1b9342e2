from __future__ import annotations

from llmforge.structure.chunking import blocks, chunk_pages, is_heading


def whitespace_tokens(text: str) -> int:
    """A tokenizer-free count (words), so these tests need no embedder."""
    return len(text.split())

PAGE_1 = """# Operations Handbook

## Shift handover

Every shift ends with a handover. The outgoing operator reports open alarms. Both operators sign the sheet.

Reading | Limit | Action
Free chlorine | 0.2-1.0 mg/L | Adjust dosing
Turbidity | 1 NTU | Inform the manager"""
PAGE_2 = """## Chlorine dosing

Free chlorine must stay between 0.2 and 1.0 mg/L. The duty operator checks the analyser every four hours."""
ARABIC = ("يفحص المشغل المناوب جهاز التحليل كل أربع ساعات. ويقارنه باختبار يدوي مرة في كل وردية؟ "
          "وإذا اختلفت القراءتان يعاد ضبط الجهاز؛ ثم تسجل القراءة في سجل المحطة. ") * 4


def test_blocks_kinds_and_offsets() -> None:
    found = list(blocks([(1, PAGE_1)]))
    assert [b.kind for b in found] == ["heading", "heading", "text", "table"]
    for block in found:
        assert PAGE_1[block.start:block.end] == block.text


def test_headings() -> None:
    assert is_heading("## Chlorine dosing")
    assert is_heading("3.2 Emergency Contacts")
    assert is_heading("سياسة سلامة مياه الشرب")
    assert not is_heading("Free chlorine must stay between 0.2 and 1.0 mg/L.")
    assert not is_heading("a b")


def test_chunks_cite_pages_and_offsets() -> None:
    pages = [(1, PAGE_1), (2, PAGE_2)]
    chunks = chunk_pages(pages, whitespace_tokens, chunk_tokens=30, overlap=0)
    assert chunks[0].page_start == 1 and chunks[-1].page_end == 2
    texts = dict(pages)
    for chunk in chunks:
        assert chunk.tokens <= 30 + 3, chunk  # + the repeated heading line
        end_text = texts[chunk.page_end][:chunk.char_end]
        assert end_text.rstrip().endswith(chunk.text.split("\n")[-1].split(" ")[-1])
    assert [c.seq for c in chunks] == list(range(len(chunks)))


def test_heading_travels_with_its_text() -> None:
    chunks = chunk_pages([(1, PAGE_1), (2, PAGE_2)], whitespace_tokens, chunk_tokens=25, overlap=0)
    dosing = [c for c in chunks if "four hours" in c.text][0]
    assert dosing.heading == "Chlorine dosing" and "Chlorine dosing" in dosing.text


def test_table_kept_whole_or_split_with_header() -> None:
    whole = chunk_pages([(1, PAGE_1)], whitespace_tokens, chunk_tokens=200, overlap=0)
    assert any("Reading | Limit | Action\nFree chlorine" in c.text for c in whole)
    rows = "\n".join(f"Pump {i} | {i * 10} kW | station {i}" for i in range(40))
    table = "Pump | Power | Where\n" + rows
    split = chunk_pages([(1, table)], whitespace_tokens, chunk_tokens=40, overlap=0)
    assert len(split) > 1
    assert all(c.text.startswith("Pump | Power | Where") for c in split)
    assert sum(c.text.count("kW") for c in split) == 40


def test_arabic_sentences_split_on_arabic_punctuation() -> None:
    chunks = chunk_pages([(1, ARABIC)], whitespace_tokens, chunk_tokens=25, overlap=0)
    assert len(chunks) > 2
    for chunk in chunks[:-1]:
        assert chunk.text.rstrip()[-1] in ".؟؛", chunk.text


def test_overlap_repeats_trailing_sentences() -> None:
    text = " ".join(f"Sentence number {i} is here." for i in range(30))
    chunks = chunk_pages([(1, text)], whitespace_tokens, chunk_tokens=20, overlap=6)
    for previous, current in zip(chunks, chunks[1:]):
        last_sentence = previous.text.split(". ")[-1]
        assert current.text.startswith(last_sentence.rstrip(".")), (previous.text, current.text)


def test_long_run_without_punctuation_is_cut_by_words() -> None:
    text = " ".join(["word"] * 500)
    chunks = chunk_pages([(1, text)], whitespace_tokens, chunk_tokens=50, overlap=0)
    assert len(chunks) == 10 and all(c.tokens <= 50 for c in chunks)


def test_empty_document() -> None:
    assert chunk_pages([(1, ""), (2, "   ")], whitespace_tokens) == []


def test_overlap_never_pushes_a_chunk_over_the_limit() -> None:
    text = " ".join(f"Sentence {i} has {'several ' * (i % 7)}words in it." for i in range(200))
    chunks = chunk_pages([(1, text)], whitespace_tokens, chunk_tokens=30, overlap=12)
    assert max(c.tokens for c in chunks) <= 30
