"""A small project for the web page's tests and bench: three text documents (English, Arabic, and
one full of markup that must show as text), users admin/operator/analyst with passwords, and a
scripted model that answers fast with the first passage it is shown, streamed word by word."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from llmforge.project import Project

PASSWORDS = {"admin": "admin password 1", "operator": "operator password 1", "analyst": "analyst password 1"}
HOSTILE_MARKUP = "<script>alert(1)</script> <img src=x onerror=alert(1)>"
DOCUMENTS = {
    "chlorine.txt": (
        "Water treatment plant: daily checks\n\n"
        "Pumps are inspected every Monday by the maintenance crew, who record vibration and bearing temperature.\n\n"
        "The duty operator checks the chlorine analyser every four hours and writes the reading in the log.\n\n"
        "Free chlorine at the plant outlet must stay between 0.2 and 1.0 mg/L; outside that range the shift "
        "supervisor is called at once."),
    "operations.txt": (
        "مكتب العمليات\n\n"
        "يرد مكتب العمليات على الرقم الداخلي 2214 في أي وقت من اليوم.\n\n"
        "تُحفظ سجلات المناوبة في الخزانة الزرقاء بجوار غرفة التحكم لمدة خمس سنوات."),
    "hostile.txt": (
        "Valve maintenance note\n\n"
        f"The gate valve torque note says {HOSTILE_MARKUP} and the gate valve torque is 45 newton metres."),
}
QUESTIONS = {"en": "How often does the duty operator check the chlorine analyser?",
             "ar": "ما هو الرقم الداخلي لمكتب العمليات؟",
             "hostile": "What is the gate valve torque?"}


def make_project(root: Path, settings: dict[str, str] | None = None, *, encrypt: bool = False) -> Project:
    """The project under ``root/project`` (``encrypt``: its text in the encrypted blob store),
    documents ingested and structured, users added."""
    from llmforge.auth.users import add_user
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.project import init_project
    from llmforge.settings import write_setting
    from llmforge.structure.pipeline import structure_project

    project = init_project(root / "project", encrypt=encrypt)
    for name, value in {"ratelimit.ip_per_minute": "0", "ratelimit.user_per_minute": "0",
                        **(settings or {})}.items():
        write_setting(project.root / "llmforge.toml", name, value)
    project = Project(project.root)
    files = root / "files"
    files.mkdir()
    for name, text in DOCUMENTS.items():
        (files / name).write_text(text, encoding="utf-8")
    ingest_paths(project, sorted(files.iterdir()))
    structure_project(project)
    for name, password in PASSWORDS.items():
        add_user(project, name, name, password)
    return project


class ScriptedRuntime:
    """Stands in for a language model: replies with the line of the first source it is shown that
    shares most words with the question (so the answer is grounded and cites it), streamed a word
    at a time."""

    name = "scripted"
    n_ctx = 4096
    chat_format = None

    def __init__(self, delay: float = 0.02) -> None:
        self.delay = delay

    def count_tokens(self, text: str) -> int:
        return len(text.split()) + 1

    def chat_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        return sum(self.count_tokens(m["content"]) for m in messages)

    def reply(self, messages: list[dict[str, str]]) -> str:
        prompt = messages[-1]["content"]
        source = re.search(r"\[1\]: (.+?)(?:\n\n|$)", prompt, re.DOTALL)
        if source is None:
            return "I could not find this in the documents."
        question = set(re.findall(r"\w+", prompt.rsplit("\n\n", 1)[-1].lower()))
        return max(source[1].strip().splitlines(), key=lambda line: len(question & set(re.findall(r"\w+", line.lower()))))

    def chat(self, messages: list[dict[str, str]], *, stream: bool = False, **_options: Any) -> Any:
        text = self.reply(messages)
        if not stream:
            return {"choices": [{"message": {"role": "assistant", "content": text}}],
                    "usage": {"prompt_tokens": self.chat_prompt_tokens(messages),
                              "completion_tokens": len(re.findall(r"\S+\s*", text))}}   # one per piece
        return self._pieces(text)

    def _pieces(self, text: str) -> Iterator[dict[str, Any]]:
        yield {"choices": [{"delta": {"role": "assistant"}}]}
        for piece in re.findall(r"\S+\s*", text):
            time.sleep(self.delay)
            yield {"choices": [{"delta": {"content": piece}}]}
        yield {"choices": [{"delta": {}, "finish_reason": "stop"}]}


@contextmanager
def scripted_model(runtime: ScriptedRuntime | None = None) -> Iterator[ScriptedRuntime]:
    """Answer /v1/ask with ``runtime`` (a :class:`ScriptedRuntime`) instead of a loaded model."""
    import pytest

    runtime = runtime or ScriptedRuntime()
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr("llmforge.serve.routers.knowledge.served_runtime", lambda *_args, **_kwargs: runtime)
        yield runtime
