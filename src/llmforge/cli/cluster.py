"""``llmforge cluster up|status|down|join``: Ray nodes for cluster mode, started and stopped by PID."""

from __future__ import annotations

from collections.abc import Callable
from functools import partial
from typing import Annotated, Any

import typer

from llmforge.cli._common import JsonOption, emit, note, stdout
from llmforge.project import Project

cluster_app = typer.Typer(help="A Ray cluster for `ingest --cluster` and `structure --cluster` (needs the "
                          "cluster extra: pip install 'llmforge\\[cluster]').", no_args_is_help=True)
ClusterOption = Annotated[str | None, typer.Option(
    "--cluster", metavar="HOST:PORT", show_default=False,
    help="Run the heavy work on this Ray cluster (default: setting cluster.address; '' runs it here).")]
Cpus = Annotated[int, typer.Option("--cpus", min=1, help="CPUs each node offers to the cluster.")]


@cluster_app.command()
def up(
    workers: Annotated[int, typer.Option("--workers", min=0, help="Worker nodes beside the head.")] = 1,
    cpus: Cpus = 1,
    as_json: JsonOption = False,
) -> None:
    """Start a head and N worker nodes on this machine's loopback; print the cluster's address."""
    from llmforge.cluster.nodes import start_local_cluster

    state = start_local_cluster(workers, cpus_per_node=cpus)
    emit({"address": state.address}, as_json, lambda: _started(state.address, len(state.nodes)))


def _started(address: str, nodes: int) -> None:
    stdout.print(address, highlight=False, markup=False)
    note(f"{nodes} Ray node(s) on loopback; use `--cluster {address}` (or set cluster.address), "
         "stop them with `llmforge cluster down`")


@cluster_app.command()
def join(
    address: Annotated[str, typer.Argument(help="The cluster's HOST:PORT, as `llmforge cluster up` printed it.")],
    cpus: Annotated[int | None, typer.Option("--cpus", min=0, help="CPUs this node offers (default: all).",
                                             show_default=False)] = None,
    as_json: JsonOption = False,
) -> None:
    """Start a worker node of the cluster at ADDRESS on this machine."""
    from llmforge.cluster.nodes import join_cluster

    state = join_cluster(address, cpus=cpus)
    emit({"address": state.address, "ip": state.nodes[0].ip}, as_json, lambda: stdout.print(
        f"joined {state.address} as {state.nodes[0].ip}", highlight=False, markup=False))


@cluster_app.command()
def status(as_json: JsonOption = False) -> None:
    """The cluster started or joined from this machine, and whether each node runs."""
    from llmforge.cluster.nodes import cluster_status

    described = cluster_status()
    emit(described, as_json, lambda: _render_status(described))


def _render_status(described: dict[str, Any]) -> None:
    if described["address"] is None:
        stdout.print("no cluster started here", highlight=False)
        return
    stdout.print(f"{described['address']}: {'running' if described['running'] else 'stopped'}", highlight=False)
    for node in described["nodes"]:
        stdout.print(f"  {node['role']:<6} {node['ip']:<15} pid {node['pid']:<8} "
                     f"{'running' if node['alive'] else 'gone'}", highlight=False, markup=False)


@cluster_app.command()
def down(as_json: JsonOption = False) -> None:
    """Stop the Ray nodes started here (by their recorded PIDs; never other Ray processes)."""
    from llmforge.cluster.nodes import stop_cluster

    stopped = stop_cluster()
    emit({"stopped": stopped}, as_json, lambda: stdout.print(
        f"stopped {len(stopped)} Ray node(s)" if stopped else "no cluster running here", highlight=False))


def cluster_call(project: Project, cluster: str | None, local: Callable[..., Any], remote: str) -> Callable[..., Any]:
    """What a command calls: ``local``, or ``llmforge.cluster.work.<remote>`` bound to the address
    given with ``--cluster`` (else the setting cluster.address; empty: ``local``)."""
    address = cluster if cluster is not None else str(project.settings["cluster.address"])
    if not address:
        return local
    from llmforge.cluster import work

    return partial(getattr(work, remote), address=address)


def register(app: typer.Typer) -> None:
    app.add_typer(cluster_app, name="cluster")
