"""OCR accuracy and cost: raw Tesseract against llmforge's ``ocr_image``.

    python bench/ocr_accuracy.py [--json]

Samples: ``../shared/corpora/ocr`` (or ``$LLMFORGE_CORPORA/ocr``): the synthetic set (5 Arabic
and 5 English paragraphs in 7 variants: clean, gauss, saltpepper, blur, rotate, lowcontrast,
combo) and tesseract's own test images ``arabic.tif`` and ``phototest.tif``.

* raw: ``tesseract IMAGE - -l ara`` (or ``eng``, the right language given), default settings;
* llmforge: ``ocr_image(image, lang="auto")``: it must find the language itself.

CER is the Levenshtein distance over the length of the ground truth, both normalised as the
sample set's README says (NFKC, bidi marks and tatweel removed, whitespace collapsed), summed
over the samples of a cell. CPU-seconds per A4 page (``pages/``, as given and degraded here:
turned 3 degrees, contrast 0.6, Gaussian noise) count this process and its children
(tesseract, waited for, so the whole process tree); both sides run tesseract with
``OMP_THREAD_LIMIT=1`` so they compare like for like (OpenMP threads only add CPU time on a
2-core machine). Each page's line also gives the ratio to raw Tesseract in the same run (CPU-s
drift with the machine's load; the ratio much less) and the share of llmforge's time spent on
the layout and orientation checks.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import unicodedata
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
VENV_PYTHON = REPO / ".venv" / "bin" / "python"

try:
    import numpy as np
    from PIL import Image
except ImportError:  # plain `python` outside the venv: rerun with the project's interpreter
    if VENV_PYTHON.exists() and Path(sys.executable) != VENV_PYTHON:
        os.execv(str(VENV_PYTHON), [str(VENV_PYTHON), *sys.argv])
    raise

sys.path.insert(0, str(REPO / "src"))
from llmforge.ingest.layout import analyse_layout  # noqa: E402
from llmforge.ingest.ocr import ocr_image  # noqa: E402
from llmforge.ingest.orientation import may_lie_sideways  # noqa: E402
from llmforge.ingest.preprocess import image_dpi, preprocess  # noqa: E402

CORPORA = Path(os.environ.get("LLMFORGE_CORPORA", REPO.parent / "shared" / "corpora"))
OCR_DIR = CORPORA / "ocr"
VARIANTS = ("clean", "gauss", "saltpepper", "blur", "rotate", "lowcontrast", "combo")
TESSERACT_LANG = {"ar": "ara", "en": "eng"}
_BIDI_AND_TATWEEL = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069\u061c\u0640]")


@dataclass(frozen=True)
class Sample:
    lang: str          # "ar" / "en"
    group: str         # variant name, or "tesseract-test"
    name: str
    image: Path
    truth: str


@dataclass
class Cell:
    lang: str
    group: str
    samples: int
    raw_cer: float
    llmforge_cer: float
    ratio: float               # llmforge / raw: below 1 is better than raw
    llmforge_worst: float      # highest single-sample CER of llmforge in the cell
    languages: str             # languages llmforge chose, with counts


@dataclass
class PageCost:
    page: str
    raw_cer: float
    llmforge_cer: float
    raw_cpu_s: float
    llmforge_cpu_s: float
    cpu_ratio: float           # llmforge CPU-s / raw tesseract CPU-s, same page, same run
    layout_cpu_s: float        # of llmforge's, the layout and orientation checks
    language: str
    steps: str


def normalise(text: str) -> str:
    """NFKC, no bidi marks or tatweel, whitespace collapsed to single spaces."""
    text = _BIDI_AND_TATWEEL.sub("", unicodedata.normalize("NFKC", text))
    return " ".join(text.split())


def edit_distance(a: str, b: str) -> int:
    """Levenshtein distance, one numpy row per character of ``a``.

    Within a row, insertions chain left to right: ``row[j] = min(best[j], row[j-1] + 1)``,
    which is a running minimum of ``best[j] - j`` plus ``j``.
    """
    if len(a) < len(b):
        a, b = b, a
    if not b:
        return len(a)
    codes = np.array([ord(c) for c in b])
    offsets = np.arange(len(b) + 1)
    row = offsets.copy()
    for i, char in enumerate(a, start=1):
        best = np.minimum(row[1:] + 1, row[:-1] + (codes != ord(char)))
        chained = np.minimum.accumulate(np.concatenate(([i], best)) - offsets)
        row = chained + offsets
    return int(row[-1])


def samples() -> list[Sample]:
    """Every synthetic sample and the two tesseract test images, with their ground truth."""
    synthetic = OCR_DIR / "synthetic"
    manifest = json.loads((synthetic / "manifest.json").read_text(encoding="utf-8"))
    found = []
    for entry in manifest:
        truth = (synthetic / "gt" / f"{entry['id']}.txt").read_text(encoding="utf-8")
        for variant in VARIANTS:
            found.append(Sample(entry["lang"], variant, entry["id"],
                                synthetic / variant / f"{entry['id']}.png", truth))
    tests = OCR_DIR / "tesseract-test"
    for lang, name, truth in (("ar", "arabic.tif", "arabic.gt.txt"),
                              ("en", "phototest.tif", "phototest.gold.txt")):
        found.append(Sample(lang, "tesseract-test", name, tests / name,
                            (tests / truth).read_text(encoding="utf-8")))
    return found


def raw_tesseract(image: Path, lang: str, psm: int | None = None) -> str:
    """Tesseract with its default settings, as a user would first run it (or in mode ``psm``)."""
    env = dict(os.environ, OMP_THREAD_LIMIT="1")
    mode = ["--psm", str(psm)] if psm is not None else []
    done = subprocess.run(["tesseract", str(image), "-", "-l", lang, *mode], capture_output=True,
                          env=env, check=False)
    return done.stdout.decode("utf-8", "replace")


def llmforge_ocr(image: Path) -> tuple[str, str, str]:
    """``ocr_image`` with automatic language: text, language chosen, steps applied."""
    with Image.open(image) as opened:
        opened.load()
        result = ocr_image(opened, lang="auto")
    return result.text, result.language, "+".join(result.steps) or "none"


def cer(hypothesis: str, truth: str) -> tuple[int, int]:
    """(edits, ground-truth length) after normalisation; summing both gives a cell's CER."""
    reference = normalise(truth)
    return edit_distance(normalise(hypothesis), reference), len(reference)


def accuracy_cells(found: list[Sample]) -> list[Cell]:
    """CER of both sides per language and variant."""
    cells = []
    for lang in ("ar", "en"):
        for group in (*VARIANTS, "tesseract-test"):
            members = [s for s in found if s.lang == lang and s.group == group]
            if members:
                cells.append(_cell(lang, group, members))
                print(f"  {lang} {group:15s} done", file=sys.stderr, flush=True)
    return cells


def _cell(lang: str, group: str, members: list[Sample]) -> Cell:
    raw_edits = llm_edits = length = 0
    worst = 0.0
    chosen: dict[str, int] = {}
    for sample in members:
        raw = cer(raw_tesseract(sample.image, TESSERACT_LANG[lang]), sample.truth)
        text, language, _ = llmforge_ocr(sample.image)
        mine = cer(text, sample.truth)
        raw_edits, llm_edits, length = raw_edits + raw[0], llm_edits + mine[0], length + mine[1]
        worst = max(worst, mine[0] / max(1, mine[1]))
        chosen[language] = chosen.get(language, 0) + 1
    raw_cer, llm_cer = raw_edits / max(1, length), llm_edits / max(1, length)
    ratio = llm_cer / raw_cer if raw_cer else (1.0 if llm_cer == 0 else float("inf"))
    languages = ", ".join(f"{code} x{count}" for code, count in sorted(chosen.items()))
    return Cell(lang, group, len(members), round(raw_cer, 4), round(llm_cer, 4), round(ratio, 3),
                round(worst, 4), languages)


def cpu_seconds() -> float:
    """CPU time of this process and of its finished children (the tesseract runs)."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    children = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def degraded(page: Path, work: Path) -> Path:
    """The page as a poor scan: turned 3 degrees, contrast 0.6, Gaussian noise of sigma 25."""
    with Image.open(page) as opened:
        turned = opened.convert("L").rotate(3, resample=Image.Resampling.BICUBIC, expand=True,
                                            fillcolor=255)
    noise = np.random.default_rng(0).normal(0.0, 25.0, (turned.height, turned.width))
    pixels = np.clip(np.asarray(turned) * 0.6 + 100 + noise, 0, 255).astype(np.uint8)
    path = work / f"{page.stem}+degraded.png"
    Image.fromarray(pixels).save(path, dpi=(300, 300))
    return path


def page_costs(work: Path) -> list[PageCost]:
    """CER and CPU-seconds of both sides on the full A4 pages, as given and degraded."""
    pages = sorted((OCR_DIR / "synthetic" / "pages").glob("*.png"))
    costs = []
    for image in pages + [degraded(page, work) for page in pages]:
        name = image.stem.split("+")[0]
        truth = (OCR_DIR / "synthetic" / "gt" / f"{name}.txt").read_text(encoding="utf-8")
        start = cpu_seconds()
        raw = raw_tesseract(image, TESSERACT_LANG[name[:2]])
        middle = cpu_seconds()
        text, language, steps = llmforge_ocr(image)
        end = cpu_seconds()
        raw_cer, mine = cer(raw, truth), cer(text, truth)
        costs.append(PageCost(image.stem, round(raw_cer[0] / raw_cer[1], 4),
                              round(mine[0] / mine[1], 4), round(middle - start, 2),
                              round(end - middle, 2), round((end - middle) / (middle - start), 2),
                              round(layout_seconds(image), 3), language, steps))
    return costs


def layout_seconds(image: Path) -> float:
    """CPU-s of the layout and orientation checks ``ocr_image`` makes on a prepared page."""
    with Image.open(image) as opened:
        prepared = preprocess(opened)
    start = cpu_seconds()
    may_lie_sideways(prepared.ink)
    analyse_layout(np.asarray(prepared.image), image_dpi(prepared.image), prepared.ink)
    return cpu_seconds() - start


def render(cells: list[Cell], costs: list[PageCost]) -> str:
    """The plain-text tables."""
    lines = [f"{'lang':4} {'variant':15} {'n':>2} {'raw CER':>8} {'llmforge':>8} {'ratio':>6} "
             f"{'worst':>6}  auto language"]
    for c in cells:
        lines.append(f"{c.lang:4} {c.group:15} {c.samples:>2} {c.raw_cer:>8.3f} "
                     f"{c.llmforge_cer:>8.3f} {c.ratio:>6.2f} {c.llmforge_worst:>6.3f}  {c.languages}")
    lines += ["", f"{'A4 page':19} {'raw CER':>8} {'llmforge':>8} {'raw cpu-s':>9} "
              f"{'llmforge cpu-s':>14} {'ratio':>5} {'layout':>6}  language, steps"]
    for p in costs:
        lines.append(f"{p.page:19} {p.raw_cer:>8.3f} {p.llmforge_cer:>8.3f} {p.raw_cpu_s:>9.2f} "
                     f"{p.llmforge_cpu_s:>14.2f} {p.cpu_ratio:>5.2f} "
                     f"{p.layout_cpu_s / p.llmforge_cpu_s:>6.1%}  {p.language}, {p.steps}")
    lines.append("(ratio: llmforge CPU-s over raw tesseract's on the same page in this run; layout: "
                 "share of llmforge's CPU-s spent on layout and orientation checks)")
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    if not (OCR_DIR / "synthetic" / "manifest.json").exists():
        print(f"no OCR samples under {OCR_DIR} (set LLMFORGE_CORPORA)", file=sys.stderr)
        return 1
    llmforge_ocr(OCR_DIR / "tesseract-test" / "phototest.tif")  # imports out of the timings
    with tempfile.TemporaryDirectory() as work:
        costs = page_costs(Path(work))
    cells = accuracy_cells(samples())
    if args.json:
        print(json.dumps({"cells": [asdict(c) for c in cells],
                          "pages": [asdict(p) for p in costs]}, indent=1, ensure_ascii=False))
    else:
        print(render(cells, costs))
    return 0


if __name__ == "__main__":
    sys.exit(main())
