"""A DOCX whose main document part is not at word/document.xml: found through the relationships."""

from __future__ import annotations

import zipfile
from pathlib import Path

import pytest

from llmforge.errors import IngestError
from llmforge.ingest.detect import detect
from llmforge.ingest.docx import extract_docx
from tests.assets import docx_file

MB = 1_000_000


def renamed_main_part(source: Path, target: Path, main: str = "word/body.xml") -> Path:
    """``source`` repackaged with its main part (and that part's relationships) under ``main``."""
    folder, _, leaf = main.rpartition("/")
    with zipfile.ZipFile(source) as old, zipfile.ZipFile(target, "w", zipfile.ZIP_DEFLATED) as new:
        for info in old.infolist():
            data = old.read(info)
            name = info.filename
            if name == "word/document.xml":
                name = main
            elif name == "word/_rels/document.xml.rels":
                name = f"{folder}/_rels/{leaf}.rels"
            elif name in ("_rels/.rels", "[Content_Types].xml"):
                data = data.replace(b"word/document.xml", main.encode())
            new.writestr(name, data)
    return target


def test_main_part_found_through_relationships(tmp_path: Path) -> None:
    plain = docx_file(tmp_path / "plain.docx", ["Pump station report.", "Valve 7 was replaced."],
                      header="Utility header")
    path = renamed_main_part(plain, tmp_path / "renamed.docx")
    with zipfile.ZipFile(path) as archive:
        assert "word/document.xml" not in archive.namelist()
    assert detect(path).kind == "docx"
    document = extract_docx(path, 50 * MB, 200)
    assert document.pages[0].text == extract_docx(plain, 50 * MB, 200).pages[0].text
    assert "Valve 7 was replaced." in document.pages[0].text


def test_relationship_to_a_missing_or_foreign_part_is_not_a_docx(tmp_path: Path) -> None:
    plain = docx_file(tmp_path / "plain.docx", ["text"])
    broken = tmp_path / "broken.docx"
    with zipfile.ZipFile(plain) as old, zipfile.ZipFile(broken, "w") as new:
        for info in old.infolist():
            if info.filename != "word/document.xml":  # the relationship now points nowhere
                new.writestr(info.filename.replace("document.xml", "gone.xml"), old.read(info))
    with pytest.raises(IngestError, match="ZIP archive that is not a DOCX"):
        detect(broken)
