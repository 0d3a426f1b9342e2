"""Ray inside the air gap: what every Ray process llmforge starts or drives is given.

Ray reaches out even with usage statistics and the dashboard turned off: it reports "usage stats
disabled" to its own endpoint (by design, upstream PR #43538) and, where it finds no cluster
config, probes cloud metadata addresses (169.254.169.254, metadata.google.internal) to name the
cloud it runs on. Measured on Ray 2.60 (``tests/cluster/test_airgap.py``), zero non-loopback
connection attempts take all of: ``RAY_USAGE_STATS_ENABLED=0``, ``--disable-usage-stats``,
``--include-dashboard=false``, ``RAY_USAGE_STATS_REPORT_URL`` on loopback, and a
``ray_bootstrap_config.yaml`` saying ``provider: {type: local}`` in the home directory Ray reads.
The Ray processes get a private home for that file, so the operator's own home is never touched.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from types import ModuleType

from llmforge.errors import UsageError
from llmforge.offline import OFFLINE_ENV

RAY_MISSING = "cluster mode needs Ray on this machine: pip install 'llmforge[cluster]' (from the wheelhouse)"
# The discard port on loopback: a report that Ray still tries to send goes nowhere and never leaves.
REPORT_URL = "http://127.0.0.1:9/"
AIR_GAP_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_USAGE_STATS_REPORT_URL": REPORT_URL}
START_FLAGS = ("--disable-usage-stats",)
HEAD_FLAGS = ("--include-dashboard=false",)   # Ray refuses it on other nodes, which start no dashboard
BOOTSTRAP_CONFIG = "ray_bootstrap_config.yaml"
# A manually started cluster, to Ray's usage code: with this file it has no cloud to look for.
BOOTSTRAP_TEXT = "# written by llmforge: a local cluster, so Ray probes no cloud metadata service\nprovider:\n  type: local\n"


def import_ray() -> ModuleType:
    """The ``ray`` module, with the driver's environment hardened first.

    Raises:
        UsageError: Ray is not installed (the ``cluster`` extra).
    """
    os.environ.update(AIR_GAP_ENV)
    try:
        import ray
    except ImportError:
        raise UsageError(RAY_MISSING) from None
    return ray


def ray_command() -> str:
    """The ``ray`` console script of this interpreter's environment (the nodes must run the same
    Ray and llmforge as the driver)."""
    beside = Path(sys.executable).with_name("ray")
    found = str(beside) if beside.is_file() else shutil.which("ray")
    if not found:
        raise UsageError(RAY_MISSING)
    return found


def node_environment(home: Path) -> dict[str, str]:
    """The environment of a ``ray start``: this one, plus the air-gap variables, Hugging Face offline,
    and ``HOME`` pointed at ``home``, which receives the bootstrap config."""
    write_bootstrap_config(home)
    env = dict(os.environ)
    for name, value in OFFLINE_ENV.items():
        env.setdefault(name, value)
    env.update(AIR_GAP_ENV)
    env["HOME"] = str(home)
    return env


def write_bootstrap_config(home: Path) -> Path:
    home.mkdir(parents=True, exist_ok=True)
    path = home / BOOTSTRAP_CONFIG
    path.write_text(BOOTSTRAP_TEXT, encoding="utf-8")
    return path
