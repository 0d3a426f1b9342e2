"""What callers may read of library records: no server path in any response.

Library records carry absolute paths (a version's folder, a dataset's folder, an export's file)
that the CLI shows to the operator who owns the machine. Over HTTP they would map the server's file
system for any caller, so routes pass records through :func:`without_paths`.
"""

from __future__ import annotations

from pathlib import PurePath
from typing import Any

PATH_KEYS = frozenset({"path", "hf_dir", "gguf", "folder", "adapter_dir", "run_dir", "log"})


def without_paths(record: Any) -> Any:
    """``record`` with path-valued keys dropped and path-valued sources reduced to file names."""
    if isinstance(record, dict):
        return {key: without_paths(value) for key, value in record.items() if key not in PATH_KEYS}
    if isinstance(record, (list, tuple)):
        return [without_paths(item) for item in record]
    if isinstance(record, str) and record.startswith("/") and len(record) > 1:
        return PurePath(record).name
    return record
