"""What shell users and scripts rely on: global flags on either side of the subcommand, full
values without a terminal, a JSON error for --json, long queries from standard input, and a status
that tells searchable, waiting and failed documents apart."""

from __future__ import annotations

import io
import json
import sys
from pathlib import Path

import pytest

from llmforge.cli import hoist_global_flags


def test_global_flags_move_before_the_subcommand_but_not_past_a_double_dash() -> None:
    assert hoist_global_flags(["init", "kb", "-q", "--debug"]) == ["-q", "--debug", "init", "kb"]
    assert hoist_global_flags(["search", "--", "-q"]) == ["search", "--", "-q"]
    assert hoist_global_flags(["-v", "status"]) == ["-v", "status"]


def test_quiet_verbose_and_debug_work_after_the_subcommand(cli, tmp_path: Path) -> None:
    created = cli("init", tmp_path / "kb", "-q")
    assert created.exit_code == 0, created.stderr
    assert cli("status", "-p", tmp_path / "kb", "--debug", "-v").exit_code == 0
    assert cli("status", "-p", tmp_path / "kb", "--no-such-option").exit_code == 2   # a real typo still fails


def test_json_errors_are_json_on_stdout_and_one_line_on_stderr(cli, project) -> None:
    result = cli("documents", "show", "zzzz", "--json")
    assert result.exit_code == 1
    error = json.loads(result.stdout)["error"]
    assert error == {"message": "no document with id 'zzzz' (see `llmforge documents list`)", "type": "NotFoundError",
                     "code": 1}
    assert result.stderr.strip().splitlines() == [f"error: {error['message']}"]
    plain = cli("documents", "show", "zzzz")
    assert plain.stdout == "" and plain.exit_code == 1


def test_tables_keep_full_values_without_a_terminal(cli, project, tmp_path: Path) -> None:
    name = "a-rather-long-file-name-of-a-pump-station-maintenance-report-with-many-words-in-it.txt"
    (tmp_path / name).write_text("The pumps are serviced every spring.\n", encoding="utf-8")
    assert cli("ingest", tmp_path / name).exit_code == 0
    listed = cli("documents", "list")
    document = json.loads(cli("documents", "list", "--json").stdout)[0]
    assert document["id"] in listed.stdout and "…" not in listed.stdout
    assert Path(name).stem in listed.stdout


@pytest.mark.parametrize("how", [["-"], ["--stdin"]])
def test_a_long_query_comes_from_standard_input(cli, project, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                how: list[str]) -> None:
    (tmp_path / "pumps.txt").write_text("The pumps are serviced every spring by the duty engineer.\n", encoding="utf-8")
    assert cli("ingest", tmp_path / "pumps.txt").exit_code == 0
    assert cli("structure").exit_code == 0
    query = "when are the pumps serviced? it says \"every spring\"; $HOME `and` 'quotes' stay as typed\n"
    monkeypatch.setattr(sys, "stdin", io.StringIO(query))
    result = cli("search", *how, "-k", "1", "--json")
    assert result.exit_code == 0, result.stderr
    found = json.loads(result.stdout)
    assert found["query"] == query.strip() and "serviced every spring" in found["hits"][0]["text"]


def test_status_shows_failed_and_waiting_documents_apart(cli, project, tmp_path: Path) -> None:
    (tmp_path / "good.txt").write_text("The pumps are serviced every spring.\n", encoding="utf-8")
    (tmp_path / "broken.pdf").write_bytes(b"%PDF-1.7 this is no PDF at all")
    cli("ingest", tmp_path / "good.txt", tmp_path / "broken.pdf")
    before = json.loads(cli("status", "--json").stdout)["documents"]
    assert before == {**before, "current": 1, "not_structured": 1, "structured": 0, "failed": 1}
    assert cli("structure").exit_code == 0
    after = json.loads(cli("status", "--json").stdout)["documents"]
    assert after == {**after, "current": 1, "not_structured": 0, "structured": 1, "failed": 1}
    human = cli("status").stdout
    assert "1 searchable, 0 waiting" in human and "failed" in human
