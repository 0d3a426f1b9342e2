"""Peak memory of ``llmforge ingest`` on one large text file, as the file grows.

    .venv/bin/python bench/ingest_memory.py [--sizes 10,100,300] [--json]

For each size a text file of that many MB (English and Arabic paragraphs, UTF-8) is generated and
ingested into a fresh project by a real ``llmforge ingest`` process. The peak resident memory of
the whole process tree (the CLI and its extraction worker, with its forkserver) is sampled from
/proc every 20 ms and printed beside the file size, with the per-MB slope between the first and
the last size: memory that is flat as files grow has a slope near 0. ingest.max_file_mb is raised
for the run (through its environment variable) so the largest file is accepted.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PAGE = os.sysconf("SC_PAGE_SIZE")
PARAGRAPHS = [
    "The duty operator checks the chlorine dose every four hours and writes the reading in the "
    "station log, with the time, the pump in service and the pressure at the outlet valve.",
    "يفحص المشغل المناوب جرعة الكلور كل أربع ساعات ويسجل القراءات في سجل المحطة مع الوقت والمضخة "
    "العاملة والضغط عند صمام المخرج.",
]


def write_text_file(path: Path, megabytes: int) -> None:
    """About ``megabytes`` MB of numbered paragraphs, so no two pages read the same."""
    target = megabytes * 1_000_000
    written = 0
    with open(path, "wb") as out:
        number = 0
        while written < target:
            block = "".join(f"{number + i}. {PARAGRAPHS[(number + i) % 2]}\n\n" for i in range(1000))
            number += 1000
            written += out.write(block.encode("utf-8"))


def tree_rss(root: int) -> int:
    """Resident bytes of ``root`` and every process under it, read from /proc."""
    parents: dict[int, int] = {}
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as handle:
                    fields = handle.read().rsplit(b")", 1)[1].split()
                parents[int(entry.name)] = int(fields[1])
            except (OSError, IndexError):
                continue
    members, frontier = {root}, [root]
    while frontier:
        parent = frontier.pop()
        children = [pid for pid, ppid in parents.items() if ppid == parent and pid not in members]
        members.update(children)
        frontier.extend(children)
    total = 0
    for pid in members:
        try:
            with open(f"/proc/{pid}/statm", "rb") as handle:
                total += int(handle.read().split()[1]) * PAGE
        except OSError:
            continue
    return total


def peak_ingest_rss(project: Path, path: Path) -> tuple[int, float, dict]:
    """Peak tree RSS in bytes, wall seconds and the --json report of one ingest run."""
    env = dict(os.environ, LLMFORGE_INGEST_MAX_FILE_MB="100000", PYTHONPATH=str(REPO / "src"))
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "llmforge", "-p", str(project), "ingest", str(path),
                                "--json"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env)
    peak = 0
    output: dict[str, bytes] = {}
    reader = threading.Thread(target=lambda: output.update(zip(("out", "err"), process.communicate())))
    reader.start()
    while process.poll() is None:
        peak = max(peak, tree_rss(process.pid))
        time.sleep(0.02)
    reader.join()
    seconds = time.perf_counter() - started
    if process.returncode != 0:
        raise SystemExit(f"ingest failed ({process.returncode}): {output['err'].decode()[-2000:]}")
    return peak, seconds, json.loads(output["out"])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10,100,300", help="file sizes in MB, comma-separated")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    sizes = [int(size) for size in args.sizes.split(",")]
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for size in sizes:
            path = work / f"text-{size}mb.txt"
            write_text_file(path, size)
            project = work / f"project-{size}"
            subprocess.run([sys.executable, "-m", "llmforge", "init", str(project)], check=True,
                           capture_output=True, env=dict(os.environ, PYTHONPATH=str(REPO / "src")))
            peak, seconds, report = peak_ingest_rss(project, path)
            rows.append({"file_mb": round(path.stat().st_size / 1e6, 1), "peak_rss_mb": round(peak / 1e6, 1),
                         "seconds": round(seconds, 1), "pages": report["files"][0]["pages"]})
            path.unlink()
    slope = ((rows[-1]["peak_rss_mb"] - rows[0]["peak_rss_mb"]) / (rows[-1]["file_mb"] - rows[0]["file_mb"])
             if len(rows) > 1 else 0.0)
    if args.json:
        print(json.dumps({"runs": rows, "rss_mb_per_file_mb": round(slope, 3)}, indent=2))
        return
    for row in rows:
        print(f"file {row['file_mb']:7.1f} MB   peak RSS {row['peak_rss_mb']:7.1f} MB   "
              f"{row['pages']:5d} page(s)   {row['seconds']:6.1f} s")
    print(f"peak RSS grows {slope:.3f} MB per MB of file")


if __name__ == "__main__":
    main()
