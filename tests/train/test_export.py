"""GGUF export: the converters from the source archive, adapter and merged exports, verification.

A tiny model stands in for the real ones (fast); the slow tests export over Gemma 3 270M.
"""

from __future__ import annotations

import io
import json
import shutil
import tarfile
from pathlib import Path
from types import SimpleNamespace

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")

from llmforge import registry  # noqa: E402
from llmforge.errors import TrainError, UsageError  # noqa: E402
from llmforge.project import Project  # noqa: E402
from llmforge.settings import write_setting  # noqa: E402
from llmforge.train.base import PreparedBase, resolve_base  # noqa: E402
from llmforge.train.export import (  # noqa: E402
    export_adapter,
    export_merged,
    export_version,
    llama_cpp_tools,
    quantize_gguf,
    verify_gguf,
    verify_quantized,
)
from tests.train.test_base import (  # noqa: E402, F401 (fixtures)
    converter_env,
    gemma,
    make_adapter,
    shared_cache,
    tiny,
)


def use_source(project: Project, source: Path) -> None:
    write_setting(project.settings_path, "train.llama_cpp_source", str(source))
    project.reload_settings()


# --- finding the converters -------------------------------------------------------------------

def test_only_the_converters_are_extracted_once(project: Project, converter_env: Path) -> None:
    tools = llama_cpp_tools(project)
    assert tools.name.startswith("llama.cpp-")
    assert (tools / "convert_hf_to_gguf.py").is_file() and (tools / "convert_lora_to_gguf.py").is_file()
    assert (tools / "conversion" / "__init__.py").is_file()
    assert (tools / "gguf-py" / "gguf" / "gguf_reader.py").is_file()
    assert sorted(p.name for p in tools.iterdir() if p.is_dir()) == ["conversion", "gguf-py"]
    assert llama_cpp_tools(project) == tools


def test_an_unpacked_folder_can_be_the_source(project: Project, converter_env: Path) -> None:
    tools = llama_cpp_tools(project)
    use_source(project, tools)
    assert llama_cpp_tools(project) == tools


def test_a_missing_archive_says_how_to_get_one(project: Project, tmp_path: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMFORGE_WHEEL_CACHE", str(tmp_path / "empty-cache"))
    with pytest.raises(TrainError, match=r"llama_cpp_python-.*\.tar\.gz \(the wheel cache\) does not exist: "
                                         r"run scripts/setup.sh.*pip download"):
        llama_cpp_tools(project)
    use_source(project, tmp_path / "elsewhere.tar.gz")
    with pytest.raises(TrainError, match=r"the setting train.llama_cpp_source"):
        llama_cpp_tools(project)


def test_a_damaged_or_foreign_archive_is_refused(project: Project, tmp_path: Path) -> None:
    damaged = tmp_path / "llama_cpp_python-9.9.9.tar.gz"
    damaged.write_bytes(b"\x1f\x8b\x08\x00 truncated")
    use_source(project, damaged)
    with pytest.raises(TrainError, match="not a usable llama-cpp-python source archive: cannot read it"):
        llama_cpp_tools(project)
    foreign = tmp_path / "llama_cpp_python-9.9.8.tar.gz"
    with tarfile.open(foreign, "w:gz") as tar:
        info = tarfile.TarInfo("llama_cpp_python-9.9.8/README.md")
        info.size = 5
        tar.addfile(info, io.BytesIO(b"hello"))
    use_source(project, foreign)
    with pytest.raises(TrainError, match="holds no llama.cpp converters"):
        llama_cpp_tools(project)
    assert not list((tmp_path / "home" / ".cache" / "llmforge").iterdir())  # nothing half-extracted is left


# --- the two kinds, verified (tiny) --------------------------------------------------------------

def test_an_adapter_export_reproduces_the_trained_model(tiny: SimpleNamespace, tmp_path: Path) -> None:
    out = export_adapter(tiny.adapter, tiny.base, tmp_path / "adapter.gguf", tools=tiny.tools)
    assert out.read_bytes()[:4] == b"GGUF" and out.stat().st_size < tiny.gguf.stat().st_size
    result = verify_gguf(tiny.gguf, lora=out, reference_dir=tiny.base.hf_dir, adapter_dir=tiny.adapter)
    assert result["ok"] and result["matched"] == result["compared"] == 8
    assert result["adapter_changes_output"] and result["adapter_effect_error"] < 0.05
    ignored = verify_gguf(tiny.gguf, reference_dir=tiny.base.hf_dir, adapter_dir=tiny.adapter)
    assert not ignored["ok"] and ignored["matched"] < 8


def test_a_wrongly_scaled_adapter_fails_verification(tiny: SimpleNamespace, tmp_path: Path) -> None:
    doubled = tmp_path / "doubled"
    shutil.copytree(tiny.adapter, doubled)
    config = json.loads((doubled / "adapter_config.json").read_text())
    config["lora_alpha"] *= 2
    (doubled / "adapter_config.json").write_text(json.dumps(config))
    out = export_adapter(doubled, tiny.base, tmp_path / "doubled.gguf", tools=tiny.tools, outtype="f32")
    result = verify_gguf(tiny.gguf, lora=out, reference_dir=tiny.base.hf_dir, adapter_dir=tiny.adapter)
    assert not result["ok"] and result["adapter_effect_error"] > 0.5


def test_adapters_llama_cpp_would_apply_wrongly_are_refused(tiny: SimpleNamespace, tmp_path: Path) -> None:
    rslora = tmp_path / "rslora"
    shutil.copytree(tiny.adapter, rslora)
    config = json.loads((rslora / "adapter_config.json").read_text())
    (rslora / "adapter_config.json").write_text(json.dumps({**config, "use_rslora": True}))
    with pytest.raises(TrainError, match="not a plain LoRA adapter \\(use_rslora\\)"):
        export_adapter(rslora, tiny.base, tmp_path / "x.gguf", tools=tiny.tools)
    with pytest.raises(TrainError, match="no readable adapter_config.json"):
        export_adapter(tmp_path, tiny.base, tmp_path / "x.gguf", tools=tiny.tools)


def test_a_merged_export_keeps_the_base_gguf_tokenizer(tiny: SimpleNamespace, tmp_path: Path) -> None:
    from gguf import GGUFReader

    merged = export_merged(tiny.adapter, tiny.base, tmp_path / "merged-f32.gguf", tools=tiny.tools, outtype="f32")
    result = verify_gguf(merged, reference_dir=tiny.base.hf_dir, adapter_dir=tiny.adapter)
    assert result["ok"] and result["adapter_changes_output"] and result["max_logit_diff"] < 0.01
    ours, base = GGUFReader(merged).fields, GGUFReader(tiny.gguf).fields
    assert ours["tokenizer.ggml.pre"].contents() == base["tokenizer.ggml.pre"].contents() == "qwen2"
    assert ours["tokenizer.ggml.tokens"].contents() == base["tokenizer.ggml.tokens"].contents()
    quantized = quantize_gguf(merged, tmp_path / "merged-q8_0.gguf", "q8_0")
    assert quantized.stat().st_size < merged.stat().st_size / 2
    assert verify_quantized(quantized, merged)["ok"]
    assert not list(tmp_path.glob(".merge-*"))


def test_a_directory_base_is_merged_with_its_own_tokenizer(tiny: SimpleNamespace, tmp_path: Path) -> None:
    plain = resolve_base(tiny.project, str(tiny.model_dir))
    merged = export_merged(tiny.adapter, plain, tmp_path / "merged.gguf", tools=tiny.tools, outtype="f32")
    assert verify_gguf(merged, reference_dir=plain.hf_dir, adapter_dir=tiny.adapter)["ok"]


def test_unknown_quantizations_are_refused(tiny: SimpleNamespace, tmp_path: Path) -> None:
    with pytest.raises(TrainError, match="unknown quantization 'q3_x'"):
        quantize_gguf(tiny.gguf, tmp_path / "x.gguf", "q3_x")


@pytest.mark.parametrize(("kind", "quantization", "message"), [
    ("adapter", "q4_k_m", "merged export only"),
    ("adapter", "f16", "merged export only"),       # even the adapter's own type: asked for, not ignored
    ("lora", None, "unknown export kind 'lora'"),
    ("merged", "q3_x", "unknown quantization 'q3_x'"),
])
def test_export_version_refuses_bad_options_before_any_work(project: Project, kind: str, quantization: str | None,
                                                            message: str) -> None:
    with pytest.raises(UsageError, match=message):   # no such version either: the options are checked first
        export_version(project, "nothing@v1", kind=kind, quantization=quantization)


# --- a repository version ----------------------------------------------------------------------

def register(project: Project, base: PreparedBase, adapter: Path, name: str = "tiny") -> registry.ModelVersion:
    staging = registry.staging_dir(project, name)
    shutil.copytree(adapter, staging / "adapter")
    manifest = {"base": base.to_dict(), "dataset": {"name": "d"}, "backend": "peft"}
    return registry.register_version(project, name, staging, manifest)


def test_export_version_records_verified_exports(project: Project, tiny: SimpleNamespace,
                                                 converter_env: Path) -> None:
    version = register(project, tiny.base, tiny.adapter)
    adapter = export_version(project, version.ref, kind="adapter")
    merged = export_version(project, version.ref, kind="merged", quantization="q8_0")
    manifest = registry.get_version(project, version.ref).manifest
    assert manifest["exports"]["adapter_gguf"] == "gguf/adapter-f16.gguf"
    assert manifest["exports"]["merged_gguf"] == "gguf/model-q8_0.gguf"
    assert manifest["exports"]["verified"]["gguf/adapter-f16.gguf"]["ok"]
    assert set(manifest["exports"]["verified"]["gguf/model-q8_0.gguf"]) == {"f16", "q8_0"}
    assert manifest["files"]["gguf/adapter-f16.gguf"] == adapter["sha256"]
    assert manifest["files"]["gguf/model-q8_0.gguf"] == merged["sha256"]
    assert sorted(p.name for p in (version.path / "gguf").iterdir()) == ["adapter-f16.gguf", "model-q8_0.gguf"]
    assert registry.verify_files(registry.get_version(project, version.ref)) == []
    assert registry.serving_files(project, version.ref) == (version.path / "gguf" / "model-q8_0.gguf", None)


def test_an_export_that_does_not_verify_is_deleted(project: Project, tiny: SimpleNamespace, tmp_path: Path,
                                                   converter_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge.train import export as export_module

    version = register(project, tiny.base, tiny.adapter)
    real = export_module.export_adapter

    def wrong_scale(adapter_dir: Path, base: PreparedBase, out: Path, **kwargs: object) -> Path:
        doubled = tmp_path / "doubled"
        shutil.copytree(adapter_dir, doubled, dirs_exist_ok=True)
        config = json.loads((doubled / "adapter_config.json").read_text())
        (doubled / "adapter_config.json").write_text(json.dumps({**config, "lora_alpha": 4 * config["lora_alpha"]}))
        return real(doubled, base, out, **kwargs)

    monkeypatch.setattr(export_module, "export_adapter", wrong_scale)
    with pytest.raises(TrainError, match="does not reproduce the trained model.*the export was deleted"):
        export_version(project, version.ref, kind="adapter")
    assert not list((version.path / "gguf").iterdir())
    assert not registry.get_version(project, version.ref).manifest["exports"]


def test_an_adapter_export_needs_a_gguf_base(project: Project, tiny: SimpleNamespace, converter_env: Path) -> None:
    version = register(project, resolve_base(project, str(tiny.model_dir)), tiny.adapter)
    with pytest.raises(TrainError, match="export it merged instead"):
        export_version(project, version.ref, kind="adapter")


def test_a_two_step_adapter_is_checked_on_its_training_text_and_changes_it(tiny: SimpleNamespace, tmp_path: Path,
                                                                           converter_env: Path) -> None:
    """What the demo's export check shows: the trained adapter changes what the model says there."""
    from llmforge.testing.tiny import SAMPLE_TEXT
    from llmforge.train import jobs
    from llmforge.train.data import build_dataset
    from tests.assets import structured_project

    half = len(SAMPLE_TEXT) // 2
    project = structured_project(tmp_path, {"a.txt": SAMPLE_TEXT * 6, "b.txt": (SAMPLE_TEXT[half:] + SAMPLE_TEXT[:half]) * 6})
    build_dataset(project, eval_fraction=0.5)
    # a random tiny model needs a bolder rate than the 0.5B demo's 2e-3 to move its top tokens in two steps
    job = jobs.submit(project, name="ops", base=str(tiny.gguf), max_steps=2, seq_len=128, grad_accum=1, lr=1e-2)
    assert jobs.run(project, job["id"])["state"] == "succeeded"
    verified = export_version(project, "ops@v1", kind="adapter")["verified"]
    assert verified["prompt"] == "training text" and verified["ok"], verified
    assert verified["adapter_changes_output"], verified
    registry.update_manifest(project, "ops@v1", {"dataset": {"name": "gone"}})   # no training text: the fixed prompt
    assert export_version(project, "ops@v1", kind="adapter")["verified"]["prompt"] == "fixed"


# --- a real model (slow) -----------------------------------------------------------------------

@pytest.mark.slow
def test_a_gemma3_adapter_export_verifies(gemma: PreparedBase, tmp_path: Path, converter_env: Path) -> None:
    from llmforge.project import init_project

    tools = llama_cpp_tools(init_project(tmp_path / "p"))
    adapter = make_adapter(gemma.hf_dir, tmp_path / "adapter", scale=0.05, rank=8)
    out = export_adapter(adapter, gemma, tmp_path / "adapter-f16.gguf", tools=tools)
    result = verify_gguf(gemma.gguf, lora=out, reference_dir=gemma.hf_dir, adapter_dir=adapter)
    assert result["ok"] and result["adapter_changes_output"], result
