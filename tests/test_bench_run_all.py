"""bench/run_all: its table covers every bench, it writes a well-formed report, and it reads the
figures a real bench prints. No timing is asserted: the benches measure, this checks the plumbing."""

from __future__ import annotations

import importlib.machinery
import importlib.util
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
RUN_ALL = REPO / "bench" / "run_all"


def load_run_all():
    loader = importlib.machinery.SourceFileLoader("bench_run_all", str(RUN_ALL))
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    sys.modules[loader.name] = module   # dataclasses look their module up there
    loader.exec_module(module)
    return module


run_all = load_run_all()


def run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(RUN_ALL), *args], cwd=REPO, capture_output=True, text=True,
                          timeout=120, env={**os.environ, "PYTHONPATH": str(REPO / "src")})


def test_every_bench_is_in_the_table() -> None:
    files = {path.stem for path in (REPO / "bench").glob("*.py")}
    listed = {bench.name for bench in run_all.BENCHES}
    assert files <= listed, f"benches missing from run_all's table: {sorted(files - listed)}"
    assert all(bench.figures and bench.estimate_s > 0 for bench in run_all.BENCHES)


def test_figures_are_read_from_json_or_a_result_line() -> None:
    assert run_all.parse_output('{\n  "ratio": 1.5\n}\n') == {"ratio": 1.5}
    assert run_all.parse_output('progress\nRESULT {"ratio": 2}\n') == {"ratio": 2}
    assert run_all.parse_output('step 1\n{"seconds_per_step": 0.5}\n') == {"seconds_per_step": 0.5}
    with pytest.raises(ValueError):
        run_all.parse_output("ratio 1.5\n")
    data = {"cells": [{"lang": "ar", "group": "clean", "ratio": 0.1}, {"lang": "ar", "group": "combo", "ratio": 0.03}],
            "runs": [4, 5], "results": {"ar→ar": {"hybrid@0.4": {"recall@5": 0.97}}}}
    assert run_all.lookup(data, ("cells", {"lang": "ar", "group": "combo"}, "ratio")) == 0.03
    assert run_all.lookup(data, ("runs", 1)) == 5
    assert run_all.lookup(data, ("results", "ar→ar", "hybrid@0.4", "recall@5")) == 0.97
    assert run_all.lookup(data, ("results", "en→en", "vector")) is None
    assert run_all.lookup(data, ("runs", 7)) is None
    assert run_all.lookup(data, None) is None


def test_targets_are_checked_on_the_ratio_or_the_value() -> None:
    Figure = run_all.Figure
    assert run_all.holds(Figure("f1", ("f1",), ("given",), ("ratio",), "≥ 0.95"), 0.4, 0.97) == "yes"
    assert run_all.holds(Figure("f1", ("f1",), ("given",), ("ratio",), "≥ 0.95"), 0.4, 0.83) == "no"
    assert run_all.holds(Figure("refused", ("refused",), target="≥ 0.90"), 0.875, None) == "no"
    assert run_all.holds(Figure("p50", ("warm",), ("version",), ("r",), "≤ 100", "value"), 42.0, 0.2) == "yes"
    assert run_all.holds(Figure("errors", ("n",), target="= 0"), 0, None) == "yes"
    assert run_all.holds(Figure("speed", ("x",), ("y",), ("r",), "lower is better"), 1.0, 1.2) == ""
    assert run_all.holds(Figure("missing", ("x",), target="≤ 3"), None, None) == ""


def test_dry_run_writes_the_frame_of_the_report(tmp_path: Path) -> None:
    out = tmp_path / "REPORT.md"
    done = run("--dry-run", "--budget", "1", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = out.read_text(encoding="utf-8")
    assert report.startswith("# Benchmark report\n")
    assert f"{os.cpu_count()} cores" in report and "GiB memory" in report and "GPU: " in report
    assert re.search(r"on \d{4}-\d\d-\d\d \d\d:\d\d UTC at commit [0-9a-f]{7,}", report)
    for bench in run_all.BENCHES:
        assert re.search(rf"^\| {re.escape(bench.name)} \| (not run|skipped)", report, re.MULTILINE), bench.name


def test_one_real_bench_reported_beside_the_others_not_selected(tmp_path: Path) -> None:
    out = tmp_path / "REPORT.md"
    done = run("--only", "entities_eval", "--budget", "2", "--out", str(out))
    assert done.returncode == 0, done.stderr
    report = out.read_text(encoding="utf-8")
    rows = re.findall(r"^\| entities_eval \| `\(defaults\)` \| ([^|]+) \| ([0-9.,]+) \|", report, re.MULTILINE)
    entities = next(bench for bench in run_all.BENCHES if bench.name == "entities_eval")
    assert [label.strip() for label, _ in rows] == [figure.label for figure in entities.figures]
    assert all(float(value.replace(",", "")) > 0 for _, value in rows)
    assert "| rag_xquad | not selected (--only) |" in report


def test_bad_arguments_are_one_line_and_write_nothing(tmp_path: Path) -> None:
    out = tmp_path / "REPORT.md"
    done = run("--only", "no_such_bench", "--out", str(out))
    assert done.returncode != 0 and "unknown bench no_such_bench" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1 and not out.exists()
