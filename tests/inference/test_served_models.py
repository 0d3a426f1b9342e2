"""Which models an HTTP caller may name (never a path), and how they are named back. None of it
needs a model loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmforge import registry
from llmforge.errors import NotFoundError
from llmforge.inference.runtime import model_label, resolve_served_model, servable_models
from llmforge.packaged import PACKAGED
from llmforge.project import Project


def configure_model(project: Project, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LLMFORGE_SERVE_MODEL", value)
    project.reload_settings()


def add_version(project: Project, name: str, exports: dict[str, str] | None = None) -> registry.ModelVersion:
    staging = registry.staging_dir(project, name)
    (staging / "adapter").mkdir()
    (staging / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    manifest = {"backend": "peft", "base": {"spec": "tiny"}, "dataset": {"name": "corpus"}}
    version = registry.register_version(project, name, staging, manifest)
    if exports:
        for relative in exports.values():
            (version.path / relative).parent.mkdir(parents=True, exist_ok=True)
            (version.path / relative).write_bytes(b"GGUF" + b"\0" * 16)
        version = registry.update_manifest(project, version.ref, {"exports": exports})
    return version


def test_a_path_is_named_by_its_stem() -> None:
    assert model_label("/srv/models/mistral-7b.Q4_K_M.gguf") == "mistral-7b.Q4_K_M"
    assert model_label("~/m/x.gguf") == "x"
    assert model_label("qwen2.5-coder-0.5b-instruct") == "qwen2.5-coder-0.5b-instruct"
    assert model_label("ops@v2") == "ops@v2"


def test_servable_models_are_the_configured_packaged_and_repository_ones(project: Project) -> None:
    add_version(project, "ops", {"merged_gguf": "gguf/merged.gguf"})
    add_version(project, "ops")                 # trained, not exported: not servable
    add_version(project, "draft")               # nothing exported nor promoted
    served = servable_models(project)
    default = str(project.settings["serve.model"])
    assert list(served)[0] == default and set(PACKAGED) <= set(served)
    assert served["ops"] == "ops" and served["ops@v1"] == "ops@v1"
    assert "ops@v2" not in served and not any(name.startswith("draft") for name in served)


def test_a_configured_path_is_listed_by_its_label(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                  tmp_path: Path) -> None:
    path = tmp_path / "private" / "house-model.gguf"
    configure_model(project, monkeypatch, str(path))
    served = servable_models(project)
    assert served["house-model"] == str(path)
    assert not any("/" in name or name.endswith(".gguf") for name in served)
    assert resolve_served_model(project, "house-model") == str(path)
    assert resolve_served_model(project, None) == resolve_served_model(project, "") == str(path)


def test_a_path_is_refused_the_same_whether_or_not_it_exists(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                             tmp_path: Path) -> None:
    configured = tmp_path / "private" / "house-model.gguf"
    configured.parent.mkdir()
    configured.write_bytes(b"GGUF" + b"\0" * 16)
    configure_model(project, monkeypatch, str(configured))
    (tmp_path / "notes.txt").write_text("not a model")
    probes = ["/etc/nothing.gguf", str(tmp_path / "notes.txt"), str(configured), "/etc/passwd", "../x.gguf"]
    messages = []
    for probe in probes:
        with pytest.raises(NotFoundError) as refused:
            resolve_served_model(project, probe)
        messages.append(str(refused.value).replace(repr(probe), "NAME"))
    assert len(set(messages)) == 1
    assert messages[0].startswith("unknown model NAME: available models are house-model, ")
    assert str(tmp_path) not in messages[0] and ".gguf" not in messages[0]
