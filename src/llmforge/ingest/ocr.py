"""OCR of page images: an engine registry, the Tesseract and EasyOCR engines, and ``ocr_image``.

``ocr_image`` cleans the page (:mod:`llmforge.ingest.preprocess`), turns it upright when it lies
sideways or upside down (:mod:`llmforge.ingest.orientation`), judges what it holds: a line, a
block, columns or a page (:mod:`llmforge.ingest.layout`), picks the language when asked for
``"auto"``, and hands the page to a registered engine. Engines are plain registry entries
(:class:`OcrEngineSpec`); the built-in ones are registered through :func:`register_engine` on
first use, exactly as an add-on would be.

Tesseract runs as its command-line binary, one process per page, because the settings it needs
for Arabic are process-global in libtesseract: with the defaults it silently dropped whole Arabic
lines (clean synthetic pages: CER 0.26), ``textord_noise_rejrows=0`` brings them back (0.029).
``OMP_THREAD_LIMIT=1`` because OpenMP threads made a page up to 8x slower on a busy 2-core box.
Numbers: ``bench/ocr_accuracy.py``.
"""

from __future__ import annotations

import functools
import importlib.util
import io
import os
import re
import shutil
import subprocess
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from PIL import Image

from llmforge.errors import IngestError
from llmforge.ingest.layout import BLOCK, COLUMNS, LINE, PAGE, analyse_layout
from llmforge.ingest.orientation import (Orientation, detect_orientation, may_lie_sideways,
                                         turn_clockwise)
from llmforge.settings import OCR_LANGUAGES

if TYPE_CHECKING:
    from llmforge.ingest.preprocess import PreparedImage

TESSERACT_CONFIG = ("textord_noise_rejrows=0",)
TESSERACT_TIMEOUT = 300.0     # seconds for one page; a hung process must not stall a batch
EASYOCR_MODELS_ENV = "LLMFORGE_EASYOCR_MODELS"
PROBE_LINES = 3               # text lines sampled across the page to choose its language
                              # (top, middle, bottom; 5 cost 0.25 CPU-s more on an A4 page)
SINGLE_SCRIPT_SHARE = 0.85    # letters of one script needed to OCR the page in that script alone
SINGLE_SCRIPT_MARGIN = 10.0   # confidence points one model may trail ara+eng and still be chosen
LOW_CONFIDENCE = 60.0         # mean word confidence under which a page may lie turned (orientation)
# Tesseract page segmentation modes tried per layout; the most confident reading is kept.
SEGMENTATION_PSM = {LINE: (13, 7), BLOCK: (6,), PAGE: (3,)}
_ARABIC_LETTER = re.compile("[\u0620-\u064a\u066e-\u06d3\u06fa-\u06ff\u0750-\u077f"
                            "\u08a0-\u08ff\ufb50-\ufdff\ufe70-\ufefc]")
_LATIN_LETTER = re.compile("[A-Za-z\u00c0-\u00d6\u00d8-\u00f6\u00f8-\u024f]")
# Tesseract wraps mixed-direction words in these; they steer display, they are not text.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u061c\u202a-\u202e\u2066-\u2069]")


@dataclass(frozen=True)
class OcrResult:
    """Text of one page image and how it was obtained."""

    text: str                 # logical order; lines joined with "\n", paragraphs with "\n\n"
    confidence: float | None  # mean word confidence 0..100 (None if the engine gives none)
    language: str             # tesseract code actually used: "ara", "eng", "ara+eng"
    deskew_angle: float       # degrees (counter-clockwise) the image was rotated to straighten it
    engine: str               # "tesseract" / "easyocr"
    steps: tuple[str, ...]    # preprocessing steps applied, e.g. ("deskew", "median", "otsu")
    rotation: int = 0         # degrees clockwise the page was turned to read it upright: 0/90/180/270


@dataclass(frozen=True)
class OcrEngineSpec:
    """Registry entry: a name, how to build the engine, and one line for listings."""

    name: str
    factory: Callable[[], OcrEngine]
    description: str


class OcrEngine(Protocol):
    """What ``ocr_image`` needs from an engine."""

    name: str

    def available(self) -> tuple[bool, str]:
        """(usable?, what was found or what is missing, in words a user can act on)."""
        ...

    def recognize(self, image: Image.Image, lang: str, segmentation: str = PAGE) -> OcrResult:
        """Text of an already prepared page in ``lang`` ("ara", "eng" or "ara+eng").

        ``segmentation`` says what the image holds: "line" (one text line), "block" (a paragraph)
        or "page"; an engine that finds text regions by itself may ignore it.
        """
        ...


_REGISTRY: dict[str, OcrEngineSpec] = {}


def register_engine(spec: OcrEngineSpec) -> None:
    """Add an engine; registering the same spec twice is harmless, a different one is refused."""
    _register_builtins()
    _add(spec)


def get_engine(name: str) -> OcrEngine:
    """A ready engine by name; raises IngestError when it is unknown or cannot run here."""
    _register_builtins()
    spec = _REGISTRY.get(name)
    if spec is None:
        known = ", ".join(sorted(_REGISTRY)) or "none"
        raise IngestError(f"unknown OCR engine {name!r} (known: {known})")
    engine = spec.factory()
    usable, detail = engine.available()
    if not usable:
        raise IngestError(f"OCR engine {name!r} is not available: {detail}")
    return engine


def available_engines() -> list[OcrEngineSpec]:
    """Registered engines that can run on this machine now, in registration order."""
    _register_builtins()
    return [spec for spec in list(_REGISTRY.values()) if spec.factory().available()[0]]


def ocr_image(image: Image.Image, lang: str = "auto", engine: str = "tesseract") -> OcrResult:
    """OCR one page image: clean it, judge its layout, choose the language if ``auto``, read it.

    A page whose lines may run vertically is shown to Tesseract's orientation detection first
    and turned a quarter as it says (its choice between 90 and 270 degrees was right even at low
    confidence). A page whose reading is doubtful (mean confidence under ``LOW_CONFIDENCE``, or
    no text from a page with ink) is shown to it afterwards; if it lies the wrong way round it
    is turned and read again, and that reading is kept when it is better and no longer
    doubtful. The result records the rotation applied (:mod:`llmforge.ingest.orientation`).

    Raises:
        IngestError: unknown language or engine, engine unavailable, or the engine failed.
    """
    if lang not in OCR_LANGUAGES:
        raise IngestError(f"unknown OCR language {lang!r} (choose from {', '.join(OCR_LANGUAGES)})")
    from llmforge.ingest.preprocess import preprocess  # scipy and scikit-image load on first use

    ocr_engine = get_engine(engine)
    prepared, rotation = preprocess(image), 0
    checked = prepared.ink_share > 0.0 and may_lie_sideways(prepared.ink)
    if checked:
        orientation = page_orientation(prepared.image)
        if orientation is not None and orientation.rotation in (90, 270):
            rotation = orientation.rotation
            prepared = preprocess(turn_clockwise(image, rotation))
    result = replace(read_prepared(prepared, lang, ocr_engine), rotation=rotation)
    if rotation or not _doubtful(result, prepared.ink_share):
        return result
    if not checked:   # checked and not turned: the same pixels, so the same answer as above
        orientation = page_orientation(prepared.image)
    if orientation is None or orientation.rotation == 0:
        return result
    turned = read_prepared(preprocess(turn_clockwise(image, orientation.rotation)), lang, ocr_engine)
    if (turned.confidence or 0.0) < max(LOW_CONFIDENCE, result.confidence or 0.0):
        return result  # no better turned, or still poor: osd guesses on grain too
    return replace(turned, rotation=orientation.rotation)


def read_prepared(prepared: PreparedImage, lang: str, engine: OcrEngine) -> OcrResult:
    """One reading of a prepared page as it lies: its layout judged, its language chosen."""
    import numpy as np

    from llmforge.ingest.preprocess import image_dpi

    if prepared.ink_share == 0.0:  # a blank page: nothing to read, no engine run (~0.8 s saved)
        return OcrResult("", None, lang if lang != "auto" else "ara+eng", prepared.deskew_angle,
                         engine.name, prepared.steps)
    layout = analyse_layout(np.asarray(prepared.image), image_dpi(prepared.image), prepared.ink)
    segmentation = layout.kind if layout.kind in SEGMENTATION_PSM else PAGE
    image = prepared.image
    if layout.box:  # a line: cropped to its ink, as a raw-line read needs
        image = image.crop(layout.box)
        image.info.update(prepared.image.info)
    language = lang if lang != "auto" else choose_language(image, segmentation, layout.bands)
    if layout.kind == COLUMNS:
        result = read_columns(image, language, engine, layout.columns)
    else:
        result = engine.recognize(image, language, segmentation)
    return replace(result, deskew_angle=prepared.deskew_angle, steps=prepared.steps)


def _doubtful(result: OcrResult, ink_share: float) -> bool:
    """A reading poor enough that the page may lie the wrong way round.

    Not a page inked all over (grain, a photograph; ``preprocess.MAX_INK_SHARE``): there are no
    lines to turn, and a turned second reading of grain cost 10 s for nothing.
    """
    from llmforge.ingest.preprocess import MAX_INK_SHARE

    if not 0.0 < ink_share <= MAX_INK_SHARE:
        return False
    if not result.text.strip():
        return True
    return result.confidence is not None and result.confidence < LOW_CONFIDENCE


def read_columns(image: Image.Image, lang: str, engine: OcrEngine,
                 columns: Sequence[tuple[int, int]]) -> OcrResult:
    """Read each column on its own and join them in reading order.

    Arabic columns run right to left, Latin ones left to right: the order follows the script
    most of the page's letters are in, so a page read as ``ara+eng`` is ordered by what it holds.
    """
    readings = [engine.recognize(image.crop((left, 0, right, image.height)), lang, PAGE)
                for left, right in columns]
    arabic, latin = letter_counts(" ".join(reading.text for reading in readings))
    if arabic > latin:
        readings.reverse()
    text = "\n\n".join(reading.text for reading in readings if reading.text.strip())
    weighted = [(reading.confidence, len(reading.text)) for reading in readings
                if reading.confidence is not None and reading.text]
    total = sum(length for _, length in weighted)
    confidence = round(sum(c * n for c, n in weighted) / total, 2) if total else None
    return replace(readings[0], text=text, confidence=confidence)


def page_orientation(image: Image.Image) -> Orientation | None:
    """How far a page lies turned, by Tesseract's ``osd`` model; None without Tesseract or osd."""
    binary = shutil.which("tesseract")
    if binary is None or "osd" not in tesseract_languages(binary):
        return None
    return detect_orientation(_png_bytes(image), binary)


def _add(spec: OcrEngineSpec) -> None:
    if not spec.name:
        raise IngestError("an OCR engine needs a name")
    existing = _REGISTRY.get(spec.name)
    if existing is not None and existing != spec:
        raise IngestError(f"an OCR engine named {spec.name!r} is already registered")
    _REGISTRY[spec.name] = spec


@functools.cache
def _register_builtins() -> None:
    """Register the built-in engines once, on first use, through the same checks as add-ons."""
    for spec in BUILTIN_ENGINES:
        _add(spec)


# --- Tesseract ------------------------------------------------------------------------------


class TesseractEngine:
    """Tesseract 4/5 LSTM through its binary; needs the ``ara``/``eng`` traineddata it is asked for.

    The ``ara`` model is used rather than the Debian script model ``Arabic``. After the same
    preprocessing, on the synthetic set, ``Arabic`` was worse on clean pages (CER 0.038 against
    0.029), on salt-and-pepper, rotated and low-contrast ones, level on Gaussian noise and better
    by 0.002 only on blur and the combination; its worst sample was 0.082 against 0.058, and it
    is 10% slower.
    """

    name = "tesseract"

    def __init__(self, binary: str | None = None, config: Sequence[str] = TESSERACT_CONFIG) -> None:
        self.binary = binary or shutil.which("tesseract")
        self.config = tuple(config)

    def available(self) -> tuple[bool, str]:
        if self.binary is None:
            return False, "the tesseract binary is not on PATH (apt-get install tesseract-ocr)"
        languages = tesseract_languages(self.binary)
        if not languages:
            return False, f"{self.binary} does not run or lists no languages"
        missing = [code for code in ("ara", "eng") if code not in languages]
        note = f"; missing {', '.join(missing)} (apt-get install " + \
            " ".join(f"tesseract-ocr-{code}" for code in missing) + ")" if missing else ""
        return True, f"{self.binary}; languages: {', '.join(sorted(languages))}{note}"

    def recognize(self, image: Image.Image, lang: str, segmentation: str = PAGE) -> OcrResult:
        text, confidence = self.read(image, lang, segmentation)
        return OcrResult(text, confidence, lang, 0.0, self.name, ())

    def read(self, image: Image.Image, lang: str, segmentation: str = PAGE) -> tuple[str, float | None]:
        """Text and mean confidence: a line as a line, a block as one block, a page by layout.

        A line is read both as a raw line (``--psm 13``: none of Tesseract's line finding) and as
        a found line (``--psm 7``), and the more confident reading kept: on rendered Arabic lines
        and lines cut from paragraphs (with slots that clipped tall faces) that beat either mode
        alone (CER 0.042 against 0.048 and 0.045; held-out 0.125 against 0.132 and 0.141), where
        page mode read 0.20-0.29; ``bench/ocr_layouts.py`` has the current figures.
        Tesseract's layout analysis reports "Empty page" for some sparse pages (a lone word):
        read as a single block (``--psm 6``) they come back. Only pages with some ink but not a
        sea of it get that second run: on a page of grain it read 9,000 characters of garbage
        in 100 s.
        """
        if segmentation not in SEGMENTATION_PSM:
            raise IngestError(f"unknown segmentation {segmentation!r} (line, block or page)")
        readings = [text_from_tsv(self.run_tsv(image, lang, psm))
                    for psm in SEGMENTATION_PSM[segmentation]]
        text, confidence = max(readings, key=lambda reading: reading[1] or 0.0)
        if segmentation == PAGE and not text.strip() and _sparse_ink(image):
            text, confidence = text_from_tsv(self.run_tsv(image, lang, psm=6))
        return text, confidence

    def run_tsv(self, image: Image.Image, lang: str, psm: int = 3) -> str:
        """Tesseract's TSV for one image (words with boxes and confidences, reading order)."""
        self._check_languages(lang)
        command = [str(self.binary), "stdin", "stdout", "-l", lang, "--psm", str(psm)]
        for setting in self.config:
            command += ["-c", setting]
        env = dict(os.environ, OMP_THREAD_LIMIT="1")
        try:
            done = subprocess.run(command + ["tsv"], input=_png_bytes(image), capture_output=True,
                                  env=env, timeout=TESSERACT_TIMEOUT, check=False)
        except subprocess.TimeoutExpired:
            raise IngestError(f"tesseract took over {TESSERACT_TIMEOUT:.0f} s on one page") from None
        except OSError as exc:
            raise IngestError(f"cannot run tesseract: {exc}") from None
        if done.returncode != 0:
            lines = done.stderr.decode("utf-8", "replace").strip().splitlines() or ["no message"]
            raise IngestError(f"tesseract failed (exit {done.returncode}): {lines[-1]}")
        return done.stdout.decode("utf-8", "replace")

    def _check_languages(self, lang: str) -> None:
        installed = tesseract_languages(str(self.binary))
        for code in lang.split("+"):
            if code not in installed:
                raise IngestError(f"tesseract language {code!r} is not installed "
                                  f"(apt-get install tesseract-ocr-{code.lower()})")


def _sparse_ink(image: Image.Image) -> bool:
    """Some ink, and no more of it than text would leave (see ``preprocess.MAX_INK_SHARE``)."""
    import numpy as np

    from llmforge.ingest.preprocess import MAX_INK_SHARE, ink_mask

    share = float(ink_mask(np.asarray(image.convert("L"))).mean())
    return 0.0 < share <= MAX_INK_SHARE


@functools.cache
def tesseract_languages(binary: str) -> frozenset[str]:
    """Traineddata names the binary can load (empty when it does not run)."""
    try:
        listing = subprocess.run([binary, "--list-langs"], capture_output=True, text=True,
                                 timeout=30, check=False).stdout
    except (OSError, subprocess.SubprocessError):
        return frozenset()
    return frozenset(line.strip() for line in listing.splitlines()[1:] if line.strip())


def _png_bytes(image: Image.Image) -> bytes:
    """Fast PNG (pages are mostly paper, level 1 is enough) that keeps the dpi tesseract uses.

    A black-and-white page (a cleaned noisy one) goes as 1 bit a pixel: the same reading, and
    0.14 CPU-s less per A4 page between encoding and Tesseract's decoding and thresholding.
    """
    colours = image.getcolors(2) if image.mode == "L" else None
    if colours and {value for _, value in colours} <= {0, 255}:
        bilevel = image.convert("1")
        bilevel.info.update(image.info)
        image = bilevel
    buffer = io.BytesIO()
    options: dict[str, Any] = {"compress_level": 1}
    if "dpi" in image.info:
        options["dpi"] = image.info["dpi"]
    image.save(buffer, format="PNG", **options)
    return buffer.getvalue()


def text_from_tsv(tsv: str) -> tuple[str, float | None]:
    """Words of a tesseract TSV joined into lines and paragraphs; mean word confidence.

    Bidi control marks are dropped: they only steer display, and they would split search terms.
    """
    paragraphs: dict[tuple[str, str, str], dict[str, list[str]]] = {}
    confidences: list[float] = []
    for row in tsv.splitlines()[1:]:
        fields = row.split("\t")
        word = _BIDI_CONTROLS.sub("", fields[11]).strip() if len(fields) >= 12 else ""
        if fields[0] != "5" or not word:
            continue
        page, block, paragraph, line = fields[1:5]
        lines = paragraphs.setdefault((page, block, paragraph), {})
        lines.setdefault(line, []).append(word)
        if float(fields[10]) >= 0:
            confidences.append(float(fields[10]))
    text = "\n\n".join("\n".join(" ".join(words) for words in lines.values())
                       for lines in paragraphs.values())
    confidence = round(sum(confidences) / len(confidences), 2) if confidences else None
    return text, confidence


# --- language choice ------------------------------------------------------------------------


def choose_language(image: Image.Image, segmentation: str = PAGE,
                    bands: Sequence[tuple[int, int]] | None = None) -> str:
    """"ara", "eng" or "ara+eng" for a prepared page, from a quick OCR of a few of its lines.

    ``ara+eng`` is only for pages that really mix the scripts: on an Arabic page it measured
    CER 0.085 against 0.030 for ``ara``. A few lines spread over the page (a line image: the
    line) are read with ``ara+eng`` (tesseract picks the better model per word) and their
    Arabic and Latin letters counted. When both scripts show, the majority script's model alone
    reads the probe again and is chosen unless Tesseract is clearly less confident of it
    (``SINGLE_SCRIPT_MARGIN``): ``ara+eng`` strews Latin junk over Arabic lines, which looks like
    a mix. On rendered Arabic lines ``ara`` alone was within 9 points and read them far better
    (CER 0.06 against 0.40 on one); on lines really mixing the scripts it lost 15 to 45 points. With only one of the
    two languages installed, that one is the choice; without tesseract it is ``ara+eng``
    (EasyOCR's Arabic model reads both).
    """
    engine = TesseractEngine()
    if not engine.available()[0]:
        return "ara+eng"
    installed = [code for code in ("ara", "eng") if code in tesseract_languages(str(engine.binary))]
    if len(installed) == 1:
        return installed[0]
    probe = probe_image(image, bands=bands) if segmentation == PAGE else image
    text, mixed_confidence = engine.read(probe, "ara+eng", segmentation)
    choice = language_from_letters(text)
    arabic, latin = letter_counts(text)
    if choice != "ara+eng" or arabic == latin:
        return choice
    single = "ara" if arabic > latin else "eng"
    _, confidence = engine.read(probe, single, segmentation)
    if (confidence or 0.0) >= (mixed_confidence or 0.0) - SINGLE_SCRIPT_MARGIN:
        return single
    return choice


def letter_counts(text: str) -> tuple[int, int]:
    """(Arabic letters, Latin letters) in a text; digits, marks and punctuation count for neither."""
    return len(_ARABIC_LETTER.findall(text)), len(_LATIN_LETTER.findall(text))


def language_from_letters(text: str) -> str:
    """The language for a text by its share of Arabic and Latin letters."""
    arabic, latin = letter_counts(text)
    if arabic + latin == 0:
        return "ara+eng"
    if arabic >= SINGLE_SCRIPT_SHARE * (arabic + latin):
        return "ara"
    if latin >= SINGLE_SCRIPT_SHARE * (arabic + latin):
        return "eng"
    return "ara+eng"


def probe_image(image: Image.Image, lines: int = PROBE_LINES,
                bands: Sequence[tuple[int, int]] | None = None) -> Image.Image:
    """Up to ``lines`` text lines spread over the page, stacked; the whole page if it is short.

    Reading a handful of lines costs a fraction of the page, and spreading them catches a page
    whose top and bottom differ (an English abstract over Arabic text). ``bands`` are the page's
    text lines when the caller has found them (``preprocess.text_line_bands``).
    """
    import numpy as np

    from llmforge.ingest.preprocess import estimate_background, image_dpi, text_line_bands

    gray = np.asarray(image.convert("L"))
    if bands is None:
        bands = text_line_bands(gray, image_dpi(image))
    if len(bands) <= lines:
        return image
    picks = [bands[int(i)] for i in np.linspace(0, len(bands) - 1, lines).round()]
    # Bands end at the emptiest rows already: a margin would bring in cut-off neighbours.
    # Gaps in the paper's own grey: white ones on a low-contrast page made Tesseract read nothing.
    paper = int(round(estimate_background(gray)))
    gap = np.full((max(8, (picks[0][1] - picks[0][0]) // 2), gray.shape[1]), paper, dtype=np.uint8)
    strips = [gap]
    for top, bottom in picks:
        strips += [gray[top:bottom], gap]
    probe = Image.fromarray(np.concatenate(strips))
    if "dpi" in image.info:
        probe.info["dpi"] = image.info["dpi"]
    return probe


# --- EasyOCR --------------------------------------------------------------------------------

_EASYOCR_DETECTOR = "craft_mlt_25k.pth"
_EASYOCR_WEIGHTS = {"ara": "arabic.pth", "eng": "english_g2.pth", "ara+eng": "arabic.pth"}
_EASYOCR_CODES = {"ara": ["ar"], "eng": ["en"], "ara+eng": ["ar", "en"]}
_READERS: dict[tuple[str, tuple[str, ...], bool], Any] = {}


class EasyOcrEngine:
    """EasyOCR, an optional extra: usable only with the ``easyocr`` package and weights on disk.

    Never downloads. The weights folder is the ``model_dir`` argument or ``LLMFORGE_EASYOCR_MODELS``;
    it needs ``craft_mlt_25k.pth`` plus ``english_g2.pth`` (English) and/or ``arabic.pth``
    (Arabic, also reads English), which the operator copies there.
    """

    name = "easyocr"

    def __init__(self, model_dir: str | Path | None = None, gpu: bool = False) -> None:
        configured = model_dir if model_dir is not None else os.environ.get(EASYOCR_MODELS_ENV)
        self.model_dir = Path(configured) if configured else None
        self.gpu = gpu

    def available(self) -> tuple[bool, str]:
        if importlib.util.find_spec("easyocr") is None:
            return False, "the easyocr package is not installed (pip install 'llmforge[easyocr]')"
        if self.model_dir is None:
            return False, f"no weights folder: set {EASYOCR_MODELS_ENV} to the folder holding them"
        if not (self.model_dir / _EASYOCR_DETECTOR).is_file():
            return False, f"{_EASYOCR_DETECTOR} is missing from {self.model_dir}"
        found = sorted({name for name in _EASYOCR_WEIGHTS.values()
                        if (self.model_dir / name).is_file()})
        if not found:
            return False, f"no recognition weights (arabic.pth, english_g2.pth) in {self.model_dir}"
        return True, f"weights in {self.model_dir}: {', '.join(found)}"

    def recognize(self, image: Image.Image, lang: str, segmentation: str = PAGE) -> OcrResult:
        import numpy as np

        reader = self._reader(lang)
        try:
            found = reader.readtext(np.asarray(image.convert("RGB")), detail=1, paragraph=False)
        except Exception as exc:  # a third-party model: any failure is this page's failure
            raise IngestError(f"easyocr failed: {exc}") from None
        boxes = [(_box_bounds(box), str(text), float(conf)) for box, text, conf in found]
        text = join_boxes(boxes)
        confidence = round(100 * sum(c for *_, c in boxes) / len(boxes), 2) if boxes else None
        return OcrResult(text, confidence, lang, 0.0, self.name, ())

    def _reader(self, lang: str) -> Any:
        """One cached reader per weights folder and language set (loading takes seconds)."""
        if lang not in _EASYOCR_CODES:
            raise IngestError(f"easyocr cannot read language {lang!r}")
        usable, detail = self.available()
        if not usable or self.model_dir is None:
            raise IngestError(f"OCR engine 'easyocr' is not available: {detail}")
        weights = self.model_dir / _EASYOCR_WEIGHTS[lang]
        if not weights.is_file():
            raise IngestError(f"easyocr needs {weights.name} in {self.model_dir} for {lang!r}")
        key = (str(self.model_dir), tuple(_EASYOCR_CODES[lang]), self.gpu)
        if key not in _READERS:
            import easyocr

            try:
                _READERS[key] = easyocr.Reader(
                    _EASYOCR_CODES[lang], gpu=self.gpu, model_storage_directory=str(self.model_dir),
                    user_network_directory=str(self.model_dir), download_enabled=False,
                    verbose=False)
            except Exception as exc:  # FileNotFoundError for a bad checksum, torch errors, ...
                raise IngestError(f"easyocr cannot load its weights from {self.model_dir}: "
                                  f"{exc}") from None
        return _READERS[key]


Bounds = tuple[float, float, float, float]   # left, top, right, bottom


def _box_bounds(box: Sequence[Sequence[float]]) -> Bounds:
    xs = [float(point[0]) for point in box]
    ys = [float(point[1]) for point in box]
    return min(xs), min(ys), max(xs), max(ys)


def join_boxes(boxes: Sequence[tuple[Bounds, str, float]]) -> str:
    """Text boxes (each already in logical order) joined into lines, top to bottom.

    Boxes are taken by their vertical centre; one joins the current line while its centre is
    above the line's lowest bottom edge. Within a line boxes go right to left when the line is
    more Arabic than Latin, left to right otherwise.
    """
    lines: list[list[tuple[Bounds, str]]] = []
    for bounds, text, _ in sorted(boxes, key=lambda item: (item[0][1] + item[0][3]) / 2):
        centre = (bounds[1] + bounds[3]) / 2
        if lines and centre <= max(b[3] for b, _ in lines[-1]):
            lines[-1].append((bounds, text))
        else:
            lines.append([(bounds, text)])
    rendered = []
    for line in lines:
        arabic, latin = letter_counts(" ".join(text for _, text in line))
        rtl = arabic > latin
        ordered = sorted(line, key=lambda item: item[0][0], reverse=rtl)
        rendered.append(" ".join(text.strip() for _, text in ordered if text.strip()))
    return "\n".join(line for line in rendered if line)


BUILTIN_ENGINES: tuple[OcrEngineSpec, ...] = (
    OcrEngineSpec("tesseract", TesseractEngine,
                  "Tesseract LSTM (ara, eng) through its binary; the default."),
    OcrEngineSpec("easyocr", EasyOcrEngine,
                  f"EasyOCR (optional extra); weights from {EASYOCR_MODELS_ENV}, never downloaded."),
)
