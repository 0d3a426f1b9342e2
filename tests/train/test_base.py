"""Base models: directories as they are, GGUFs dequantised once and atomically, tokenizer checks.

The fixtures here (llama.cpp's converters, a tiny model and its GGUF, a perturbed LoRA over it)
are shared with test_export.py and built once per session: the converters come from the
llama-cpp-python source archive in the real wheel cache, found before the test fixtures point
HOME elsewhere; the tests skip when it is absent.
"""

from __future__ import annotations

import json
import os
import pwd
import shutil
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from llmforge.errors import TrainError  # noqa: E402
from llmforge.project import Project, init_project  # noqa: E402
from llmforge.train import base as base_module  # noqa: E402
from llmforge.train.base import MARKER, PreparedBase, check_tokenizer, resolve_base  # noqa: E402
from llmforge.testing.tiny import SAMPLE_TEXT, build_tiny_model  # noqa: E402

REAL_HOME = Path(pwd.getpwuid(os.getuid()).pw_dir)
WHEEL_CACHE = Path(os.environ.get("LLMFORGE_WHEEL_CACHE") or REAL_HOME / ".cache" / "llmforge-wheels")
_BUILT: dict[str, SimpleNamespace] = {}  # fixtures imported by two modules still build once


def llama_source() -> Path:
    """The llama-cpp-python source archive of the installed version, or skip."""
    from importlib.metadata import version

    archive = WHEEL_CACHE / f"llama_cpp_python-{version('llama-cpp-python')}.tar.gz"
    if not archive.is_file():
        pytest.skip(f"llama-cpp-python source archive not found at {archive} (scripts/setup.sh keeps it there)")
    return archive


@pytest.fixture(scope="session")
def shared_cache(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if "cache" not in _BUILT:
        _BUILT["cache"] = SimpleNamespace(path=tmp_path_factory.mktemp("xdg-cache"))
    return _BUILT["cache"].path


@pytest.fixture
def converter_env(monkeypatch: pytest.MonkeyPatch, shared_cache: Path) -> Path:
    """Point the wheel-cache lookup at the real cache and share the extracted converters."""
    archive = llama_source()
    monkeypatch.setenv("LLMFORGE_WHEEL_CACHE", str(archive.parent))
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    return archive


@pytest.fixture(scope="session")
def tiny(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> SimpleNamespace:
    """A tiny model, its f32 GGUF, that GGUF resolved as a base, and a LoRA that changes outputs."""
    if "tiny" not in _BUILT:
        _BUILT["tiny"] = _build_tiny(tmp_path_factory.mktemp("tiny"), shared_cache)
    return _BUILT["tiny"]


def _build_tiny(root: Path, cache: Path) -> SimpleNamespace:
    from llmforge.train.export import convert_to_gguf, llama_cpp_tools

    archive = llama_source()
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("LLMFORGE_WHEEL_CACHE", str(archive.parent))
        patch.setenv("XDG_CACHE_HOME", str(cache))
        project = init_project(root / "project")
        tools = llama_cpp_tools(project)
        model_dir = build_tiny_model(root / "tiny", [SAMPLE_TEXT])
        gguf = convert_to_gguf(model_dir, root / "tiny-f32.gguf", tools=tools, outtype="f32")
        base = resolve_base(project, str(gguf))
        adapter = make_adapter(base.hf_dir, root / "adapter")
    return SimpleNamespace(project=project, tools=tools, model_dir=model_dir, gguf=gguf, base=base, adapter=adapter)


def make_adapter(model_dir: Path, out: Path, *, scale: float = 0.3, rank: int = 4) -> Path:
    """A peft LoRA on every linear layer, with random B matrices so that it changes the output."""
    import torch
    from peft import LoraConfig, get_peft_model
    from transformers import AutoModelForCausalLM

    model = AutoModelForCausalLM.from_pretrained(str(model_dir), dtype=torch.float32)
    lora = get_peft_model(model, LoraConfig(r=rank, lora_alpha=2 * rank, target_modules="all-linear",
                                            lora_dropout=0.0))
    generator = torch.Generator().manual_seed(1)
    with torch.no_grad():
        for name, parameter in lora.named_parameters():
            if "lora_B" in name:
                parameter.copy_(torch.randn(parameter.shape, generator=generator) * scale)
    lora.save_pretrained(str(out))
    return out


# --- directory bases ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def tiny_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("plain") / "model")


def test_a_model_directory_is_used_as_it_is(project: Project, tiny_dir: Path) -> None:
    base = resolve_base(project, str(tiny_dir))
    assert base.hf_dir == tiny_dir and base.gguf is None and base.architecture == "qwen2"
    assert len(base.sha256) == 64 and resolve_base(project, str(tiny_dir)).sha256 == base.sha256
    assert json.loads(json.dumps(base.to_dict())) == {"spec": str(tiny_dir), "hf_dir": str(tiny_dir), "gguf": None,
                                                      "sha256": base.sha256, "architecture": "qwen2"}
    assert not (project.path("models") / "hf").exists()


def test_the_setting_names_the_default_base(project: Project, tiny_dir: Path) -> None:
    from llmforge.settings import write_setting

    write_setting(project.settings_path, "train.base", str(tiny_dir))
    project.reload_settings()
    assert resolve_base(project).hf_dir == tiny_dir


def test_a_folder_that_is_not_a_model_says_what_it_lacks(project: Project, tmp_path: Path, tiny_dir: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(TrainError, match=r"not a Hugging Face model directory: it has no config.json, no weights.*"
                                         r"no tokenizer files"):
        resolve_base(project, str(empty))
    partial = tmp_path / "partial"
    shutil.copytree(tiny_dir, partial)
    (partial / "model.safetensors").unlink()
    with pytest.raises(TrainError, match=r"it has no weights \(\*.safetensors") as caught:
        resolve_base(project, str(partial))
    assert "config.json" not in str(caught.value)


@pytest.mark.parametrize("spec, message", [
    ("no-such-model", "neither a packaged model"),
    ("missing.gguf", "does not exist"),
])
def test_unknown_bases_are_clear_errors(project: Project, tmp_path: Path, spec: str, message: str) -> None:
    with pytest.raises(TrainError, match=message):
        resolve_base(project, str(tmp_path / spec) if spec.endswith(".gguf") else spec)


def test_a_file_named_gguf_that_is_not_one_is_refused(project: Project, tmp_path: Path) -> None:
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model")
    with pytest.raises(TrainError, match="is not a GGUF file"):
        resolve_base(project, str(fake))


def test_a_directory_base_has_no_tokenizer_to_compare(project: Project, tiny_dir: Path) -> None:
    result = check_tokenizer(resolve_base(project, str(tiny_dir)), ["anything"])
    assert result["ok"] and "skipped" in result


# --- GGUF bases (tiny) --------------------------------------------------------------------------

def test_a_gguf_is_dequantised_once_per_machine_into_the_shared_cache(tiny: SimpleNamespace, tmp_path: Path,
                                                                    monkeypatch: pytest.MonkeyPatch,
                                                                    shared_cache: Path) -> None:
    import torch
    from safetensors.torch import load_file

    base = tiny.base
    assert base.hf_dir == shared_cache / "llmforge" / "bases" / base.sha256[:16] / "hf"
    assert base.gguf == tiny.gguf and base.architecture == "qwen2"
    marker = json.loads((base.hf_dir / MARKER).read_text())
    assert marker["gguf_sha256"] == base.sha256 and marker["gguf"] == str(tiny.gguf)
    assert "quantization_config" not in json.loads((base.hf_dir / "config.json").read_text())
    original, restored = load_file(tiny.model_dir / "model.safetensors"), load_file(base.hf_dir / "model.safetensors")
    assert original.keys() == restored.keys()
    assert all(torch.equal(original[name], restored[name]) for name in original)
    # A second project on the same base adds no copy: it reads the same folder, untouched.
    monkeypatch.setenv("XDG_CACHE_HOME", str(shared_cache))
    stamp = (base.hf_dir / "model.safetensors").stat().st_mtime_ns
    other = init_project(tmp_path / "second")
    assert resolve_base(other, str(tiny.gguf)) == base
    assert (base.hf_dir / "model.safetensors").stat().st_mtime_ns == stamp
    assert not (other.path("models") / "hf").exists() and not (tiny.project.path("models") / "hf").exists()


def test_the_cache_root_follows_the_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge.packaged import cache_root

    assert cache_root() == Path(os.environ["XDG_CACHE_HOME"]) / "llmforge"   # the test fixture's
    monkeypatch.setenv("LLMFORGE_CACHE", str(tmp_path / "elsewhere"))
    assert cache_root() == tmp_path / "elsewhere"


def test_an_interrupted_dequantisation_is_never_reused(tiny: SimpleNamespace, tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge.packaged import base_entry

    project = init_project(tmp_path / "fresh")
    real = base_module.dequantise_gguf

    def interrupted(gguf: Path, directory: Path) -> None:
        real(gguf, directory)
        raise KeyboardInterrupt

    monkeypatch.setattr(base_module, "dequantise_gguf", interrupted)
    with pytest.raises(KeyboardInterrupt):
        resolve_base(project, str(tiny.gguf))
    entry = base_entry(tiny.base.sha256)
    assert sorted(p.name for p in entry.iterdir()) == ["last-used"]
    # A half directory under the final name (written by something else) and a dead process's
    # partial folder are both replaced, not trusted.
    target = entry / "hf"
    target.mkdir()
    (target / "config.json").write_text("{}")
    (entry / ".hf.999999999.partial").mkdir()
    monkeypatch.setattr(base_module, "dequantise_gguf", real)
    base = resolve_base(project, str(tiny.gguf))
    assert base.hf_dir == target and (target / MARKER).is_file() and (target / "model.safetensors").is_file()
    assert sorted(p.name for p in entry.iterdir()) == ["hf", "last-used"]


def test_the_tiny_gguf_tokenises_as_transformers_does(tiny: SimpleNamespace) -> None:
    result = check_tokenizer(tiny.base, [SAMPLE_TEXT, "  indented\n\n\tx = 12345 # (note)"])
    assert result == {"ok": True, "samples": 5, "training_ids": "llama.cpp"}


def test_a_disagreeing_tokenizer_names_the_sample_and_both_prefixes(tiny: SimpleNamespace, tmp_path: Path) -> None:
    other = build_tiny_model(tmp_path / "other", ["zebra quartz " * 50], vocab_size=300)
    mismatched = PreparedBase("x", other, tiny.gguf, tiny.base.sha256, "qwen2")
    with pytest.raises(TrainError, match=r"disagrees with llama.cpp for this model: sample 1 \('The capital.*"
                                         r"transformers \[.*\], llama.cpp \[.*\].*transformers >= 5.24"):
        check_tokenizer(mismatched)


# --- packaged models (slow: minutes, gigabytes) ------------------------------------------------

@pytest.fixture(scope="session")
def gemma(tmp_path_factory: pytest.TempPathFactory, shared_cache: Path) -> PreparedBase:
    """Gemma 3 270M dequantised once per session (about a minute and 3.3 GB of memory) into the
    session's shared cache (a test that sets XDG_CACHE_HOME to ``shared_cache`` finds it there)."""
    if "gemma" not in _BUILT:
        project = init_project(tmp_path_factory.mktemp("gemma") / "project")
        try:
            with pytest.MonkeyPatch.context() as patch:
                patch.setenv("XDG_CACHE_HOME", str(shared_cache))
                _BUILT["gemma"] = SimpleNamespace(base=resolve_base(project, "gemma3-270m"))
        except TrainError as exc:
            if "needs the packages" in str(exc):
                pytest.skip(str(exc))
            raise
    return _BUILT["gemma"].base


@pytest.mark.slow
def test_gemma3_is_dequantised_with_a_correct_tokenizer(gemma: PreparedBase) -> None:
    from transformers import AutoTokenizer

    assert gemma.architecture == "gemma3_text" and gemma.gguf is not None
    assert check_tokenizer(gemma, [SAMPLE_TEXT])["ok"]
    tokenizer = AutoTokenizer.from_pretrained(str(gemma.hf_dir))
    ids = tokenizer("The capital of France")["input_ids"]
    assert ids[0] == tokenizer.bos_token_id  # 5.17 lost the BOS and split "capital" into four pieces
    assert tokenizer.convert_ids_to_tokens(ids[1:]) == ["The", "▁capital", "▁of", "▁France"]


def test_training_takes_its_ids_from_the_served_gguf(tiny: SimpleNamespace) -> None:
    import llama_cpp
    from transformers import AutoTokenizer

    from llmforge.train.base import ServingTokenizer, serving_tokenizer
    from llmforge.train.recipe import encode_rows

    hf = AutoTokenizer.from_pretrained(str(tiny.base.hf_dir))
    served = serving_tokenizer(hf, tiny.base)
    assert isinstance(served, ServingTokenizer)
    assert serving_tokenizer(hf, PreparedBase("d", tiny.base.hf_dir, None, "x", "qwen2")) is hf
    llm = llama_cpp.Llama(model_path=str(tiny.gguf), vocab_only=True, verbose=False)
    try:
        # Arabic shadda then fatha: a normalising tokenizer would reorder them; llama.cpp does not.
        text = "عَيَّنَ " + SAMPLE_TEXT
        assert served(text)["input_ids"] == llm.tokenize(text.encode(), add_bos=True, special=False)
    finally:
        llm.close()
    assert served.eos_token_id == hf.eos_token_id and served.chat_template == hf.chat_template
    chat = {"kind": "chat", "messages": [{"role": "user", "content": "Capital?"},
                                         {"role": "assistant", "content": "Paris."}]}
    (sequence,) = encode_rows(served, "qwen2", [chat], 64)
    assert sequence.input_ids[0] == hf.convert_tokens_to_ids("<|im_start|>")   # template specials by id
    served.close()
