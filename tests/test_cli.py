from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from llmforge._version import __version__


def test_help_lists_the_commands(cli) -> None:
    result = cli("--help")
    assert result.exit_code == 0
    for command in ("init", "config", "doctor", "status"):
        assert command in result.stdout


def test_version(cli) -> None:
    result = cli("--version")
    assert result.exit_code == 0 and result.stdout.strip() == f"llmforge {__version__}"


def test_init_then_status(cli, tmp_path: Path) -> None:
    result = cli("init", tmp_path / "p", "--json")
    assert result.exit_code == 0, result.stderr
    created = json.loads(result.stdout)
    assert created["project"] == str(tmp_path / "p") and created["encrypted"] is False
    status = cli("-p", tmp_path / "p", "status", "--json")
    assert status.exit_code == 0, status.stderr
    data = json.loads(status.stdout)
    assert data["counts"] == {"documents": 0, "pages": 0, "chunks": 0, "model_versions": 0, "jobs": 0}
    human = cli("status", "--project", tmp_path / "p")
    assert "documents" in human.stdout and human.exit_code == 0


def test_init_twice_is_a_one_line_error(cli, tmp_path: Path) -> None:
    assert cli("init", tmp_path / "p").exit_code == 0
    result = cli("init", tmp_path / "p")
    assert result.exit_code == 1
    assert result.stderr.strip().count("\n") == 0
    assert result.stderr.startswith("error: ") and "already an llmforge project" in result.stderr
    assert "Traceback" not in result.stderr


def test_no_project_is_a_clear_error(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LLMFORGE_PROJECT")
    result = cli("status")
    assert result.exit_code == 1
    assert "no llmforge project" in result.stderr and "llmforge init" in result.stderr


def test_project_found_by_walking_up(cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert cli("init", tmp_path / "p").exit_code == 0
    monkeypatch.delenv("LLMFORGE_PROJECT")
    monkeypatch.chdir(tmp_path / "p" / "models")
    result = cli("status", "--json")
    assert result.exit_code == 0 and json.loads(result.stdout)["project"] == str(tmp_path / "p")


def test_corrupt_toml_names_the_line(cli, project) -> None:
    with open(project.settings_path, "a", encoding="utf-8") as handle:
        handle.write("[catalog\n")
    lines = project.settings_path.read_text().count("\n")
    result = cli("status")
    assert result.exit_code == 1
    assert f"line {lines}" in result.stderr and "llmforge.toml" in result.stderr


def test_usage_error_exit_code_two(cli, project) -> None:
    result = cli("status", "--no-such-option")
    assert result.exit_code == 2


def test_config_show_get_set(cli, project) -> None:
    shown = json.loads(cli("config", "show", "--json").stdout)
    assert {row["name"] for row in shown} >= {"catalog.lock_timeout", "blobs.encrypt"}
    assert cli("config", "set", "lock.wait", "3").exit_code == 0
    got = cli("config", "get", "lock.wait", "--json")
    assert json.loads(got.stdout) == {"name": "lock.wait", "value": 3.0, "source": "llmforge.toml"}
    assert cli("config", "get", "lock.wait").stdout.strip() == "3.0"


def test_config_env_overrides_file(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    cli("config", "set", "log.level", "debug")
    monkeypatch.setenv("LLMFORGE_LOG_LEVEL", "error")
    got = json.loads(cli("config", "get", "log.level", "--json").stdout)
    assert got["value"] == "error" and got["source"] == "LLMFORGE_LOG_LEVEL"


def test_config_bad_input(cli, project) -> None:
    unknown = cli("config", "get", "nope.nope")
    assert unknown.exit_code == 1 and "unknown setting 'nope.nope'" in unknown.stderr
    bad_value = cli("config", "set", "lock.wait", "soon")
    assert bad_value.exit_code == 1 and "lock.wait must be a number" in bad_value.stderr
    bad_choice = cli("config", "set", "log.level", "chatty")
    assert bad_choice.exit_code == 1 and "one of debug, info" in bad_choice.stderr


def test_doctor_json(cli) -> None:
    result = cli("doctor", "--json")
    data = json.loads(result.stdout)
    names = {check["name"] for check in data["checks"]}
    assert {"python", "torch", "unsloth", "tesseract", "llama-cpp-python", "disk"} <= names
    by_name = {check["name"]: check for check in data["checks"]}
    assert by_name["python"]["status"] == "ok"
    assert result.exit_code == (0 if data["healthy"] else 1)
    for check in data["checks"]:
        if check["status"] != "ok":
            assert check["fix"], f"{check['name']} is {check['status']} without a fix"


def test_doctor_reports_missing_tesseract(cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", "/nonexistent")
    data = json.loads(cli("doctor", "--json").stdout)
    tesseract = next(c for c in data["checks"] if c["name"] == "tesseract")
    assert tesseract["status"] == "missing" and "apt-get install tesseract-ocr" in tesseract["fix"]
    assert data["healthy"] is False


def test_locked_catalog_is_a_clear_error(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time, duckdb; c = duckdb.connect(sys.argv[1]); "
         "print('held', flush=True); time.sleep(30)", str(project.catalog_path)],
        stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "held"
        monkeypatch.setenv("LLMFORGE_CATALOG_LOCK_TIMEOUT", "0.3")
        result = cli("status")
        assert result.exit_code == 1
        assert f"locked by process {holder.pid}" in result.stderr
    finally:
        holder.kill()
        holder.wait()


def test_unexpected_error_is_one_line_unless_debug(cli, project, monkeypatch: pytest.MonkeyPatch) -> None:
    import llmforge.cli.status as status_cli

    def boom(_project):
        raise ValueError("synthetic failure")

    monkeypatch.setattr(status_cli, "project_status", boom)
    result = cli("status")
    assert result.exit_code == 1
    assert "unexpected ValueError: synthetic failure" in result.stderr and "Traceback" not in result.stderr
    log = (project.root / "logs" / "llmforge.log").read_text()
    assert "Traceback" in log and "synthetic failure" in log
    with pytest.raises(ValueError):
        cli("--debug", "status")


def test_console_log_follows_the_current_stderr(cli, project, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A record logged after the command returned goes to the stderr of that moment, not to the
    (by then closed) stream the command ran with; and only the latest project keeps a log handler."""
    import io
    import logging

    assert cli("--verbose", "status").exit_code == 0
    assert cli("init", tmp_path / "other").exit_code == 0
    assert cli("-p", tmp_path / "other", "status").exit_code == 0
    logger = logging.getLogger("llmforge")
    project_logs = [h for h in logger.handlers if getattr(h, "llmforge_project", None)]
    assert [h.llmforge_project for h in project_logs] == [tmp_path / "other"]
    later = io.StringIO()
    monkeypatch.setattr(sys, "stderr", later)
    logging.getLogger("llmforge.test").warning("after the command")
    assert "after the command" in later.getvalue()


def test_console_script_and_module_entry_points(tmp_path: Path) -> None:
    venv_bin = Path(sys.executable).parent
    script = subprocess.run([str(venv_bin / "llmforge"), "--version"], capture_output=True, text=True)
    module = subprocess.run([sys.executable, "-m", "llmforge", "--version"], capture_output=True, text=True)
    assert script.stdout.strip() == module.stdout.strip() == f"llmforge {__version__}"
    missing = subprocess.run([sys.executable, "-m", "llmforge", "-p", str(tmp_path), "status"],
                             capture_output=True, text=True)
    assert missing.returncode == 1 and missing.stderr.startswith("error: ")
