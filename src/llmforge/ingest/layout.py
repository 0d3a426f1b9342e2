"""What kind of text a page image holds, judged from its pixels: one line, a block, columns, a page.

Tesseract reads well only in the segmentation mode that fits the image: on rendered Arabic
lines its page mode (``--psm 3``) measured CER 0.169 against 0.009 as a line (``--psm 7``,
``bench/ocr_layouts.py``); on Arabic paragraph crops a single block (``--psm 6``) measured 0.024
against 0.026 (the synthetic set and the rendered blocks, after preprocessing); and its page
mode reads two columns of Arabic left column first.
The layout is found from the statistics the preprocessing already computes on the reduced page:
text-line bands from the row profile (:func:`llmforge.ingest.preprocess.text_line_bands`) and a
gutter in the column profile. It costs a few milliseconds, no OCR run.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # numpy, scipy and scikit-image load on first use, not with the OCR module
    import numpy as np

LINE, BLOCK, PAGE, COLUMNS = "line", "block", "page", "columns"
LINE_MARGIN = 0.3            # paper kept around a line, in line heights: a raw-line read needs
                             # the line to fill the image (a lone word in a wide crop read "0")
MAX_LINE_CROP_HEIGHT = 4.0   # image height in line heights up to which one band is a line crop
MIN_COLUMN_LINES = 3         # lines a page needs before a gap between its halves is a gutter
MAX_BLOCK_LINES = 8          # a crop of up to this many lines, filling most of it, is one block
MIN_BLOCK_FILL = 0.5         # share of the image's height the block's lines must span
MIN_GUTTER_INCHES = 0.15     # narrower blank strips are word spaces that line up by chance
GUTTER_SEARCH = (0.25, 0.75)  # the gutter lies in the middle half of the text's width
MIN_PAIRED_LINES = 0.5       # share of text lines with ink on both sides of a gutter: words
                             # strewn over a form leave blank strips that would pass for one


@dataclass(frozen=True)
class Layout:
    """The kind of text in an image and, for columns, their pixel ranges left to right."""

    kind: str                                  # LINE, BLOCK, PAGE or COLUMNS
    columns: tuple[tuple[int, int], ...] = ()  # (left, right) of each column in full-size pixels
    box: tuple[int, int, int, int] | None = None  # a line's (left, top, right, bottom) with margin
    bands: tuple[tuple[int, int], ...] = ()    # (top, bottom) of each text line, full-size pixels


def analyse_layout(gray: np.ndarray, dpi: float, mask: np.ndarray | None = None) -> Layout:
    """The layout of a straightened grey page (``gray``: 8-bit pixels at ``dpi``).

    ``mask`` is the page's ink mask (``preprocess.ink_mask``) when the caller has it already.

    One text band in an image at most four line heights tall is a line crop; a gutter running
    the full height of a text of at least three lines splits it into two columns; a few lines
    spanning most of the image are a block (a paragraph crop); anything else is a page, read
    with Tesseract's own layout analysis.
    """
    from llmforge.ingest.preprocess import MAX_INK_SHARE, ink_mask, sketch_step, text_line_bands

    mask = ink_mask(gray) if mask is None else mask
    if mask.mean() > MAX_INK_SHARE:  # a sea of ink (grain, a photo): no lines to judge
        return Layout(PAGE)
    step = sketch_step(gray.shape)
    bands = tuple(text_line_bands(gray, dpi, mask))
    if not bands:
        return Layout(PAGE)
    if len(bands) == 1:
        top, bottom = bands[0]
        if gray.shape[0] <= MAX_LINE_CROP_HEIGHT * max(1, bottom - top):
            return Layout(LINE, box=line_box(mask, step, gray.shape, bands[0]), bands=bands)
        return Layout(PAGE, bands=bands)
    if len(bands) >= MIN_COLUMN_LINES:
        gutter = find_gutter(mask, step, dpi, bands)
        if gutter is not None:
            left, right = gutter
            return Layout(COLUMNS, ((0, left), (right, gray.shape[1])), bands=bands)
    if len(bands) <= MAX_BLOCK_LINES and bands[-1][1] - bands[0][0] >= MIN_BLOCK_FILL * gray.shape[0]:
        return Layout(BLOCK, bands=bands)
    return Layout(PAGE, bands=bands)


def find_gutter(mask: np.ndarray, step: int, dpi: float,
                bands: Sequence[tuple[int, int]]) -> tuple[int, int] | None:
    """(left, right) pixel columns of a blank strip splitting the text in two, or None.

    ``mask`` is the page's ink mask at sketch size, ``step`` its reduction factor.

    The strip must be free of ink over the whole text height, at least ``MIN_GUTTER_INCHES``
    wide, in the middle half of the text's width, and widest among the blank strips there; and
    most text lines (``bands``, full-size rows) must have ink on both sides of it, as lines set
    in two columns do.
    """
    import numpy as np

    profile = mask.sum(axis=0)
    inked = np.flatnonzero(profile)
    if len(inked) == 0:
        return None
    first, last = int(inked[0]), int(inked[-1])
    low = first + int(GUTTER_SEARCH[0] * (last - first))
    high = first + int(GUTTER_SEARCH[1] * (last - first))
    blank = np.concatenate(([False], profile[low:high] == 0, [False]))
    edges = np.flatnonzero(np.diff(blank.astype(np.int8)))
    runs = list(zip(edges[::2], edges[1::2]))
    if not runs:
        return None
    start, stop = max(runs, key=lambda run: run[1] - run[0])
    if (stop - start) * step < MIN_GUTTER_INCHES * dpi:
        return None
    left, right = low + int(start), low + int(stop)
    rows = [mask[top // step:max(top // step + 1, bottom // step)] for top, bottom in bands]
    paired = sum(bool(row[:, :left].any() and row[:, right:].any()) for row in rows)
    if paired < MIN_PAIRED_LINES * len(rows):
        return None
    return left * step, right * step


def line_box(mask: np.ndarray, step: int, shape: tuple[int, ...],
             band: tuple[int, int]) -> tuple[int, int, int, int]:
    """The ink of one text band with ``LINE_MARGIN`` line heights of paper around it, clipped to
    the image's ``shape``; ``mask`` is its ink mask at sketch size, ``step`` the reduction."""
    import numpy as np

    columns = np.flatnonzero(mask.any(axis=0))
    margin = int(LINE_MARGIN * (band[1] - band[0]))
    left, right = int(columns[0]) * step, (int(columns[-1]) + 1) * step
    return (max(0, left - margin), max(0, band[0] - margin),
            min(shape[1], right + margin), min(shape[0], band[1] + margin))
