"""Small test documents made in code (no third-party files in the repository)."""

from __future__ import annotations

import io
import zipfile
from collections.abc import Callable
from pathlib import Path
from typing import Any


def _pdf_string(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(pages: list[str], title: str = "Test document") -> bytes:
    """A valid PDF with a real text layer (Helvetica, Latin-1 text), one string list per page."""
    objects: list[str] = []
    count = len(pages)
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(count))
    objects.append("<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {count} >>")
    objects.append("<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>")
    for i, text in enumerate(pages):
        lines = text.split("\n")
        ops = ["BT", "/F1 12 Tf", "14 TL", "72 760 Td"]
        for line in lines:
            ops.append(f"({_pdf_string(line)}) Tj T*")
        ops.append("ET")
        stream = "\n".join(ops)
        objects.append(f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                       f"/Resources << /Font << /F1 3 0 R >> >> /Contents {5 + 2 * i} 0 R >>")
        objects.append(f"<< /Length {len(stream.encode('latin-1'))} >>\nstream\n{stream}\nendstream")
    objects.append(f"<< /Title ({_pdf_string(title)}) /Author (llmforge tests) "
                   "/CreationDate (D:20240102030405Z) >>")
    out = io.BytesIO()
    out.write(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(out.tell())
        out.write(f"{number} 0 obj\n{body}\nendobj\n".encode("latin-1"))
    xref = out.tell()
    out.write(f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode())
    for offset in offsets:
        out.write(f"{offset:010d} 00000 n \n".encode())
    out.write(f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R /Info {len(objects)} 0 R >>\n"
              f"startxref\n{xref}\n%%EOF\n".encode())
    return out.getvalue()


def encrypted_pdf(pages: list[str], password: str) -> bytes:
    import pypdf

    writer = pypdf.PdfWriter(clone_from=pypdf.PdfReader(io.BytesIO(text_pdf(pages))))
    writer.encrypt(user_password=password, owner_password=password + "-owner", algorithm="AES-256")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def docx_file(path: Path, paragraphs: list[str], table: list[list[str]] | None = None,
              header: str | None = None, page_break_after: int | None = None) -> Path:
    import docx

    document = docx.Document()
    if header:
        document.sections[0].header.paragraphs[0].text = header
    for index, text in enumerate(paragraphs):
        paragraph = document.add_paragraph(text)
        if page_break_after is not None and index == page_break_after:
            from docx.enum.text import WD_BREAK

            paragraph.add_run().add_break(WD_BREAK.PAGE)
        if table and index == 0:
            grid = document.add_table(rows=len(table), cols=len(table[0]))
            for row, values in zip(grid.rows, table):
                for cell, value in zip(row.cells, values):
                    cell.text = value
    document.save(str(path))
    return path


def zip_bomb_docx(path: Path, unpacked_mb: int) -> Path:
    """A DOCX-shaped ZIP whose document.xml inflates to ``unpacked_mb`` MB of zeros."""
    with zipfile.ZipFile(path, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w", force_zip64=True) as member:
            block = b"\0" * (1 << 20)
            for _ in range(unpacked_mb):
                member.write(block)
    return path


def rendered_text_image(lines: list[str], size: int = 40, rtl: bool = False, angle: float = 0.0):
    """Text rendered at roughly 300 dpi (DejaVu Sans when present, else Pillow's own font)."""
    from PIL import Image, ImageDraw, ImageFont

    try:
        font = ImageFont.truetype("/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf", size)
    except OSError:
        if rtl:
            import pytest

            pytest.skip("no Arabic-capable font (install fonts-dejavu-core)")
        font = ImageFont.load_default(size)
    image = Image.new("L", (2000, 100 + len(lines) * int(size * 1.8)), 255)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        y = 60 + number * int(size * 1.8)
        if rtl:
            draw.text((1940, y), line, font=font, fill=0, anchor="ra", direction="rtl", language="ar")
        else:
            draw.text((60, y), line, font=font, fill=0)
    if angle:
        image = image.rotate(angle, expand=True, fillcolor=255)
    return image


def structured_project(root: Path, documents: dict[str, str]):  # noqa: ANN201 (a llmforge Project)
    """A project under ``root/project`` with ``documents`` (file name → text) ingested and structured.

    Built once per module by the fixtures that need one, then copied per test (see copy_project).
    """
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.project import init_project
    from llmforge.structure.pipeline import structure_project

    project = init_project(root / "project")
    folder = root / "docs"
    folder.mkdir()
    for name, text in documents.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest_paths(project, [folder], recursive=True)
    structure_project(project)
    return project


def copy_project(template: Path, target: Path, monkeypatch=None):  # noqa: ANN001, ANN201 (pytest, a Project)
    """A test's own copy of a template project (so no test sees another's changes); with
    ``monkeypatch``, also the project that commands find through LLMFORGE_PROJECT."""
    import shutil

    from llmforge.project import Project

    shutil.copytree(template, target)
    if monkeypatch is not None:
        monkeypatch.setenv("LLMFORGE_PROJECT", str(target))
    return Project(target)


def run_isolated(func: Callable[..., Any], args: tuple[Any, ...], *, timeout: float, memory_mb: int) -> Any:
    """``func(*args)`` in the ingest's isolated child process, as the pipeline runs an extractor."""
    from llmforge.ingest.worker import IsolatedWorker

    with IsolatedWorker(memory_mb) as worker:
        return worker.run(func, args, timeout)
