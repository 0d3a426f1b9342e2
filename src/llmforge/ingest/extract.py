"""From a file path to normalised pages: detect the type, run its extractor, normalise.

Extractors are plain data in :data:`EXTRACTORS`; the built-ins register the same way an add-on
would, with :func:`register_extractor`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from llmforge.errors import IngestError
from llmforge.ingest.detect import DOCX, IMAGE, PDF, TEXT, Detected, detect
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage
from llmforge.text.language import detect_language
from llmforge.text.normalize import normalize_text

MB = 1_000_000


@dataclass(frozen=True)
class ExtractOptions:
    ocr_mode: str = "auto"          # auto | always | never
    lang: str = "auto"              # auto | ara | eng | ara+eng
    password: str | None = None
    ocr_engine: str = "tesseract"
    dpi: int = 300
    max_file_mb: float = 200.0
    max_pages: int = 2000
    max_image_pixels: int = 150_000_000
    max_unpacked_mb: float = 500.0
    max_zip_ratio: float = 200.0
    easyocr_models: str = ""        # the project's models/easyocr, unless LLMFORGE_EASYOCR_MODELS says otherwise
    pages: tuple[int, int] | None = None  # a PDF's pages first <= index < last only (cluster mode's parts)
    arabic_before: int = 0          # with pages: how many pages before first were mostly Arabic

    @classmethod
    def from_settings(cls, settings: Any, **overrides: Any) -> ExtractOptions:
        values = {
            "ocr_mode": settings["ingest.ocr"], "lang": settings["ingest.lang"],
            "ocr_engine": settings["ocr.engine"], "dpi": settings["ocr.dpi"],
            "max_file_mb": settings["ingest.max_file_mb"], "max_pages": settings["ingest.max_pages"],
            "max_image_pixels": settings["ingest.max_image_pixels"],
            "max_unpacked_mb": settings["ingest.max_unpacked_mb"],
            "max_zip_ratio": settings["ingest.max_zip_ratio"],
        }
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)


@dataclass(frozen=True)
class Extractor:
    kind: str
    extract: Callable[[Path, ExtractOptions], ExtractedDocument]   # its pages a list or an iterator
    description: str


EXTRACTORS: dict[str, Extractor] = {}


def register_extractor(extractor: Extractor) -> None:
    EXTRACTORS[extractor.kind] = extractor


def _ocr(options: ExtractOptions) -> Callable[[Any, str], Any]:
    def run(image: Any, lang: str) -> Any:
        from llmforge.ingest.ocr import EASYOCR_MODELS_ENV, ocr_image

        if options.easyocr_models:  # we run in a worker: the parent's environment is not ours
            os.environ.setdefault(EASYOCR_MODELS_ENV, options.easyocr_models)

        return ocr_image(image, lang=lang, engine=options.ocr_engine)

    return run


def _pdf(path: Path, options: ExtractOptions) -> ExtractedDocument:
    from llmforge.ingest.pdf import extract_pdf

    return extract_pdf(path, password=options.password, ocr_mode=options.ocr_mode, lang=options.lang,
                       max_pages=options.max_pages, dpi=options.dpi,
                       max_pixels=options.max_image_pixels, ocr=_ocr(options), pages=options.pages,
                       arabic_before=options.arabic_before)


def _docx(path: Path, options: ExtractOptions) -> ExtractedDocument:
    from llmforge.ingest.docx import extract_docx

    return extract_docx(path, int(options.max_unpacked_mb * MB), options.max_zip_ratio)


def _text(path: Path, options: ExtractOptions) -> ExtractedDocument:
    from llmforge.ingest.text import extract_text_file

    return extract_text_file(path, int(options.max_file_mb * MB))


def _image(path: Path, options: ExtractOptions) -> ExtractedDocument:
    from llmforge.ingest.image import extract_image

    if options.ocr_mode == "never":
        raise IngestError("an image holds no text layer and --ocr never was given")
    return extract_image(path, lang=options.lang, max_pages=options.max_pages,
                         max_pixels=options.max_image_pixels, ocr=_ocr(options))


for _builtin in (
    Extractor(PDF, _pdf, "PDF text layer per page (PDFium, pypdf second opinion), OCR fallback"),
    Extractor(DOCX, _docx, "DOCX body, tables, text boxes, headers/footers, foot/endnotes"),
    Extractor(TEXT, _text, "plain text and Markdown, encoding detected"),
    Extractor(IMAGE, _image, "PNG, JPEG, TIFF (multi-page), BMP, GIF, WebP via OCR"),
):
    register_extractor(_builtin)


def extract_stream(path: Path, options: ExtractOptions) -> Iterator[Detected | ExtractedPage | ExtractedDocument]:
    """One file as a stream, so a document larger than memory is never whole: first what the file
    was detected as, then each page as the extractor gives it (normalised, its language detected),
    last the document's metadata and notes (an :class:`ExtractedDocument` without pages: an
    extractor that yields its pages lazily may add notes while they are read).

    Raises:
        IngestError: the file is empty, too large, of an unsupported type, corrupt, encrypted...
    """
    size = path.stat().st_size
    if size > options.max_file_mb * MB:
        raise IngestError(f"file of {size / MB:.1f} MB is over the limit of {options.max_file_mb:g} MB "
                          "(ingest.max_file_mb)")
    detected = detect(path)
    yield detected
    document = EXTRACTORS[detected.kind].extract(path, options)
    for page in document.pages:
        page.text = normalize_text(page.text)
        page.language = detect_language(page.text)
        yield page
    notes = [detected.note, *document.notes] if detected.note else document.notes
    yield ExtractedDocument(pages=[], metadata=document.metadata, notes=notes)


def extract_file(path: Path, options: ExtractOptions) -> tuple[str, str, ExtractedDocument]:
    """``(kind, mime, document)`` for one file, its pages in a list: :func:`extract_stream` whole.

    Raises:
        IngestError: as :func:`extract_stream`.
    """
    detected, *pages, document = extract_stream(path, options)
    document.pages = pages
    return detected.kind, detected.mime, document
