"""``llmforge models ...`` through the real entry point (one-line errors, exit codes, --json)."""

from __future__ import annotations

import json
import sys
from typing import Any

import pytest
import typer

from llmforge import registry
from llmforge.project import Project
from tests.test_registry import add_version


@pytest.fixture
def models_cli(cli, monkeypatch: pytest.MonkeyPatch):
    """The ``cli`` fixture, with the ``models`` group mounted if the app does not mount it yet."""
    from llmforge.cli import app
    from llmforge.cli.models import register

    if not any(group.name == "models" for group in app.registered_groups):
        local = typer.Typer()
        register(local)
        monkeypatch.setattr(app, "registered_groups", [*app.registered_groups, *local.registered_groups])
    return cli


def as_json(result: Any) -> Any:
    assert result.exit_code == 0, result.stderr
    return json.loads(result.stdout)


def test_list_and_show(project: Project, models_cli) -> None:
    assert "no model versions yet" in models_cli("models", "list").stdout
    add_version(project, ppl=12.5)
    add_version(project, parent="ops@v1", ppl=11.0)
    registry.promote(project, "ops@v1")
    table = models_cli("models", "list")
    assert table.exit_code == 0 and "ops@v1" in table.stdout and "12.500" in table.stdout and "*" in table.stdout
    listed = as_json(models_cli("models", "list", "ops", "--json"))
    assert [(v["ref"], v["promoted"]) for v in listed] == [("ops@v1", True), ("ops@v2", False)]
    shown = as_json(models_cli("models", "show", "ops@v2", "--json"))
    assert shown["problems"] == [] and [s["ref"] for s in shown["lineage"]["chain"]] == ["ops@v2", "ops@v1"]
    text = models_cli("models", "show", "ops").stdout
    assert "ops@v1 (promoted)" in text and "files: 2 verified" in text
    assert "ops@v2" in models_cli("models", "lineage", "ops@v2").stdout


def test_promote_and_its_refusals(project: Project, models_cli) -> None:
    add_version(project, ppl=30.0, base_ppl=20.0)
    refused = models_cli("models", "promote", "ops@v1")
    assert refused.exit_code == 1 and refused.stderr.count("\n") == 1
    assert "worse than the base model: eval perplexity 30 vs 20" in refused.stderr and not refused.stdout
    assert as_json(models_cli("models", "promote", "ops@v1", "--force", "--json"))["promoted"] is True
    missing = models_cli("models", "show", "ops@v7")
    assert missing.exit_code == 1 and "no version v7" in missing.stderr
    bad = models_cli("models", "show", "Bad Name")
    assert bad.exit_code == 2 and "error:" in bad.stderr


def test_delete_asks_or_needs_yes(project: Project, models_cli, monkeypatch: pytest.MonkeyPatch) -> None:
    add_version(project)
    add_version(project)
    registry.promote(project, "ops@v2", force=True)
    not_a_tty = models_cli("models", "delete", "ops@v1")
    assert not_a_tty.exit_code == 2 and "--yes" in not_a_tty.stderr
    promoted = models_cli("models", "delete", "ops@v2", "--yes")
    assert promoted.exit_code == 1 and "promoted version" in promoted.stderr
    monkeypatch.setattr(sys.stdin, "isatty", lambda: True)
    monkeypatch.setattr(typer, "confirm", lambda *_args, **_kwargs: False)
    assert models_cli("models", "delete", "ops@v1").exit_code == 1
    assert len(registry.list_versions(project)) == 2
    monkeypatch.setattr(typer, "confirm", lambda *_args, **_kwargs: True)
    assert models_cli("models", "delete", "ops@v1").exit_code == 0
    deleted = as_json(models_cli("models", "delete", "ops@v2", "--force", "--yes", "--json"))
    assert deleted["ref"] == "ops@v2" and registry.list_versions(project) == []


def test_export_calls_the_exporter_and_renders_its_result(project: Project, models_cli,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    import types

    calls: list[tuple[str, str, str]] = []

    def export_version(_project: Project, ref: str, *, kind: str, quantization: str) -> dict[str, Any]:
        calls.append((ref, kind, quantization))
        return {"ref": ref, "kind": kind, "path": "gguf/merged-f16.gguf"}

    monkeypatch.setitem(sys.modules, "llmforge.train.export", types.SimpleNamespace(export_version=export_version))
    result = as_json(models_cli("models", "export", "ops@v1", "--kind", "merged", "--quantization", "f16", "--json"))
    assert result["path"] == "gguf/merged-f16.gguf" and calls == [("ops@v1", "merged", "f16")]


def test_export_refuses_an_unknown_kind(project: Project, models_cli) -> None:
    result = models_cli("models", "export", "ops@v1", "--kind", "lora")
    assert result.exit_code == 2 and "unknown export kind 'lora'" in result.stderr
