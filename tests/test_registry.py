"""The model repository: numbering, atomic registration, refs, promotion, deletion, lineage, serving."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from llmforge import registry
from llmforge.errors import NotFoundError, TrainError, UsageError
from llmforge.packaged import sha256_of
from llmforge.project import Project


def manifest(parent: str | None = None, ppl: float | None = 10.0, base_ppl: float | None = 20.0,
             documents: tuple[str, ...] = ()) -> dict[str, Any]:
    metrics = {key: value for key, value in (("eval_perplexity", ppl), ("base_eval_perplexity", base_ppl))
               if value is not None}
    return {"parent": parent, "job_id": "job-1", "backend": "peft",
            "base": {"spec": "tiny", "sha256": "ab" * 32, "gguf": None, "hf_dir": "models/hf/x",
                     "architecture": "llama"},
            "dataset": {"name": "corpus", "sha256": "cd" * 32, "train_rows": 9, "eval_rows": 1,
                        "documents": list(documents)},
            "hyperparameters": {"lora_r": 8}, "metrics": metrics}


def add_version(project: Project, name: str = "ops", **kwargs: Any) -> registry.ModelVersion:
    staging = registry.staging_dir(project, name)
    (staging / "adapter").mkdir()
    (staging / "adapter" / "adapter_config.json").write_text('{"r": 8}')
    (staging / "adapter" / "adapter_model.safetensors").write_bytes(os.urandom(64))
    return registry.register_version(project, name, staging, manifest(**kwargs))


def test_versions_are_numbered_hashed_and_never_reused(project: Project) -> None:
    first, second = add_version(project), add_version(project)
    assert (first.ref, second.ref) == ("ops@v1", "ops@v2")
    stored = json.loads((second.path / "manifest.json").read_text())
    assert stored["version"] == 2 and stored["name"] == "ops" and stored["created_at"]
    assert set(stored["files"]) == {"adapter/adapter_config.json", "adapter/adapter_model.safetensors"}
    config = second.path / "adapter" / "adapter_config.json"
    assert stored["files"]["adapter/adapter_config.json"] == sha256_of(config)
    registry.delete_version(project, "ops@v2")
    assert add_version(project).ref == "ops@v3"  # v2's number stays retired
    assert [v.version for v in registry.list_versions(project, "ops")] == [1, 3]


def test_concurrent_registrations_get_distinct_numbers(project: Project) -> None:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(4) as pool:  # each flock is its own open file: threads exclude each other too
        refs = sorted(pool.map(lambda _: add_version(project).ref, range(4)))
    assert refs == ["ops@v1", "ops@v2", "ops@v3", "ops@v4"]


def test_a_crash_before_the_rename_leaves_no_version(project: Project) -> None:
    add_version(project)
    staging = registry.staging_dir(project, "ops")
    (staging / "adapter").mkdir()
    (staging / "adapter" / "half.bin").write_bytes(b"x")
    dead = staging.with_name(".staging-999999999-deadbeef")  # a pid no process has
    staging.rename(dead)
    alive = registry.staging_dir(project, "ops")  # this process: a run still writing
    assert [v.ref for v in registry.list_versions(project)] == ["ops@v1"]
    assert registry.get_version(project, "ops").ref == "ops@v1"
    assert add_version(project).ref == "ops@v2"  # registration cleans up after crashed runs
    assert not dead.exists() and alive.is_dir()


def test_register_validates_the_manifest_and_the_staging_dir(project: Project, tmp_path: Path) -> None:
    staging = registry.staging_dir(project, "ops")
    with pytest.raises(TrainError, match="no adapter/"):
        registry.register_version(project, "ops", staging, manifest())
    (staging / "adapter").mkdir()
    incomplete = {k: v for k, v in manifest().items() if k != "dataset"}
    with pytest.raises(TrainError, match="lacks dataset"):
        registry.register_version(project, "ops", staging, incomplete)
    with pytest.raises(NotFoundError, match="no model"):
        registry.register_version(project, "ops", staging, manifest(parent="other@v1"))
    elsewhere = tmp_path / "elsewhere"
    (elsewhere / "adapter").mkdir(parents=True)
    with pytest.raises(TrainError, match="not a staging directory"):
        registry.register_version(project, "ops", elsewhere, manifest())
    assert registry.list_versions(project) == []


@pytest.mark.parametrize("ref, expected", [("ops", ("ops", None)), ("ops@v3", ("ops", 3)), ("ops@3", ("ops", 3)),
                                           ("my-model.v2_x@v12", ("my-model.v2_x", 12))])
def test_parse_ref(ref: str, expected: tuple[str, int | None]) -> None:
    assert registry.parse_ref(ref) == expected


@pytest.mark.parametrize("ref", ["Ops", "ops@", "ops@v0", "ops@vx", "a@b@v1", "base", "hf@v1", "easyocr",
                                 "gemma3-270m", "x.gguf", "-ops", ""])
def test_bad_refs_are_usage_errors(ref: str) -> None:
    with pytest.raises(UsageError):
        registry.parse_ref(ref)


def test_get_version_prefers_promoted_then_latest_and_says_what_exists(project: Project) -> None:
    add_version(project, ppl=12.0)
    add_version(project, ppl=15.0)
    assert registry.get_version(project, "ops").ref == "ops@v2"
    registry.promote(project, "ops@v1")
    assert registry.get_version(project, "ops").ref == "ops@v1"
    assert [v.promoted for v in registry.list_versions(project)] == [True, False]
    with pytest.raises(NotFoundError, match=r"no version v9 \(versions: v1, v2\)"):
        registry.get_version(project, "ops@v9")
    with pytest.raises(NotFoundError, match="models: ops"):
        registry.get_version(project, "nope")
    (project.path("models") / "base").mkdir(exist_ok=True)
    assert registry.model_names(project) == ["ops"]


def test_promote_refuses_worse_or_unevaluated_unless_forced(project: Project) -> None:
    add_version(project, ppl=25.0, base_ppl=20.0)
    with pytest.raises(TrainError, match="worse than the base model: eval perplexity 25 vs 20"):
        registry.promote(project, "ops@v1")
    assert registry.promote(project, "ops@v1", force=True).promoted
    add_version(project, parent="ops@v1", ppl=30.0)
    with pytest.raises(TrainError, match="ops@v2 is worse than ops@v1: eval perplexity 30 vs 25"):
        registry.promote(project, "ops@v2")
    add_version(project, parent="ops@v1", ppl=24.0, base_ppl=None)
    assert registry.promote(project, "ops@v3").promoted  # better than its parent
    add_version(project, ppl=None, base_ppl=None)
    with pytest.raises(TrainError, match=r"not evaluated: run `llmforge train eval ops@v4` or pass --force"):
        registry.promote(project, "ops@v4")
    assert registry.get_version(project, "ops").ref == "ops@v3"


def test_tampered_files_are_found_and_block_promotion(project: Project) -> None:
    version = add_version(project)
    assert registry.verify_files(version) == []
    (version.path / "adapter" / "adapter_model.safetensors").write_bytes(b"swapped")
    (version.path / "adapter" / "adapter_config.json").unlink()
    problems = registry.verify_files(version)
    assert problems == ["adapter/adapter_config.json: missing",
                        "adapter/adapter_model.safetensors: changed since it was registered (sha256 differs)"]
    with pytest.raises(TrainError, match="cannot promote ops@v1: adapter/adapter_config.json: missing"):
        registry.promote(project, "ops@v1", force=True)
    (version.path / "manifest.json").write_text("{broken")
    assert "unreadable" in registry.verify_files(registry.get_version(project, "ops@v1"))[0]


def test_delete_rules(project: Project) -> None:
    add_version(project)
    add_version(project, parent="ops@v1")
    registry.promote(project, "ops@v2")
    with pytest.raises(UsageError, match="name the version"):
        registry.delete_version(project, "ops")
    with pytest.raises(TrainError, match="promoted version of ops"):
        registry.delete_version(project, "ops@v2")
    with pytest.raises(TrainError, match="parent of ops@v2"):
        registry.delete_version(project, "ops@v1")
    registry.delete_version(project, "ops@v2", force=True)
    assert not (project.path("models") / "ops" / "PROMOTED").exists()
    assert registry.get_version(project, "ops").ref == "ops@v1"  # un-promoted: the latest again
    registry.delete_version(project, "ops@v1")
    assert registry.list_versions(project) == [] and registry.model_names(project) == []
    leftovers = [p.name for p in (project.path("models") / "ops").iterdir() if p.name.startswith(".deleting")]
    assert leftovers == []


def test_update_manifest_deep_merges_and_hashes_exports(project: Project) -> None:
    version = add_version(project)
    (version.path / "gguf").mkdir()
    (version.path / "gguf" / "adapter.gguf").write_bytes(b"GGUF" + b"\0" * 8)
    updated = registry.update_manifest(project, "ops@v1", {"metrics": {"qa": {"accuracy": 0.5}, "eval_perplexity": 9.0},
                                                           "exports": {"adapter_gguf": "gguf/adapter.gguf"}})
    metrics = updated.manifest["metrics"]
    assert metrics == {"eval_perplexity": 9.0, "base_eval_perplexity": 20.0, "qa": {"accuracy": 0.5}}
    assert "gguf/adapter.gguf" in updated.manifest["files"] and registry.verify_files(updated) == []
    assert updated.manifest["dataset"]["name"] == "corpus"
    with pytest.raises(UsageError, match="keeps files"):
        registry.update_manifest(project, "ops@v1", {"files": {}})
    (version.path.parent / "stray.gguf").write_bytes(b"GGUF")
    with pytest.raises(UsageError, match="outside the version"):
        registry.update_manifest(project, "ops@v1", {"exports": {"merged_gguf": "../stray.gguf"}})
    assert "merged_gguf" not in registry.get_version(project, "ops@v1").manifest["exports"]


def test_lineage_runs_to_the_base_with_documents_from_the_catalog(project: Project) -> None:
    with project.catalog() as conn:
        conn.execute("INSERT INTO documents (id, source_path, version, status, sha256, title) "
                     "VALUES ('doc-a', '/data/a.pdf', 1, 'ingested', 'ff', 'Chlorine limits')")
    add_version(project, "first", documents=("doc-a",))
    add_version(project, parent="first@v1", documents=("doc-a", "doc-gone"))
    result = registry.lineage(project, "ops")
    assert [step["ref"] for step in result["chain"]] == ["ops@v1", "first@v1"]
    assert result["base"]["spec"] == "tiny" and result["dataset"]["sha256"] == "cd" * 32
    assert result["documents"] == [
        {"id": "doc-a", "source_path": "/data/a.pdf", "title": "Chlorine limits", "in_catalog": True},
        {"id": "doc-gone", "source_path": None, "title": None, "in_catalog": False}]
    registry.delete_version(project, "first@v1", force=True)
    assert registry.lineage(project, "ops")["missing_parent"] == "first@v1"


def _gguf(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"GGUF" + b"\0" * 16)
    return path


def test_serving_files_and_runtime_resolution(project: Project) -> None:
    from llmforge.inference.runtime import resolve_model_files

    base = _gguf(project.path("models") / "base" / "tiny.gguf")
    version = add_version(project)
    with pytest.raises(NotFoundError, match=r"has no GGUF export: run `llmforge models export ops@v1`"):
        registry.serving_files(project, "ops@v1")
    _gguf(version.path / "gguf" / "adapter.gguf")
    registry.update_manifest(project, "ops@v1", {"base": {"gguf": "models/base/tiny.gguf"},
                                                 "exports": {"adapter_gguf": "gguf/adapter.gguf"}})
    expected = (base, version.path / "gguf" / "adapter.gguf")
    assert registry.serving_files(project, "ops@v1") == expected
    assert resolve_model_files(project, "ops@v1") == expected == resolve_model_files(project, "ops")
    _gguf(version.path / "gguf" / "merged.gguf")
    registry.update_manifest(project, "ops@v1", {"exports": {"merged_gguf": "gguf/merged.gguf"}})
    assert resolve_model_files(project, "ops") == (version.path / "gguf" / "merged.gguf", None)
    assert resolve_model_files(project, "ops@1")[0] == version.path / "gguf" / "merged.gguf"
    with pytest.raises(NotFoundError, match="unknown model 'gpt-17'.*trained model: ops"):
        resolve_model_files(project, "gpt-17")
    add_version(project)   # a newer version, trained but not exported: serving keeps to v1
    assert resolve_model_files(project, "ops") == (version.path / "gguf" / "merged.gguf", None)
    with pytest.raises(NotFoundError, match="ops@v2 has no GGUF export"):
        resolve_model_files(project, "ops@v2")
    (version.path / "gguf" / "merged.gguf").write_bytes(b"junk")
    with pytest.raises(UsageError, match="not a GGUF"):
        resolve_model_files(project, "ops")


def test_get_runtime_loads_the_promoted_version_with_its_adapter(project: Project,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge.inference import runtime

    loaded: list[tuple[str, Path, str | None]] = []

    class FakeRuntime:
        def __init__(self, name: str, path: Path, options: runtime.RuntimeOptions) -> None:
            loaded.append((name, path, options.lora_path))

        def close(self) -> None:
            loaded.append(("closed",))

    monkeypatch.setattr(runtime, "LlamaRuntime", FakeRuntime)
    monkeypatch.setattr(runtime, "_RUNTIMES", {})
    base = _gguf(project.path("models") / "base" / "tiny.gguf")
    for _ in range(2):
        version = add_version(project)
        _gguf(version.path / "gguf" / "adapter.gguf")
        registry.update_manifest(project, version.ref, {"base": {"gguf": str(base)},
                                                        "exports": {"adapter_gguf": "gguf/adapter.gguf"}})
    registry.promote(project, "ops@v1")
    runtime.get_runtime(project, "ops")
    runtime.get_runtime(project, "ops@v1")  # the same model: loaded once
    registry.promote(project, "ops@v2")
    runtime.get_runtime(project, "ops")  # a promotion takes effect without a restart
    adapters = [project.path("models") / "ops" / v / "gguf" / "adapter.gguf" for v in ("v1", "v2")]
    assert loaded == [("ops@v1", base, str(adapters[0])), ("ops@v2", base, str(adapters[1]))]
    os.utime(adapters[1], ns=(1, 1))   # exported again: the server reloads the new file
    runtime.get_runtime(project, "ops")
    runtime.get_runtime(project, "ops")
    assert loaded[2:] == [("closed",), ("ops@v2", base, str(adapters[1]))]
    with pytest.raises(UsageError, match="brings its own LoRA"):
        runtime.get_runtime(project, "ops@v1", lora_path=str(base))


def test_models_endpoint_lists_promoted_repository_models(project: Project) -> None:
    pytest.importorskip("fastapi")

    from tests.serve.live import admin_client

    add_version(project)
    add_version(project, "draft")
    registry.promote(project, "ops@v1")
    with admin_client(project) as client:
        ids = [m["id"] for m in client.get("/v1/models").json()["data"]]
    assert {"ops", "ops@v1"} <= set(ids) and not any(i.startswith("draft") for i in ids)
