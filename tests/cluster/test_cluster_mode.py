"""Cluster mode gives the same catalog and index as a local run, a killed run converges, and
`cluster down` stops what `cluster up` started (tests/cluster/scenario.py does the work, once, on a
real two-node cluster on loopback with real Tesseract, DuckDB and LanceDB)."""

from __future__ import annotations

import pytest

from tests.cluster.conftest import Scenario, live_group_members
from tests.cluster.scenario import LONG_SCAN, SCANS

pytestmark = pytest.mark.slow


def test_cluster_up_starts_a_head_and_a_worker_on_loopback(scenario: Scenario) -> None:
    assert scenario.findings["up"][0] == 0, scenario.findings["up"][1]
    assert scenario.findings["nodes"] == [["head", "127.0.0.2", True], ["worker", "127.0.0.3", True]]


def test_a_cluster_run_stores_what_a_local_run_stores(scenario: Scenario) -> None:
    run = scenario.findings["cluster_run"]
    assert run["ingest_exit"] == 3   # broken.pdf fails, as it does locally
    summary = run["summary"]
    assert (summary["ingested"], summary["skipped"], summary["failed"]) == (len(SCANS) + 3, 1, 1)
    assert run["structure_exit"] == 0, run["stderr"]
    assert scenario.findings["ocr_pages"] == len(SCANS) + len(LONG_SCAN)
    assert run["differs"] == []


def test_a_long_scan_is_extracted_in_parts_that_merge_into_the_local_document(scenario: Scenario) -> None:
    parts = scenario.findings["in_parts"]
    assert parts["pages"] == len(LONG_SCAN) == 5
    assert parts["tasks"] == 1 + 3   # the page count, then pages 1-2, 3-4 and 5
    assert parts["notes"] == ["5 of 5 pages had no usable text layer and were OCRed"]
    assert parts["same"]


def test_a_cluster_run_killed_half_way_converges_when_run_again(scenario: Scenario) -> None:
    run = scenario.findings["killed_run"]
    assert run["killed"] == -9, "the first run finished before it could be killed"
    assert run["ingest_exit"] == 3, run["stderr"]
    assert run["differs"] == []


def test_cluster_down_stops_every_process_cluster_up_started(scenario: Scenario) -> None:
    pids = scenario.findings["pids"]
    assert len(pids) == 2 and sorted(scenario.findings["stopped"]) == sorted(pids)
    assert not live_group_members(pids)
