"""Gateway under abuse: does a flood of bad credentials, malformed headers and an over-limit key
slow down or refuse the valid callers of ``llmforge serve``? And what do authentication and
accounting cost a cheap route? Loopback only, bounded in time, stops by itself.

    .venv/bin/python bench/gateway_load.py [--seconds S] [--clients N] [--rate R] [--json]

A fresh project with a few structured documents is served by ``llmforge serve`` in a subprocess on
127.0.0.1. Each valid client is its own analyst user with its own API key, sending
``GET /v1/documents`` at ``--rate`` requests per second (its own ``httpx.Client``, one pooled
connection). Every client speaks from its own loopback address (127.0.0.x), as distinct machines
would: the server charges failed authentications to the caller's address, so abusers sharing the
valid clients' address would spend their budget too (``--same-address`` shows that).

1. baseline: the valid clients alone for ``--seconds``;
2. attack: the same valid clients, plus four abusers as fast as the server answers them, in a
   process of their own: two with bad keys (unknown well-formed keys; a revoked key and forged
   tokens), one with malformed ``Authorization`` headers, one with a valid key far over
   ``ratelimit.key_per_minute`` (the valid clients stay well under theirs).

Printed: the valid traffic's p50/p99 latency in both phases and p99(attack)/p99(baseline) (target
1.25 at most), the valid clients' non-200 answers (must be 0), each abuser's status counts (bad
credentials: 401 and 429 only; the greedy key: 200 until its budget is spent, then 429), and
whether the server is still up. Then, sequentially, the latency of ``GET /v1/auth/me`` with a key
and with an access token (``POST /v1/auth/login``) against ``GET /healthz``, as ratios: that is the
cost of authentication plus the usage and audit records every authenticated route writes (which
``/healthz`` skips). The load average at start is printed too: other work on the machine moves
these figures.
"""

from __future__ import annotations

import argparse
import base64
import json
import multiprocessing
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

ROUTE = "/v1/documents"
PASSWORD = "a long enough bench passphrase 42"
KEY_PER_MINUTE = 120          # the valid clients send --rate x 60 a minute each: 60 by default
DOCUMENTS = {
    "chlorine.txt": "Free chlorine at the outlet must stay between 0.2 and 1.0 mg/L. Operators dose chlorine "
                    "every four hours and record the residual in the shift log.",
    "alarms.txt": "When the turbidity alarm sounds, the operator checks the filter inlet valve, then calls "
                  "the duty engineer if the reading stays above 1 NTU for ten minutes.",
    "handover.txt": "At each shift handover the outgoing operator walks the plant with the incoming one and "
                    "signs the handover sheet with the open work orders.",
    "pumps.txt": "Pump P-3 is lubricated weekly; its vibration is measured monthly and compared with the "
                 "baseline in the maintenance system.",
}


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def client(base_url: str, source: str, headers: dict[str, str] | None = None) -> Any:
    """An ``httpx.Client`` whose connections leave from loopback address ``source``."""
    import httpx

    transport = httpx.HTTPTransport(local_address=source, limits=httpx.Limits(max_connections=1))
    return httpx.Client(base_url=base_url, transport=transport, headers=headers, timeout=30)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# ---------------------------------------------------------------------------------------------
# Setup: a project, users and keys, the server.

def make_project(root: Path, clients: int) -> dict[str, Any]:
    """A structured project; one analyst user and key per valid client, the abusers' credentials."""
    from llmforge.auth import keys, users
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.project import init_project
    from llmforge.settings import write_setting
    from llmforge.structure.pipeline import structure_project

    project = init_project(root / "project")
    folder = root / "docs"
    folder.mkdir()
    for name, text in DOCUMENTS.items():
        (folder / name).write_text(text, encoding="utf-8")
    ingest_paths(project, [folder], recursive=True)
    structure_project(project)
    write_setting(project.root / "llmforge.toml", "ratelimit.key_per_minute", str(KEY_PER_MINUTE))

    def analyst(name: str) -> str:
        users.add_user(project, name, "analyst", PASSWORD)
        return keys.create_key(project, name=name, role="analyst", owner=name)[0]

    valid = [analyst(f"client{i:02d}") for i in range(clients)]
    greedy = analyst("greedy")
    revoked, record = keys.create_key(project, name="old", role="analyst", owner="client00")
    keys.revoke_key(project, record["id"])
    return {"root": project.root, "valid": valid, "greedy": greedy, "revoked": revoked,
            "users": [f"client{i:02d}" for i in range(clients)]}


def start_server(project_root: Path, port: int, log: Path) -> subprocess.Popen:
    command = [sys.executable, "-m", "llmforge", "serve", "--project", str(project_root), "--host", "127.0.0.1",
               "--port", str(port)]
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    with log.open("wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    import httpx

    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}:\n{log.read_text()[-2000:]}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("the server did not answer /healthz within 120 s")


def stop_server(process: subprocess.Popen) -> int:
    process.terminate()
    try:
        return process.wait(30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(10)


# ---------------------------------------------------------------------------------------------
# Valid traffic: paced clients in threads of this process.

def valid_traffic(base_url: str, keys: list[str], sources: list[str], rate: float,
                  seconds: float) -> dict[str, Any]:
    """Every key sends ``GET ROUTE`` ``rate`` times a second for ``seconds``; latencies and statuses."""
    latencies: list[float] = []
    statuses: Counter[int] = Counter()
    lock = threading.Lock()
    start = time.monotonic() + 0.5
    stop = start + seconds

    def run(index: int) -> None:
        mine: list[float] = []
        seen: Counter[int] = Counter()
        with client(base_url, sources[index], {"Authorization": f"Bearer {keys[index]}"}) as http:
            due = start + index / (rate * len(keys))   # spread the clients over one period
            while due < stop:
                time.sleep(max(0.0, due - time.monotonic()))
                sent = time.perf_counter()
                try:
                    status = http.get(ROUTE).status_code
                except Exception:  # noqa: BLE001 — a refused or dropped connection counts as a failure
                    status = 0
                mine.append((time.perf_counter() - sent) * 1000)
                seen[status] += 1
                due += 1 / rate
        with lock:
            latencies.extend(mine)
            statuses.update(seen)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(keys))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return {"requests": len(latencies), "p50_ms": percentile(latencies, 0.50), "p99_ms": percentile(latencies, 0.99),
            "requests_per_s": len(latencies) / seconds, "statuses": dict(statuses)}


# ---------------------------------------------------------------------------------------------
# Abusers: four threads in a process of their own (their busy loops must not hold this process' GIL).

def forged_token() -> str:
    part = lambda data: base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()  # noqa: E731
    return f"{part({'alg': 'EdDSA', 'kid': 'x'})}.{part({'sub': 'admin', 'role': 'admin'})}.{secrets.token_urlsafe(64)}"


def bad_authorizations(kind: str, credentials: dict[str, str]) -> Any:
    """An endless supply of ``Authorization`` header values of one abuser kind."""
    malformed = ["Basic dXNlcjpwYXNz", "Bearer", "Bearer eyJ.e30.x", "Bearer a b", "Token abc", "bearer\tlf_x",
                 "Bearer " + "A" * 4000, "Bearer lf_", "Bearer lf_zzzzzzzz_!!", "Bearer \u00ff\u00fe"]
    for n in range(10**9):
        if kind == "unknown keys":
            yield f"Bearer lf_{secrets.token_hex(4)}_{secrets.token_urlsafe(32)[:43]}"
        elif kind == "revoked key and forged tokens":
            yield f"Bearer {credentials['revoked']}" if n % 2 else f"Bearer {forged_token()}"
        elif kind == "malformed headers":
            yield malformed[n % len(malformed)]
        else:
            yield f"Bearer {credentials['greedy']}"


def abuse(base_url: str, credentials: dict[str, str], sources: dict[str, str], seconds: float,
          results: Any, ready: Any) -> None:
    """Each abuser kind sends as fast as the server answers, for ``seconds``; puts its status counts."""
    def run(kind: str) -> None:
        counts: Counter[int] = Counter()
        with client(base_url, sources[kind]) as http:
            values = bad_authorizations(kind, credentials)
            ready.wait()
            stop = time.monotonic() + seconds
            while time.monotonic() < stop:
                value = next(values)
                try:
                    headers = [("Authorization", value.encode("latin-1"))]
                    counts[http.get(ROUTE, headers=headers).status_code] += 1
                except Exception:  # noqa: BLE001 — a dropped connection is a finding, not a crash of the bench
                    counts[0] += 1
        results.put((kind, dict(counts)))

    threads = [threading.Thread(target=run, args=(kind,)) for kind in sources]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()


ABUSERS = ("unknown keys", "revoked key and forged tokens", "malformed headers", "greedy key")


# ---------------------------------------------------------------------------------------------
# Authentication overhead: one client, requests interleaved.

def auth_overhead(base_url: str, keys: list[str], logins: list[str], rounds: int) -> dict[str, Any]:
    """Median and p99 of ``/healthz`` and ``/v1/auth/me`` (key, token), interleaved; the keys and
    tokens take turns so that none goes over its rate limit."""
    with client(base_url, "127.0.0.1") as http:
        tokens = [http.post("/v1/auth/login", json={"username": name, "password": PASSWORD}).json()["access_token"]
                  for name in logins]
        times: dict[str, list[float]] = {"healthz": [], "me with a key": [], "me with a token": []}
        for n in range(rounds):
            for name, path, bearer in (("healthz", "/healthz", None), ("me with a key", "/v1/auth/me", keys[n % len(keys)]),
                                       ("me with a token", "/v1/auth/me", tokens[n % len(tokens)])):
                headers = {"Authorization": f"Bearer {bearer}"} if bearer else None
                sent = time.perf_counter()
                response = http.get(path, headers=headers)
                times[name].append((time.perf_counter() - sent) * 1000)
                if response.status_code != 200:
                    raise SystemExit(f"{path} ({name}) answered {response.status_code}: {response.text}")
    medians = {name: statistics.median(values) for name, values in times.items()}
    return {"rounds": rounds, **{f"{name} p50_ms": value for name, value in medians.items()},
            **{f"{name} p99_ms": percentile(values, 0.99) for name, values in times.items()},
            "ratio key vs healthz": medians["me with a key"] / medians["healthz"],
            "ratio token vs healthz": medians["me with a token"] / medians["healthz"]}


# ---------------------------------------------------------------------------------------------

def run_bench(args: argparse.Namespace) -> dict[str, Any]:
    load_at_start = os.getloadavg()
    same = args.same_address
    valid_sources = ["127.0.0.1" if same else f"127.0.0.{10 + i}" for i in range(args.clients)]
    abuser_sources = {kind: "127.0.0.1" if same else f"127.0.0.{2 + i}" for i, kind in enumerate(ABUSERS)}
    with tempfile.TemporaryDirectory() as tmp:
        made = make_project(Path(tmp), args.clients)
        port = free_port()
        base_url = f"http://127.0.0.1:{port}"
        log = Path(tmp) / "server.log"
        server = start_server(made["root"], port, log)
        try:
            valid_traffic(base_url, made["valid"], valid_sources, args.rate, 2.0)   # warm up
            baseline = valid_traffic(base_url, made["valid"], valid_sources, args.rate, args.seconds)
            context = multiprocessing.get_context("spawn")
            results, ready = context.Queue(), context.Event()
            credentials = {"greedy": made["greedy"], "revoked": made["revoked"]}
            abusers = context.Process(target=abuse, args=(base_url, credentials, abuser_sources, args.seconds + 1.0,
                                                          results, ready))
            abusers.start()
            time.sleep(1.0)   # the abusers' process is importing: start both sides together
            ready.set()
            attack = valid_traffic(base_url, made["valid"], valid_sources, args.rate, args.seconds)
            abused = dict(results.get(timeout=120) for _ in ABUSERS)
            abusers.join(60)
            overhead = auth_overhead(base_url, made["valid"], made["users"], args.rounds)
            import httpx

            still_up = httpx.get(f"{base_url}/healthz", timeout=5).status_code == 200 and server.poll() is None
        finally:
            exit_code = stop_server(server)
        server_log = log.read_text(errors="replace")
    bad_kinds = [kind for kind in ABUSERS if kind != "greedy key"]
    return {
        "load_average_at_start": load_at_start, "cpus": os.cpu_count(), "clients": args.clients,
        "rate_per_client": args.rate, "seconds": args.seconds, "route": f"GET {ROUTE}",
        "key_per_minute": KEY_PER_MINUTE, "same_address": same,
        "baseline": baseline, "attack": attack,
        "ratio_p99_attack_vs_baseline": attack["p99_ms"] / baseline["p99_ms"],
        "valid_non_200": sum(n for phase in (baseline, attack) for status, n in phase["statuses"].items() if status != 200),
        "abusers": abused,
        "abusers_requests_per_s": sum(sum(counts.values()) for counts in abused.values()) / args.seconds,
        "bad_credentials_only_401_429": all(set(abused[kind]) <= {401, 429} for kind in bad_kinds),
        "greedy_key_limited": 429 in abused["greedy key"] and set(abused["greedy key"]) <= {200, 429},
        "server_up_after": still_up, "server_exit_code": exit_code,
        "server_log_tracebacks": server_log.count("Traceback"),
        "auth_overhead": overhead,
    }


def render(result: dict[str, Any]) -> None:
    load = ", ".join(f"{value:.2f}" for value in result["load_average_at_start"])
    print(f"load average at start: {load} ({result['cpus']} CPUs); {result['clients']} valid clients x "
          f"{result['rate_per_client']:g} req/s on {result['route']} for {result['seconds']:g} s per phase"
          f"{'; everyone on 127.0.0.1' if result['same_address'] else ''}")
    for phase in ("baseline", "attack"):
        row = result[phase]
        print(f"{phase:<9} valid: {row['requests']:5d} requests ({row['requests_per_s']:.0f}/s)  "
              f"p50 {row['p50_ms']:6.1f} ms  p99 {row['p99_ms']:6.1f} ms  statuses {row['statuses']}")
    ratio = result["ratio_p99_attack_vs_baseline"]
    print(f"p99 attack / baseline: {ratio:.2f} (target <= 1.25: {'met' if ratio <= 1.25 else 'NOT met'})")
    print(f"valid clients' non-200 answers: {result['valid_non_200']} (must be 0)")
    print(f"abusers ({result['abusers_requests_per_s']:.0f} req/s together):")
    for kind, counts in result["abusers"].items():
        print(f"  {kind:<30} {dict(sorted(counts.items()))}")
    print(f"bad credentials answered 401/429 only: {result['bad_credentials_only_401_429']}; "
          f"greedy key limited (200 then 429): {result['greedy_key_limited']}")
    stopped = result["server_exit_code"]
    print(f"server up after: {result['server_up_after']} (then stopped with SIGTERM: exit status {stopped}"
          f"{', the signal uvicorn re-raises after a graceful stop' if stopped == -15 else ''}; "
          f"tracebacks in its log: {result['server_log_tracebacks']})")
    over = result["auth_overhead"]
    print(f"auth overhead ({over['rounds']} rounds, sequential): /healthz p50 {over['healthz p50_ms']:.2f} ms; "
          f"/v1/auth/me with a key {over['me with a key p50_ms']:.2f} ms (ratio {over['ratio key vs healthz']:.2f}), "
          f"with a token {over['me with a token p50_ms']:.2f} ms (ratio {over['ratio token vs healthz']:.2f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=25.0, help="length of each phase")
    parser.add_argument("--clients", type=int, default=16, help="valid clients (each its own user and key)")
    parser.add_argument("--rate", type=float, default=1.0, help="requests per second of each valid client")
    parser.add_argument("--rounds", type=int, default=200, help="requests of each kind for the auth overhead")
    parser.add_argument("--same-address", action="store_true",
                        help="every client and abuser on 127.0.0.1 (as behind one NAT or proxy)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.clients > 200 or args.seconds > 300 or args.rate * 60 >= KEY_PER_MINUTE:
        parser.error(f"at most 200 clients and 300 s; --rate x 60 must stay under {KEY_PER_MINUTE}")
    result = run_bench(args)
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        render(result)


if __name__ == "__main__":
    main()
