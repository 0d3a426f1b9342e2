"""GGUF exports of a fine-tuned version, each verified in llama.cpp before it is kept.

Two kinds:

* ``adapter``: the LoRA adapter as a GGUF (``gguf/adapter-f16.gguf``, a few MB) that llama.cpp
  applies at load time over the unchanged base GGUF. Needs a GGUF base.
* ``merged``: the adapter merged into the base weights and written as one GGUF
  (``gguf/model-<quantization>.gguf``), for a base given as a Hugging Face directory or for
  runtimes that cannot load adapters.

The converters are llama.cpp's own Python scripts, taken from the llama-cpp-python source archive
that ``scripts/setup.sh`` keeps next to its wheel (the same llama.cpp the runtime was built from;
PyPI's ``gguf`` lags behind it). Only the scripts, ``conversion/`` and ``gguf-py/`` are extracted,
once, into ``llama.cpp-<version>/`` in the machine cache (:func:`llmforge.packaged.cache_root`).
They run as subprocesses through this module's ``__main__``, which adjusts three behaviours
without editing the vendored files:

* a converter probing for ``tokenizer.model`` needs ``sentencepiece`` even where the file is
  absent; the probe is made to fail as "no file" so the converter falls back to the BPE path;
* the converter names a BPE pre-tokenizer by hashing the ids of a test string, so a vocabulary
  trained in code matches no known model ("BPE pre-tokenizer was not recognized"); the split
  rule the loaded transformers tokenizer really applies (Qwen2's or GPT-2's regex) names it
  instead, and a tokenizer check on the converted GGUF confirms the choice;
* a base dequantised from a GGUF (Gemma 3 has no ``tokenizer.model`` then) takes its tokenizer
  metadata verbatim from the base GGUF, which the training tokenizer was checked against.

Verification (:func:`verify_gguf`): llama.cpp greedily continues a prompt (for an adapter, the
start of the version's own training text, so ``adapter_changes_output`` says whether training
changed what the model says there; a fixed sentence otherwise); transformers, with the peft
adapter, reads the same ids. A float export must pick transformers' top token at
each of the first ``n_tokens`` steps (measured on Gemma 3 270M merged f16: logits within 0.04).
An adapter over a k-quant base GGUF cannot be held to that: llama.cpp quantises activations for
those weights, which moved logits by up to 1.6 while top-2 gaps were as small as 0.13. There the
adapter's effect (logits with minus without it, on each side) must agree within 35% plus the
engines' own difference on the base (a correct adapter measured 12% with 4% noise, a weak
two-step one 39% with 33%; an ignored one 100%), at 0.8-1.25 times its size (least squares: 1.02
for that weak one, 0 ignored, 2 when alpha is applied twice). A quantised merged export may flip near-ties too:
its f16 conversion must pass first, then, teacher-forced along the f16 model's continuation, the
quantised model's top token must lie within the f16 model's top 5 at every step.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from llmforge.errors import LlmforgeError, TrainError, UsageError
from llmforge.fileio import install_dir
from llmforge.inference.llama_log import capture_llama_log
from llmforge.packaged import cache_root
from llmforge.project import Project
from llmforge.train.base import PreparedBase, SAMPLE_SENTENCES, first_tokenizer_mismatch, resolve_base

WHEEL_CACHE_ENV = "LLMFORGE_WHEEL_CACHE"
VERIFY_PROMPT = "The capital of France is Paris. The capital of Egypt is"
QUANTIZATIONS = {"q8_0": 7, "q4_k_m": 15}  # llama_ftype values (llama.h), applied after an f16 conversion
EXPORT_KINDS = ("adapter", "merged")
FLOAT_TYPES = ("f16", "f32")
MERGED_TYPES = (*QUANTIZATIONS, *FLOAT_TYPES)   # what a merged export may be; an adapter is f16
Continuation = tuple[list[int], list[int], Any]   # prompt ids, greedy ids, logits (see _llama_continuation)
TOP_K = 5
EFFECT_TOLERANCE = 0.35  # measured: 0.12 for a correct adapter over Q4_K_M; 1.0 when it is ignored
EFFECT_SCALE = (0.8, 1.25)  # llama.cpp's adapter effect over transformers', fitted by least squares
VERIFY_CONTEXT = 128
TRAINING_PROMPT_CHARS = 240   # an adapter is checked on the start of its own training text
_TOOL_MEMBERS = ("conversion/", "gguf-py/")
# Split rules of byte-level BPE tokenizers, by llama.cpp's pre-tokenizer name (llama-vocab.cpp).
_PRE_TOKENIZER_REGEXES = {
    r"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+":
        "qwen2",
    r"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+": "gpt-2",
}
_REQUIRED = ("convert_hf_to_gguf.py", "convert_lora_to_gguf.py", "conversion/__init__.py", "gguf-py/gguf/__init__.py")


# --- the converters ---------------------------------------------------------------------------

def llama_cpp_tools(project: Project) -> Path:
    """llama.cpp's converter folder (``convert_*.py``, ``conversion/``, ``gguf-py/``).

    From the ``train.llama_cpp_source`` setting (a source archive or an unpacked folder), else
    ``llama_cpp_python-<installed version>.tar.gz`` in the wheel cache; an archive is extracted
    once. Nothing is built or downloaded here.

    Raises:
        TrainError: no source found, or it holds no converters.
    """
    configured = str(project.settings["train.llama_cpp_source"]).strip()
    source = Path(configured).expanduser() if configured else _default_source()
    if source.is_dir():
        return _tools_in_folder(source)
    if not source.is_file():
        origin = "the setting train.llama_cpp_source" if configured else "the wheel cache"
        raise TrainError(f"GGUF export needs llama.cpp's converters from the llama-cpp-python source archive, "
                         f"and {source} ({origin}) does not exist: run scripts/setup.sh, which keeps the archive "
                         f"next to its wheel, or on a connected machine `pip download --no-deps --no-binary :all: "
                         f"llama-cpp-python=={_installed_version()}` and point train.llama_cpp_source at the file")
    return _extract_tools(source)


def _installed_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError as exc:
        raise TrainError("llama-cpp-python is not installed: run scripts/setup.sh") from exc


def converter_archive(version: str) -> Path:
    """Where setup keeps the llama-cpp-python ``version`` source archive (its converters)."""
    cache = os.environ.get(WHEEL_CACHE_ENV) or Path.home() / ".cache" / "llmforge-wheels"
    return Path(cache) / f"llama_cpp_python-{version}.tar.gz"


def _default_source() -> Path:
    return converter_archive(_installed_version())


def _tools_in_folder(folder: Path) -> Path:
    for candidate in (folder, folder / "vendor" / "llama.cpp"):
        if all((candidate / name).is_file() for name in _REQUIRED):
            return candidate
    raise TrainError(f"{folder} holds no llama.cpp converters (convert_hf_to_gguf.py, conversion/, gguf-py/): "
                     "set train.llama_cpp_source to a llama-cpp-python source archive or a llama.cpp checkout")


def _extract_tools(archive: Path) -> Path:
    """Unpack only the converters from ``archive`` into the user cache, once, atomically."""
    prefix = archive.name.removesuffix(".tar.gz")
    cache = cache_root()
    target = cache / f"llama.cpp-{prefix.rsplit('-', 1)[-1]}"
    if all((target / name).is_file() for name in _REQUIRED):
        return target
    cache.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=cache))
    try:
        _extract_members(archive, partial)
        _tools_in_folder(partial)  # complete, or a clear error
        install_dir(partial, target, lambda found: all((found / name).is_file() for name in _REQUIRED))
    except TrainError as exc:
        raise TrainError(f"{archive} is not a usable llama-cpp-python source archive: {exc}") from exc
    finally:
        shutil.rmtree(partial, ignore_errors=True)
    return target


def _extract_members(archive: Path, destination: Path) -> None:
    vendor = "vendor/llama.cpp/"
    try:
        with tarfile.open(archive, "r|gz") as tar:  # streamed: one pass over 75 MB, no seeking back
            for member in tar:
                _, _, rest = member.name.partition("/")
                if not rest.startswith(vendor) or not (member.isfile() or member.isdir()):
                    continue
                inner = rest.removeprefix(vendor)
                wanted = inner.startswith(_TOOL_MEMBERS) or ("/" not in inner and inner.startswith("convert_")
                                                             and inner.endswith(".py"))
                if wanted:
                    member.name = inner
                    tar.extract(member, destination, filter="data")
    except (tarfile.TarError, OSError, EOFError, zlib.error) as exc:
        raise TrainError(f"cannot read it ({exc})") from exc


def _run_converter(tools: Path, script: str, args: Sequence[str], *, tokenizer_gguf: Path | None = None) -> None:
    """Run one of llama.cpp's converters through this module's ``__main__``; TrainError on failure."""
    path = os.pathsep.join(p for p in (str(tools / "gguf-py"), os.environ.get("PYTHONPATH", "")) if p)
    command = [sys.executable, "-m", "llmforge.train.export", str(tools / script),
               str(tokenizer_gguf) if tokenizer_gguf else "-", *map(str, args)]
    done = subprocess.run(command, env={**os.environ, "PYTHONPATH": path}, capture_output=True, text=True,
                          check=False)
    if done.returncode != 0:
        raise TrainError(f"{script} failed: {_last_error_line(done.stderr + done.stdout)}")


def _last_error_line(output: str) -> str:
    lines = [line.strip() for line in output.splitlines() if line.strip() and "it/s]" not in line]
    for line in reversed(lines):
        if "error" in line.lower() or "exception" in line.lower():
            return line
    return lines[-1] if lines else "no output"


# --- the two kinds ----------------------------------------------------------------------------

def export_adapter(adapter_dir: Path, base: PreparedBase, out: Path, *, tools: Path, outtype: str = "f16") -> Path:
    """Convert a peft LoRA adapter into a GGUF adapter for ``base``'s GGUF; returns ``out``.

    Raises:
        TrainError: not a LoRA adapter llama.cpp can apply as is, or the converter failed.
    """
    _check_adapter(adapter_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    _run_converter(tools, "convert_lora_to_gguf.py",
                   [adapter_dir, "--base", base.hf_dir, "--outfile", out, "--outtype", outtype])
    return out


def _check_adapter(adapter_dir: Path) -> None:
    """llama.cpp scales a LoRA by alpha / rank, one alpha for all: refuse anything it would apply wrongly."""
    try:
        config = json.loads((adapter_dir / "adapter_config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise TrainError(f"{adapter_dir} holds no readable adapter_config.json: {exc}") from exc
    if not (adapter_dir / "adapter_model.safetensors").is_file():
        raise TrainError(f"{adapter_dir} holds no adapter_model.safetensors")
    unsupported = [key for key in ("use_rslora", "use_dora", "rank_pattern", "alpha_pattern") if config.get(key)]
    if config.get("peft_type", "LORA") != "LORA" or unsupported:
        what = ", ".join(unsupported) or config.get("peft_type")
        raise TrainError(f"{adapter_dir} is not a plain LoRA adapter ({what}): llama.cpp cannot apply it as trained")


def export_merged(adapter_dir: Path, base: PreparedBase, out: Path, *, tools: Path, outtype: str = "f16") -> Path:
    """Merge the adapter into the base weights and convert the result into one float GGUF.

    A base that came from a GGUF keeps that GGUF's tokenizer metadata; a directory base has its
    tokenizer converted, then checked against transformers on sample texts.

    Raises:
        TrainError: the merge or the conversion failed, or the converted tokenizer disagrees.
    """
    _check_adapter(adapter_dir)
    out.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".merge-", dir=out.parent) as scratch:
        merged = merge_adapter(adapter_dir, base.hf_dir, Path(scratch) / "merged")
        return convert_to_gguf(merged, out, tools=tools, outtype=outtype, tokenizer_gguf=base.gguf)


def convert_to_gguf(hf_dir: Path, out: Path, *, tools: Path, outtype: str = "f16",
                    tokenizer_gguf: Path | None = None) -> Path:
    """Convert a transformers model directory into a GGUF with llama.cpp's converter.

    Args:
        tokenizer_gguf: take the tokenizer metadata from this GGUF; without it the directory's
            tokenizer is converted and then checked against transformers on sample texts.
    Raises:
        TrainError: the converter failed, or the converted tokenizer disagrees with transformers.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    _run_converter(tools, "convert_hf_to_gguf.py", [hf_dir, "--outfile", out, "--outtype", outtype],
                   tokenizer_gguf=tokenizer_gguf)
    if tokenizer_gguf is None and (mismatch := first_tokenizer_mismatch(hf_dir, out, SAMPLE_SENTENCES)):
        out.unlink(missing_ok=True)
        raise TrainError(f"the converted GGUF does not tokenise as transformers does: {mismatch.describe()}")
    return out


def merge_adapter(adapter_dir: Path, base_dir: Path, out_dir: Path) -> Path:
    """Write base weights plus LoRA (peft ``merge_and_unload``) and the base tokenizer to ``out_dir``."""
    import torch
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from llmforge.train.backends import quiet_transformers

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(str(base_dir), dtype=torch.float32)
    merged = PeftModel.from_pretrained(model, str(adapter_dir)).merge_and_unload()
    merged.save_pretrained(out_dir)
    AutoTokenizer.from_pretrained(str(base_dir)).save_pretrained(out_dir)
    return out_dir


def quantize_gguf(source: Path, out: Path, quantization: str) -> Path:
    """Quantise a float GGUF with llama.cpp's own quantiser (``q8_0`` or ``q4_k_m``)."""
    if quantization not in QUANTIZATIONS:
        raise TrainError(f"unknown quantization {quantization!r} (known: {', '.join([*FLOAT_TYPES, *QUANTIZATIONS])})")
    llama_cpp = _import_llama_cpp()
    params = llama_cpp.llama_model_quantize_default_params()
    params.ftype = QUANTIZATIONS[quantization]
    params.nthread = os.cpu_count() or 1
    with capture_llama_log() as output:
        failed = llama_cpp.llama_model_quantize(str(source).encode(), str(out).encode(), params) != 0
    if failed:
        out.unlink(missing_ok=True)
        raise TrainError(f"llama.cpp could not quantise {source.name} to {quantization}: "
                         f"{_last_error_line(output.text)}")
    return out


def _import_llama_cpp() -> Any:
    from llmforge.inference.runtime import set_omp_wait_policy

    set_omp_wait_policy("auto")  # only effective before the first import; spinning threads crawl on a busy host
    import llama_cpp

    return llama_cpp


# --- verification -----------------------------------------------------------------------------

def verify_gguf(gguf: Path, *, lora: Path | None = None, reference_dir: Path, adapter_dir: Path | None = None,
                prompt: str = VERIFY_PROMPT, n_tokens: int = 8, continuation: Continuation | None = None) -> dict[str, Any]:
    """Check a GGUF (plus a GGUF ``lora``) against transformers (``reference_dir`` plus the peft adapter).

    llama.cpp greedily continues ``prompt`` for ``n_tokens``; transformers reads the same token
    ids (llama.cpp's tokenisation of the prompt, then llama.cpp's continuation) in one pass, and
    ``matched`` counts the steps where its top token is llama.cpp's. A float export must match
    at every step. Over a quantised base the two engines differ by more than a near-tie (llama.cpp
    quantises activations for k-quant weights), so an adapter export is judged on what the
    adapter does instead: its effect on the logits (with minus without it, on each side) must
    agree within 35%; only an adapter too weak to stand out of that noise falls back to the
    exact token rule.

    Returns:
        ``{"matched", "compared", "ok", "tokens", "max_logit_diff"}``; with ``adapter_dir`` also
        ``"adapter_changes_output"``: whether the adapter changes transformers' top token at some
        position of the prompt or of the continuation (``"adapter_changed_positions"``: how many);
        for a GGUF ``lora``, ``"adapter_effect_error"`` and ``"engine_noise"`` too.

    ``continuation``: llama.cpp's continuation of ``prompt`` by this GGUF and LoRA, when the caller
    already has it.
    """
    import numpy as np

    prompt_ids, tokens, ours = continuation or _llama_continuation(gguf, lora, prompt, n_tokens)
    sequence = prompt_ids + tokens[:-1]
    reference, without = _reference_logits(reference_dir, adapter_dir, sequence)
    vocab = min(ours.shape[1], reference.shape[1])
    ours, reference = ours[:, :vocab], reference[:, :vocab]
    steps = slice(len(prompt_ids) - 1, len(sequence))
    matched = int(sum(int(np.argmax(row)) == token for row, token in zip(reference[steps], tokens)))
    result: dict[str, Any] = {"matched": matched, "compared": n_tokens, "ok": matched == n_tokens, "tokens": tokens,
                              "max_logit_diff": round(float(np.abs(ours - reference).max()), 4)}
    if without is not None:
        without = without[:, :vocab]
        # along the prompt (teacher-forced: for an adapter, its training text) and the continuation
        changed = int((reference.argmax(1) != without.argmax(1)).sum())
        result.update(adapter_changes_output=changed > 0, adapter_changed_positions=f"{changed} of {len(sequence)}")
        if lora is not None:
            base = _llama_logits(gguf, None, sequence)[:, :vocab]
            result.update(_adapter_effect(ours - base, reference - without, base - without))
            if result["engine_noise"] < 1.0:
                # A weak adapter (a short run) is small beside the engines' own difference, so its
                # effect is measured with that much noise on top; what must hold whatever the noise
                # is its scale (the least-squares fit of llama.cpp's effect onto transformers'): 1.02
                # measured for a correct two-step adapter with 33% noise, 0 when the adapter is
                # ignored, 2 when alpha is read twice over.
                low, high = EFFECT_SCALE
                result["ok"] = (result["adapter_effect_error"] <= EFFECT_TOLERANCE + result["engine_noise"]
                                and low <= result["adapter_effect_scale"] <= high)
    return result


def _adapter_effect(ours: Any, reference: Any, noise: Any) -> dict[str, float]:
    """Relative error of llama.cpp's adapter effect, and the engines' own difference on the base,
    both measured against the size of the reference effect (logits centred per position)."""
    import numpy as np

    def centred(logits: Any) -> Any:
        return logits - logits.mean(axis=-1, keepdims=True)

    size = float(np.linalg.norm(centred(reference))) or 1e-12
    scale = float(np.sum(centred(ours) * centred(reference))) / size ** 2
    return {"adapter_effect_error": round(float(np.linalg.norm(centred(ours - reference))) / size, 4),
            "engine_noise": round(float(np.linalg.norm(centred(noise))) / size, 4),
            "adapter_effect_scale": round(scale, 4)}


def verify_quantized(quantized: Path, reference_gguf: Path, *, prompt: str = VERIFY_PROMPT,
                     n_tokens: int = 8, continuation: Continuation | None = None) -> dict[str, Any]:
    """Teacher-force the quantised model along the float model's greedy continuation
    (``continuation``, when the caller already has it).

    Returns:
        ``{"matched": steps whose top token is the float model's, "within_top5": steps whose top
        token is among the float model's 5 best, "compared": n, "ok": within_top5 == n}``.
    """
    import numpy as np

    prompt_ids, tokens, reference = continuation or _llama_continuation(reference_gguf, None, prompt, n_tokens)
    ours = _llama_logits(quantized, None, prompt_ids + tokens[:-1])
    steps = slice(len(prompt_ids) - 1, None)
    choices = [int(np.argmax(row)) for row in ours[steps]]
    matched = sum(choice == token for choice, token in zip(choices, tokens))
    within = sum(choice in np.argsort(row)[-TOP_K:] for choice, row in zip(choices, reference[steps]))
    return {"matched": int(matched), f"within_top{TOP_K}": int(within), "compared": n_tokens,
            "ok": within == n_tokens}


def _load_llama(gguf: Path, lora: Path | None) -> Any:
    llama_cpp = _import_llama_cpp()
    try:
        with capture_llama_log():
            return llama_cpp.Llama(model_path=str(gguf), lora_path=str(lora) if lora else None, n_ctx=VERIFY_CONTEXT,
                                   n_threads=os.cpu_count() or 1, logits_all=True, verbose=False)
    except (ValueError, RuntimeError) as exc:
        raise TrainError(f"llama.cpp cannot load {gguf.name}{f' with {lora.name}' if lora else ''}: {exc}") from exc


def _llama_continuation(gguf: Path, lora: Path | None, prompt: str, n_tokens: int) -> Continuation:
    """The prompt's ids, ``n_tokens`` greedy ids, and the logits at every position before the last."""
    import numpy as np

    llm = _load_llama(gguf, lora)
    try:
        prompt_ids = llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=False)
        prompt_ids = prompt_ids[:VERIFY_CONTEXT - n_tokens]
        llm.eval(prompt_ids)
        tokens: list[int] = []
        for step in range(n_tokens):
            tokens.append(int(np.argmax(llm.scores[llm.n_tokens - 1])))
            if step < n_tokens - 1:
                llm.eval(tokens[-1:])
        return prompt_ids, tokens, np.array(llm.scores[:llm.n_tokens])
    finally:
        llm.close()


def _llama_logits(gguf: Path, lora: Path | None, sequence: list[int]) -> Any:
    import numpy as np

    llm = _load_llama(gguf, lora)
    try:
        llm.eval(sequence)
        return np.array(llm.scores[:llm.n_tokens])
    finally:
        llm.close()


def _reference_logits(reference_dir: Path, adapter_dir: Path | None, sequence: list[int]) -> tuple[Any, Any]:
    """transformers' logits at every position, with the adapter and without it (``None``: no adapter)."""
    import torch
    from transformers import AutoModelForCausalLM

    from llmforge.train.backends import quiet_transformers

    quiet_transformers()
    model = AutoModelForCausalLM.from_pretrained(str(reference_dir), dtype=torch.float32)
    ids = torch.tensor([sequence])
    with torch.inference_mode():
        if adapter_dir is None:
            return model(input_ids=ids).logits[0].numpy(), None
        from peft import PeftModel

        model = PeftModel.from_pretrained(model, str(adapter_dir))
        with_adapter = model(input_ids=ids).logits[0].numpy()
        with model.disable_adapter():
            return with_adapter, model(input_ids=ids).logits[0].numpy()


# --- a repository version ---------------------------------------------------------------------

def export_version(project: Project, ref: str, *, kind: str = "adapter",
                   quantization: str | None = None) -> dict[str, Any]:
    """Export a model version to GGUF, verify it, and record it in the version's manifest.

    Args:
        kind: ``adapter`` (over the base GGUF) or ``merged`` (one self-contained GGUF).
        quantization: for ``merged`` only: ``q8_0`` (the default), ``q4_k_m``, ``f16`` or ``f32``.
            An adapter is always f16: asking for another type is refused, not ignored.
    Returns:
        ``{"kind", "path", "sha256", "bytes", "verified"}``.
    Raises:
        UsageError: an unknown kind or quantization, or a quantization for an adapter.
        TrainError: the export failed or did not verify (nothing is kept then).
    """
    from llmforge import registry

    quantization = check_export(kind, quantization)
    version = registry.get_version(project, ref)
    if not isinstance(version.manifest.get("base"), dict) or not version.manifest["base"].get("spec"):
        raise TrainError(f"the manifest of {version.ref} does not say which base model it was trained on "
                         "(damaged manifest.json): it cannot be exported")
    base = _base_of(project, version.manifest["base"])
    adapter_dir = version.path / "adapter"
    tools = llama_cpp_tools(project)
    if kind == "adapter":
        prompt = training_text(project, version)
        name, verified = _export_adapter_file(adapter_dir, base, version.path / "gguf", tools, prompt)
    else:
        name, verified = _export_merged_file(adapter_dir, base, version.path / "gguf", tools, quantization)
    path = version.path / "gguf" / name
    relative = path.relative_to(version.path).as_posix()
    # The registry hashes each export path into the manifest's "files" itself.
    updated = registry.update_manifest(project, ref, {"exports": {f"{kind}_gguf": relative,
                                                                  "verified": {relative: verified}}})
    return {"kind": kind, "path": str(path), "sha256": updated.manifest["files"][relative],
            "bytes": path.stat().st_size, "verified": verified}


def check_export(kind: str, quantization: str | None) -> str:
    """The quantization a valid ``kind`` + ``quantization`` pair exports with (default ``q8_0``)."""
    if kind not in EXPORT_KINDS:
        raise UsageError(f"unknown export kind {kind!r}: {' or '.join(EXPORT_KINDS)}")
    if kind == "adapter" and quantization is not None:
        raise UsageError("a quantization applies to a merged export only (an adapter is exported as f16)")
    if quantization is not None and quantization not in MERGED_TYPES:
        raise UsageError(f"unknown quantization {quantization!r} (known: {', '.join(MERGED_TYPES)})")
    return quantization or "q8_0"


def _base_of(project: Project, record: dict[str, Any]) -> PreparedBase:
    """The version's base as recorded, re-created from its spec when the dequantised copy is gone."""
    from llmforge import registry

    hf_dir, gguf = registry.recorded_path(project, record.get("hf_dir")), registry.recorded_path(project, record.get("gguf"))
    if hf_dir and (hf_dir / "config.json").is_file() and (gguf is None or gguf.is_file()):
        return PreparedBase(str(record["spec"]), hf_dir, gguf, str(record["sha256"]), str(record["architecture"]))
    base = resolve_base(project, str(record["spec"]))
    if base.sha256 != record.get("sha256"):
        raise TrainError(f"the base model {record['spec']} has changed since this version was trained "
                         f"(sha256 {base.sha256[:16]}…, trained on {str(record.get('sha256'))[:16]}…)")
    return base


def training_text(project: Project, version: Any, chars: int = TRAINING_PROMPT_CHARS) -> str | None:
    """The start of the version's first training row (a text row's text, a chat row's turns as
    plain text), cut at a word: where an adapter must change what the model says. None when the
    dataset is gone or was rebuilt since."""
    from llmforge.train.data import load_dataset_info, open_splits

    recorded = version.manifest.get("dataset") or {}
    try:
        info = load_dataset_info(project, str(recorded.get("name")))
    except LlmforgeError:
        return None
    if recorded.get("sha256") and info.sha256 != recorded["sha256"]:
        return None
    rows = open_splits(info)["train"]
    if not len(rows):
        return None
    row = rows[0]
    text = row["text"] if row["kind"] == "text" else "\n".join(m["content"] for m in row["messages"])
    text = " ".join(text.split())
    return text if len(text) <= chars else text[:chars].rsplit(" ", 1)[0]


def _export_adapter_file(adapter_dir: Path, base: PreparedBase, folder: Path, tools: Path,
                         prompt: str | None = None) -> tuple[str, dict[str, Any]]:
    if base.gguf is None:
        raise TrainError(f"an adapter GGUF applies over a GGUF base, and this version's base {base.spec} is a "
                         "Hugging Face directory: export it merged instead")
    name = "adapter-f16.gguf"
    partial = folder / f".{name}.{os.getpid()}.partial"
    try:
        export_adapter(adapter_dir, base, partial, tools=tools, outtype="f16")
        verified = verify_gguf(base.gguf, lora=partial, reference_dir=base.hf_dir, adapter_dir=adapter_dir,
                               prompt=prompt or VERIFY_PROMPT)
        verified["prompt"] = "training text" if prompt else "fixed"
        _refuse_unless(verified, f"the adapter GGUF over {base.gguf.name}")
        os.replace(partial, folder / name)
    finally:
        partial.unlink(missing_ok=True)
    return name, verified


def _export_merged_file(adapter_dir: Path, base: PreparedBase, folder: Path, tools: Path,
                        quantization: str) -> tuple[str, dict[str, Any]]:
    if quantization not in (*FLOAT_TYPES, *QUANTIZATIONS):
        raise TrainError(f"unknown quantization {quantization!r} (known: {', '.join([*FLOAT_TYPES, *QUANTIZATIONS])})")
    name = f"model-{quantization}.gguf"
    float_type = quantization if quantization in FLOAT_TYPES else "f16"
    converted = folder / f".model-{float_type}.gguf.{os.getpid()}.partial"
    quantized = folder / f".{name}.{os.getpid()}.partial"
    try:
        export_merged(adapter_dir, base, converted, tools=tools, outtype=float_type)
        continuation = _llama_continuation(converted, None, VERIFY_PROMPT, 8)   # read by both checks
        verified: dict[str, Any] = {float_type: verify_gguf(converted, reference_dir=base.hf_dir,
                                                            adapter_dir=adapter_dir, continuation=continuation)}
        _refuse_unless(verified[float_type], f"the merged {float_type} GGUF")
        if quantization in QUANTIZATIONS:
            quantize_gguf(converted, quantized, quantization)
            verified[quantization] = verify_quantized(quantized, converted, continuation=continuation)
            _refuse_unless(verified[quantization], f"the {quantization} quantisation")
            os.replace(quantized, folder / name)
        else:
            os.replace(converted, folder / name)
    finally:
        converted.unlink(missing_ok=True)
        quantized.unlink(missing_ok=True)
    return name, verified


def _refuse_unless(verified: dict[str, Any], what: str) -> None:
    if verified["ok"]:
        return
    if f"within_top{TOP_K}" in verified:
        detail = (f"its top token is among the f16 model's {TOP_K} best at {verified[f'within_top{TOP_K}']} "
                  f"of {verified['compared']} steps")
    else:
        detail = f"llama.cpp and transformers agree on {verified['matched']} of {verified['compared']} greedy tokens"
    if "adapter_effect_error" in verified:
        detail += (f", and the adapter's effect differs by {verified['adapter_effect_error']:.0%} "
                   f"(the engines differ by {verified['engine_noise']:.0%} of it on the base) "
                   f"at {verified['adapter_effect_scale']:.2f} times its size")
    raise TrainError(f"{what} does not reproduce the trained model ({detail}); the export was deleted")


# --- the converter subprocess -----------------------------------------------------------------

def _converter_main(argv: list[str]) -> None:
    """``python -m llmforge.train.export SCRIPT TOKENIZER_GGUF|- ARGS...``: run a converter, adjusted."""
    import runpy

    script, tokenizer_gguf, *args = argv
    tools = Path(script).parent
    sys.path[:0] = [str(tools), str(tools / "gguf-py")]
    sys.argv = [script, *args]
    _adjust_converters(None if tokenizer_gguf == "-" else Path(tokenizer_gguf))
    runpy.run_path(script, run_name="__main__")


def _adjust_converters(tokenizer_gguf: Path | None) -> None:
    import conversion
    from conversion.base import TextModel

    probe_sentencepiece = TextModel._create_vocab_sentencepiece

    def create_vocab_sentencepiece(self: Any) -> Any:
        if not (self.dir_model / "tokenizer.model").is_file():
            raise FileNotFoundError(f"no {self.dir_model / 'tokenizer.model'}")
        return probe_sentencepiece(self)

    recognise_pre_tokenizer = TextModel.get_vocab_base_pre

    def get_vocab_base_pre(self: Any, tokenizer: Any) -> str:
        try:
            return recognise_pre_tokenizer(self, tokenizer)
        except NotImplementedError:
            known = _known_pre_tokenizer(tokenizer)
            if known is None:
                raise
            return known

    TextModel._create_vocab_sentencepiece = create_vocab_sentencepiece
    TextModel.get_vocab_base_pre = get_vocab_base_pre
    if tokenizer_gguf is not None:
        find_class = conversion.get_model_class

        def get_model_class(name: str, mmproj: bool = False) -> Any:
            model_class = find_class(name, mmproj)
            return type(model_class.__name__, (model_class,), {
                "model_arch": model_class.model_arch,
                "set_vocab": lambda self: _copy_tokenizer(tokenizer_gguf, self.gguf_writer)})

        conversion.get_model_class = get_model_class


def _known_pre_tokenizer(tokenizer: Any) -> str | None:
    """llama.cpp's name for the split rule transformers actually applies (read from the loaded
    tokenizer: transformers' ``Qwen2Tokenizer`` imposes Qwen2's regex whatever tokenizer.json says)."""
    try:
        state = json.loads(tokenizer.backend_tokenizer.pre_tokenizer.__getstate__())
    except (AttributeError, TypeError, ValueError):
        return None
    if state.get("type") == "ByteLevel":
        return "gpt-2" if state.get("use_regex", True) else None
    parts = state.get("pretokenizers") or []
    if (state.get("type") == "Sequence" and len(parts) == 2 and parts[0].get("type") == "Split"
            and parts[1].get("type") == "ByteLevel" and not parts[1].get("use_regex", True)):
        return _PRE_TOKENIZER_REGEXES.get((parts[0].get("pattern") or {}).get("Regex"))
    return None


def _copy_tokenizer(source: Path, writer: Any) -> None:
    """Every ``tokenizer.*`` key of ``source`` into the GGUF being written, values untouched."""
    import gguf

    for field in gguf.GGUFReader(source).fields.values():
        if not field.name.startswith("tokenizer."):
            continue
        main = field.types[0]
        if main == gguf.GGUFValueType.ARRAY:
            sub = field.types[-1]
            if sub == gguf.GGUFValueType.STRING:
                value: Any = [bytes(field.parts[index]) for index in field.data]
            else:
                value = field.contents()
            if value:
                writer.add_key_value(field.name, value, main, sub)
        elif main == gguf.GGUFValueType.STRING:
            writer.add_key_value(field.name, bytes(field.parts[-1]), main)
        else:
            writer.add_key_value(field.name, field.contents(), main)


if __name__ == "__main__":
    _converter_main(sys.argv[1:])
