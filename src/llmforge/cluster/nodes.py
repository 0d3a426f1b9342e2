"""Ray nodes on this machine: ``llmforge cluster up|join|status|down``.

``up`` starts a head and N worker nodes on loopback, each with its own loopback address
(127.0.0.2, 127.0.0.3, ...: Ray replaces 127.0.0.1 by the machine's network address, not these),
its own ports and its own temporary directory; ``join`` starts one worker node of a cluster that
runs elsewhere. Each node is a ``ray start --block`` in its own process group, recorded in a state
file, so ``down`` stops exactly the processes llmforge started, by their PIDs: ``ray stop`` kills
every Ray process of the host by name, other people's included.

The state lives in ``$LLMFORGE_CLUSTER_DIR`` (default: ``llmforge-cluster-<uid>`` in the temporary
directory; Ray's Unix sockets live under it, so the path must stay short).
"""

from __future__ import annotations

import ipaddress
import json
import os
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from llmforge.cluster.airgap import HEAD_FLAGS, START_FLAGS, node_environment, ray_command
from llmforge.errors import UsageError
from llmforge.fileio import atomic_write_text
from llmforge.offline import allow_peer, is_loopback_host

STATE_ENV = "LLMFORGE_CLUSTER_DIR"
STATE_FILE = "cluster.json"
STARTED = "Ray runtime started"   # what `ray start` prints once its node serves
OBJECT_STORE_MB = 100             # small: the documents and vectors pass through, they are not kept
STOP_GRACE_SECONDS = 3.0


@dataclass
class RayNode:
    role: str          # head | worker
    pid: int           # the `ray start --block` process, leader of the node's process group
    ip: str
    temp_dir: str
    log: str

    def alive(self) -> bool:
        """Running, and still our `ray start` (a PID reused by another program is not ours)."""
        try:
            return self.temp_dir.encode() in Path(f"/proc/{self.pid}/cmdline").read_bytes()
        except OSError:
            return False


@dataclass
class ClusterState:
    address: str
    nodes: list[RayNode] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"address": self.address, "nodes": [{**asdict(node), "alive": node.alive()} for node in self.nodes]}


def cluster_dir() -> Path:
    configured = os.environ.get(STATE_ENV)
    return Path(configured) if configured else Path(tempfile.gettempdir()) / f"llmforge-cluster-{os.getuid()}"


def split_address(address: str) -> tuple[str, int]:
    """``host:port`` of a Ray cluster (its head's GCS port)."""
    host, _, port = address.strip().rpartition(":")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(f"not a Ray cluster address: {address!r} (expected HOST:PORT, as `llmforge cluster up` "
                         "prints)")
    return host.strip("[]"), int(port)


def read_state(directory: Path | None = None) -> ClusterState | None:
    path = (directory or cluster_dir()) / STATE_FILE
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return ClusterState(data["address"], [RayNode(**node) for node in data["nodes"]])


def _write_state(directory: Path, state: ClusterState) -> None:
    atomic_write_text(directory / STATE_FILE, json.dumps(
        {"address": state.address, "nodes": [asdict(node) for node in state.nodes]}, indent=2))


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("", 0))
        return probe.getsockname()[1]


def _prepare(directory: Path | None) -> Path:
    directory = directory or cluster_dir()
    state = read_state(directory)
    if state and any(node.alive() for node in state.nodes):
        raise UsageError(f"a cluster started here is still running ({state.address}); stop it first with "
                         "`llmforge cluster down`")
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return directory


def _start_node(directory: Path, name: str, arguments: list[str], ip: str, role: str) -> RayNode:
    """``ray start --block`` in its own process group, with the air-gap environment and flags."""
    temp_dir = directory / name
    temp_dir.mkdir(exist_ok=True)
    log = directory / f"{name}.log"
    command = [ray_command(), "start", "--block", "--node-ip-address", ip, "--temp-dir", str(temp_dir),
               *START_FLAGS, "--dashboard-agent-listen-port", str(_free_port()),
               "--dashboard-agent-grpc-port", str(_free_port()), "--metrics-export-port", str(_free_port()),
               "--runtime-env-agent-port", str(_free_port()), *arguments]
    with open(log, "wb") as output:
        process = subprocess.Popen(command, stdout=output, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   env=node_environment(directory / "home"), cwd=directory, start_new_session=True)
    return RayNode(role, process.pid, ip, str(temp_dir), str(log))


def _wait_started(nodes: list[RayNode], timeout: float) -> None:
    """Until every node's log says it started; one that died or took too long fails the lot."""
    deadline = time.monotonic() + timeout
    waiting = list(nodes)
    while waiting:
        for node in list(waiting):
            text = Path(node.log).read_text(encoding="utf-8", errors="replace")
            if STARTED in text:
                waiting.remove(node)
            elif not node.alive():
                raise UsageError(f"the Ray {node.role} node did not start: {_last_line(text)} (log: {node.log})")
        if waiting and time.monotonic() > deadline:
            raise UsageError(f"the Ray {waiting[0].role} node did not start within {timeout:g} s (log: {waiting[0].log})")
        time.sleep(0.2)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    errors = [line for line in lines if "Error" in line or "error" in line]
    return (errors or lines or ["no output"])[-1][:300]


def _node_arguments(cpus: int | None, object_store_mb: int) -> list[str]:
    """``ray start`` resource flags; without ``cpus`` Ray counts the machine's."""
    return [*(["--num-cpus", str(cpus)] if cpus is not None else []),
            "--object-store-memory", str(object_store_mb * 1024 * 1024)]


def start_local_cluster(workers: int = 1, *, cpus_per_node: int = 1, object_store_mb: int = OBJECT_STORE_MB,
                        directory: Path | None = None, timeout: float = 120.0) -> ClusterState:
    """A head and ``workers`` worker nodes on this machine's loopback; their address and PIDs.

    Raises:
        UsageError: Ray is missing, a cluster started here still runs, or a node did not start
            (what was started is stopped again).
    """
    if workers < 0 or cpus_per_node < 1:
        raise UsageError("workers must be 0 or more and cpus per node at least 1")
    directory = _prepare(directory)
    head_ip, port = "127.0.0.2", _free_port()
    state = ClusterState(f"{head_ip}:{port}")
    resources = _node_arguments(cpus_per_node, object_store_mb)
    head = ("head", ["--head", *HEAD_FLAGS, "--port", str(port), "--dashboard-port", str(_free_port()), *resources],
            head_ip, "head")
    # started at once, without waiting for the head: a worker node waits for the head to answer
    worker_nodes = [(f"worker{number}", ["--address", state.address, *resources], f"127.0.0.{2 + number}", "worker")
                    for number in range(1, workers + 1)]
    return _bring_up(directory, state, [head, *worker_nodes], timeout)


def join_cluster(address: str, *, cpus: int | None = None, object_store_mb: int = OBJECT_STORE_MB,
                 directory: Path | None = None, timeout: float = 120.0) -> ClusterState:
    """Start one worker node of the cluster at ``address`` on this machine.

    Ray finds this node's address as the one that reaches the head; for a head on loopback (a
    second node of a local cluster) it gets a loopback address of its own.

    Raises:
        UsageError: Ray is missing, the address is malformed or unreachable, a cluster started
            here still runs, or the node did not start.
    """
    host, port = split_address(address)
    check_reachable(host, port)
    directory = _prepare(directory)
    arguments = ["--address", f"{host}:{port}", *_node_arguments(cpus, object_store_mb)]
    ip = _free_loopback_ip() if is_loopback_host(host) else _route_address(host)
    return _bring_up(directory, ClusterState(f"{host}:{port}"), [("joined", arguments, ip, "worker")], timeout)


def _bring_up(directory: Path, state: ClusterState, nodes: list[tuple[str, list[str], str, str]],
              timeout: float) -> ClusterState:
    """Start ``nodes`` (name, ``ray start`` arguments, IP, role) in turn, recording each in the
    state file as it starts, and wait until all run; on any failure, or Ctrl-C, stop them all."""
    try:
        for name, arguments, ip, role in nodes:
            state.nodes.append(_start_node(directory, name, arguments, ip, role))
            _write_state(directory, state)
        _wait_started(state.nodes, timeout)
    except BaseException:
        stop_cluster(directory)
        raise
    return state


def _free_loopback_ip() -> str:
    """A loopback address no Ray node of this machine uses yet (from 127.0.0.100 up)."""
    used = subprocess.run(["ps", "-eo", "args"], capture_output=True, text=True, check=False).stdout
    for last in range(100, 255):
        candidate = f"127.0.0.{last}"
        if f"--node-ip-address {candidate} " not in used and f"--node-ip-address={candidate} " not in used:
            return candidate
    raise UsageError("no free loopback address for another Ray node on this machine")


def _route_address(host: str) -> str:
    """This machine's address on the route to ``host`` (a UDP connect sends nothing), so Ray need not
    guess it by asking a public address."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as probe:
        probe.connect((host, 9))
        return probe.getsockname()[0]


def check_reachable(host: str, port: int, timeout: float = 5.0) -> None:
    """Fail in one line when nothing answers at the cluster's address (Ray itself would retry for a
    minute and then print pages). The address joins the outbound guard's peers."""
    try:
        ipaddress.ip_address(host)
    except ValueError:
        raise UsageError(f"give the Ray cluster's address as an IP address, not {host!r} "
                         "(no name lookups in an air gap)") from None
    allow_peer(host)   # the operator named it: a peer inside the air gap, as loopback is
    try:
        with socket.create_connection((host, port), timeout=timeout):
            pass
    except OSError as exc:
        raise UsageError(f"cannot reach the Ray cluster at {host}:{port}: {exc.strerror or exc} (is it up? "
                         "`llmforge cluster status` where it was started)") from None


def cluster_status(directory: Path | None = None) -> dict[str, Any]:
    """The cluster started or joined from this machine: its address and whether each node runs."""
    state = read_state(directory)
    if state is None:
        return {"address": None, "running": False, "nodes": []}
    described = state.to_dict()
    described["running"] = any(node["alive"] for node in described["nodes"])
    return described


def stop_cluster(directory: Path | None = None) -> list[int]:
    """Stop the nodes started here by their recorded process groups: TERM to all, KILL to what
    remains after a short grace (the nodes hold nothing that needs saving); the PIDs stopped. The
    state file goes once all are down."""
    directory = directory or cluster_dir()
    state = read_state(directory)
    if state is None:
        return []
    running = [node.pid for node in state.nodes if node.alive()]
    for sig, grace in ((signal.SIGTERM, STOP_GRACE_SECONDS), (signal.SIGKILL, 5.0)):
        _signal_groups(running, sig)
        deadline = time.monotonic() + grace
        while any(_group_alive(pid) for pid in running) and time.monotonic() < deadline:
            time.sleep(0.1)
    (directory / STATE_FILE).unlink(missing_ok=True)
    return running


def _signal_groups(groups: list[int], sig: signal.Signals) -> None:
    for group in groups:
        try:
            os.killpg(group, sig)
        except ProcessLookupError:
            pass


def _group_alive(pgid: int) -> bool:
    """Whether a live (not zombie) process remains in the group; reaps our own child on the way."""
    try:
        os.waitpid(pgid, os.WNOHANG)   # the `ray start` we started ourselves (up and down in one process)
    except ChildProcessError:
        pass
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[2]) == pgid and fields[0] != "Z":
            return True
    return False
