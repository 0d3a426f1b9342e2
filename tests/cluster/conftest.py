"""Cluster tests need Ray (the cluster extra) and start real Ray nodes on loopback.

The scenario (tests/cluster/scenario.py) runs once per session, as its own process: where network
namespaces are permitted and strace is installed, in a namespace holding only loopback, with every
connect/sendto/sendmsg of every process it starts recorded (test_airgap.py reads the trace);
elsewhere plainly, and only the air-gap test skips.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("ray", reason="cluster mode needs Ray: pip install 'llmforge[cluster]'")

REPO = Path(__file__).resolve().parents[2]


def short_directory(prefix: str) -> Path:
    """A directory with a short path: Ray's Unix sockets live under a node's temporary directory, and
    a socket path may not exceed 107 bytes (pytest's tmp_path can be longer)."""
    return Path(tempfile.mkdtemp(prefix=prefix, dir="/tmp"))


def live_group_members(groups: Iterable[int]) -> list[int]:
    """PIDs of processes (zombies aside) still in these process groups."""
    groups, found = set(groups), []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) in groups and fields[0] != "Z":
            found.append(int(stat.parent.name))
    return found


def offline_tracer(trace: Path) -> tuple[list[str] | None, str]:
    """The command prefix that runs a command in a new network namespace holding only loopback (brought
    up), under ``strace -f`` writing to ``trace``; or None and why not."""
    for tool in ("unshare", "strace", "ip"):
        if shutil.which(tool) is None:
            return None, f"{tool} is not installed"
    namespace = ["unshare", "--net"] if os.geteuid() == 0 else ["unshare", "--map-root-user", "--net"]
    if subprocess.run([*namespace, "true"], capture_output=True, check=False).returncode != 0:
        return None, "new network namespaces are not permitted here"
    # --seccomp-bpf: only the traced calls stop the process, so Ray runs at nearly its own speed
    return [*namespace, "sh", "-c", 'ip link set lo up && exec "$@"', "sh", "strace", "-f", "--seccomp-bpf", "-qq",
            "-s", "0", "-e", "trace=connect,sendto,sendmsg", "-o", str(trace)], ""


def offline_environment() -> dict[str, str]:
    """This environment without the Python outbound guard (tests/_netguard): it would refuse an
    attempt before it reaches the system call, hiding exactly what the trace must see."""
    return {name: value for name, value in os.environ.items() if name != "PYTHONPATH"}


@dataclass
class Scenario:
    findings: dict[str, Any]
    trace: str | None        # None: run without the tracer
    untraced_because: str


@pytest.fixture(scope="session")
def scenario() -> Iterator[Scenario]:
    root = short_directory("lfs-")
    try:
        tracer, why = offline_tracer(root / "trace")
        command = [sys.executable, "-m", "tests.cluster.scenario", str(root / "run")]
        env = offline_environment() if tracer else None
        ran = subprocess.run([*(tracer or []), *command], capture_output=True, text=True, cwd=REPO, env=env,
                             timeout=600, check=False)
        lines = [line for line in ran.stdout.splitlines() if line.startswith("FINDINGS ")]
        assert lines, f"the scenario failed:\n{ran.stderr[-4000:]}"
        trace = (root / "trace").read_text() if tracer else None
        yield Scenario(json.loads(lines[0].removeprefix("FINDINGS ")), trace, why)
    finally:
        shutil.rmtree(root, ignore_errors=True)
