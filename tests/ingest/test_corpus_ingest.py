"""Every third-party PDF and DOCX in ../shared/corpora ingests or fails with a one-line reason."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmforge.documents import list_documents, show_document
from llmforge.ingest.pipeline import ingest_paths
from tests.assets import rendered_text_image

EXPECTED_FAILURES = {  # file → words its reason must contain (without a password)
    "crazyones-encrypted-256.pdf": "--password",
    "r4-aes-user-password.pdf": "--password",
    "r6-user-password.pdf": "--password",
    "libreoffice-writer-password.pdf": "--password",
}


@pytest.mark.slow
def test_whole_corpus_ingests_or_fails_cleanly(project, corpora: Path) -> None:
    files = sorted(p for folder in ("pdf", "docx") for p in (corpora / folder).rglob("*")
                   if p.suffix in (".pdf", ".docx"))
    report = ingest_paths(project, files, workers=2)
    by_name = {Path(o.path).name: o for o in report.outcomes}
    for name, outcome in by_name.items():
        if name in EXPECTED_FAILURES:
            assert outcome.status == "failed" and EXPECTED_FAILURES[name] in outcome.reason, outcome
        else:
            assert outcome.status == "ingested", (name, outcome.reason)
        assert "\n" not in outcome.reason
    rows = {Path(r["source_path"]).name: r for r in list_documents(project)}
    assert rows["GeoTopo-komprimiert.pdf"]["page_count"] == 117
    fax = show_document(project, rows["imagemagick-CCITTFaxDecode.pdf"]["id"])
    assert fax["pages"][0]["method"] == "ocr:tesseract"
    habibi = show_document(project, rows["habibi.pdf"]["id"])
    assert "حَبيبي" in habibi["pages"][0]["text"]
    multilang = show_document(project, rows["multilang.pdf"]["id"])
    assert "مرحبا بالعالم" in multilang["pages"][0]["text"]


def test_multi_page_tiff_gives_one_page_per_frame(project, tmp_path: Path) -> None:
    first = rendered_text_image(["The first frame of the scanned report"])
    second = rendered_text_image(["The second frame talks about pumps"])
    path = tmp_path / "scan.tif"
    first.save(path, save_all=True, append_images=[second], compression="tiff_lzw")
    report = ingest_paths(project, [path])
    assert report.outcomes[0].status == "ingested" and report.outcomes[0].pages == 2
    pages = show_document(project, report.outcomes[0].document_id)["pages"]
    assert "first frame" in pages[0]["text"].lower() and "pumps" in pages[1]["text"].lower()
    assert all(p["method"] == "ocr:tesseract" and p["ocr_confidence"] > 50 for p in pages)


def test_image_bomb_is_refused(project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from PIL import Image

    monkeypatch.setenv("LLMFORGE_INGEST_MAX_IMAGE_PIXELS", "1000000")
    project.reload_settings()
    Image.new("L", (3000, 3000), 255).save(tmp_path / "huge.png")
    report = ingest_paths(project, [tmp_path / "huge.png"])
    assert report.outcomes[0].status == "failed" and "pixels" in report.outcomes[0].reason
