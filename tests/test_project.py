from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest

from llmforge.errors import ProjectError
from llmforge.project import SUBDIRS, find_project, init_project


def test_init_creates_layout_with_private_secrets(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p")
    for name in SUBDIRS:
        assert (project.root / name).is_dir()
    assert project.settings_path.is_file()
    assert project.catalog_path.is_file()
    assert stat.S_IMODE((project.root / "secrets").stat().st_mode) == 0o700
    assert project.settings["blobs.encrypt"] is False


def test_init_encrypted_writes_private_key_and_setting(tmp_path: Path) -> None:
    project = init_project(tmp_path / "p", encrypt=True)
    key = project.root / "secrets" / "blob.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600 and key.stat().st_size == 32
    assert project.settings["blobs.encrypt"] is True
    assert project.blobs().key == key.read_bytes()


def test_init_refuses_existing_project_and_files(tmp_path: Path) -> None:
    init_project(tmp_path / "p")
    with pytest.raises(ProjectError, match="already an llmforge project"):
        init_project(tmp_path / "p")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ProjectError, match="not a directory"):
        init_project(tmp_path / "file")


@pytest.mark.skipif(os.geteuid() == 0, reason="root can write anywhere")
def test_init_in_unwritable_directory_non_root(tmp_path: Path) -> None:
    locked = tmp_path / "ro"
    locked.mkdir(mode=0o500)
    with pytest.raises(ProjectError, match="cannot create a project"):
        init_project(locked / "p")


def test_init_in_unwritable_place_leaves_nothing(tmp_path: Path) -> None:
    # /proc is not writable even by root; a path under a file cannot be created by anyone.
    (tmp_path / "plainfile").write_text("x")
    with pytest.raises(ProjectError, match="cannot create a project"):
        init_project(tmp_path / "plainfile" / "p")
    with pytest.raises(ProjectError, match="cannot create a project"):
        init_project(Path("/proc/llmforge-test-project"))


def test_init_into_existing_nonempty_directory_keeps_files(tmp_path: Path) -> None:
    target = tmp_path / "docs"
    target.mkdir()
    (target / "mine.txt").write_text("keep me")
    project = init_project(target)
    assert (project.root / "mine.txt").read_text() == "keep me"


def test_find_project_explicit_env_and_walk_up(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = init_project(tmp_path / "p")
    deep = project.root / "runs" / "a" / "b"
    deep.mkdir(parents=True)
    assert find_project(project.root).root == project.root
    monkeypatch.setenv("LLMFORGE_PROJECT", str(project.root))
    assert find_project().root == project.root
    monkeypatch.delenv("LLMFORGE_PROJECT")
    assert find_project(cwd=deep).root == project.root


def test_find_project_errors(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ProjectError, match=r"--project\) is not an llmforge project"):
        find_project(tmp_path)
    monkeypatch.setenv("LLMFORGE_PROJECT", str(tmp_path / "nowhere"))
    with pytest.raises(ProjectError, match="LLMFORGE_PROJECT"):
        find_project()
    monkeypatch.delenv("LLMFORGE_PROJECT")
    with pytest.raises(ProjectError, match="no llmforge project in this directory or any parent"):
        find_project(cwd=tmp_path)


def test_failed_init_keeps_an_existing_catalog(tmp_path: Path) -> None:
    import duckdb

    target = tmp_path / "p"
    target.mkdir()
    conn = duckdb.connect(str(target / "catalog.duckdb"))
    conn.execute("CREATE TABLE _migrations (name VARCHAR PRIMARY KEY, applied_at TIMESTAMPTZ)")
    conn.execute("INSERT INTO _migrations VALUES ('999_from_the_future', now())")
    conn.close()
    with pytest.raises(Exception, match="newer llmforge"):
        init_project(target)
    assert (target / "catalog.duckdb").exists()
