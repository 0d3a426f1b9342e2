"""OCR per layout: llmforge against raw Tesseract's default and raw Tesseract's best mode.

    python bench/ocr_layouts.py [--sample tuned|held-out|tesseract-test|all] [--layout L]... [--json]

Layouts: ``line`` (rendered single lines in several Arabic typefaces and sizes, clean and
degraded, and lines cut out of rendered paragraphs), ``block`` (a paragraph), ``sparse`` (word
pairs strewn over a page, as on a form), ``page``, ``two-column`` (Arabic and English) and
``rotated`` (pages turned 90, 180 or 270 degrees).
Samples are rendered by :mod:`llmforge.testing.scans`: ``tuned`` is what the layout rules were
tuned on, ``held-out`` uses other sentences, typefaces and seeds and was never tuned on. The
``tesseract-test`` sample (``../shared/corpora/ocr/tesseract-test``, real scans: a lone Arabic
word and an English page) is a further held-out check, skipped when absent.

* raw default: ``tesseract IMAGE - -l LANG`` (the right language given, page mode 3);
* raw best: the one ``--psm`` of 3, 4, 6, 7, 11 and 13 with the lowest CER over the layout's
  images (chosen after the fact, per layout and sample: a bound no single setting reaches);
* llmforge: ``ocr_image(image, lang="auto")``: it must find the layout, the orientation and
  the language itself.

CER as in ``bench/ocr_accuracy.py``, summed over the images of a cell. The last table is the
cost of the layout and orientation checks against the whole ``ocr_image`` of each page, in
CPU-seconds of this process (they run in it).
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from ocr_accuracy import OCR_DIR, cer, raw_tesseract  # also puts src/ on the path (and the venv)
from PIL import Image

from llmforge.ingest.layout import analyse_layout
from llmforge.ingest.ocr import ocr_image
from llmforge.ingest.orientation import may_lie_sideways, turn_clockwise
from llmforge.ingest.preprocess import image_dpi, preprocess
from llmforge.testing import scans

PSMS = (3, 4, 6, 7, 11, 13)
LAYOUTS = ("line", "block", "sparse", "page", "two-column", "rotated")
DEGRADATIONS = ("clean", "noise", "blur", "lowcontrast")


@dataclass(frozen=True)
class Case:
    layout: str
    lang: str          # tesseract code of the truth: "ara" / "eng"
    name: str
    image: Image.Image
    truth: str


@dataclass
class Row:
    sample: str
    layout: str
    images: int
    llmforge_cer: float
    raw_default_cer: float
    raw_best_cer: float
    raw_best_psm: int
    llmforge_vs_best: float    # llmforge CER / raw best CER: at most 1.0 is the target
    languages: str             # languages llmforge's --lang auto chose, with counts
    rotations: str             # rotations llmforge recorded, against the truth (rotated only)


def rendered_cases(texts: scans.TextSet) -> Iterator[Case]:
    """Every layout, rendered from one text set; degradations drawn from its seed."""
    pick = random.Random(texts.seed)
    for family in texts.arabic_fonts:
        for points in (12, 16):
            for kind in DEGRADATIONS:
                text = pick.choice(texts.arabic)
                image = scans.degrade(scans.line_image(text, family, points), kind, pick.randrange(999))
                yield Case("line", "ara", f"{family} {points}pt {kind}", image, text)
        for number, (crop, text) in enumerate(scans.line_crops(" ".join(texts.arabic[:3]), family, 14)):
            yield Case("line", "ara", f"{family} crop {number}", crop, text)
        kind = pick.choice(DEGRADATIONS)
        paragraph = " ".join(pick.sample(texts.arabic, 3))
        block, truth = scans.page_image([paragraph], family, 14, size=(1400, 560))
        yield Case("block", "ara", f"{family} {kind}", scans.degrade(block, kind, texts.seed), truth)
        words = " ".join(texts.arabic).split()
        pick.shuffle(words)
        sparse, truth = scans.sparse_image(words, family, pick.randrange(999))
        yield Case("sparse", "ara", family, sparse, truth)
        page, page_truth = scans.page_image(list(texts.arabic[:4]), family, 12)
        yield Case("page", "ara", family, scans.degrade(page, pick.choice(DEGRADATIONS), 1), page_truth)
        first, second = (" ".join(pick.sample(texts.arabic, 4)) for _ in range(2))
        columns, truth = scans.two_column_image(first, second, family)
        yield Case("two-column", "ara", family, columns, truth)
        rotation = pick.choice((90, 180, 270))
        yield Case("rotated", "ara", f"{family} {upright(rotation)}", turn_clockwise(page, rotation),
                   page_truth)
    for family in texts.english_fonts:
        page, page_truth = scans.page_image(list(texts.english[:4]), family, 12)
        yield Case("page", "eng", family, page, page_truth)
        first, second = (" ".join(pick.sample(texts.english, 3)) for _ in range(2))
        columns, truth = scans.two_column_image(first, second, family)
        yield Case("two-column", "eng", family, columns, truth)
        rotation = pick.choice((90, 180, 270))
        yield Case("rotated", "eng", f"{family} {upright(rotation)}", turn_clockwise(page, rotation),
                   page_truth)


def upright(turned: int) -> int:
    """Degrees clockwise that set upright a page turned ``turned`` degrees clockwise."""
    return (360 - turned) % 360


def tesseract_test_cases() -> Iterator[Case]:
    """Tesseract's own test scans, where the shared corpus has them."""
    folder = OCR_DIR / "tesseract-test"
    for layout, lang, name, truth in (("line", "ara", "arabic.tif", "arabic.gt.txt"),
                                      ("page", "eng", "phototest.tif", "phototest.gold.txt")):
        if (folder / name).exists():
            with Image.open(folder / name) as opened:
                opened.load()
                yield Case(layout, lang, name, opened.copy(), (folder / truth).read_text(encoding="utf-8"))


def measure(sample: str, cases: list[Case], work: Path) -> list[Row]:
    """One row per layout: llmforge, raw default and raw best mode."""
    rows = []
    for layout in LAYOUTS:
        members = [case for case in cases if case.layout == layout]
        if not members:
            continue
        totals = {"llmforge": [0, 0], **{psm: [0, 0] for psm in PSMS}}
        rotations, languages = [], {}
        for number, case in enumerate(members):
            path = work / f"{number}.png"
            case.image.save(path, dpi=case.image.info.get("dpi", (300, 300)))
            result = ocr_image(case.image, lang="auto")
            rotations.append(f"{result.rotation}/{case.name.rsplit(' ', 1)[-1]}")
            languages[result.language] = languages.get(result.language, 0) + 1
            _add(totals["llmforge"], cer(result.text, case.truth))
            for psm in PSMS:
                _add(totals[psm], cer(raw_tesseract(path, case.lang, psm), case.truth))
        rates = {key: edits / max(1, length) for key, (edits, length) in totals.items()}
        best = min(PSMS, key=lambda psm: rates[psm])
        if rates[best]:
            ratio = rates["llmforge"] / rates[best]
        else:
            ratio = 1.0 if rates["llmforge"] == 0 else float("inf")
        rows.append(Row(sample, layout, len(members), round(rates["llmforge"], 4), round(rates[3], 4),
                        round(rates[best], 4), best, round(ratio, 3),
                        ", ".join(f"{code} x{count}" for code, count in sorted(languages.items())),
                        " ".join(rotations) if layout == "rotated" else ""))
        print(f"  {sample} {layout} done", file=sys.stderr, flush=True)
    return rows


def _add(total: list[int], edits_and_length: tuple[int, int]) -> None:
    total[0] += edits_and_length[0]
    total[1] += edits_and_length[1]


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def layout_overhead(cases: list[Case]) -> tuple[float, float]:
    """(CPU-s of layout and orientation checks, CPU-s of the whole ocr_image) over the pages.

    ``ocr_image`` runs Tesseract in child processes; the whole is counted with them.
    """
    checks = whole = 0.0
    for case in [case for case in cases if case.layout in ("page", "two-column")][:6]:
        prepared = preprocess(case.image)
        start = cpu_seconds()
        may_lie_sideways(prepared.ink)
        analyse_layout(np.asarray(prepared.image), image_dpi(prepared.image), prepared.ink)
        checks += cpu_seconds() - start
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        before = cpu_seconds() + children.ru_utime + children.ru_stime
        ocr_image(case.image, lang="auto")
        children = resource.getrusage(resource.RUSAGE_CHILDREN)
        whole += cpu_seconds() + children.ru_utime + children.ru_stime - before
    return round(checks, 3), round(whole, 3)


def render(rows: list[Row], overhead: tuple[float, float]) -> str:
    lines = [f"{'sample':14} {'layout':10} {'n':>3} {'llmforge':>8} {'raw psm3':>8} {'raw best':>8} "
             f"{'psm':>3} {'vs best':>7}  auto language; rotations (found/expected)"]
    for r in rows:
        lines.append(f"{r.sample:14} {r.layout:10} {r.images:>3} {r.llmforge_cer:>8.3f} "
                     f"{r.raw_default_cer:>8.3f} {r.raw_best_cer:>8.3f} {r.raw_best_psm:>3} "
                     f"{r.llmforge_vs_best:>7.2f}  {r.languages}{'; ' + r.rotations if r.rotations else ''}")
    checks, whole = overhead
    share = checks / whole if whole else 0.0
    lines += ["", f"layout + orientation checks: {checks:.2f} CPU-s of {whole:.2f} for the same pages' "
                  f"ocr_image (ratio {share:.3f})"]
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sample", choices=("tuned", "held-out", "tesseract-test", "all"),
                        default="all")
    parser.add_argument("--layout", choices=LAYOUTS, action="append",
                        help="measure only this layout (repeatable; default: all)")
    parser.add_argument("--json", action="store_true", help="print the numbers as JSON")
    args = parser.parse_args()
    missing = [family for texts in (scans.TUNED, scans.HELD_OUT)
               for family in texts.arabic_fonts + texts.english_fonts if scans.font_file(family) is None]
    if missing and args.sample != "tesseract-test":
        print(f"fonts missing: {', '.join(missing)} (bash scripts/setup.sh installs them)",
              file=sys.stderr)
        return 1
    samples = {"tuned": lambda: list(rendered_cases(scans.TUNED)),
               "held-out": lambda: list(rendered_cases(scans.HELD_OUT)),
               "tesseract-test": lambda: list(tesseract_test_cases())}
    chosen = list(samples) if args.sample == "all" else [args.sample]
    rows: list[Row] = []
    overhead_cases: list[Case] = []
    with tempfile.TemporaryDirectory() as work:
        for sample in chosen:
            cases = [case for case in samples[sample]() if case.layout in (args.layout or LAYOUTS)]
            if not cases:
                print(f"  {sample}: no images (shared corpus absent), skipped", file=sys.stderr)
                continue
            rows += measure(sample, cases, Path(work))
            overhead_cases += cases
    overhead = layout_overhead(overhead_cases)
    if args.json:
        print(json.dumps({"rows": [asdict(r) for r in rows], "layout_checks_cpu_s": overhead[0],
                          "ocr_cpu_s": overhead[1]}, indent=1, ensure_ascii=False))
    else:
        print(render(rows, overhead))
    return 0


if __name__ == "__main__":
    sys.exit(main())
