"""Cluster tests need Ray (the cluster extra) and start real Ray nodes on loopback."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path

import pytest

pytest.importorskip("ray", reason="cluster mode needs Ray: pip install 'llmforge[cluster]'")


def llmforge_cli(*args: str, env: dict[str, str] | None = None, timeout: float = 180) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "llmforge", *args], capture_output=True, text=True,
                          env=env, timeout=timeout, check=False)


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


@pytest.fixture(scope="module")
def ray_cluster() -> Iterator[str]:
    """A head and one worker node on loopback (one CPU each), started with `llmforge cluster up`;
    `llmforge cluster down` must then stop exactly the processes it recorded, all of them."""
    state_dir = short_directory("lfc-")
    env = {**os.environ, "LLMFORGE_CLUSTER_DIR": str(state_dir)}
    pids: list[int] = []
    try:
        started = llmforge_cli("cluster", "up", "--workers", "1", "--json", env=env)
        assert started.returncode == 0, started.stderr
        status = json.loads(llmforge_cli("cluster", "status", "--json", env=env).stdout)
        pids = [node["pid"] for node in status["nodes"]]
        assert status["running"] and [node["role"] for node in status["nodes"]] == ["head", "worker"]
        assert all(node["ip"].startswith("127.") for node in status["nodes"])
        yield json.loads(started.stdout)["address"]
    finally:
        stopped = llmforge_cli("cluster", "down", "--json", env=env)
        shutil.rmtree(state_dir, ignore_errors=True)
    assert stopped.returncode == 0, stopped.stderr
    assert sorted(json.loads(stopped.stdout)["stopped"]) == sorted(pids)
    assert not live_group_members(pids), "a Ray process started by `cluster up` outlived `cluster down`"
