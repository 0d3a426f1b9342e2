"""Cluster mode's mistakes are one clear line each, before anything is stored or started."""

from __future__ import annotations

import socket
import sys

import pytest

from llmforge.cluster.airgap import RAY_MISSING, import_ray
from llmforge.errors import UsageError


def _closed_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]   # closed again once the block ends: nothing listens there


def test_an_unreachable_cluster_is_one_line_and_nothing_is_stored(cli, project, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("Water rationing starts on Sunday in the northern districts.")
    address = f"127.0.0.1:{_closed_port()}"
    result = cli("ingest", tmp_path / "a.txt", "--cluster", address)
    assert result.exit_code == 2
    assert result.stderr.strip() == (f"error: cannot reach the Ray cluster at {address}: Connection refused (is it "
                                      "up? `llmforge cluster status` where it was started)")
    assert cli("structure", "--cluster", address).exit_code == 2
    assert cli("documents", "list", "--json").stdout.strip() == "[]"


@pytest.mark.parametrize("address, message", [
    ("127.0.0.1", "not a Ray cluster address: '127.0.0.1' (expected HOST:PORT"),
    ("head.example:6379", "give the Ray cluster's address as an IP address, not 'head.example'"),
])
def test_a_malformed_address_is_refused(cli, project, address: str, message: str) -> None:
    result = cli("structure", "--cluster", address)
    assert result.exit_code == 2 and message in result.stderr


def test_the_setting_names_the_cluster_and_an_empty_option_runs_here(cli, project, tmp_path) -> None:
    (tmp_path / "a.txt").write_text("Grain reserves rose by ten percent after a strong harvest.")
    assert cli("config", "set", "cluster.address", f"127.0.0.1:{_closed_port()}").exit_code == 0
    assert "cannot reach the Ray cluster" in cli("ingest", tmp_path / "a.txt").stderr
    assert cli("ingest", tmp_path / "a.txt", "--cluster", "").exit_code == 0


def test_without_ray_the_error_says_how_to_install_it(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)   # what an environment without the extra gives
    with pytest.raises(UsageError) as raised:
        import_ray()
    assert str(raised.value) == RAY_MISSING and "pip install 'llmforge[cluster]'" in RAY_MISSING


def test_cluster_commands_without_a_cluster(cli, monkeypatch: pytest.MonkeyPatch, tmp_path) -> None:
    monkeypatch.setenv("LLMFORGE_CLUSTER_DIR", str(tmp_path / "state"))
    assert cli("cluster", "status").stdout.strip() == "no cluster started here"
    assert cli("cluster", "down", "--json").stdout.strip().replace(" ", "").replace("\n", "") == '{"stopped":[]}'
    joined = cli("cluster", "join", f"127.0.0.1:{_closed_port()}")
    assert joined.exit_code == 2 and "cannot reach the Ray cluster" in joined.stderr


def test_the_outbound_guard_lets_through_the_named_cluster_only(monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge import offline

    monkeypatch.setattr(offline, "_peers", set())
    head, other = ("192.0.2.77", 6379), ("192.0.2.78", 6379)
    assert not offline._address_allowed(socket.AF_INET, head)
    offline.allow_peer(head[0])   # what check_reachable does with the address given to --cluster
    assert offline._address_allowed(socket.AF_INET, head) and not offline._address_allowed(socket.AF_INET, other)
    with pytest.raises(offline.NetworkRefused):
        socket.create_connection(other, timeout=1)
