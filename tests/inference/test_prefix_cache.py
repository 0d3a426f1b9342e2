"""A chat prompt's fixed beginning (template and system message) is evaluated once per model and
set back before a later prompt that starts with it, even after prompts that start otherwise, and
the replies are the ones the model gives without it."""

from __future__ import annotations

from collections.abc import Iterator
from importlib.util import find_spec

import pytest

from llmforge.inference.runtime import MIN_PREFIX_TOKENS, LlamaRuntime, RuntimeOptions, set_omp_wait_policy
from llmforge.packaged import PACKAGED

MODEL = "gemma3-270m"   # the fast packaged GGUF
INSTRUCTIONS = {
    "en": "Answer the question using only the sources below, in one short sentence in English. If the sources "
          "do not contain the answer, reply exactly: I could not find this in the documents.",
    "ar": "أجب عن السؤال مستعيناً بالمصادر أدناه فقط، بجملة قصيرة باللغة العربية.",
}
ASKS = [("en", "Source [1]: The analyser is checked every four hours.\n\nQuestion: How often is it checked?"),
        ("ar", "المصدر [1]: تغلق محطة الضخ من الثالث إلى السابع من مارس.\n\nالسؤال: متى تغلق المحطة؟"),
        ("en", "Source [1]: Pump station 4 closes on 3 March.\n\nQuestion: When does the station close?")]


@pytest.fixture(scope="module")
def runtime() -> Iterator[LlamaRuntime]:
    set_omp_wait_policy("auto")   # before llama_cpp loads: spin-waiting on a busy host is many times slower
    pytest.importorskip("llama_cpp")
    from llmforge.packaged import assemble

    if find_spec(PACKAGED[MODEL].parts[-1][0]) is None:
        pytest.skip(f"the packaged {MODEL} GGUF is not installed")
    model = LlamaRuntime(MODEL, assemble(MODEL), RuntimeOptions(n_ctx=512))   # the machine cache's copy
    yield model
    model.close()


def _asked(runtime: LlamaRuntime, keep: bool) -> list[tuple[str, int, int]]:
    """Each ask's reply, prompt tokens and tokens llama.cpp evaluated for it, from a fresh context."""
    runtime.keep_prefixes = keep
    runtime._llm.reset()
    runtime._prefixes.clear()
    seen = []
    for language, user in ASKS:
        messages = [{"role": "system", "content": INSTRUCTIONS[language]}, {"role": "user", "content": user}]
        before = runtime.perf()["prompt_eval_tokens"]
        reply = runtime.chat(messages, max_tokens=8)
        seen.append((reply["choices"][0]["message"]["content"], runtime.chat_prompt_tokens(messages),
                     runtime.perf()["prompt_eval_tokens"] - before))
    return seen


@pytest.mark.slow
def test_the_instructions_are_evaluated_once_and_the_replies_stay(runtime: LlamaRuntime) -> None:
    plain, kept = _asked(runtime, keep=False), _asked(runtime, keep=True)
    assert [reply for reply, _, _ in kept] == [reply for reply, _, _ in plain]
    english = [{"role": "system", "content": INSTRUCTIONS["en"]}, {"role": "user", "content": ASKS[2][1]}]
    prefix = runtime.fixed_prefix(english, runtime._chat_tokens(english))
    assert len(prefix) >= MIN_PREFIX_TOKENS
    _, prompt, evaluated = plain[2]
    assert evaluated > prompt - 5   # without: after the Arabic ask, only the template's first tokens are shared
    _, prompt, evaluated = kept[2]
    assert evaluated == prompt - len(prefix)   # with: the English instructions are set back, not evaluated


def test_a_prompt_without_a_fixed_beginning_is_left_alone(runtime: LlamaRuntime) -> None:
    one = [{"role": "user", "content": "Say hi."}]
    assert runtime.fixed_prefix(one, runtime._chat_tokens(one)) == ()
    short = [{"role": "system", "content": "Hi."}, {"role": "user", "content": "Say hi."}]   # under MIN_PREFIX_TOKENS
    assert runtime.fixed_prefix(short, runtime._chat_tokens(short)) == ()


def test_a_kept_beginning_is_a_prefix_of_the_prompt(runtime: LlamaRuntime) -> None:
    for language, user in ASKS:
        messages = [{"role": "system", "content": INSTRUCTIONS[language]}, {"role": "user", "content": user}]
        tokens = runtime._chat_tokens(messages)
        prefix = runtime.fixed_prefix(messages, tokens)
        assert tuple(tokens[:len(prefix)]) == prefix and len(prefix) < len(tokens)
        assert INSTRUCTIONS[language] in runtime._llm.detokenize(list(prefix)).decode("utf-8", "replace")
