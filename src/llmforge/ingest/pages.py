"""What an extractor returns: pages of text with how each was obtained."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ExtractedPage:
    page_no: int                       # 1-based
    text: str
    method: str                        # text-layer, ocr:tesseract, docx, text, none
    ocr_confidence: float | None = None
    language: str = ""                 # set by extract_file from the normalised text, for every kind
    deskew_angle: float | None = None
    rotation: int = 0                  # degrees clockwise OCR turned the page to read it upright


@dataclass
class ExtractedDocument:
    """A document's pages, a list or an iterator: an extractor that yields them one at a time (a
    large text file does) lets the pipeline store a document larger than memory."""

    pages: list[ExtractedPage] | Iterator[ExtractedPage]
    metadata: dict[str, Any] = field(default_factory=dict)  # title, author, created, ...
    notes: list[str] = field(default_factory=list)          # things the operator should know
