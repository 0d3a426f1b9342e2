"""Which files a directory gives: --include/--exclude globs, the settings, the default that leaves
licences and source code out, and the summary that says what was left out by type."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from llmforge.errors import UsageError
from llmforge.ingest.pipeline import collect_files, ingest_paths


@pytest.fixture
def checkout(tmp_path: Path) -> Path:
    """A software archive: documents beside a licence, code and a lock file."""
    root = tmp_path / "archive"
    (root / "docs" / "drafts").mkdir(parents=True)
    (root / "src").mkdir()
    (root / "docs" / "manual.md").write_text("# Pump manual\n\nValves are checked weekly.\n")
    (root / "docs" / "drafts" / "notes.txt").write_text("Draft notes on the chlorine dose.\n")
    (root / "README.TXT").write_text("What this archive holds: the pump station manuals.\n")
    (root / "LICENSE").write_text("Permission is hereby granted, free of charge, to any person.\n")
    (root / "src" / "pump.py").write_text("def pump():\n    return 'valve'\n")
    (root / "src" / "tool.py").write_text("print('tool')\n")
    (root / "poetry.lock").write_text("[[package]]\nname = 'x'\n")
    return root


def test_documents_named_like_licence_files_are_kept(tmp_path: Path) -> None:
    """The default names licence files exactly: a notice or a licence agreement is a document."""
    for name in ("Notice of meeting.txt", "notice3.txt", "licence_agreement.md", "COPYING.txt"):
        (tmp_path / name).write_text("The committee meets on Monday.\n")
    from llmforge.settings import DEFAULT_INGEST_EXCLUDE
    from llmforge.ingest.pipeline import globs_setting

    taken = collect_files([tmp_path], True, exclude=globs_setting(DEFAULT_INGEST_EXCLUDE))
    assert _names(taken.files) == ["Notice of meeting.txt", "licence_agreement.md", "notice3.txt"]
    assert taken.excluded == {".txt": 1}


def _names(paths: list[Path]) -> list[str]:
    return sorted(path.name for path in paths)


def test_default_leaves_out_licences_and_code_and_says_so(cli, project, checkout: Path) -> None:
    result = cli("ingest", checkout, "-r")
    assert result.exit_code == 0, result.stderr
    assert result.stdout.count("ingested /") == 3
    assert "left out 4 file(s) by --include/--exclude (ingest.include, ingest.exclude): 2 .py, 1 .lock, " \
           "1 LICENSE" in result.stdout
    report = json.loads(cli("ingest", checkout, "-r", "--json").stdout)
    assert report["excluded"] == {".py": 2, ".lock": 1, "LICENSE": 1} and report["skipped"] == 3


def test_globs_match_names_and_paths_without_regard_to_case(checkout: Path) -> None:
    assert _names(collect_files([checkout], True, include=["*.txt"]).files) == ["README.TXT", "notes.txt"]
    assert _names(collect_files([checkout], True, include=["docs/*"]).files) == ["manual.md", "notes.txt"]
    taken = collect_files([checkout], True, exclude=["docs/drafts/*", "*.PY"])
    assert _names(taken.files) == ["LICENSE", "README.TXT", "manual.md", "poetry.lock"]
    assert taken.excluded == {".py": 2, ".txt": 1}


def test_command_line_globs_replace_the_settings(cli, project, checkout: Path, monkeypatch) -> None:  # noqa: ANN001
    monkeypatch.setenv("LLMFORGE_INGEST_INCLUDE", "*.md")
    project.reload_settings()
    only_md = json.loads(cli("ingest", checkout, "-r", "--json").stdout)
    assert [Path(entry["path"]).name for entry in only_md["files"]] == ["manual.md"]
    assert only_md["excluded"] == {".py": 2, ".txt": 2, ".lock": 1, "LICENSE": 1}
    everything = json.loads(cli("ingest", checkout, "-r", "--include", "*", "--exclude", "", "--json").stdout)
    assert everything["ingested"] == 6 and everything["excluded"] == {}


def test_a_file_named_itself_is_always_taken(project, checkout: Path) -> None:
    report = ingest_paths(project, [checkout / "src" / "pump.py", checkout / "LICENSE"], exclude=["*"])
    assert report.count("ingested") == 2


def test_nothing_left_after_the_globs_is_a_usage_error_that_says_why(project, checkout: Path) -> None:
    with pytest.raises(UsageError, match=r"no files found \(7 left out by the include/exclude globs: "):
        ingest_paths(project, [checkout], recursive=True, include=["*.pdf"])
