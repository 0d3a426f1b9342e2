"""The OpenAI-compatible routes: ``POST /v1/chat/completions`` (a language model, or
``agent:NAME`` for answers from the documents with citations), ``POST /v1/completions``,
``POST /v1/embeddings`` and ``GET /v1/models``.

A caller names a model from ``GET /v1/models``, never a file: see
:func:`llmforge.inference.runtime.resolve_served_model`."""

from __future__ import annotations

import base64
import json
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import ExitStack
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from llmforge.errors import UsageError
from llmforge.inference.agents import agent_settings, list_agents
from llmforge.inference.rag import ask
from llmforge.inference.runtime import served_runtime, servable_models
from llmforge.project import Project
from llmforge.serve.auth import Caller, check_agent, require
from llmforge.serve.routers.public import without_paths
from llmforge.serve.state import ServedProject, account_tokens, check_model_choice, generation
from llmforge.structure.embedders import cached_embedder

router = APIRouter(tags=["openai"])


class ChatMessage(BaseModel):
    role: Literal["system", "user", "assistant"]
    content: str


class _Sampling(BaseModel):
    """Generation parameters shared by chat and plain completions (OpenAI names)."""

    max_tokens: int | None = Field(None, ge=1, le=4096)
    temperature: float = Field(0.0, ge=0.0, le=2.0)
    top_p: float = Field(0.95, gt=0.0, le=1.0)
    stop: str | list[str] | None = None
    stream: bool = False

    def stop_list(self) -> list[str] | None:
        return [self.stop] if isinstance(self.stop, str) else self.stop


class ChatRequest(_Sampling):
    model: str | None = Field(None, description="A language model listed by GET /v1/models (default: "
                              "serve.model), or 'agent:NAME' for answers from the documents with citations.")
    messages: list[ChatMessage] = Field(min_length=1)


class CompletionRequest(_Sampling):
    model: str | None = Field(None, description="A language model listed by GET /v1/models (default: serve.model).")
    prompt: str


class EmbeddingsRequest(BaseModel):
    input: str | list[str] = Field(description="A text or a list of texts.")
    model: str | None = Field(None, description="Ignored but echoed: the index's embedder is used.")
    encoding_format: Literal["float", "base64"] = "float"


@router.post("/v1/chat/completions")
def chat(body: ChatRequest, request: Request, project: ServedProject,
         caller: Caller = Depends(require("chat"))) -> Any:
    messages = [m.model_dump() for m in body.messages]
    if body.model and body.model.startswith("agent:"):
        check_agent(caller, body.model)
        return _agent_reply(project, body, messages, request, caller)
    check_model_choice(caller, body.model)
    runtime = served_runtime(project, body.model)
    return _generate(request, caller, runtime.name, body.stream, lambda: runtime.chat(
        messages, max_tokens=body.max_tokens, temperature=body.temperature, top_p=body.top_p,
        stop=body.stop_list(), stream=body.stream))


@router.post("/v1/completions")
def completions(body: CompletionRequest, request: Request, project: ServedProject,
                caller: Caller = Depends(require("chat"))) -> Any:
    check_model_choice(caller, body.model)
    runtime = served_runtime(project, body.model)
    return _generate(request, caller, runtime.name, body.stream, lambda: runtime.complete(
        body.prompt, max_tokens=body.max_tokens, temperature=body.temperature, top_p=body.top_p,
        stop=body.stop_list(), stream=body.stream))


@router.post("/v1/embeddings")
def embeddings(body: EmbeddingsRequest, request: Request, project: ServedProject,
               _caller: Caller = Depends(require("embed"))) -> dict[str, Any]:
    texts = [body.input] if isinstance(body.input, str) else body.input
    if not texts or len(texts) > 2048:
        raise UsageError("input must hold 1 to 2048 texts")
    embedder = cached_embedder(str(project.settings["structure.embedder"]))
    vectors = embedder.embed(texts)
    tokens = sum(embedder.count_tokens(text) for text in texts)
    request.state.model, request.state.prompt_tokens = embedder.name, tokens
    request.app.state.metrics.add_tokens(embedder.name, "prompt", tokens)
    data = [{"object": "embedding", "index": i, "embedding": _encoded(v, body.encoding_format)}
            for i, v in enumerate(vectors)]
    return {"object": "list", "model": embedder.name, "data": data,
            "usage": {"prompt_tokens": tokens, "total_tokens": tokens}}


@router.get("/v1/models")
def models(project: ServedProject, _caller: Caller = Depends(require("models:read"))) -> dict[str, Any]:
    return {"object": "list", "data": [{"id": name, "object": "model", "created": 0, "owned_by": "llmforge"}
                                       for name in _model_ids(project)]}


def _model_ids(project: Project) -> list[str]:
    """Every name a client may send as ``model``: language models, agents, the embedder."""
    names = [*servable_models(project), "agent:default", *(f"agent:{a['name']}" for a in list_agents(project)),
             str(project.settings["structure.embedder"])]
    return list(dict.fromkeys(names))


def _encoded(vector: Any, encoding_format: str) -> Any:
    """A vector as a list, or as base64 of little-endian float32, as the OpenAI client expects."""
    if encoding_format == "base64":
        return base64.b64encode(vector.astype("<f4").tobytes()).decode()
    return vector.tolist()


def _generate(request: Request, caller: Caller, model: str, stream: bool, start: Callable[[], Any]) -> Any:
    """A language model's reply within the caller's generation limits: streamed as server-sent
    events (the caller's slot held until the stream ends), or whole with its token counts."""
    slot = ExitStack()
    charge = slot.enter_context(generation(request, caller))
    try:
        reply = start()
    except BaseException:
        slot.close()
        raise
    if stream:
        return _sse(reply, request, model, charge, slot)
    with slot:
        charge(reply["usage"]["completion_tokens"])
    account_tokens(request, model, reply["usage"]["prompt_tokens"], reply["usage"]["completion_tokens"])
    return {**reply, "model": model}


def _agent_reply(project: Project, body: ChatRequest, messages: list[dict[str, str]], request: Request,
                 caller: Caller) -> Any:
    """An agent's answer to the last user message, as a chat completion with its citations; the
    system messages, if any, replace the agent's system prompt."""
    question = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
    system = "\n".join(m["content"] for m in messages if m["role"] == "system") or None
    agent_id, settings = agent_settings(project, body.model, system_prompt=system, max_tokens=body.max_tokens)
    runtime = served_runtime(project, settings.model, agent=agent_id)
    with generation(request, caller) as charge:
        answer = ask(project, question, settings, runtime)
        charge(answer.completion_tokens)
    account_tokens(request, agent_id, answer.prompt_tokens, answer.completion_tokens)
    created, completion_id = int(time.time()), f"chatcmpl-{uuid.uuid4().hex}"
    message = {"role": "assistant", "content": answer.answer}
    citations = without_paths([c.__dict__ for c in answer.citations])
    if body.stream:
        chunk = {"id": completion_id, "object": "chat.completion.chunk", "created": created,
                 "model": body.model, "choices": [{"index": 0, "delta": message, "finish_reason": "stop"}],
                 "citations": citations}
        return _sse(iter([chunk]), request, body.model or "agent:default")
    return {"id": completion_id, "object": "chat.completion", "created": created, "model": body.model,
            "choices": [{"index": 0, "message": message, "finish_reason": "stop"}],
            "usage": {"prompt_tokens": answer.prompt_tokens, "completion_tokens": answer.completion_tokens,
                      "total_tokens": answer.prompt_tokens + answer.completion_tokens},
            "citations": citations, "refused": answer.refused}


def _sse(chunks: Iterable[dict[str, Any]], request: Request, model: str,
         charge: Callable[[int], None] | None = None, slot: ExitStack | None = None) -> StreamingResponse:
    """Server-sent events of ``chunks``, then ``[DONE]``; each chunk counts as a completion token
    (charged to the caller's budget), and ``slot`` is released when the stream ends or breaks."""
    metrics = request.app.state.metrics

    def events() -> Iterator[str]:
        count = 0
        with slot or ExitStack():
            for chunk in chunks:
                count += 1
                yield f"data: {json.dumps(chunk, ensure_ascii=False)}\n\n"
            if charge is not None:
                charge(count)
        metrics.add_tokens(model, "completion", count)
        request.state.completion_tokens = count   # the usage row is written once the stream is sent
        yield "data: [DONE]\n\n"

    request.state.model = model
    return StreamingResponse(events(), media_type="text/event-stream")
