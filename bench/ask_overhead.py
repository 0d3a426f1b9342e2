"""What ``llmforge ask`` spends beyond the model's own work, on the demo sample.

    .venv/bin/python bench/ask_overhead.py [--model NAME] [--runs N] [--json]

Makes a project of ``examples/sample`` (ingest, structure) in a temporary folder and asks the
demo's three questions (English, Arabic, one the documents do not answer), three ways:

- ``cli``: ``llmforge ask --json --server off`` in a new process each time, as a shell user runs
  it without a server: its wall time against the model's own work from its ``timings`` (the
  model's load, prompt evaluation and generation as llama.cpp's timers count them);
- ``served``: the same command while ``llmforge serve`` runs for the project (started here, the
  model named in ``serve.model``): the command sends the question to the server's local socket;
  its wall time against the model's work the server reports;
- ``warm``: :func:`llmforge.inference.rag.ask` again and again in this process, the model loaded
  once before (as a server runs it): ``timings.total_ms`` against ``timings.model_ms``.

Then ``/v1/ask`` streamed, on a server in this process (over its local socket): the time to the
first piece of the answer and to the whole answer, per question, in rounds that alternate
``before`` (the model keeps no instruction prefix: ``runtime.keep_prefixes = False``, llama.cpp
reusing only what a prompt shares with the previous one) and ``after`` (the prefixes kept), with
the prompt tokens evaluated. The questions alternate languages, as a server's callers do.

Prints each ask's figures and, per way, the ratio of the totals to the model's work over all the
asks (issue 16's target: <= 1.2). The machine cache ($LLMFORGE_CACHE or ~/.cache/llmforge) is
used as it is, so the packaged model is assembled there at most once. Default model: the
packaged Qwen2.5-Coder-0.5B (quick); ``--model qwen2.5-coder-1.5b-instruct`` for the default one.
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
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

QUESTIONS = {
    "en": "How often is the chlorine analyser checked?",
    "ar": "ما هو رقم مكتب العمليات؟",
    "absent": "Who won the 1998 football world cup?",
}


def llmforge(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([sys.executable, "-m", "llmforge", *args], capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    if done.returncode:
        raise SystemExit(f"llmforge {' '.join(args)} failed ({done.returncode}): {done.stderr}")
    return done


def make_project(folder: Path) -> Path:
    root = folder / "demo"
    llmforge("-q", "init", str(root))
    llmforge("-q", "-p", str(root), "ingest", "--recursive", str(REPO / "examples" / "sample"))
    llmforge("-q", "-p", str(root), "structure")
    return root


def cli_asks(root: Path, runs: int, *options: str) -> list[dict[str, Any]]:
    rows = []
    for _ in range(runs):
        for key, question in QUESTIONS.items():
            started = time.perf_counter()
            answer = json.loads(llmforge("-p", str(root), "ask", question, "--json", *options).stdout)
            wall_ms = (time.perf_counter() - started) * 1000
            rows.append(row(key, answer, wall_ms))
    return rows


def served_asks(root: Path, model: str, runs: int) -> list[dict[str, Any]]:
    """:func:`cli_asks` while ``llmforge serve`` runs for the project: each command goes to its
    local socket. One ask first, not counted, loads the server's model."""
    llmforge("-q", "-p", str(root), "config", "set", "serve.model", model)
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = subprocess.Popen([sys.executable, "-m", "llmforge", "-q", "-p", str(root), "serve", "--port", str(port)],
                              stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env={**os.environ, "PYTHONPATH": str(REPO / "src")})
    try:
        deadline = time.monotonic() + 120
        while not (root / "secrets" / "serve.sock").exists():
            if server.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"llmforge serve did not start: {server.stderr.read().decode() if server.stderr else ''}")
            time.sleep(0.2)
        llmforge("-p", str(root), "ask", "What does the water policy say?", "--json")
        return cli_asks(root, runs)
    finally:
        server.send_signal(signal.SIGINT)
        server.wait(60)


def warm_asks(root: Path, model: str, runs: int) -> list[dict[str, Any]]:
    from llmforge.inference.rag import AgentSettings, ask
    from llmforge.inference.runtime import get_runtime
    from llmforge.project import find_project

    project = find_project(root)
    settings = AgentSettings(model=model)
    runtime = get_runtime(project, model)
    ask(project, "What does the water policy say?", settings, runtime)   # loads the embedder and lancedb
    rows = []
    for _ in range(runs):
        for key, question in QUESTIONS.items():
            answer = ask(project, question, settings, runtime).to_dict()
            rows.append(row(key, answer, answer["timings"]["total_ms"]))
    return rows


def api_asks(root: Path, model: str, runs: int) -> dict[str, list[dict[str, Any]]]:
    """``/v1/ask`` streamed through this process's server, ``before`` and ``after`` in alternate rounds."""
    from llmforge.inference.runtime import get_runtime
    from llmforge.project import find_project
    from llmforge.serve.server import build_server
    from llmforge.warm import project_server
    from tests.serve.live import free_port, running

    project = find_project(root)
    runtime = get_runtime(project, model)   # the server's, loaded once here
    rows: dict[str, list[dict[str, Any]]] = {"before": [], "after": []}
    with running(build_server(project, "127.0.0.1", free_port())):
        server = project_server(root)
        if server is None:
            raise SystemExit("the server's local socket does not answer")
        list(server.events("/v1/ask", {"question": "What does the water policy say?", "stream": True}))
        for round_ in range(2 * runs):
            way = ("before", "after")[round_ % 2]
            runtime.keep_prefixes = way == "after"
            for key, question in QUESTIONS.items():
                started, first = time.perf_counter(), None
                for event in server.events("/v1/ask", {"question": question, "stream": True}):
                    if first is None and event["type"] in ("delta", "answer"):
                        first = (time.perf_counter() - started) * 1000
                    if event["type"] == "answer":
                        answer = event
                total = (time.perf_counter() - started) * 1000
                rows[way].append({**row(key, answer, total), "first_ms": first,
                                  "prompt_tokens": answer["prompt_tokens"]})
    return rows


def row(key: str, answer: dict[str, Any], total_ms: float) -> dict[str, Any]:
    timings = answer["timings"]
    return {"question": key, "refused": answer["refused"], "answer": answer["answer"][:60], "total_ms": total_ms,
            **{name: timings[name] for name in ("retrieval_ms", "load_ms", "prompt_eval_ms", "prompt_eval_tokens",
                                                "generation_ms", "generated_tokens", "model_ms")}}


def ratio(rows: list[dict[str, Any]]) -> float:
    return sum(r["total_ms"] for r in rows) / max(sum(r["model_ms"] for r in rows), 1e-9)


def show(way: str, rows: list[dict[str, Any]]) -> None:
    print(f"{way}: total / model's own work = {ratio(rows):.2f}  (target <= 1.2)")
    for r in rows:
        print(f"  {r['question']:<6} total {r['total_ms']:8.0f} ms  model {r['model_ms']:8.0f} ms  (load "
              f"{r['load_ms']:.0f}, prompt {r['prompt_eval_ms']:.0f} for {r['prompt_eval_tokens']} tok, generation "
              f"{r['generation_ms']:.0f} for {r['generated_tokens']} tok)  retrieval {r['retrieval_ms']:.0f} ms  "
              f"{'refused' if r['refused'] else 'answered'}: {r['answer']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct", help="the model to ask")
    parser.add_argument("--runs", type=int, default=1, help="rounds of the three questions per way (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="llmforge-ask-bench-") as folder:
        root = make_project(Path(folder))
        figures = {"model": args.model, "cli": cli_asks(root, args.runs, "--model", args.model, "--server", "off"),
                   "served": served_asks(root, args.model, args.runs),
                   "warm": warm_asks(root, args.model, args.runs)}
        figures["api"] = api_asks(root, args.model, args.runs)
        figures.update(cpus=os.cpu_count(), load_average=os.getloadavg()[0])
    figures["ratios"] = {way: ratio(figures[way]) for way in ("cli", "served", "warm")}
    if args.json:
        print(json.dumps(figures, indent=2, ensure_ascii=False))
        return
    print(f"model {args.model}; {figures['cpus']} CPUs, load average {figures['load_average']:.2f}")
    show("cli (a new process per ask, wall time)", figures["cli"])
    show("served (a new process per ask, through the running server's local socket, wall time)", figures["served"])
    show("warm (rag.ask in one process, model loaded)", figures["warm"])
    print("/v1/ask streamed, same server; before: no instruction prefix kept, after: kept")
    for way, rows in figures["api"].items():
        answered = [r for r in rows if r["model_ms"]]
        print(f"  {way:<6} first piece p50 {statistics.median(r['first_ms'] for r in answered):7.0f} ms  total p50 "
              f"{statistics.median(r['total_ms'] for r in answered):7.0f} ms  prompt tokens evaluated "
              f"{sum(r['prompt_eval_tokens'] for r in answered)} of {sum(r['prompt_tokens'] for r in answered)}  "
              f"({len(answered)} asks that reached the model)")
        for r in rows:
            print(f"    {r['question']:<6} first {r['first_ms']:7.0f} ms  total {r['total_ms']:7.0f} ms  prompt "
                  f"{r['prompt_eval_tokens']}/{r['prompt_tokens']} tok  {r['answer']}")


if __name__ == "__main__":
    main()
