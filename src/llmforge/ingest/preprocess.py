"""Page clean-up before OCR, applied only where the page's own statistics say it helps.

The policy, measured with tesseract 5.3 on the synthetic sample set (``bench/ocr_accuracy.py``):

* **Deskew** when the text lines lean by 0.3 degrees or more. Tesseract returned whole pages
  empty from about 2 degrees on. Under 1.5 degrees columns are shifted by whole pixels (no
  resampling blur, which alone made tesseract split lines); from 1.5 degrees on the page is
  rotated. New corners take the paper's own grey, not white, so that a later binarisation does
  not see a frame.
* **Denoise only noisy pages**, chosen by the kind of noise: a Gaussian blur (sigma 1) for
  sensor-like noise, a 3x3 median for impulse (salt-and-pepper) noise. Then Otsu's threshold and
  removal of specks far smaller than an Arabic dot: with ``textord_noise_rejrows=0`` (which
  tesseract needs to keep Arabic lines) every leftover speck can start a bogus text row.
  Unless Otsu inks more than a third of the page: then there is no text to separate, and the
  page is left as it came. (A blank page of grain came out half black and took tesseract 25 s of
  garbage; merely blurred, 45 s; as it came, 2 s, as raw tesseract.)
* **Leave every other page alone**, grey: binarising clean, blurred or low-contrast pages made
  tesseract's Arabic worse (CER on clean pages 0.029 to 0.037, blurred 0.027 to 0.038) and never
  better; tesseract thresholds grey input itself.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from scipy.signal import find_peaks
from skimage.filters import threshold_otsu

MIN_SKEW_DEGREES = 0.3       # below this tesseract copes by itself
MAX_SKEW_DEGREES = 10.0      # search range; larger angles are layout, not skew
MIN_SKEW_EVIDENCE = 1.5      # profile sharpness gain over 0 degrees needed to believe a skew
SHEAR_LIMIT_DEGREES = 1.5    # below: shift columns (exact pixels); from here: rotate
NOISE_SIGMA_LIMIT = 5.0      # grey levels; clean renders and scans measure ~0, noisy ones > 20
IMPULSE_FRACTION_LIMIT = 0.01  # share of isolated extreme pixels; clean pages stay under 0.003
MAX_INK_SHARE = 0.35         # text inks 1-9% of a page; Otsu on a page of mere noise inks ~50%
SPECK_AREA_AT_300_DPI = 4    # pixels; the smallest Arabic dot at 12 pt, 300 dpi is ~18 pixels
DEFAULT_DPI = 300.0
MIN_LINE_PITCH_INCHES = 1 / 12  # 6 pt type set solid; anything closer is not a line
_SKETCH_SIDE = 1000          # longest side of the reduced image used for page statistics
_BAND_ROWS, _BAND_COUNT = 32, 8  # 256 rows: enough pixels for a median, 0.05 s a page


@dataclass(frozen=True)
class NoiseEstimate:
    """How noisy a page is: Gaussian-like ``sigma`` (grey levels) and the impulse-noise share."""

    sigma: float
    impulse_fraction: float

    @property
    def noisy(self) -> bool:
        return self.sigma > NOISE_SIGMA_LIMIT or self.impulse_fraction > IMPULSE_FRACTION_LIMIT


@dataclass(frozen=True)
class PreparedImage:
    """A page ready for OCR and what was done to it."""

    image: Image.Image          # mode "L"; carries the source's dpi in ``info`` when it had one
    deskew_angle: float         # degrees counter-clockwise the page was rotated (0.0: not rotated)
    steps: tuple[str, ...]      # e.g. ("deskew", "gaussian", "otsu", "despeckle")
    noise: NoiseEstimate
    ink_share: float            # share of the (reduced) page that is ink; 0.0 for a blank page
    ink: np.ndarray             # the page's ink mask at sketch size (``ink_mask``), for layout


def preprocess(image: Image.Image) -> PreparedImage:
    """Straighten and clean a page as far as its statistics call for (see the module docstring).

    A noisy page is cleaned before it is straightened: its black-and-white result then turns
    with nearest-neighbour sampling (0.02 s on an A4 page, against 0.3 s for bicubic grey, which
    the blur that follows would have undone anyway).
    """
    gray = to_gray(image)
    steps: list[str] = []
    noise = estimate_noise(gray)  # before any rotation: its interpolation smooths noise away
    mask = ink_mask(gray)
    skew = estimate_skew(gray, mask=mask)
    straight = abs(skew) < MIN_SKEW_DEGREES
    if noise.noisy:
        smooth, denoiser = denoise(gray, noise)
        ink = binarize(smooth)
        if ink.mean() <= MAX_INK_SHARE:
            gray = np.where(remove_specks(ink, speck_area(image_dpi(image))), 0, 255).astype(np.uint8)
            steps += [denoiser, "otsu", "despeckle"]
            if not straight:
                gray = straighten(gray, skew, 255, Image.Resampling.NEAREST)
                steps.append("deskew")
                straight = True
    if not straight:
        gray = straighten(gray, skew, estimate_background(gray))
        steps.append("deskew")
    prepared = Image.fromarray(gray)
    if "dpi" in image.info:
        prepared.info["dpi"] = image.info["dpi"]
    if steps:
        mask = ink_mask(gray)
    angle = -skew if abs(skew) >= MIN_SKEW_DEGREES else 0.0
    return PreparedImage(prepared, round(angle, 2) + 0.0, tuple(steps), noise,
                         round(float(mask.mean()), 4), mask)


def to_gray(image: Image.Image) -> np.ndarray:
    """8-bit grey pixels; transparency is laid on white, 16-bit and float images are rescaled."""
    if image.mode in ("RGBA", "LA", "PA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(canvas, rgba).convert("L"))
    if image.mode in ("I", "I;16", "I;16B", "I;16L", "F"):
        values = np.asarray(image, dtype=np.float64)
        low, high = float(values.min()), float(values.max())
        scaled = (values - low) * (255.0 / (high - low)) if high > low else np.zeros_like(values)
        return scaled.astype(np.uint8)
    return np.asarray(image.convert("L"))


def image_dpi(image: Image.Image) -> float:
    """The resolution the image declares, or 300 (a reasonable scan) when it declares none."""
    dpi = image.info.get("dpi")
    try:
        value = float(dpi[0]) if dpi else DEFAULT_DPI
    except (TypeError, ValueError, IndexError):
        return DEFAULT_DPI
    return value if value >= 50 else DEFAULT_DPI


def sketch(gray: np.ndarray, longest: int = _SKETCH_SIDE) -> tuple[np.ndarray, int]:
    """Block-averaged 8-bit reduction (averaging also tames noise) and its reduction factor.

    Pillow's ``reduce`` averages the blocks in C, 15x faster than numpy on a page, and 8-bit
    pixels keep the median filters that follow fast.
    """
    step = sketch_step(gray.shape, longest)
    if step == 1:
        return gray, 1
    return np.asarray(Image.fromarray(gray).reduce(step)), step


# Devillard's 19 compare-exchanges that leave the median of 9 values in position 4.
_MEDIAN9_NETWORK = ((1, 2), (4, 5), (7, 8), (0, 1), (3, 4), (6, 7), (1, 2), (4, 5), (7, 8), (0, 3),
                    (5, 8), (4, 7), (3, 6), (1, 4), (2, 5), (4, 7), (4, 2), (6, 4), (4, 2))


def median3(gray: np.ndarray) -> np.ndarray:
    """3x3 median filter, edges mirrored: equal to ``ndimage.median_filter(gray, 3)``, 4x faster.

    A sorting network over the nine shifted views runs as whole-array minimum and maximum
    operations, where scipy's rank filter sorts each neighbourhood in turn (0.1 s per megapixel).
    """
    padded = np.pad(gray, 1, mode="symmetric")
    rows, cols = gray.shape
    views = [padded[i:i + rows, j:j + cols] for i in range(3) for j in range(3)]
    for low, high in _MEDIAN9_NETWORK:
        views[low], views[high] = np.minimum(views[low], views[high]), np.maximum(views[low], views[high])
    return views[4]


def sketch_step(shape: tuple[int, ...], longest: int = _SKETCH_SIDE) -> int:
    """The reduction factor :func:`sketch` uses for an image of this shape."""
    return max(1, int(round(max(shape) / longest)))


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Dark (text) pixels of a reduced page, found by Otsu after a median against specks."""
    small, _ = sketch(gray)
    small = median3(small)
    if float(small.max()) - float(small.min()) < 1.0:
        return np.zeros(small.shape, dtype=bool)
    return small <= threshold_otsu(small)  # skimage: above the threshold is background


def estimate_skew(gray: np.ndarray, max_angle: float = MAX_SKEW_DEGREES,
                  mask: np.ndarray | None = None) -> float:
    """Angle in degrees, counter-clockwise, by which the text lines climb to the right.

    Projection profiles: ink pixels are projected across each candidate angle; at the right one
    the text lines give the sharpest profile. Sharpness is the sum of squared differences between
    neighbouring bins, which, unlike the variance, does not favour 0 degrees on noisy pages (a
    noise-filled rectangle projects sharpest at 0). An angle that sharpens the profile by less
    than half again over 0 degrees is no evidence (a single word: 1.16x); real skew of 0.3
    degrees already gave 3x and more.
    """
    ys, xs = np.nonzero(ink_mask(gray) if mask is None else mask)
    if len(ys) < 50:
        return 0.0
    ys = ys.astype(np.float64)
    xs = xs.astype(np.float64) - xs.mean()

    def sharpness(angle: float) -> float:
        radians = np.deg2rad(angle)
        across = ys * np.cos(radians) + xs * np.sin(radians)
        profile = np.bincount((across - across.min()).astype(np.int64)).astype(np.float64)
        return float(np.square(np.diff(profile)).sum())

    coarse = max(np.arange(-max_angle, max_angle + 1e-9, 0.5), key=sharpness)
    fine = max(np.arange(coarse - 0.5, coarse + 0.5 + 1e-9, 0.05), key=sharpness)
    if sharpness(fine) < MIN_SKEW_EVIDENCE * sharpness(0.0):
        return 0.0
    return round(float(fine), 2) + 0.0  # + 0.0 turns -0.0 into 0.0


def estimate_background(gray: np.ndarray) -> float:
    """Grey level of the paper: the median of the pixels on the light side of Otsu's threshold."""
    small, _ = sketch(gray)
    if float(small.max()) - float(small.min()) < 1.0:
        return float(small.mean())
    paper = small[small > threshold_otsu(small)]
    return float(np.median(paper))


def straighten(gray: np.ndarray, skew: float, fill: float,
               resample: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """Undo a skew of ``skew`` degrees: column shifts when small, a true rotation when large."""
    if abs(skew) < SHEAR_LIMIT_DEGREES:
        return shear_columns(gray, skew, fill)
    return rotate(gray, -skew, fill, resample)


def shear_columns(gray: np.ndarray, skew: float, fill: float) -> np.ndarray:
    """Straighten lines by moving each column by whole pixels: no resampling, no blur.

    Below 1.5 degrees the glyphs' own slant is under a pixel per 40, while the blur of a
    bicubic rotation made tesseract split an Amiri line in two (CER 0.03 to 0.19) at 0.4-0.75
    degrees. The canvas grows so that nothing is cut; new pixels get ``fill``.
    """
    rows, cols = gray.shape
    shifts = np.round((np.arange(cols) - cols / 2) * np.tan(np.deg2rad(skew))).astype(np.int64)
    pad = int(np.abs(shifts).max()) if cols else 0
    out = np.full((rows + 2 * pad, cols), int(round(fill)), dtype=np.uint8)
    out[np.arange(rows)[:, None] + pad + shifts[None, :], np.arange(cols)[None, :]] = gray
    return out


def rotate(gray: np.ndarray, angle: float, fill: float,
           resample: Image.Resampling = Image.Resampling.BICUBIC) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees, growing the canvas, new corners in ``fill``."""
    turned = Image.fromarray(gray).rotate(angle, resample=resample, expand=True,
                                          fillcolor=int(round(fill)))
    return np.asarray(turned)


def _bands(gray: np.ndarray) -> np.ndarray:
    """Evenly spaced strips of rows: noise statistics at a fraction of a full page's cost."""
    if gray.shape[0] <= _BAND_ROWS * _BAND_COUNT:
        return gray
    starts = np.linspace(0, gray.shape[0] - _BAND_ROWS, _BAND_COUNT).astype(int)
    return np.concatenate([gray[start:start + _BAND_ROWS] for start in starts])


def estimate_noise(gray: np.ndarray) -> NoiseEstimate:
    """Gaussian noise level and impulse-noise share of a page.

    ``sigma`` is Immerkaer's estimator made robust with the median: the 3x3 second-difference
    kernel cancels smooth image content, text edges are rare enough not to move the median.
    Impulses are pixels more than 80 grey levels away from their 3x3 median.
    """
    sample = _bands(gray)
    if min(sample.shape) < 3:
        return NoiseEstimate(0.0, 0.0)
    kernel = np.array([[1, -2, 1], [-2, 4, -2], [1, -2, 1]], dtype=np.float32)
    response = ndimage.convolve(sample.astype(np.float32), kernel, mode="reflect")[1:-1, 1:-1]
    sigma = float(np.median(np.abs(response))) / (6.0 * 0.6745)
    median = median3(sample)
    impulses = float(np.mean(np.abs(sample.astype(np.int16) - median) > 80))
    return NoiseEstimate(round(sigma, 2), round(impulses, 4))


def denoise(gray: np.ndarray, noise: NoiseEstimate) -> tuple[np.ndarray, str]:
    """Gaussian blur for Gaussian noise, 3x3 median for impulse noise; returns the step name.

    A true Gaussian: Pillow's box-blur approximation takes a third of the time, but Arabic pages
    with Gaussian noise then read worse (synthetic set: CER 0.028 to 0.031).
    """
    if noise.sigma > NOISE_SIGMA_LIMIT:
        smooth = ndimage.gaussian_filter(gray.astype(np.float32), 1.0)
        return np.clip(smooth, 0, 255).astype(np.uint8), "gaussian"
    return median3(gray), "median"


def binarize(gray: np.ndarray) -> np.ndarray:
    """Ink mask by Otsu's global threshold (True = ink); an empty mask for a flat image."""
    if int(gray.max()) == int(gray.min()):
        return np.zeros(gray.shape, dtype=bool)
    return gray <= threshold_otsu(gray)


def speck_area(dpi: float) -> int:
    """Largest blob, in pixels, that is surely noise at this resolution (area grows with dpi^2)."""
    return max(1, int(round(SPECK_AREA_AT_300_DPI * (dpi / 300.0) ** 2)))


def remove_specks(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Drop ink blobs of at most ``max_area`` pixels (4-connected, so noise clusters split up)."""
    labels, count = ndimage.label(mask)
    if count == 0:
        return mask
    keep = np.bincount(labels.ravel()) > max_area
    keep[0] = False
    return keep[labels]


def text_line_bands(gray: np.ndarray, dpi: float = DEFAULT_DPI,
                    mask: np.ndarray | None = None) -> list[tuple[int, int]]:
    """Row ranges ``(top, bottom)`` of the text lines of a straight page, in full-size pixels.

    ``mask`` is the page's :func:`ink_mask` when the caller has it already.

    Arabic lines rarely leave an empty row between them (dots and descenders reach the next
    line), and their ascenders make a second bump in the row profile, so empty rows and simple
    thresholds both fail. Instead the line pitch is read from the profile's autocorrelation, the
    profile is smoothed over half a pitch, its peaks (at least 0.6 pitch apart) are the lines,
    and each line ends at the emptiest row before the next.
    """
    mask = ink_mask(gray) if mask is None else mask
    step = sketch_step(gray.shape)
    profile = mask.sum(axis=1).astype(np.float64)
    inked = np.flatnonzero(profile)
    if len(inked) == 0:
        return []
    first, stop = int(inked[0]), int(inked[-1]) + 1
    pitch = line_pitch(profile[first:stop], MIN_LINE_PITCH_INCHES * dpi / step)
    if pitch is None:
        return [(first * step, min(gray.shape[0], stop * step))]
    smooth = ndimage.uniform_filter1d(profile, max(1, int(pitch / 2)))
    peaks, _ = find_peaks(smooth, distance=max(1.0, 0.6 * pitch))
    peaks = [int(p) for p in peaks if first <= p < stop]
    edges = [first] + [a + int(np.argmin(profile[a:b])) for a, b in zip(peaks, peaks[1:])] + [stop]
    return [(top * step, min(gray.shape[0], bottom * step))
            for top, bottom in zip(edges, edges[1:]) if bottom > top]


def line_pitch(profile: np.ndarray, min_pitch: float) -> float | None:
    """Distance between text lines from a row-ink profile, or None when no period shows.

    The first autocorrelation peak past ``min_pitch`` that reaches 60% of the highest: the
    highest itself is often a paragraph period, and ascenders make weaker peaks in between.
    """
    centred = profile - profile.mean()
    if len(centred) < 8 or not centred.any():
        return None
    correlation = np.correlate(centred, centred, mode="full")[len(centred) - 1:]
    lags, _ = find_peaks(correlation, height=0.1 * correlation[0])
    lags = [int(lag) for lag in lags if lag >= max(2.0, min_pitch)]
    if not lags:
        return None
    highest = max(correlation[lag] for lag in lags)
    return float(next(lag for lag in lags if correlation[lag] >= 0.6 * highest))
