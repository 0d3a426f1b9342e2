"""Which models an HTTP caller may name (never a path), how they are named back, and how much of
the context window a request may take. None of it needs a model loaded."""

from __future__ import annotations

from pathlib import Path

import pytest

from llmforge import registry
from llmforge.errors import NotFoundError, UsageError
from llmforge.inference.runtime import LlamaRuntime, model_label, resolve_served_model, servable_models
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


def runtime_with_window(n_ctx: int) -> LlamaRuntime:
    runtime = object.__new__(LlamaRuntime)
    runtime.n_ctx = n_ctx
    return runtime


def test_the_answer_gets_the_room_the_prompt_leaves() -> None:
    runtime = runtime_with_window(100)
    assert runtime.answer_room(10, None, 50) == 50       # no max_tokens: the default ...
    assert runtime.answer_room(90, None, 50) == 10       # ... or what is left, never a refusal while any is
    assert runtime.answer_room(60, 40, 50) == 40         # the caller's max_tokens when both fit
    with pytest.raises(UsageError, match=r"^the prompt is 61 tokens; this model's context window is 100 "
                                         r"\(serve.n_ctx\) and max_tokens asks for 40 more: shorten the prompt "
                                         r"or lower max_tokens$"):
        runtime.answer_room(61, 40, 50)
    with pytest.raises(UsageError, match=r"^the prompt is 100 tokens; this model's context window is 100 "
                                         r"\(serve.n_ctx\): shorten the prompt$"):
        runtime.answer_room(100, None, 50)


@pytest.mark.slow
@pytest.mark.parametrize("name", ["qwen2.5-coder-0.5b-instruct", "gemma3-270m"])
def test_prompts_are_counted_as_llama_cpp_counts_them(name: str, tmp_path: Path) -> None:
    """The context check counts the prompt llama.cpp will see: the GGUF's chat template (Qwen), the
    fallback format with the system message folded in (Gemma base), a plain completion's BOS."""
    pytest.importorskip("llama_cpp")
    from importlib.util import find_spec

    from llmforge.inference.runtime import RuntimeOptions
    from llmforge.packaged import assemble

    if find_spec(PACKAGED[name].parts[-1][0]) is None:
        pytest.skip(f"the packaged {name} GGUF is not installed")
    runtime = LlamaRuntime(name, assemble(name, tmp_path), RuntimeOptions(n_ctx=512))
    try:
        messages = [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Say hi. مرحبا <b>"}]
        assert runtime.chat(messages, max_tokens=1)["usage"]["prompt_tokens"] == runtime.chat_prompt_tokens(messages)
        prompt = "def add(a, b):\n    return"
        assert runtime.complete(prompt, max_tokens=1)["usage"]["prompt_tokens"] == runtime.completion_prompt_tokens(prompt)
        fits = [{"role": "user", "content": "hi " * 400}]
        room = 512 - runtime.chat_prompt_tokens(fits)
        assert 0 < room < 512 and runtime.answer_room(runtime.chat_prompt_tokens(fits), None, 512) == room
        with pytest.raises(UsageError, match=rf"max_tokens asks for {room + 1} more"):
            runtime.chat(fits, max_tokens=room + 1)
    finally:
        runtime.close()
