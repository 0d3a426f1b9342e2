"""Page clean-up before OCR, applied only where the page's own statistics say it helps.

The policy, measured with tesseract 5.3 on the synthetic sample set (``bench/ocr_accuracy.py``):

* **Deskew** when the text lines lean by 0.3 degrees or more. Tesseract returned whole pages
  empty from about 2 degrees on; rotating back (corners filled with the paper's own grey, not
  white, so that the binarisation later on does not see a frame) recovers them.
* **Denoise only noisy pages**, chosen by the kind of noise: a Gaussian blur (sigma 1) for
  sensor-like noise, a 3x3 median for impulse (salt-and-pepper) noise. Then Otsu's threshold and
  removal of specks far smaller than an Arabic dot: with ``textord_noise_rejrows=0`` (which
  tesseract needs to keep Arabic lines) every leftover speck can start a bogus text row.
* **Leave every other page alone**, grey: binarising clean, blurred or low-contrast pages made
  tesseract's Arabic worse (clean 0.029 to 0.035 CER, blur 0.027 to 0.038) and never better, and
  it does its own thresholding on grey input.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from PIL import Image
from scipy import ndimage
from skimage.filters import threshold_otsu

MIN_SKEW_DEGREES = 0.3       # below this tesseract copes and resampling only blurs
MAX_SKEW_DEGREES = 10.0      # search range; larger angles are layout, not skew
NOISE_SIGMA_LIMIT = 5.0      # grey levels; clean renders and scans measure ~0, noisy ones > 20
IMPULSE_FRACTION_LIMIT = 0.01  # share of isolated extreme pixels; clean pages stay under 0.002
SPECK_AREA_AT_300_DPI = 4    # pixels; the smallest Arabic dot at 12 pt, 300 dpi is ~18 pixels
DEFAULT_DPI = 300.0
_SKETCH_SIDE = 1000          # longest side of the reduced image used for page statistics
_BAND_ROWS, _BAND_COUNT = 64, 16


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


def preprocess(image: Image.Image) -> PreparedImage:
    """Straighten and clean a page as far as its statistics call for (see the module docstring)."""
    gray = to_gray(image)
    steps: list[str] = []
    skew = estimate_skew(gray)
    angle = 0.0
    if abs(skew) >= MIN_SKEW_DEGREES:
        angle = -skew
        gray = rotate(gray, angle, estimate_background(gray))
        steps.append("deskew")
    noise = estimate_noise(gray)
    if noise.noisy:
        gray, denoiser = denoise(gray, noise)
        mask = remove_specks(binarize(gray), speck_area(image_dpi(image)))
        gray = np.where(mask, 0, 255).astype(np.uint8)
        steps += [denoiser, "otsu", "despeckle"]
    prepared = Image.fromarray(gray)
    if "dpi" in image.info:
        prepared.info["dpi"] = image.info["dpi"]
    return PreparedImage(prepared, round(angle, 2), tuple(steps), noise)


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
    """Block-averaged reduction (averaging also tames noise) and its reduction factor."""
    step = max(1, int(round(max(gray.shape) / longest)))
    rows, cols = (gray.shape[0] // step) * step, (gray.shape[1] // step) * step
    if rows == 0 or cols == 0:
        return gray.astype(np.float64), 1
    blocks = gray[:rows, :cols].reshape(rows // step, step, cols // step, step)
    return blocks.mean(axis=(1, 3)), step


def ink_mask(gray: np.ndarray) -> np.ndarray:
    """Dark (text) pixels of a reduced page, found by Otsu after a median against specks."""
    small, _ = sketch(gray)
    small = ndimage.median_filter(small, 3)
    if float(small.max()) - float(small.min()) < 1.0:
        return np.zeros(small.shape, dtype=bool)
    return small < threshold_otsu(small)


def estimate_skew(gray: np.ndarray, max_angle: float = MAX_SKEW_DEGREES) -> float:
    """Angle in degrees, counter-clockwise, by which the text lines climb to the right.

    Projection profiles: ink pixels are projected across each candidate angle; at the right one
    the text lines give the sharpest profile. Sharpness is the sum of squared differences between
    neighbouring bins, which, unlike the variance, does not favour 0 degrees on noisy pages (a
    noise-filled rectangle projects sharpest at 0).
    """
    ys, xs = np.nonzero(ink_mask(gray))
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
    return round(float(fine), 2) + 0.0


def estimate_background(gray: np.ndarray) -> float:
    """Grey level of the paper: the median of the pixels on the light side of Otsu's threshold."""
    small, _ = sketch(gray)
    if float(small.max()) - float(small.min()) < 1.0:
        return float(small.mean())
    paper = small[small >= threshold_otsu(small)]
    return float(np.median(paper))


def rotate(gray: np.ndarray, angle: float, fill: float) -> np.ndarray:
    """Rotate counter-clockwise by ``angle`` degrees, growing the canvas, new corners in ``fill``."""
    turned = Image.fromarray(gray).rotate(
        angle, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=int(round(fill)))
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
    median = ndimage.median_filter(sample, 3)
    impulses = float(np.mean(np.abs(sample.astype(np.int16) - median) > 80))
    return NoiseEstimate(round(sigma, 2), round(impulses, 4))


def denoise(gray: np.ndarray, noise: NoiseEstimate) -> tuple[np.ndarray, str]:
    """Gaussian blur for Gaussian noise, 3x3 median for impulse noise; returns the step name."""
    if noise.sigma > NOISE_SIGMA_LIMIT:
        smooth = ndimage.gaussian_filter(gray.astype(np.float32), 1.0)
        return np.clip(smooth, 0, 255).astype(np.uint8), "gaussian"
    return ndimage.median_filter(gray, 3), "median"


def binarize(gray: np.ndarray) -> np.ndarray:
    """Ink mask by Otsu's global threshold (True = ink); an empty mask for a flat image."""
    if int(gray.max()) == int(gray.min()):
        return np.zeros(gray.shape, dtype=bool)
    return gray <= threshold_otsu(gray)


def speck_area(dpi: float) -> int:
    """Largest blob, in pixels, that is surely noise at this resolution (area grows with dpi^2)."""
    return max(1, int(round(SPECK_AREA_AT_300_DPI * (dpi / 300.0) ** 2)))


def remove_specks(mask: np.ndarray, max_area: int) -> np.ndarray:
    """Drop connected ink blobs (8-connected) of at most ``max_area`` pixels."""
    labels, count = ndimage.label(mask, structure=np.ones((3, 3), dtype=bool))
    if count == 0:
        return mask
    keep = np.bincount(labels.ravel()) > max_area
    keep[0] = False
    return keep[labels]


def text_line_bands(gray: np.ndarray) -> list[tuple[int, int]]:
    """Row ranges ``(top, bottom)`` of the text lines of a straight page, in full-size pixels.

    Rows whose ink exceeds 1% of the width are text; gaps shorter than a third of the median
    line height are closed, so that Arabic dots above and below a line stay with it.
    """
    mask = ink_mask(gray)
    _, step = sketch(gray)
    inked = mask.sum(axis=1) > max(1, mask.shape[1] // 100)
    runs = _runs(inked)
    if not runs:
        return []
    bridge = max(1, int(np.median([bottom - top for top, bottom in runs]) / 3))
    merged = [runs[0]]
    for top, bottom in runs[1:]:
        if top - merged[-1][1] <= bridge:
            merged[-1] = (merged[-1][0], bottom)
        else:
            merged.append((top, bottom))
    return [(top * step, min(gray.shape[0], bottom * step)) for top, bottom in merged]


def _runs(flags: np.ndarray) -> list[tuple[int, int]]:
    """Half-open ``(start, stop)`` index ranges of the True runs of a 1-D boolean array."""
    edges = np.diff(np.concatenate([[0], flags.astype(np.int8), [0]]))
    return list(zip(np.flatnonzero(edges == 1).tolist(), np.flatnonzero(edges == -1).tolist()))
