"""Serving performance: generation speed through ``llmforge serve`` against llama.cpp itself, and
throughput and latency of the API under concurrent clients (loopback only, bounded in time).

    .venv/bin/python bench/serve_perf.py [--json] [--seconds S] [--tokens N]

1. Generation, same model (``--model``, default Qwen2.5-Coder-0.5B Q4_K_M), prompt, threads, greedy:
   llama.cpp's own decode timers (``llama_perf_context``: tokens evaluated / time evaluating) are
   the native baseline; against them: the plain llama-cpp-python call in this process, and
   ``POST /v1/completions`` over HTTP, non-streaming and streaming (with time to first token).
   Also prompt processing speed, and the ceiling from model bytes over measured memory bandwidth.
2. Load: ``GET /healthz`` and ``POST /v1/search`` with 1, 4 and 16 concurrent clients for
   ``--seconds`` each: requests per second and p50/p95/p99 latency.
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

PROMPT = ("The water treatment plant operations handbook explains how operators hand over shifts, dose "
          "chlorine, respond to alarms and record readings. Summary of the chapter on chlorine dosing:")


def memory_bandwidth_gbs() -> float:
    """Single-thread read bandwidth: sum a 512 MB array (best of 3)."""
    data = np.ones(64 * 1024 * 1024, dtype=np.float64)
    best = 0.0
    for _ in range(3):
        started = time.perf_counter()
        data.sum()
        best = max(best, data.nbytes / (time.perf_counter() - started) / 1e9)
    return best


def native_generation(runtime, tokens: int) -> dict[str, float]:  # noqa: ANN001
    import llama_cpp

    llm = runtime._llm
    llm.reset()
    llama_cpp.llama_perf_context_reset(llm.ctx)
    started = time.perf_counter()
    # on the runtime's own thread, like a served request, so both sides share threads and OpenMP team
    out = runtime._call(llm.create_completion, prompt=PROMPT, max_tokens=tokens, temperature=0.0)
    wall = time.perf_counter() - started
    perf = llama_cpp.llama_perf_context(llm.ctx)
    generated = out["usage"]["completion_tokens"]
    return {"binding_tokens_per_s": generated / wall,
            "native_decode_tokens_per_s": perf.n_eval / (perf.t_eval_ms / 1000) if perf.t_eval_ms else 0.0,
            "native_prompt_tokens_per_s": perf.n_p_eval / (perf.t_p_eval_ms / 1000) if perf.t_p_eval_ms else 0.0,
            "completion_tokens": generated}


def http_generation(port: int, tokens: int, headers: dict[str, str]) -> dict[str, float]:
    import httpx

    url = f"http://127.0.0.1:{port}/v1/completions"
    body = {"prompt": PROMPT, "max_tokens": tokens, "temperature": 0.0}
    started = time.perf_counter()
    response = httpx.post(url, json=body, headers=headers, timeout=600)
    response.raise_for_status()
    plain = response.json()["usage"]["completion_tokens"] / (time.perf_counter() - started)
    started = time.perf_counter()
    first, count = None, 0
    with httpx.stream("POST", url, json={**body, "stream": True}, headers=headers, timeout=600) as response:
        response.raise_for_status()
        for line in response.iter_lines():
            if line.startswith("data: ") and line != "data: [DONE]":
                count += 1
                first = first or time.perf_counter() - started
    streamed = count / (time.perf_counter() - started)
    return {"http_tokens_per_s": plain, "http_stream_tokens_per_s": streamed, "http_stream_ttft_s": first or 0.0}


def load(port: int, seconds: float, headers: dict[str, str]) -> list[dict[str, float]]:
    import httpx

    results = []
    for path, body in (("/healthz", None), ("/v1/search", {"query": "chlorine dosing every four hours", "k": 5})):
        for clients in (1, 4, 16):
            latencies: list[float] = []
            lock = threading.Lock()
            deadline = time.monotonic() + seconds

            def worker() -> None:
                with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=60) as client:
                    while time.monotonic() < deadline:
                        started = time.perf_counter()
                        response = client.post(path, json=body) if body else client.get(path)
                        response.raise_for_status()
                        with lock:
                            latencies.append((time.perf_counter() - started) * 1000)

            threads = [threading.Thread(target=worker) for _ in range(clients)]
            started = time.perf_counter()
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            elapsed = time.perf_counter() - started
            ordered = sorted(latencies)
            pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]  # noqa: E731
            results.append({"route": path, "clients": clients, "requests_per_s": len(ordered) / elapsed,
                            "p50_ms": statistics.median(ordered), "p95_ms": pick(0.95), "p99_ms": pick(0.99)})
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--tokens", type=int, default=64)
    parser.add_argument("--model", default="qwen2.5-coder-0.5b-instruct")
    args = parser.parse_args()

    import uvicorn

    from llmforge.auth.keys import create_key
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.packaged import PACKAGED
    from llmforge.project import init_project
    from llmforge.serve.app import create_app
    from llmforge.inference.runtime import get_runtime
    from llmforge.structure.pipeline import structure_project

    with tempfile.TemporaryDirectory() as tmp:
        project = init_project(Path(tmp) / "project")
        ingest_paths(project, [REPO / "examples" / "sample"], recursive=True)
        structure_project(project)
        headers = {"Authorization": f"Bearer {create_key(project, name='bench', role='admin', owner='local')[0]}"}
        os.environ["LLMFORGE_SERVE_MODEL"] = args.model
        project.reload_settings()
        runtime = get_runtime(project)
        runtime.complete("warm up", max_tokens=4)
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = sock.getsockname()[1]
        server = uvicorn.Server(uvicorn.Config(create_app(project), host="127.0.0.1", port=port, log_level="error"))
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        while not server.started:
            time.sleep(0.05)
        try:
            natives, https = [], []
            for _ in range(3):  # alternate the two sides; best of three (the machine's load varies)
                natives.append(native_generation(runtime, args.tokens))
                https.append(http_generation(port, args.tokens, headers))
            native = {key: max(run[key] for run in natives) for key in natives[0]}
            http = {key: (min if key.endswith("ttft_s") else max)(run[key] for run in https) for key in https[0]}
            loads = load(port, args.seconds, headers)
        finally:
            server.should_exit = True
            thread.join(30)
    import resource

    peak_rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # model, index and server
    bandwidth = memory_bandwidth_gbs()
    model_bytes = PACKAGED[args.model].size
    result = {**native, **http, "ceiling_tokens_per_s": bandwidth * 1e9 / model_bytes, "bandwidth_gbs": bandwidth,
              "ratio_http_vs_native": http["http_tokens_per_s"] / native["native_decode_tokens_per_s"],
              "ratio_http_vs_binding": http["http_tokens_per_s"] / native["binding_tokens_per_s"],
              "ratio_stream_vs_native": http["http_stream_tokens_per_s"] / native["native_decode_tokens_per_s"],
              "peak_rss_mb": peak_rss_mb, "load": loads}
    result["omp_wait_policy"] = os.environ.get("OMP_WAIT_POLICY", "default")
    if args.json:
        print(json.dumps(result, indent=2))
        return
    print(f"OMP_WAIT_POLICY={result['omp_wait_policy']}")
    print(f"llama.cpp decode (native timers) {result['native_decode_tokens_per_s']:6.1f} tok/s; "
          f"prompt {result['native_prompt_tokens_per_s']:.1f} tok/s")
    print(f"llama-cpp-python call            {result['binding_tokens_per_s']:6.1f} tok/s (wall, incl. prompt)")
    print(f"HTTP /v1/completions             {result['http_tokens_per_s']:6.1f} tok/s  ratio "
          f"{result['ratio_http_vs_native']:.2f} vs native decode, {result['ratio_http_vs_binding']:.2f} vs the call")
    print(f"HTTP streaming                   {result['http_stream_tokens_per_s']:6.1f} tok/s  ratio "
          f"{result['ratio_stream_vs_native']:.2f}; first token after {result['http_stream_ttft_s'] * 1000:.0f} ms")
    print(f"peak memory of the serving process (model, embedder, index): {peak_rss_mb:.0f} MB")
    print(f"ceiling: {bandwidth:.1f} GB/s over {model_bytes / 1e6:.0f} MB = {result['ceiling_tokens_per_s']:.0f} tok/s")
    for row in loads:
        print(f"{row['route']:<12} {row['clients']:>2} clients: {row['requests_per_s']:7.1f} req/s  "
              f"p50 {row['p50_ms']:.1f}  p95 {row['p95_ms']:.1f}  p99 {row['p99_ms']:.1f} ms")


if __name__ == "__main__":
    main()
