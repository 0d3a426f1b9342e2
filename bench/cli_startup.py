"""Cold ``llmforge search`` against ``llmforge --version``, in new processes, in the same run.

    .venv/bin/python bench/cli_startup.py [--runs N] [--src PATH] [--json]

Makes a fresh small project (three short documents, English and Arabic) in a temporary folder,
with its own machine cache (``LLMFORGE_CACHE``). ``structure`` fills that cache; it is emptied, and
the first search, which fills it again, is reported apart. Then ``llmforge --version`` and
``llmforge search`` run N times each, alternating, every one a new process: the median and p90
wall times, the ratio of the medians (target <= 3, issue 16) and each command's peak RSS. Every
search must print the same hits as the first.

``--src`` runs another checkout's ``src`` with this virtual environment, for a before/after
comparison (``git archive OLD src | tar -x -C /tmp/old``, then ``--src /tmp/old/src``).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOCS = {
    "pumps.txt": "Pump station 4 will be closed for maintenance from 3 March to 7 March 2025. The duty operator "
                 "checks the discharge pressure every four hours and records it in the log.",
    "chlorine.txt": "Free chlorine at the plant outlet must stay between 0.2 and 1.0 mg/L.",
    "طوارئ.txt": "عند انقطاع الكهرباء يشغل المولد الاحتياطي خلال عشر دقائق، ويبلغ مدير المحطة فوراً.",
}
QUERY = "pump pressure"


def run(command: list[str], env: dict[str, str], cwd: Path) -> tuple[float, int, str]:
    """Wall seconds, peak RSS in MiB and stdout of one new process running ``command``."""
    with tempfile.TemporaryFile() as out:
        started = time.perf_counter()
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.PIPE, env=env, cwd=cwd)
        _, status, usage = os.wait4(process.pid, 0)
        wall = time.perf_counter() - started
        process.returncode = os.waitstatus_to_exitcode(status)
        errors = process.stderr.read().decode() if process.stderr else ""
        if process.returncode:
            raise SystemExit(f"{' '.join(command)} failed ({process.returncode}): {errors}")
        out.seek(0)
        return wall, usage.ru_maxrss // 1024, out.read().decode()


def make_project(work: Path, llmforge: list[str], env: dict[str, str]) -> Path:
    docs = work / "docs"
    docs.mkdir()
    for name, text in DOCS.items():
        (docs / name).write_text(text, encoding="utf-8")
    root = work / "kb"
    for args in (["init", str(root)], ["-p", str(root), "ingest", "--recursive", str(docs)], ["-p", str(root), "structure"]):
        run([*llmforge, "-q", *args], env, work)
    return root


def hits(output: str) -> list[tuple[str, float]]:
    return [(hit["chunk_id"], hit["score"]) for hit in json.loads(output)["hits"]]


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(share * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10, help="runs of each command (default 10)")
    parser.add_argument("--src", type=Path, default=REPO / "src", help="the llmforge source to run")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    llmforge = [sys.executable, "-m", "llmforge"]
    with tempfile.TemporaryDirectory(prefix="llmforge-cli-bench-") as folder:
        work = Path(folder)
        env = {**os.environ, "PYTHONPATH": str(args.src.resolve()), "LLMFORGE_CACHE": str(work / "cache"),
               "LLMFORGE_OFFLINE_REFUSE_NETWORK": "1"}
        env.pop("LLMFORGE_PROJECT", None)
        root = make_project(work, llmforge, env)
        shutil.rmtree(work / "cache", ignore_errors=True)   # structure filled it; the first search fills it again
        search = [*llmforge, "-p", str(root), "search", QUERY, "-k", "3", "--json"]
        first_wall, first_rss, first_output = run(search, env, work)
        expected = hits(first_output)
        version, searches, rss = [], [], {"version": 0, "search": 0}
        for _ in range(args.runs):
            wall, peak, _ = run([*llmforge, "--version"], env, work)
            version.append(wall)
            rss["version"] = max(rss["version"], peak)
            wall, peak, output = run(search, env, work)
            if hits(output) != expected:
                raise SystemExit(f"search results changed between runs: {hits(output)} != {expected}")
            searches.append(wall)
            rss["search"] = max(rss["search"], peak)
    figures = {
        "runs": args.runs, "src": str(args.src),
        "version_s": {"median": statistics.median(version), "p90": percentile(version, 0.9)},
        "search_s": {"median": statistics.median(searches), "p90": percentile(searches, 0.9)},
        "ratio": statistics.median(searches) / statistics.median(version),
        "first_search_s": first_wall, "first_search_peak_rss_mib": first_rss,
        "peak_rss_mib": rss, "hits": len(expected), "cpus": os.cpu_count(), "load_average": os.getloadavg()[0],
    }
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    print(f"llmforge --version   median {figures['version_s']['median']:.2f} s  p90 "
          f"{figures['version_s']['p90']:.2f} s  peak RSS {rss['version']} MiB")
    print(f"llmforge search      median {figures['search_s']['median']:.2f} s  p90 "
          f"{figures['search_s']['p90']:.2f} s  peak RSS {rss['search']} MiB  ({len(expected)} hits, same every run)")
    print(f"ratio search/version {figures['ratio']:.2f}  (target <= 3; {args.runs} runs each, alternating)")
    print(f"first search, building the machine cache: {first_wall:.2f} s, peak RSS {first_rss} MiB")
    print(f"{os.cpu_count()} CPUs, load average {figures['load_average']:.2f}")


if __name__ == "__main__":
    main()
