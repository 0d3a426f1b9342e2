"""Page clean-up before OCR: skew, noise, specks, line finding; pages made in code."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageDraw, ImageFont

from llmforge.ingest import preprocess as pre

LINES = ["The quick brown fox jumps over the lazy dog.",
         "Pack my box with five dozen liquor jugs now.",
         "Sphinx of black quartz, judge my vow today.",
         "How vexingly quick daft zebras jump at noon.",
         "Bright vixens jump; dozy fowl quack at dawn."]


def page(lines: list[str] = LINES, paper: int = 255, ink: int = 0) -> Image.Image:
    """English lines in Pillow's bundled font, about 11 pt at 300 dpi."""
    font = ImageFont.load_default(size=40)
    image = Image.new("L", (1400, 80 + 70 * len(lines)), paper)
    draw = ImageDraw.Draw(image)
    for number, line in enumerate(lines):
        draw.text((60, 40 + 70 * number), line, font=font, fill=ink)
    image.info["dpi"] = (300, 300)
    return image


def turned(image: Image.Image, degrees: float, fill: int = 255) -> Image.Image:
    """The page rotated counter-clockwise, as a skewed scan would be."""
    return image.rotate(degrees, resample=Image.Resampling.BICUBIC, expand=True, fillcolor=fill)


def gray(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("L"))


@pytest.mark.parametrize("degrees", [-4.0, -1.0, 0.6, 2.5, 4.0])
def test_skew_is_measured_counter_clockwise(degrees: float) -> None:
    assert pre.estimate_skew(gray(turned(page(), degrees))) == pytest.approx(degrees, abs=0.15)


def test_straight_and_blank_pages_have_no_skew() -> None:
    assert pre.estimate_skew(gray(page())) == 0.0
    assert pre.estimate_skew(np.full((300, 400), 255, dtype=np.uint8)) == 0.0


def test_a_lone_word_is_no_evidence_of_skew() -> None:
    word = page(["Hello"])
    assert pre.estimate_skew(gray(word.crop((0, 0, 400, 150)))) == 0.0


def test_clean_page_passes_through_unchanged() -> None:
    original = page()
    prepared = pre.preprocess(original)
    assert prepared.steps == ()
    assert prepared.deskew_angle == 0.0
    assert np.array_equal(gray(prepared.image), gray(original))
    assert prepared.image.info["dpi"] == (300, 300)


@pytest.mark.parametrize("degrees", [1.0, 4.0])
def test_skewed_page_is_straightened(degrees: float) -> None:
    prepared = pre.preprocess(turned(page(), degrees))
    assert prepared.steps == ("deskew",)
    assert prepared.deskew_angle == pytest.approx(-degrees, abs=0.15)
    assert abs(pre.estimate_skew(gray(prepared.image))) <= 0.15


def test_new_corners_take_the_paper_grey_not_white() -> None:
    grey_paper = turned(page(paper=180, ink=40), 4.0, fill=180)
    straight = gray(pre.preprocess(grey_paper).image)
    assert abs(int(straight[0, 0]) - 180) <= 3
    assert abs(int(straight[-1, -1]) - 180) <= 3


def test_small_skew_is_undone_by_whole_pixel_column_shifts() -> None:
    source = gray(page())
    sheared = pre.shear_columns(source, 1.0, fill=255)
    assert set(np.unique(sheared)) <= set(np.unique(source)) | {255}
    assert sheared.shape[1] == source.shape[1] and sheared.shape[0] > source.shape[0]
    assert np.array_equal(pre.shear_columns(source, 0.0, fill=255), source)


def noisy(image: Image.Image, sigma: float = 0.0, impulses: float = 0.0) -> Image.Image:
    rng = np.random.default_rng(7)
    pixels = gray(image).astype(np.float64) + rng.normal(0.0, sigma, gray(image).shape)
    hit = rng.random(pixels.shape) < impulses
    pixels[hit] = rng.choice([0.0, 255.0], size=int(hit.sum()))
    return Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8))


def test_noise_estimates_tell_clean_gaussian_and_impulse_apart() -> None:
    clean = pre.estimate_noise(gray(page()))
    gaussian = pre.estimate_noise(gray(noisy(page(), sigma=30)))
    impulse = pre.estimate_noise(gray(noisy(page(), impulses=0.05)))
    assert not clean.noisy and clean.sigma < 1 and clean.impulse_fraction < 0.005
    assert gaussian.noisy and gaussian.sigma > pre.NOISE_SIGMA_LIMIT
    assert impulse.noisy and impulse.sigma < pre.NOISE_SIGMA_LIMIT
    assert impulse.impulse_fraction > pre.IMPULSE_FRACTION_LIMIT


@pytest.mark.parametrize(("kind", "denoiser"), [("sigma", "gaussian"), ("impulses", "median")])
def test_noisy_page_is_denoised_binarised_and_despeckled(kind: str, denoiser: str) -> None:
    dirty = noisy(page(), **{kind: 30.0 if kind == "sigma" else 0.05})
    prepared = pre.preprocess(dirty)
    pixels = gray(prepared.image)
    assert prepared.steps == (denoiser, "otsu", "despeckle")
    assert set(np.unique(pixels)) <= {0, 255}
    assert gray(dirty)[:, -150:].std() > 10   # right of every line: paper only, and dirty
    assert (pixels[:, -150:] == 255).mean() > 0.999


def test_a_noisy_skewed_page_is_cleaned_then_turned_and_stays_black_and_white() -> None:
    dirty = noisy(turned(page(), 3.0), sigma=30.0)
    prepared = pre.preprocess(dirty)
    assert prepared.steps == ("gaussian", "otsu", "despeckle", "deskew")
    assert prepared.deskew_angle == pytest.approx(-3.0, abs=0.15)
    assert set(np.unique(gray(prepared.image))) <= {0, 255}
    assert pre.estimate_skew(gray(prepared.image)) == 0.0
    assert np.array_equal(prepared.ink, pre.ink_mask(gray(prepared.image)))


@pytest.mark.parametrize("shape", [(1, 1), (2, 7), (61, 45)])
def test_median3_is_scipys_median_filter(shape: tuple[int, int]) -> None:
    from scipy import ndimage

    pixels = np.random.default_rng(sum(shape)).integers(0, 256, shape).astype(np.uint8)
    assert np.array_equal(pre.median3(pixels), ndimage.median_filter(pixels, 3))


def test_a_page_of_mere_noise_is_not_binarised() -> None:
    static = noisy(Image.new("L", (600, 800), 200), sigma=20)
    prepared = pre.preprocess(static)
    assert prepared.steps == ()
    assert np.array_equal(gray(prepared.image), gray(static))


def test_specks_go_and_dots_stay() -> None:
    mask = np.zeros((40, 40), dtype=bool)
    mask[2:4, 2:3] = True       # 2-pixel speck
    mask[20:25, 20:25] = True   # 25-pixel dot
    kept = pre.remove_specks(mask, pre.speck_area(300))
    assert not kept[2:4, 2].any() and kept[20:25, 20:25].all()


def test_speck_area_grows_with_resolution() -> None:
    assert pre.speck_area(300) == pre.SPECK_AREA_AT_300_DPI
    assert pre.speck_area(600) == 4 * pre.SPECK_AREA_AT_300_DPI
    assert pre.speck_area(100) == 1


def test_text_lines_are_found_one_band_each() -> None:
    image = page()
    bands = pre.text_line_bands(gray(image))
    assert len(bands) == len(LINES)
    for number, (top, bottom) in enumerate(bands):
        baseline_row = 40 + 70 * number + 30
        assert top <= baseline_row < bottom


def test_bilevel_scans_have_ink() -> None:
    """A two-level page puts Otsu's threshold on the dark level itself: ink is <= it."""
    bilevel = page().convert("1")
    assert 0.01 < pre.ink_mask(pre.to_gray(bilevel)).mean() < 0.2
    assert pre.preprocess(bilevel).ink_share > 0.01
    assert pre.estimate_background(pre.to_gray(bilevel)) == 255


def test_to_gray_handles_transparency_and_16_bit() -> None:
    clear = Image.new("RGBA", (8, 8), (0, 0, 0, 0))
    assert (pre.to_gray(clear) == 255).all()
    deep = Image.fromarray(np.array([[0, 1000], [2000, 4000]], dtype=np.uint16))
    assert pre.to_gray(deep).tolist() == [[0, 63], [127, 255]]
    bilevel = Image.new("1", (4, 4), 1)
    assert (pre.to_gray(bilevel) == 255).all()


def test_dpi_falls_back_to_300_when_absent_or_absurd() -> None:
    image = Image.new("L", (10, 10), 255)
    assert pre.image_dpi(image) == 300.0
    image.info["dpi"] = (1, 1)
    assert pre.image_dpi(image) == 300.0
    image.info["dpi"] = (600, 600)
    assert pre.image_dpi(image) == 600.0


def test_skew_of_the_shared_rotated_samples(corpora: Path) -> None:
    """The sample generator turned pages counter-clockwise by the manifest's angle."""
    synthetic = corpora / "ocr" / "synthetic"
    for entry in json.loads((synthetic / "manifest.json").read_text(encoding="utf-8")):
        for variant in ("rotate", "combo"):
            found = pre.estimate_skew(gray(Image.open(synthetic / variant / f"{entry['id']}.png")))
            assert found == pytest.approx(entry["variants"][variant]["angle"], abs=0.15), entry["id"]


def test_touching_arabic_lines_are_told_apart(corpora: Path) -> None:
    synthetic = corpora / "ocr" / "synthetic" / "clean"
    assert len(pre.text_line_bands(gray(Image.open(synthetic / "ar01.png")))) == 3
    assert len(pre.text_line_bands(gray(Image.open(synthetic / "ar05.png")))) == 2
