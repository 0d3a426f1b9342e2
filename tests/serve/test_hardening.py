"""What a caller can learn and break through the generation routes: completion ids that never
collide."""

from __future__ import annotations

import json

import pytest

pytest.importorskip("fastapi")

from fastapi.testclient import TestClient  # noqa: E402

from llmforge.project import Project  # noqa: E402
from llmforge.serve.app import create_app  # noqa: E402

SMALL_MODEL = "qwen2.5-coder-0.5b-instruct"
CHAT = "/v1/chat/completions"


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
