"""lancedb imported without its REST namespace client's ``__init__``: a real local table works the
same through it, and the deferred package is whole as soon as anything reads from it.

Each check runs in a new interpreter, since this one may have imported lancedb already.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

from llmforge.structure.index import _defer_package_init

SRC = Path(__file__).resolve().parents[2] / "src"


def child_env() -> dict[str, str]:
    """This test's environment (its home, the network guard) with this checkout's source first."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(SRC), os.environ.get("PYTHONPATH", "")) if p)}

# Builds a chunk table with both full-text indexes and queries it every way search does; prints
# the results and what the import left loaded.
TABLE_SCRIPT = textwrap.dedent("""
    import json, sys
    from pathlib import Path
    import numpy as np
    if sys.argv[2] == "plain":
        import lancedb   # the whole package, the usual way
    from llmforge.structure.index import ChunkIndex, import_lancedb
    import_lancedb()
    loaded = sorted(m for m in sys.modules if m.startswith("lance_namespace_urllib3_client.api"))
    import overrides
    restored = overrides.override.__module__
    index = ChunkIndex(Path(sys.argv[1]))
    rng = np.random.default_rng(7)
    vectors = rng.normal(size=(40, 8)).astype(np.float32)
    texts = [f"pump station {n} pressure check" if n % 3 else f"مضخة رقم {n} صيانة" for n in range(40)]
    index.add({"chunk_id": [f"c{n:02d}" for n in range(40)], "document_id": [f"d{n % 5}" for n in range(40)],
               "seq": list(range(40)), "page_start": [1] * 40, "page_end": [1] * 40, "text": texts,
               "text_en": texts, "text_ar": texts, "language": ["en"] * 40}, vectors)
    created = index.refresh_indexes(vector_index_min_rows=30)
    out = {"count": index.count(), "dim": index.dim(), "created": created["created"],
           "vector": index.search_vector(vectors[3], 10),
           "english": index.search_keyword("pump pressure", "en", 10),
           "arabic": index.search_keyword("صيانة", "ar", 10)}
    index.delete_documents(["d1"])
    out["after_delete"] = index.count()
    print(json.dumps({"results": out, "api_loaded": loaded, "overrides": restored}, default=float))
""")


def run_table(folder: Path, how: str) -> dict:
    done = subprocess.run([sys.executable, "-c", TABLE_SCRIPT, str(folder), how], capture_output=True, text=True,
                          env=child_env(), timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


def test_a_local_table_works_the_same_through_the_deferred_client(tmp_path: Path) -> None:
    deferred = run_table(tmp_path / "deferred", "deferred")
    plain = run_table(tmp_path / "plain", "plain")
    assert deferred["results"] == plain["results"]
    results = deferred["results"]
    assert results["count"] == 40 and results["after_delete"] == 32 and results["dim"] == 8
    assert set(results["created"]) == {"text_en_idx", "text_ar_idx", "vector_idx"}
    assert results["vector"][0]["chunk_id"] == "c03" and len(results["english"]) == 10 and results["arabic"]
    assert deferred["api_loaded"] == [] and plain["api_loaded"]   # the REST API classes were never built
    assert deferred["overrides"] == "overrides.overrides"        # the checking decorator is back


def test_the_deferred_client_is_whole_when_read(tmp_path: Path) -> None:
    script = textwrap.dedent("""
        import sys
        from llmforge.structure.index import import_lancedb
        import_lancedb()
        client = sys.modules["lance_namespace_urllib3_client"]
        assert "ApiClient" not in vars(client)
        from lance_namespace_urllib3_client import ApiClient, Configuration
        from lance_namespace_urllib3_client.api.metadata_api import MetadataApi
        import lance_namespace
        assert MetadataApi(ApiClient(Configuration(host="http://127.0.0.1:9"))).api_client is not None
        assert client.__version__ and callable(lance_namespace.connect)
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=child_env())
    assert done.returncode == 0 and done.stdout.strip() == "ok", done.stderr


def test_defer_package_init(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    package = tmp_path / "deferred_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("import os\nos.environ['DEFERRED_PKG_RUNS'] += 'x'\nVALUE = 42\n")
    (package / "part.py").write_text("PART = 'part'\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setenv("DEFERRED_PKG_RUNS", "")
    monkeypatch.delitem(sys.modules, "deferred_pkg", raising=False)
    monkeypatch.delitem(sys.modules, "deferred_pkg.part", raising=False)
    _defer_package_init("deferred_pkg")
    from deferred_pkg.part import PART

    assert PART == "part" and os.environ["DEFERRED_PKG_RUNS"] == ""
    import deferred_pkg

    assert deferred_pkg.VALUE == 42 and deferred_pkg.VALUE == 42 and os.environ["DEFERRED_PKG_RUNS"] == "x"
    with pytest.raises(AttributeError):
        deferred_pkg.missing  # noqa: B018
    _defer_package_init("deferred_pkg")   # already imported: left alone
    assert sys.modules["deferred_pkg"] is deferred_pkg
    _defer_package_init("no_such_package_here")
    assert "no_such_package_here" not in sys.modules
