"""Packaged models and the machine cache: assembled once per machine, verified, shared, prunable."""

from __future__ import annotations

import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from llmforge import packaged
from llmforge.errors import UsageError
from llmforge.packaged import PackagedModel, assemble, cache_entries, cache_root, prune_cache
from llmforge.project import init_project

PARTS = [b"GGUF" + b"a" * 1000, b"b" * 2000, b"c" * 10]


@pytest.fixture
def fake_model(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> PackagedModel:
    """A packaged model split over two importable packages, registered for this test only."""
    site = tmp_path / "site"
    for number, chunks in ((1, PARTS[:2]), (2, PARTS[2:])):
        package = site / f"fakemodel_part{number}"
        (package / "data").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        for index, chunk in enumerate(chunks):
            (package / "data" / f"p{index}.bin").write_bytes(chunk)
    monkeypatch.syspath_prepend(str(site))
    digest = hashlib.sha256(b"".join(PARTS)).hexdigest()
    model = PackagedModel("fake-model", "fake.gguf", digest, sum(map(len, PARTS)),
                          (("fakemodel_part1", "data/p0.bin"), ("fakemodel_part1", "data/p1.bin"),
                           ("fakemodel_part2", "data/p0.bin")), None, True, "a fake")
    monkeypatch.setitem(packaged.PACKAGED, model.name, model)
    return model


def test_a_packaged_model_is_assembled_once_per_machine_and_no_project_gets_a_copy(
        fake_model: PackagedModel, tmp_path: Path) -> None:
    from llmforge.inference.runtime import resolve_model_files

    first, second = init_project(tmp_path / "one"), init_project(tmp_path / "two")
    path, lora = resolve_model_files(first, fake_model.name)
    assert lora is None and path == cache_root() / "bases" / fake_model.sha256[:16] / "fake.gguf"
    assert path.read_bytes() == b"".join(PARTS)
    stamp = path.stat().st_mtime_ns
    assert resolve_model_files(second, fake_model.name) == (path, None)
    assert path.stat().st_mtime_ns == stamp   # used in place, not written again
    for project in (first, second):
        assert not (project.path("models") / "base").exists()
    assert str(cache_root()).startswith(os.environ["HOME"])   # the tests' own home, never a real one


def test_damaged_parts_never_become_a_model_file(fake_model: PackagedModel, tmp_path: Path) -> None:
    (tmp_path / "site" / "fakemodel_part2" / "data" / "p0.bin").write_bytes(b"x" * 10)
    with pytest.raises(UsageError, match="assemble to sha256 .* reinstall fakemodel-part1 .*fakemodel-part2"):
        assemble(fake_model.name)
    entry = cache_root() / "bases" / fake_model.sha256[:16]
    assert sorted(p.name for p in entry.iterdir()) == ["last-used"]


def test_the_cache_lists_its_bases_and_prunes_what_is_unused(fake_model: PackagedModel, tmp_path: Path,
                                                             cli) -> None:
    assemble(fake_model.name)
    old = cache_root() / "bases" / "0123456789abcdef"
    (old / "hf").mkdir(parents=True)
    (old / "hf" / "model.safetensors").write_bytes(b"w" * 5000)
    (old / "hf" / "llmforge-base.json").write_text(json.dumps({"gguf": "/models/mine.gguf"}))
    (old / "last-used").touch()
    long_ago = time.time() - 40 * 86_400
    os.utime(old / "last-used", (long_ago, long_ago))
    (old / ".hf.999999999.partial").mkdir()   # a dead writer's leftover

    entries = {entry.model: entry for entry in cache_entries()}
    assert set(entries) == {"fake-model", "mine.gguf"}
    assert entries["fake-model"].holds == ("gguf",) and entries["mine.gguf"].holds == ("hf",)
    assert entries["mine.gguf"].bytes >= 5000
    listed = json.loads(cli("train", "cache", "list", "--json").stdout)
    assert listed["bytes"] == sum(entry.bytes for entry in entries.values()) and len(listed["entries"]) == 2

    dry = json.loads(cli("train", "cache", "prune", "--dry-run", "--json").stdout)
    assert [entry["model"] for entry in dry["removed"]] == ["mine.gguf"] and old.is_dir()
    assert [entry.model for entry in prune_cache(30)] == ["mine.gguf"]
    assert not old.exists() and [entry.model for entry in cache_entries()] == ["fake-model"]
    pruned = json.loads(cli("train", "cache", "prune", "--unused-days", "0", "--json").stdout)
    assert [entry["model"] for entry in pruned["removed"]] == ["fake-model"] and cache_entries() == []
    assert assemble(fake_model.name).read_bytes() == b"".join(PARTS)   # rebuilt on next use


def test_a_base_being_written_is_not_pruned(fake_model: PackagedModel) -> None:
    entry = assemble(fake_model.name).parent
    (entry / f".hf.{os.getpid()}.partial").mkdir()   # this process is writing it
    assert prune_cache(0) == [] and entry.is_dir()


def test_doctor_shows_the_cache_and_old_project_copies(fake_model: PackagedModel, tmp_path: Path) -> None:
    from llmforge.doctor import check_model_cache, check_project_model_copies

    assemble(fake_model.name)
    check = check_model_cache()
    assert "fake-model" in check.detail and str(cache_root() / "bases") in check.detail
    assert "llmforge train cache prune" in check.fix and not check.required
    project = init_project(tmp_path / "old")
    assert check_project_model_copies(project.root).status == "ok"
    (project.path("models") / "base").mkdir(parents=True)
    (project.path("models") / "base" / "copy.gguf").write_bytes(b"GGUF" * 100)
    copies = check_project_model_copies(project.root)
    assert copies.status == "warn" and copies.fix == f"rm -r {project.path('models') / 'base'}"
