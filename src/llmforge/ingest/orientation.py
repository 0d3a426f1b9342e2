"""Pages scanned sideways or upside down: how far to turn them, from Tesseract's ``osd`` model.

Tesseract's orientation and script detection (``--psm 0``) told 0, 90, 180 and 270 degrees
apart on every rendered Arabic and English page tried, but costs 0.4-0.6 CPU-s an A4 page, a
third of a whole read. So it runs only where the page itself gives cause: its ink profile
is sharper across columns than across rows (:func:`may_lie_sideways`: text lines that run
vertically; Tesseract would read many such pages without saying it turned them), or its first
reading is poor (see ``ocr.LOW_CONFIDENCE``: upright pages, even degraded ones, read at mean word
confidence 75-96; the same pages upside down at 36-40).
"""

from __future__ import annotations

import os
import re
import subprocess
from dataclasses import dataclass
from typing import TYPE_CHECKING

from PIL import Image

if TYPE_CHECKING:
    import numpy as np

SIDEWAYS_PROFILE_RATIO = 0.5  # row-profile sharpness over column-profile sharpness under which
                              # lines may run vertically: upright text 4-13, sideways 0.08-0.2
OSD_TIMEOUT = 120.0           # seconds; OSD reads only a sample of the page's characters
OSD_MIN_CHARACTERS = 10       # Tesseract's default, 50, left a short Naskh page undecided
_ROTATE = re.compile(r"^Rotate:\s*(\d+)", re.MULTILINE)
_CONFIDENCE = re.compile(r"^Orientation confidence:\s*([\d.]+)", re.MULTILINE)
_TURNS = {90: Image.Transpose.ROTATE_270, 180: Image.Transpose.ROTATE_180,
          270: Image.Transpose.ROTATE_90}


@dataclass(frozen=True)
class Orientation:
    """How far to turn a page clockwise to set it upright, and how sure Tesseract is."""

    rotation: int        # 0, 90, 180 or 270 degrees clockwise
    confidence: float    # Tesseract's orientation confidence (5 to 30 on pages; under 1 a guess)


def may_lie_sideways(mask: np.ndarray) -> bool:
    """Whether a clean page's ink (``mask``, e.g. ``preprocess.ink_mask``) varies more from
    column to column than from row to row.

    Horizontal lines of text make the row profile jump at every line; sideways, the column
    profile does. Sharpness is the sum of squared steps between neighbouring bins.
    """
    import numpy as np

    rows, columns = (np.square(np.diff(mask.sum(axis=axis).astype(np.float64))).sum()
                     for axis in (1, 0))
    return bool(rows < SIDEWAYS_PROFILE_RATIO * columns)


def detect_orientation(png: bytes, binary: str) -> Orientation | None:
    """Tesseract's (``binary``) verdict on a page given as PNG bytes; None when it cannot tell.

    None covers too few characters to judge, a missing ``osd`` model and a failed run: the
    page is then read as it is, which is what it was before this check existed.
    """
    command = [binary, "stdin", "stdout", "--psm", "0",
               "-c", f"min_characters_to_try={OSD_MIN_CHARACTERS}"]
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    try:
        done = subprocess.run(command, input=png, capture_output=True, env=env,
                              timeout=OSD_TIMEOUT, check=False)
    except (OSError, subprocess.SubprocessError):
        return None
    report = done.stdout.decode("utf-8", "replace")
    rotate, confidence = _ROTATE.search(report), _CONFIDENCE.search(report)
    if done.returncode != 0 or rotate is None or confidence is None:
        return None
    degrees = int(rotate.group(1)) % 360
    if degrees not in (0, 90, 180, 270):
        return None
    return Orientation(degrees, float(confidence.group(1)))


def turn_clockwise(image: Image.Image, degrees: int) -> Image.Image:
    """The image turned by 0, 90, 180 or 270 degrees clockwise, exactly (no resampling)."""
    turned = image.transpose(_TURNS[degrees]) if degrees % 360 else image.copy()
    turned.info.update({key: image.info[key] for key in ("dpi",) if key in image.info})
    return turned
