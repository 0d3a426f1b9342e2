from __future__ import annotations

import errno
from pathlib import Path

import pytest

from llmforge import fileio


def _folder(path: Path, text: str) -> Path:
    path.mkdir()
    (path / "done").write_text(text)
    return path


def test_install_dir_replaces_a_leftover(tmp_path: Path) -> None:
    target = _folder(tmp_path / "target", "old, incomplete")
    fileio.install_dir(_folder(tmp_path / ".target.partial", "new"), target, lambda found: False)
    assert (target / "done").read_text() == "new" and not (tmp_path / ".target.partial").exists()


def test_install_dir_keeps_the_winner_of_a_race(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    target = tmp_path / "target"

    def lose_the_race(_source: Path, _destination: Path) -> None:   # another process renames first
        _folder(target, "theirs")
        raise OSError(errno.ENOTEMPTY, "Directory not empty")

    monkeypatch.setattr(fileio.os, "rename", lose_the_race)
    fileio.install_dir(_folder(tmp_path / ".a.partial", "ours"), target, lambda found: (found / "done").is_file())
    assert (target / "done").read_text() == "theirs"
    with pytest.raises(OSError):   # a folder that is not complete is no winner: the failure stands
        fileio.install_dir(_folder(tmp_path / ".b.partial", "ours"), target, lambda found: False)
