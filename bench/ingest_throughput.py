"""Ingestion throughput against the raw extraction library, in one process.

    .venv/bin/python bench/ingest_throughput.py [--json] [--repeat N] [--generated N | --held-out]

1. Text-layer PDF pages/s: a raw ``pypdfium2`` loop (open, get_text_range per page) versus
   llmforge's ``extract_file`` (detection, per-page quality scoring, pypdf second opinion on
   Arabic pages, normalisation) and versus the whole ``ingest`` pipeline (hashing, isolated worker
   process, blob store, catalog transaction) into a fresh project. OCR is off (``--ocr never``) so
   both sides do the same work. Files: seven text PDFs of ../shared/corpora when present, else
   (or with ``--generated N``) N generated 50-page PDFs; ``--held-out`` takes the corpus's other
   readable PDFs instead, which no tuning looked at.
2. Speed-up from 2 workers: the same files ingested with 1 and with 2 worker processes.

Ratios above 1 mean llmforge is slower than the raw call by that factor.
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

import pypdfium2 as pdfium  # noqa: E402

from llmforge.ingest.extract import ExtractOptions, extract_file  # noqa: E402
from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.project import init_project  # noqa: E402

CORPORA = REPO.parent / "shared" / "corpora" / "pdf"
CORPUS_FILES = ["py-pdf-sample-files/GeoTopo-komprimiert.pdf", "pypdf/GeoBase_NHNC1_Data_Model_UML_EN.pdf",
                "py-pdf-sample-files/multicolumn.pdf", "pypdf/Seige_of_Vicksburg_Sample_OCR.pdf",
                "py-pdf-sample-files/pdflatex-4-pages.pdf", "pypdf/multilang.pdf",
                "py-pdf-sample-files/habibi.pdf"]
HELD_OUT_FILES = ["pypdf/crazyones.pdf", "pypdf/SF424_page2.pdf", "pypdf/side-by-side-subfig.pdf",
                  "py-pdf-sample-files/pdflatex-forms.pdf", "py-pdf-sample-files/habibi-rotated.pdf",
                  "py-pdf-sample-files/mistitled_outlines_example.pdf",
                  "py-pdf-sample-files/002-trivial-libre-office-writer.pdf",
                  "py-pdf-sample-files/google-doc-document.pdf", "py-pdf-sample-files/habibi-oneline-cmap.pdf"]


def corpus(work: Path, generated: int, held_out: bool = False) -> list[Path]:
    found = [CORPORA / name for name in (HELD_OUT_FILES if held_out else CORPUS_FILES) if (CORPORA / name).exists()]
    if found and not generated:
        return found
    from tests.assets import text_pdf

    paths = []
    for index in range(generated or 6):
        path = work / f"generated-{index}.pdf"
        pages = ["\n".join(f"Line {n} of page {p} in file {index}: the operator checks valve {n * p} "
                           "and records the reading in the station log." for n in range(45))
                 for p in range(50)]
        path.write_bytes(text_pdf(pages))
        paths.append(path)
    return paths


def raw_pages(paths: list[Path]) -> int:
    pages = 0
    for path in paths:
        document = pdfium.PdfDocument(str(path))
        for index in range(len(document)):
            page = document[index]
            textpage = page.get_textpage()
            textpage.get_text_range()
            textpage.close()
            page.close()
            pages += 1
        document.close()
    return pages


def llmforge_pages(paths: list[Path]) -> int:
    options = ExtractOptions(ocr_mode="never")
    return sum(len(extract_file(path, options)[2].pages) for path in paths)


def pipeline_run(paths: list[Path], work: Path, workers: int):  # noqa: ANN201
    """A fresh project (created outside the timed part) and the timed ingest into it."""
    root = work / f"project-{workers}-{time.monotonic_ns()}"
    project = init_project(root)

    def run() -> int:
        report = ingest_paths(project, paths, ocr="never", workers=workers)
        assert report.count("failed") == 0, report.to_dict()
        return sum(outcome.pages for outcome in report.outcomes)

    def cleanup() -> None:
        shutil.rmtree(root)

    return run, cleanup


def best_of(repeat: int, run, fresh=None) -> tuple[float, int]:  # noqa: ANN001
    """Best wall time of ``repeat`` runs; ``fresh()`` makes a new (run, cleanup) pair each time."""
    times, pages = [], 0
    for _ in range(repeat):
        cleanup = None
        if fresh is not None:
            run, cleanup = fresh()
        started = time.perf_counter()
        pages = run()
        times.append(time.perf_counter() - started)
        if cleanup:
            cleanup()
    return min(times), pages


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--generated", type=int, default=0, metavar="N",
                        help="use N generated 50-page PDFs instead of the shared corpus")
    parser.add_argument("--held-out", action="store_true",
                        help="use the shared corpus's other readable PDFs (not the tuned-on seven)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        paths = corpus(work, args.generated, args.held_out)
        raw_s, pages = best_of(args.repeat, lambda: raw_pages(paths))
        lib_s, _ = best_of(args.repeat, lambda: llmforge_pages(paths))
        one_s, _ = best_of(args.repeat, None, lambda: pipeline_run(paths, work, 1))
        two_s, _ = best_of(args.repeat, None, lambda: pipeline_run(paths, work, 2))
    result = {
        "files": len(paths), "pages": pages,
        "raw_pdfium_pages_per_s": pages / raw_s,
        "extract_file_pages_per_s": pages / lib_s,
        "ingest_1_worker_pages_per_s": pages / one_s,
        "ingest_2_workers_pages_per_s": pages / two_s,
        "ratio_extract_vs_raw": lib_s / raw_s,
        "ratio_ingest_vs_raw": one_s / raw_s,
        "speedup_2_workers": one_s / two_s,
    }
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{result['files']} PDFs, {pages} pages, best of {args.repeat}")
    print(f"raw pypdfium2 text loop      {result['raw_pdfium_pages_per_s']:8.1f} pages/s")
    print(f"llmforge extract_file        {result['extract_file_pages_per_s']:8.1f} pages/s   "
          f"ratio {result['ratio_extract_vs_raw']:.2f}")
    print(f"llmforge ingest, 1 worker    {result['ingest_1_worker_pages_per_s']:8.1f} pages/s   "
          f"ratio {result['ratio_ingest_vs_raw']:.2f}")
    print(f"llmforge ingest, 2 workers   {result['ingest_2_workers_pages_per_s']:8.1f} pages/s   "
          f"speed-up {result['speedup_2_workers']:.2f}x")


if __name__ == "__main__":
    main()
