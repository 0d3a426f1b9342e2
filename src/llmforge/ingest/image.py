"""Images (PNG, JPEG, TIFF with several pages, BMP, GIF, WebP): every frame is OCRed."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

from llmforge.errors import IngestError
from llmforge.ingest.pages import ExtractedDocument, ExtractedPage


def extract_image(path: Path, *, lang: str, max_pages: int, max_pixels: int,
                  ocr: Callable[[Any, str], Any],
                  on_page: Callable[[int, int], None] | None = None) -> ExtractedDocument:
    """OCR each frame of an image file; refuses images over ``max_pixels`` before decoding."""
    from PIL import Image, ImageSequence, UnidentifiedImageError

    Image.MAX_IMAGE_PIXELS = max_pixels
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(path)
            width, height = image.size
            if width * height > max_pixels:
                raise IngestError(f"image of {width}x{height} pixels is over the limit of {max_pixels} "
                                  "(ingest.max_image_pixels)")
            frames = getattr(image, "n_frames", 1)
            if frames > max_pages:
                raise IngestError(f"image has {frames} frames, over the limit of {max_pages} (ingest.max_pages)")
            pages = []
            for number, frame in enumerate(ImageSequence.Iterator(image), start=1):
                frame.load()
                result = ocr(frame.convert("L"), lang)
                pages.append(ExtractedPage(number, result.text, f"ocr:{result.engine}", result.confidence,
                                           deskew_angle=result.deskew_angle,
                                           rotation=result.rotation))
                if on_page:
                    on_page(number, frames)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise IngestError(f"image refused as a decompression bomb: {exc}") from None
    except UnidentifiedImageError:
        raise IngestError("corrupt or unsupported image") from None
    except (OSError, SyntaxError, ValueError) as exc:
        raise IngestError(f"corrupt or truncated image: {exc}") from None
    return ExtractedDocument(pages=pages, metadata={"page_count": len(pages), "title": path.stem},
                             notes=[f"OCR of {len(pages)} image frame(s)"])
