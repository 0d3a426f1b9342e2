"""RAG answer quality on XQuAD with retrieval over the indexed passages (not the gold one handed over).

    .venv/bin/python bench/rag_xquad.py [--json] [--questions N] [--model NAME] [--languages ar,en]
                                        [--offset K] [--record FILE.jsonl] [--gold-baseline]
                                        [--all-passages]

``--all-passages`` is the issue's own protocol: all 240 passages are indexed and the first N
questions asked (the next N at ``--offset 1``, and so on; the issue's reference figures are the
first 30), then their gold passages are deleted from the index (``delete_document``, the path
``llmforge documents delete`` takes) and the same questions asked again: each should now be
refused. Sibling passages of the same article stay, so this refusal test is a hard one.

Otherwise (the default, a wider sample), per language every other passage (120 of 240) is ingested
and structured. A question whose gold
passage is indexed is answerable: we count answers containing a gold answer (case-folded, Arabic
search form) and answers citing the gold passage. A question whose passage was left out has its
answer nowhere in the index (it may sit in a sibling passage of the same article, which makes the
test harder than an unrelated question): we count honest refusals. N questions of each kind per
language, spread over all articles. ``--record`` writes one JSON line per question (the answer with
the model's draft and refusal reason, and the retrieved passages) for study without rerunning the
model. Targets from the issue: Arabic ≥ 50% and English ≥ 70%
answers with the gold answer, ≥ 90% of citations pointing at the gold passage, ≥ 80% refusals
when the answer is absent. ``--gold-baseline`` also asks the model each answerable question with
its gold paragraph alone (the issue's reference condition, no retrieval and no way out) and prints
the pipeline's share of gold answers against that one, on the same questions and model. Citations
are counted two ways: the share of all citations given that
point at the gold passage (the issue's measure), and the share of answerable questions whose
answer cites it (which a refusal also lowers).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO / "src"), str(REPO)]

XQUAD = REPO.parent / "shared" / "corpora" / "qa" / "xquad"


def load(language: str) -> tuple[list[str], list[tuple[str, list[str], int]]]:
    data = json.loads((XQUAD / f"xquad.{language}.json").read_text(encoding="utf-8"))["data"]
    passages, questions = [], []
    for article in data:
        for paragraph in article["paragraphs"]:
            passages.append(paragraph["context"])
            for qa in paragraph["qas"]:
                questions.append((qa["question"], [a["text"] for a in qa["answers"]], len(passages) - 1))
    return passages, questions


def spread(items: list, count: int, offset: int = 0) -> list:
    """``count`` items evenly spread over ``items``; another ``offset`` gives another sample."""
    step = max(1, len(items) // count)
    return items[offset % step::step][:count]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--questions", type=int, default=30)
    parser.add_argument("--model", default=None)
    parser.add_argument("--languages", default="ar,en")
    parser.add_argument("--offset", type=int, default=0, help="another sample of questions (0 to 5 at 20)")
    parser.add_argument("--record", type=Path, default=None)
    parser.add_argument("--gold-baseline", action="store_true",
                        help="also answer with the gold paragraph handed over, for a ratio")
    parser.add_argument("--all-passages", action="store_true",
                        help="the issue's protocol: all passages indexed, the first N questions, then their passages deleted")
    args = parser.parse_args()
    if not XQUAD.is_dir():
        sys.exit(f"XQuAD not found at {XQUAD}")
    if args.questions < 1 or args.offset < 0:
        sys.exit("--questions must be at least 1 and --offset not negative")

    from llmforge.documents import delete_document, list_documents
    from llmforge.text.normalize import search_form
    from llmforge.ingest.pipeline import ingest_paths
    from llmforge.project import init_project
    from llmforge.inference.rag import AgentSettings, ask, build_messages, clean_reply
    from llmforge.inference.runtime import get_runtime
    from llmforge.structure.pipeline import structure_project
    from llmforge.structure.search import search

    record = args.record.open("w", encoding="utf-8") if args.record else None

    def ask_and_record(project, question: str, settings, kind: str, golds: list[str], passage: int):
        answer = ask(project, question, settings)
        if record:
            hits = search(project, question, k=int(project.settings["rag.k"]), mode=settings.mode).hits
            row = {"language": language, "kind": kind, "question": question, "golds": golds,
                   "gold_passage": f"{passage:04d}", "answer": answer.to_dict(),
                   "hits": [{"passage": Path(h.source_path).stem, "chunk_id": h.chunk_id, "score": h.score,
                             "vector_score": h.vector_score, "text": h.text} for h in hits]}
            record.write(json.dumps(row, ensure_ascii=False) + "\n")
            record.flush()
        return answer

    def gold_baseline(project, language: str, question: str, golds: list[str], paragraph: str) -> bool:
        """The model's answer with the gold paragraph as its only source and no way out."""
        runtime = get_runtime(project, args.model)
        max_tokens = int(project.settings["rag.max_tokens"])
        messages, _ = build_messages(question, [SimpleNamespace(text=paragraph)], runtime, language, None,
                                     max_tokens, way_out=False)
        reply = runtime.chat(messages, max_tokens=max_tokens, temperature=0.0)["choices"][0]["message"]["content"]
        text = search_form(clean_reply(reply or "", question))
        return any(search_form(g) in text for g in golds)

    results = {}
    started = time.perf_counter()
    with tempfile.TemporaryDirectory() as tmp:
        for language in args.languages.split(","):
            passages, questions = load(language)
            if args.all_passages and args.offset * args.questions >= len(questions):
                sys.exit(f"--offset {args.offset} starts past the {len(questions)} {language} questions")
            folder = Path(tmp) / f"passages-{language}"
            folder.mkdir()
            for number in range(0, len(passages), 1 if args.all_passages else 2):
                (folder / f"{number:04d}.txt").write_text(passages[number], encoding="utf-8")
            project = init_project(Path(tmp) / f"project-{language}")
            ingest_paths(project, [folder], recursive=True)
            structure_project(project)
            if args.all_passages:
                answerable = questions[args.offset * args.questions:(args.offset + 1) * args.questions]
                absent = answerable
            else:
                answerable = spread([q for q in questions if q[2] % 2 == 0], args.questions, args.offset)
                absent = spread([q for q in questions if q[2] % 2 == 1], args.questions, args.offset)
            settings = AgentSettings(model=args.model)
            contains = cites = false_refusals = citations = gold_citations = baseline = 0
            for question, golds, passage in answerable:
                answer = ask_and_record(project, question, settings, "answerable", golds, passage)
                text = search_form(answer.answer)
                contains += any(search_form(g) in text for g in golds)
                to_gold = [Path(c.source_path).stem == f"{passage:04d}" for c in answer.citations]
                cites += any(to_gold)
                citations, gold_citations = citations + len(to_gold), gold_citations + sum(to_gold)
                false_refusals += answer.refused
                if args.gold_baseline:
                    baseline += gold_baseline(project, language, question, golds, passages[passage])
            if args.all_passages:
                gone = {f"{passage:04d}" for _, _, passage in absent}
                for document in list_documents(project):
                    if Path(document["source_path"]).stem in gone:
                        delete_document(project, document["id"])
            refusals = sum(ask_and_record(project, question, settings, "absent", golds, passage).refused
                           for question, golds, passage in absent)
            n = len(answerable)
            results[language] = {"answerable": n, "contains_gold_answer": contains / n, "cites_gold_passage": cites / n,
                                 "citations_to_gold": gold_citations / max(1, citations), "citations": citations,
                                 "false_refusals": false_refusals / n, "absent": len(absent),
                                 "honest_refusals": refusals / len(absent)}
            if args.gold_baseline:
                results[language]["gold_paragraph_given"] = baseline / n
    if args.json:
        print(json.dumps({"results": results, "seconds": time.perf_counter() - started}, indent=2))
        return
    for language, row in results.items():
        print(f"{language}: {row['answerable']} answerable: gold answer in {row['contains_gold_answer']:.0%}, "
              f"gold passage cited {row['cites_gold_passage']:.0%} "
              f"({row['citations_to_gold']:.0%} of {row['citations']} citations point at it), "
              f"refused {row['false_refusals']:.0%}; "
              f"{row['absent']} with the passage absent: refused {row['honest_refusals']:.0%}")
        if "gold_paragraph_given" in row:
            given = row["gold_paragraph_given"]
            ratio = f"ratio {row['contains_gold_answer'] / given:.2f}" if given else "no ratio"
            print(f"    with the gold paragraph handed over instead: gold answer in {given:.0%} ({ratio})")
    print(f"{time.perf_counter() - started:.0f} s")


if __name__ == "__main__":
    main()
