"""Air gap, proven: a two-node Ray cluster doing real work attempts no connection off loopback.

The cluster runs in a network namespace that holds only loopback, under ``strace -f``, which records
every ``connect``, ``sendto`` and ``sendmsg`` of every process the run starts (``ray start``, the GCS
server, raylets, Ray workers, the extraction processes). The namespace makes an attempt harmless; the
trace makes it visible: any address that is not loopback fails the test, and so does any DNS query.
The Python outbound guard (tests/_netguard) is left out here on purpose: it would refuse an attempt
before it reaches the system call, hiding exactly what this test must see.
"""

from __future__ import annotations

import ipaddress
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cluster.conftest import Scenario, offline_environment, offline_tracer

ADDRESS = re.compile(r'sa_family=AF_INET6?, (?:sin6?_port=htons\((\d+)\)).*?(?:inet_addr\("([^"]+)"\)|'
                     r'inet_pton\(AF_INET6, "([^"]+)")')


def outside_attempts(trace: str) -> list[str]:
    """The traced calls that aimed off loopback, or at a name server (a lookup is a way out too)."""
    found = []
    for line in trace.splitlines():
        match = ADDRESS.search(line)
        if not match:
            continue
        port, address = int(match.group(1)), match.group(2) or match.group(3)
        local = ipaddress.ip_address(address.split("%")[0])
        local = getattr(local, "ipv4_mapped", None) or local   # ::ffff:127.0.0.2 is loopback too
        if not (local.is_loopback or local.is_unspecified) or port == 53:
            found.append(line.strip())
    return found


def test_the_check_sees_an_attempt_off_loopback(tmp_path: Path) -> None:
    trace = tmp_path / "trace"
    tracer, why = offline_tracer(trace)
    if tracer is None:
        pytest.skip(why)
    reach_out = ("import socket\n"
                 "for address in [('192.0.2.1', 80), ('127.0.0.1', 9), ('127.0.0.3', 9)]:\n"
                 "    try: socket.create_connection(address, timeout=1)\n"
                 "    except OSError: pass\n"
                 "socket.socket(socket.AF_INET, socket.SOCK_DGRAM).sendto(b'x', ('127.0.0.53', 53))\n")
    subprocess.run([*tracer, sys.executable, "-c", reach_out], env=offline_environment(), timeout=60, check=True)
    attempts = outside_attempts(trace.read_text())
    # the address off loopback and the name-server query are seen; the two loopback connections are not
    assert len(attempts) == 2 and "192.0.2.1" in attempts[0] and "htons(53)" in attempts[1], attempts


@pytest.mark.slow
def test_a_two_node_cluster_at_work_attempts_nothing_off_loopback(scenario: Scenario) -> None:
    if scenario.trace is None:
        pytest.skip(scenario.untraced_because)
    assert scenario.findings["cluster_run"]["differs"] == [], "the traced run must have done the work"
    assert scenario.trace.count("connect(") > 100, "the trace saw too little to prove anything"
    assert outside_attempts(scenario.trace) == []
