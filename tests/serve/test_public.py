from __future__ import annotations

from llmforge.serve.routers.public import without_paths


def test_folders_go_and_files_keep_their_names_only() -> None:
    record = {"ref": "ops@v1", "path": "/srv/kb/models/ops/v1", "manifest": {"base": {"gguf": "/srv/m.gguf",
              "spec": "qwen"}}, "source_path": "/home/op/reports/plan.pdf", "sources": ["corpus", "/data/x.jsonl"],
              "hits": [{"text": "/etc/passwd is a file name in this passage", "source_path": "C:\\docs\\a.txt"}],
              "model": "/srv/house-model.gguf"}
    assert without_paths(record) == {
        "ref": "ops@v1", "manifest": {"base": {"spec": "qwen"}}, "source_path": "plan.pdf",
        "sources": ["corpus", "x.jsonl"], "hits": [{"text": "/etc/passwd is a file name in this passage",
                                                     "source_path": "a.txt"}], "model": "house-model.gguf"}
