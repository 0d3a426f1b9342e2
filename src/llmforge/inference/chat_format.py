"""Chat formats: how a conversation becomes a prompt, the same for serving and for training.

A GGUF without a chat template (the Gemma 3 270M base model) would silently get llama-2's format
from llama-cpp-python; the architecture's own format is used instead, and a system message is
folded into the first user turn where that format has no system role. Training renders its rows
with the very same formatter (:func:`render_chat`), so a model learns the format it is served with.
"""

from __future__ import annotations

from typing import Any

_FALLBACK_FORMATS = {"gemma3": "gemma", "gemma2": "gemma", "gemma": "gemma", "llama": "llama-2",
                     "qwen2": "qwen", "mistral": "mistral-instruct"}
_NO_SYSTEM_ROLE = {"gemma"}


def fallback_chat_format(architecture: str) -> str:
    """llama-cpp-python's chat format for a GGUF without a template (training uses the same)."""
    return _FALLBACK_FORMATS.get(architecture, "chatml")


def fold_system(chat_format: str | None, messages: list[dict[str, str]]) -> list[dict[str, str]]:
    """Messages for ``chat_format``: system text goes into the first user turn where the format
    has no system role (it would be dropped)."""
    if chat_format not in _NO_SYSTEM_ROLE:
        return messages
    system = "\n\n".join(m["content"] for m in messages if m["role"] == "system")
    rest = [dict(m) for m in messages if m["role"] != "system"]
    if system and rest and rest[0]["role"] == "user":
        rest[0]["content"] = f"{system}\n\n{rest[0]['content']}"
    return rest


# llama-cpp-python's formatter function for each fallback chat format.
FALLBACK_FORMATTERS = {"gemma": "format_gemma", "llama-2": "format_llama2", "qwen": "format_qwen",
                       "mistral-instruct": "format_mistral_instruct", "chatml": "format_chatml"}


def render_chat(tokenizer: Any, architecture: str, messages: list[dict[str, str]]) -> tuple[str, str]:
    """(prompt, completion): everything up to the last assistant turn, and that turn.

    With the tokenizer's chat template where the model has one; otherwise with the very
    formatter llama-cpp-python falls back to when it serves this architecture (``gemma`` for
    Gemma 3 base), so the model learns the format it will be served with.
    """
    if getattr(tokenizer, "chat_template", None):
        prompt = tokenizer.apply_chat_template(messages[:-1], tokenize=False, add_generation_prompt=True)
        full = tokenizer.apply_chat_template(messages, tokenize=False)
        if not full.startswith(prompt):   # a template that rewrites history; train on the whole text
            return "", full
        return prompt, full[len(prompt):]
    from llama_cpp import llama_chat_format

    name = fallback_chat_format(architecture)
    formatter = getattr(llama_chat_format, FALLBACK_FORMATTERS[name])
    response = formatter(messages=fold_system(name, list(messages[:-1])))
    stop = response.stop if isinstance(response.stop, str) else (response.stop or [None])[0]
    return response.prompt, messages[-1]["content"] + (stop or tokenizer.eos_token or "")
