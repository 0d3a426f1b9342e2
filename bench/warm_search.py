"""``llmforge search`` through a running server (the warm path) against a cold search and
``llmforge --version``, in new processes, in the same run.

    .venv/bin/python bench/warm_search.py [--runs N] [--cli PATH] [--json]

Makes the small project of bench/cli_startup.py in a temporary folder (its own machine cache),
starts ``llmforge serve`` for it on a free loopback port, and waits for its local socket. Then,
alternating, N times each, every one a new process: ``llmforge --version``, ``llmforge search``
(it finds the server's socket and sends the query there) and ``llmforge search --server off``
(answered in its own process: the cold search). Prints the p50 and p90 wall times of each, the
warm search's p50 against the target (<= 100 ms, issue 16) and against ``--version``. The warm
and cold searches must print the same hits (and ``source_path``) every time.

``--cli`` runs another entry point (default: the ``llmforge`` of this virtual environment, as a
user types it; ``-m`` runs ``python -m llmforge``).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from cli_startup import QUERY, make_project, percentile, run  # noqa: E402

TARGET_MS = 100.0


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_for_socket(path: Path, server: subprocess.Popen, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise SystemExit(f"llmforge serve exited ({server.returncode}): {server.stderr.read().decode()}")
        try:
            with socket.socket(socket.AF_UNIX) as sock:
                sock.connect(str(path))
                return
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"no server socket at {path} after {seconds:.0f} s")


def results(output: str) -> list[tuple[str, float, str]]:
    return [(hit["chunk_id"], hit["score"], hit["source_path"]) for hit in json.loads(output)["hits"]]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=20, help="runs of each command (default 20)")
    parser.add_argument("--cli", default=str(Path(sys.executable).with_name("llmforge")),
                        help="the llmforge command to run ('-m': python -m llmforge)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    llmforge = [sys.executable, "-m", "llmforge"] if args.cli == "-m" else [args.cli]
    with tempfile.TemporaryDirectory(prefix="llmforge-warm-bench-") as folder:
        work = Path(folder)
        env = {**os.environ, "LLMFORGE_CACHE": str(work / "cache"), "LLMFORGE_OFFLINE_REFUSE_NETWORK": "1"}
        for name in ("LLMFORGE_PROJECT", "LLMFORGE_SERVER", "LLMFORGE_API_KEY"):
            env.pop(name, None)
        root = make_project(work, llmforge, env)
        server = subprocess.Popen([*llmforge, "-q", "-p", str(root), "serve", "--port", str(free_port())],
                                  stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env, cwd=work)
        try:
            wait_for_socket(root / "secrets" / "serve.sock", server)
            search = [*llmforge, "-p", str(root), "search", QUERY, "-k", "3", "--json"]
            expected = results(run([*search, "--server", "off"], env, work)[2])
            run(search, env, work)   # the server's first search loads its index and embedder
            times: dict[str, list[float]] = {"version": [], "warm": [], "cold": []}
            for _ in range(args.runs):
                times["version"].append(run([*llmforge, "--version"], env, work)[0])
                for way, command in (("warm", search), ("cold", [*search, "--server", "off"])):
                    wall, _, output = run(command, env, work)
                    if results(output) != expected:
                        raise SystemExit(f"{way} search printed other hits: {results(output)} != {expected}")
                    times[way].append(wall)
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(60)
    p50 = {way: statistics.median(values) * 1000 for way, values in times.items()}
    figures = {"runs": args.runs, "cli": " ".join(llmforge), "hits": len(expected),
               **{f"{way}_ms": {"p50": p50[way], "p90": percentile(values, 0.9) * 1000}
                  for way, values in times.items()},
               "warm_vs_target": p50["warm"] / TARGET_MS, "warm_vs_version": p50["warm"] / p50["version"],
               "cold_vs_warm": p50["cold"] / p50["warm"], "cpus": os.cpu_count(), "load_average": os.getloadavg()[0]}
    if args.json:
        print(json.dumps(figures, indent=2))
        return
    for way, label in (("version", "llmforge --version"), ("warm", "search, warm (server)"),
                       ("cold", "search --server off")):
        print(f"{label:<24} p50 {figures[f'{way}_ms']['p50']:7.1f} ms  p90 {figures[f'{way}_ms']['p90']:7.1f} ms")
    print(f"warm search p50 / {TARGET_MS:.0f} ms target: {figures['warm_vs_target']:.2f};  warm / --version: "
          f"{figures['warm_vs_version']:.2f};  cold / warm: {figures['cold_vs_warm']:.1f}  "
          f"({args.runs} runs each, alternating, {len(expected)} hits, the same every run)")
    print(f"{os.cpu_count()} CPUs, load average {figures['load_average']:.2f}  ({figures['cli']})")


if __name__ == "__main__":
    main()
