"""What callers may read of library records: no server path in any response.

Library records carry absolute paths (a version's folder, a dataset's folder, an export's file, a
document's original path, an agent's model file) that the CLI shows to the operator who owns the
machine. Over HTTP they would map the server's file system for any caller, so routes pass records
through :func:`without_paths`: folders go, and a file keeps only its name. Only values under keys
that hold paths are touched; a passage of text that happens to start with "/" is left alone.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

DROPPED = frozenset({"path", "hf_dir", "gguf", "folder", "adapter_dir", "run_dir", "log"})
NAMED = frozenset({"source_path", "model", "base", "sources", "lora"})   # keep the file's name only


def without_paths(record: Any) -> Any:
    """``record`` with folder-valued keys dropped and file paths under path keys reduced to names."""
    if isinstance(record, dict):
        return {key: _name_only(value) if key in NAMED else without_paths(value)
                for key, value in record.items() if key not in DROPPED}
    if isinstance(record, (list, tuple)):
        return [without_paths(item) for item in record]
    return record


def _name_only(value: Any) -> Any:
    if isinstance(value, str) and ("/" in value or "\\" in value):
        return PurePath(value.replace("\\", "/")).name
    if isinstance(value, (list, tuple)):
        return [_name_only(item) for item in value]
    return without_paths(value)
