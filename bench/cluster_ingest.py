"""OCR-heavy ingestion on a two-node local Ray cluster against a local ``--workers 2`` run.

    .venv/bin/python bench/cluster_ingest.py [--pages N] [--sample tuned|held-out] [--json]

1. Throughput: the same scanned pages (rendered in code by ``llmforge.testing.scans``: English and
   Arabic pages, half saved as PNG, half as image-only PDF) ingested into a fresh project locally
   with 2 worker processes, and through ``cluster_ingest`` on a head and one worker node started on
   loopback with one CPU each. The ratio is cluster / local pages per second: on one 2-core machine
   both runs have the same 2 CPUs, so about 1 is expected, and the gap is the cluster's overhead.
2. Per-task overhead: sequential round trips of a trivial extraction (the size of a 1 kB file)
   through the local isolated worker and through a Ray task (the file's bytes shipped, written to
   a temporary file on the node, run in the node's isolated worker, the answer back).

Cluster start-up is timed apart and not counted; a warm-up ingest first does the driver's imports,
so neither run pays them. Nothing here is tuned: both samples of
``llmforge.testing.scans`` (``tuned`` is the OCR layout work's, not this bench's) are measured alike.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

from llmforge.cluster.airgap import import_ray  # noqa: E402
from llmforge.cluster.nodes import start_local_cluster, stop_cluster  # noqa: E402
from llmforge.cluster.work import RayExtractionRunner, cluster_ingest, connected  # noqa: E402
from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.ingest.worker import IsolatedWorker  # noqa: E402
from llmforge.project import init_project  # noqa: E402
from llmforge.testing.scans import HELD_OUT, TUNED, font_file, page_image  # noqa: E402

ROUND_TRIPS = 30


def scanned_pages(folder: Path, count: int, sample: str) -> list[Path]:
    texts = TUNED if sample == "tuned" else HELD_OUT
    families = [(texts.english, texts.english_fonts[0]), (texts.arabic, texts.arabic_fonts[0])]
    families = [(sentences, family) for sentences, family in families if font_file(family)]
    if not families:
        sys.exit(f"no font of the {sample} sample is installed (scripts/setup.sh installs them)")
    folder.mkdir()
    paths = []
    for number in range(count):
        sentences, family = families[number % len(families)]
        paragraphs = [" ".join(sentences[(number + k) % len(sentences)] for k in range(3)) for _ in range(2)]
        image, _ = page_image(paragraphs, family)
        path = folder / (f"page{number}.png" if number % 2 else f"page{number}.pdf")
        image.save(path, resolution=300)
        paths.append(path)
    return paths


def timed(run) -> float:  # noqa: ANN001
    started = time.perf_counter()
    run()
    return time.perf_counter() - started


def round_trip_ms(runner, small: Path) -> float:  # noqa: ANN001
    runner.run(os.path.getsize, (small,), 60)   # warm: the worker process exists before timing
    seconds = timed(lambda: [runner.run(os.path.getsize, (small,), 60) for _ in range(ROUND_TRIPS)])
    return 1000 * seconds / ROUND_TRIPS


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--pages", type=int, default=8)
    parser.add_argument("--sample", choices=["tuned", "held-out"], default="held-out")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="lfb-", dir="/tmp"))   # short: Ray's sockets live below it
    result: dict[str, float | int | str] = {"pages": args.pages, "sample": args.sample}
    try:
        folder = work / "scans"
        scanned_pages(folder, args.pages, args.sample)
        small = work / "small.txt"
        small.write_text("x" * 1000)
        ingest_paths(init_project(work / "warm-up"), [small])   # imports done before either run is timed
        local = init_project(work / "local")
        result["local_s"] = timed(lambda: ingest_paths(local, [folder], recursive=True, workers=2))
        with IsolatedWorker(memory_mb=2048) as worker:
            result["local_task_ms"] = round_trip_ms(worker, small)
        result["cluster_start_s"] = timed(lambda: start_local_cluster(1, directory=work / "cluster"))
        address = json.loads((work / "cluster" / "cluster.json").read_text())["address"]
        on_cluster = init_project(work / "cluster-run")
        result["cluster_s"] = timed(lambda: cluster_ingest(on_cluster, [folder], address, recursive=True))
        with connected(address) as ray:
            result["cluster_task_ms"] = round_trip_ms(RayExtractionRunner(ray, 2048, True), small)
    finally:
        stop_cluster(work / "cluster")
        shutil.rmtree(work, ignore_errors=True)
    result["local_pages_per_s"] = args.pages / result["local_s"]
    result["cluster_pages_per_s"] = args.pages / result["cluster_s"]
    result["ratio_cluster_to_local"] = result["cluster_pages_per_s"] / result["local_pages_per_s"]
    result["task_overhead_ms"] = result["cluster_task_ms"] - result["local_task_ms"]
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"{args.pages} scanned pages ({args.sample} sample), two 1-CPU Ray nodes vs 2 local workers")
    print(f"local --workers 2     {result['local_pages_per_s']:6.2f} pages/s ({result['local_s']:.1f} s)")
    print(f"cluster (2 nodes)     {result['cluster_pages_per_s']:6.2f} pages/s ({result['cluster_s']:.1f} s; "
          f"start-up {result['cluster_start_s']:.1f} s not counted)")
    print(f"round trip per task   local {result['local_task_ms']:.1f} ms, cluster {result['cluster_task_ms']:.1f} ms")
    print(f"RESULT ratio_cluster_to_local={result['ratio_cluster_to_local']:.2f} "
          f"task_overhead_ms={result['task_overhead_ms']:.1f}")


if __name__ == "__main__":
    main()
