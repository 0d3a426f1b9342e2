"""llama.cpp runtime: GGUF models loaded once, one request at a time per model.

Measured on this kind of machine: with OpenMP's default spin-waiting, two threads on a busy
two-core host made generation 25× slower; ``OMP_WAIT_POLICY=PASSIVE`` (set before llama_cpp is
imported) fixed it, while on a quiet host the default was faster. So ``serve.omp_wait_policy``
defaults to ``auto``: PASSIVE when the load average says the machine is busy.

A GGUF without a chat template (the Gemma 3 270M base model) would silently get llama-2's
format; the architecture's own format is used instead, and a system message is folded into the
first user turn where that format has no system role.

Over HTTP a caller may name only what :func:`servable_models` lists (:func:`resolve_served_model`),
never a path: an answer about a path tells a remote caller what the server's disk holds. A model
is named in answers by :func:`model_label`, so no reply carries where its file lies. A prompt that
does not fit the context window with the answer asked for is the caller's error (UsageError),
found by counting its tokens before generation starts, streams included.

A chat prompt's fixed beginning (the chat template, the system message: RAG's instructions,
an agent's system prompt) is evaluated once per model and kept (:meth:`LlamaRuntime.chat`).
llama-cpp-python itself reuses only the beginning the new prompt shares with the one before,
so one Arabic ask between two English ones made the second English one evaluate its instructions
again. Its ``LlamaRAMCache`` would keep them, but it saves the whole state after every completion,
the logits of up to ``n_batch`` tokens over the vocabulary included (512 × 151,936 floats, 311 MB,
for Qwen), and restoring one scans all of them: so the KV state of each fixed beginning alone is
kept here (:data:`PREFIXES_KEPT` of them, a few MB each) and set back before a prompt that starts
with it, when the context does not start with it already.
"""

from __future__ import annotations

import atexit
import ctypes
import logging
import os
import queue
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import nullcontext
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from llmforge.errors import BusyError, LlmforgeError, ModelUnavailableError, NotFoundError, UsageError
from llmforge.fileio import MISSING, gguf_problem
from llmforge.inference.chat_format import FALLBACK_FORMATTERS, fallback_chat_format, fold_system
from llmforge.inference.llama_log import capture_llama_log
from llmforge.project import Project

if TYPE_CHECKING:
    from llmforge.registry import ModelVersion

log = logging.getLogger(__name__)
CHAT_MAX_TOKENS = 512         # an answer's length when the caller names none (and the prompt leaves room)
COMPLETION_MAX_TOKENS = 256
PREFIXES_KEPT = 8         # fixed chat-prompt beginnings a model keeps evaluated (languages × agents × retries)
MIN_PREFIX_TOKENS = 16    # a shorter one (a chat template's own tokens) is not worth keeping


def set_omp_wait_policy(policy: str) -> None:
    """Choose OpenMP's wait policy for llama.cpp; must run before ``llama_cpp`` is imported."""
    if "OMP_WAIT_POLICY" in os.environ:
        return  # the operator decided
    if policy == "auto":
        busy = os.getloadavg()[0] > 0.5 * (os.cpu_count() or 1)
        policy = "PASSIVE" if busy else ""
    if policy:
        os.environ["OMP_WAIT_POLICY"] = policy.upper()


def resolve_model_files(project: Project, name: str) -> tuple[Path, Path | None]:
    """The GGUF to load for ``name`` and the LoRA GGUF to apply over it, if any.

    ``name`` is, in this order: a .gguf path, a packaged model (assembled once per machine, in the cache), or a
    repository model, ``NAME`` (its promoted version) or ``NAME@vN`` (see :mod:`llmforge.registry`).
    """
    from llmforge import registry
    from llmforge.packaged import PACKAGED, assemble

    path = Path(name).expanduser()
    if path.suffix == ".gguf":
        return _checked_gguf(path), None
    if name in PACKAGED:
        return assemble(name), None
    version = registry.find_version(project, name, serving=True)
    if version is not None:
        return _version_files(project, version)
    trained = registry.model_names(project)
    raise NotFoundError(f"unknown model {name!r}: give a .gguf path, one of {', '.join(PACKAGED)}"
                        + (f", or a trained model: {', '.join(trained)}" if trained else ""))


def _checked_gguf(path: Path) -> Path:
    problem = gguf_problem(path)
    if problem:
        raise (NotFoundError if problem == MISSING else UsageError)(f"model file {path} {problem}")
    return path


def _version_files(project: Project, version: ModelVersion) -> tuple[Path, Path | None]:
    from llmforge import registry

    model, adapter = registry.serving_files(project, version)
    return _checked_gguf(model), adapter and _checked_gguf(adapter)


@dataclass(frozen=True)
class RuntimeOptions:
    n_ctx: int = 4096
    threads: int = 0
    lora_path: str | None = None
    timeout: float = 0.0      # seconds: queue wait of any call, and the whole of a stream (0: none)


class LlamaRuntime:
    """One GGUF model; :meth:`chat` and :meth:`complete` run one at a time (callers queue)."""

    def __init__(self, name: str, path: Path, options: RuntimeOptions) -> None:
        import llama_cpp

        self.name = name
        self.path = path
        threads = options.threads or os.cpu_count() or 1
        # llama.cpp prints a line per adapted tensor when it applies a LoRA, whatever `verbose` says.
        with capture_llama_log() if options.lora_path else nullcontext():
            self._llm = llama_cpp.Llama(model_path=str(path), n_ctx=options.n_ctx, n_threads=threads,
                                        lora_path=options.lora_path, verbose=False, logits_all=False)
        # llama.cpp's load timer runs on until the first evaluation: read it before that moves it
        self.load_ms = self.perf()["load_ms"]
        self.n_ctx = self._llm.n_ctx()   # what llama.cpp settled on (serve.n_ctx 0: the model's own)
        metadata = self._llm.metadata
        self.has_template = "tokenizer.chat_template" in metadata
        self.architecture = metadata.get("general.architecture", "")
        self.chat_format = None if self.has_template else fallback_chat_format(self.architecture)
        if self.chat_format:
            self._llm.chat_format = self.chat_format
            self._llm.chat_handler = None
        self._formatter = self._chat_formatter(metadata)
        # Every call runs on this one thread: llama.cpp's OpenMP team stays warm on it (calls from
        # the server's changing pool threads measured ~20% slower), and it serialises requests.
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix=f"llama-{name}")
        self.waiting = 0
        self.timeout = options.timeout
        self.keep_prefixes = True   # False: llama-cpp-python's own reuse only (benches compare the two)
        self._prefixes: OrderedDict[tuple[int, ...], bytes] = OrderedDict()   # used on the model's thread only

    def count_tokens(self, text: str) -> int:
        return len(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=False))

    def perf(self) -> dict[str, float]:
        """llama.cpp's own timers for this model, totals since it was loaded: ``prompt_eval_ms`` and
        ``eval_ms`` (generation) with their token counts, and ``load_ms``, a timer that runs on until
        the first evaluation (the attribute ``load_ms`` keeps it as read right after the load).
        Nothing has been evaluated yet when both times are 0."""
        import llama_cpp

        data = llama_cpp.llama_perf_context(self._llm.ctx)
        return {"load_ms": data.t_load_ms, "prompt_eval_ms": data.t_p_eval_ms, "eval_ms": data.t_eval_ms,
                # llama.cpp reports at least 1 of each, sparing its readers a division by zero
                "prompt_eval_tokens": data.n_p_eval if data.t_p_eval_ms else 0,
                "eval_tokens": data.n_eval if data.t_eval_ms else 0}

    def _chat_formatter(self, metadata: dict[str, str]) -> Any:
        """What renders messages into the prompt for this model, as llama-cpp-python's chat
        handler does: the GGUF's own template, else the fallback format's formatter."""
        from llama_cpp import llama_chat_format

        if self.chat_format:
            return getattr(llama_chat_format, FALLBACK_FORMATTERS[self.chat_format])
        return llama_chat_format.Jinja2ChatFormatter(template=metadata["tokenizer.chat_template"],
                                                     eos_token=self._token_text(self._llm.token_eos()),
                                                     bos_token=self._token_text(self._llm.token_bos()))

    def _token_text(self, token_id: int) -> str:
        return self._llm.detokenize([token_id], special=True).decode("utf-8", "replace") if token_id != -1 else ""

    def chat_prompt_tokens(self, messages: list[dict[str, str]]) -> int:
        """Tokens of the prompt ``messages`` become, counted as llama-cpp-python will tokenize it."""
        return len(self._chat_tokens(messages))

    def _chat_tokens(self, messages: list[dict[str, str]]) -> list[int]:
        rendered = self._formatter(messages=self._prepare(messages))
        return self._llm.tokenize(rendered.prompt.encode("utf-8"), add_bos=not rendered.added_special, special=True)

    def fixed_prefix(self, messages: list[dict[str, str]], tokens: list[int]) -> tuple[int, ...]:
        """The beginning of the prompt ``tokens`` (of ``messages``) that does not depend on the last
        message: what it shares with the same messages with the last one empty (the template,
        the system message, the last turn's opening). Empty when shorter than
        :data:`MIN_PREFIX_TOKENS` or when nothing would follow it."""
        if len(messages) < 2:
            return ()
        blank = self._chat_tokens([*messages[:-1], {**messages[-1], "content": ""}])
        shared = next((i for i, (a, b) in enumerate(zip(tokens, blank)) if a != b), min(len(tokens), len(blank)))
        return tuple(tokens[:shared]) if MIN_PREFIX_TOKENS <= shared < len(tokens) else ()

    def _starting_with(self, prefix: tuple[int, ...], method: Callable[..., Any]) -> Callable[..., Any]:
        """``method``, run once the context starts with ``prefix`` evaluated: as it is, set back
        from the kept state, or evaluated now and kept (on the model's thread, as ``method``)."""
        def run(**kwargs: Any) -> Any:
            llm = self._llm
            if not (llm.n_tokens >= len(prefix) and tuple(llm.input_ids[:len(prefix)]) == prefix):
                state = self._prefixes.get(prefix)
                if state is None:
                    llm.reset()
                    llm.eval(list(prefix))
                    self._prefixes[prefix] = state = _kv_state(llm)
                    while len(self._prefixes) > PREFIXES_KEPT:
                        self._prefixes.popitem(last=False)
                else:
                    _set_kv_state(llm, prefix, state)
            if prefix in self._prefixes:
                self._prefixes.move_to_end(prefix)
            return method(**kwargs)

        return run

    def completion_prompt_tokens(self, prompt: str) -> int:
        """Tokens of a plain completion's prompt, beginning-of-text included where the model adds it."""
        return len(self._llm.tokenize(prompt.encode("utf-8"), add_bos=True, special=True))

    def answer_room(self, prompt_tokens: int, max_tokens: int | None, default: int) -> int:
        """The ``max_tokens`` to generate with: the caller's when prompt and answer fit the context
        window; without one, ``default`` or the room the prompt leaves, whichever is less.

        Raises:
            UsageError: they do not fit; the message gives the numbers.
        """
        if max_tokens is None and prompt_tokens < self.n_ctx:
            return min(default, self.n_ctx - prompt_tokens)
        if max_tokens is not None and prompt_tokens + max_tokens <= self.n_ctx:
            return max_tokens
        asked = f" and max_tokens asks for {max_tokens} more" if max_tokens is not None else ""
        raise UsageError(f"the prompt is {prompt_tokens} tokens; this model's context window is {self.n_ctx} "
                         f"(serve.n_ctx){asked}: shorten the prompt" + (" or lower max_tokens" if asked else ""))

    def _prepare(self, messages: list[dict[str, str]]) -> list[dict[str, str]]:
        return fold_system(self.chat_format, messages)

    def chat(self, messages: list[dict[str, str]], *, max_tokens: int | None = None, temperature: float = 0.0,
             top_p: float = 0.95, stop: list[str] | None = None, stream: bool = False) -> Any:
        """An OpenAI-shaped chat completion (a dict, or an iterator of chunks with ``stream``).

        ``max_tokens`` None: up to :data:`CHAT_MAX_TOKENS`, as far as the context window allows.

        Raises:
            UsageError: the prompt and ``max_tokens`` do not fit the context window (checked
                before anything is queued, so a stream never starts).
        """
        tokens = self._chat_tokens(messages)
        room = self.answer_room(len(tokens), max_tokens, CHAT_MAX_TOKENS)
        kwargs = {"messages": self._prepare(messages), "max_tokens": room, "temperature": temperature,
                  "top_p": top_p, "stop": stop or None, "model": self.name}
        prefix = self.fixed_prefix(messages, tokens) if self.keep_prefixes else ()
        method = self._starting_with(prefix, self._llm.create_chat_completion) if prefix else \
            self._llm.create_chat_completion
        if stream:
            return self._stream(method, **kwargs)
        return self._call(method, **kwargs)

    def complete(self, prompt: str, *, max_tokens: int | None = None, temperature: float = 0.0,
                 top_p: float = 0.95, stop: list[str] | None = None, stream: bool = False) -> Any:
        """An OpenAI-shaped text completion; ``max_tokens`` and errors as for :meth:`chat`."""
        room = self.answer_room(self.completion_prompt_tokens(prompt), max_tokens, COMPLETION_MAX_TOKENS)
        kwargs = {"prompt": prompt, "max_tokens": room, "temperature": temperature, "top_p": top_p,
                  "stop": stop or None, "model": self.name}
        if stream:
            return self._stream(self._llm.create_completion, **kwargs)
        return self._call(self._llm.create_completion, **kwargs)

    def _call(self, method: Any, **kwargs: Any) -> Any:
        """Run on the model's thread; refuse with BusyError if it has not started within the timeout.

        llama-cpp-python cannot interrupt a non-streaming generation once it runs, so that part is
        bounded by ``max_tokens``; streams stop at the deadline (see :meth:`_stream`).
        """
        self.waiting += 1
        try:
            return self._start(lambda: method(**kwargs)).result()
        finally:
            self.waiting -= 1

    def _start(self, work: Any) -> Any:
        """``work`` queued on the model's thread (its future); BusyError, and it never runs, when it
        has not started within ``serve.request_timeout``."""
        started = threading.Event()

        def run() -> Any:
            started.set()
            return work()

        future = self._thread.submit(run)
        if self.timeout and not started.wait(self.timeout) and future.cancel():
            raise BusyError(f"model {self.name} is busy: the request waited {self.timeout:g} s "
                            "(serve.request_timeout); retry later")
        return future

    def _stream(self, method: Any, **kwargs: Any) -> Iterator[dict[str, Any]]:
        """Chunks produced on the model's thread, handed over through a queue as they come."""
        chunks: queue.Queue[Any] = queue.Queue()
        done = object()
        deadline = time.monotonic() + self.timeout if self.timeout else float("inf")

        def produce() -> None:
            try:
                for chunk in method(stream=True, **kwargs):
                    chunks.put(chunk)
                    if time.monotonic() > deadline:   # closing the generator stops llama.cpp's loop
                        log.warning("stream on %s stopped at serve.request_timeout", self.name)
                        break
            except BaseException as exc:  # noqa: BLE001 — re-raised on the consumer's side
                chunks.put(exc)
            finally:
                chunks.put(done)

        self.waiting += 1
        try:
            self._start(produce)
        except BusyError:
            self.waiting -= 1
            raise
        try:
            while (item := chunks.get()) is not done:
                if isinstance(item, BaseException):
                    raise item
                yield item
        finally:
            self.waiting -= 1

    def close(self) -> None:
        self._thread.shutdown(wait=True)
        self._llm.close()


def _kv_state(llm: Any) -> bytes:
    """The context's state (its KV cache) as llama.cpp serialises it."""
    import llama_cpp

    size = llama_cpp.llama_state_get_size(llm.ctx)
    buffer = (ctypes.c_uint8 * size)()
    written = llama_cpp.llama_state_get_data(llm.ctx, buffer, size)
    return bytes(buffer)[:written]


def _set_kv_state(llm: Any, tokens: tuple[int, ...], state: bytes) -> None:
    """Set back a state :func:`_kv_state` took after evaluating ``tokens``; the next generation
    evaluates what follows them (the logits are refreshed then, so none are kept)."""
    import llama_cpp

    buffer = (ctypes.c_uint8 * len(state)).from_buffer_copy(state)
    if llama_cpp.llama_state_set_data(llm.ctx, buffer, len(state)) != len(state):
        raise LlmforgeError("llama.cpp refused a kept prompt state")
    llm.input_ids[:len(tokens)] = tokens
    llm.n_tokens = len(tokens)


_RUNTIMES: dict[tuple[str, str | None], LlamaRuntime] = {}
_RUNTIMES_LOCK = threading.Lock()


@atexit.register
def _close_runtimes() -> None:
    """Free models before interpreter teardown (llama_cpp's finalizers fail once modules are gone)."""
    for runtime in _RUNTIMES.values():
        runtime.close()
    _RUNTIMES.clear()


def get_runtime(project: Project, name: str | None = None, lora_path: str | None = None) -> LlamaRuntime:
    """The runtime for ``name`` (default: setting serve.model), loaded once per process."""
    settings = project.settings
    name = name or str(settings["serve.model"])
    lora_path = lora_path or (str(settings["serve.lora"]) or None if name == settings["serve.model"] else None)
    if lora_path and not Path(lora_path).expanduser().is_file():
        raise NotFoundError(f"LoRA adapter {lora_path} does not exist (serve.lora)")
    from llmforge import registry

    with _RUNTIMES_LOCK:
        # one repository lookup per call: NAME becomes NAME@vN, so a promotion takes effect on the next call
        version = registry.find_version(project, name, serving=True)  # None for paths and packaged names
        key = (version.ref if version else name, lora_path)
        files = _version_files(project, version) if version else None
        cached = _RUNTIMES.get(key)
        if cached is not None and files is not None and getattr(cached, "signature", None) != _signature(files):
            _RUNTIMES.pop(key).close()   # the version was exported again: load the new files
            cached = None
        if cached is None:
            path, adapter = files or resolve_model_files(project, key[0])
            if adapter and lora_path:
                raise UsageError(f"{key[0]} brings its own LoRA adapter; serve.lora cannot be added to it")
            set_omp_wait_policy(str(settings["serve.omp_wait_policy"]))
            options = RuntimeOptions(int(settings["serve.n_ctx"]), int(settings["serve.threads"]),
                                     lora_path=lora_path or (adapter and str(adapter)),
                                     timeout=float(settings["serve.request_timeout"]))
            cached = _RUNTIMES[key] = LlamaRuntime(model_label(key[0]), path, options)
            cached.signature = _signature((path, adapter))
        return cached


def _signature(files: tuple[Path, Path | None]) -> tuple[tuple[str, int], ...]:
    """Which files, and which bytes (by modification time), a runtime was loaded from."""
    return tuple((str(f), f.stat().st_mtime_ns) for f in files if f is not None and f.exists())


def model_label(name: str) -> str:
    """The name a model goes by in answers, listings and metrics: a GGUF path by its file's stem,
    so no reply tells a caller where the server keeps its files."""
    path = Path(name)
    return path.stem if path.suffix == ".gguf" else name


def servable_models(project: Project) -> dict[str, str]:
    """The language models an HTTP caller may name, each mapped to the name :func:`get_runtime`
    loads: setting serve.model (by its :func:`model_label`, which wins a clash), the packaged
    models, and the repository's promoted or GGUF-exported versions (``NAME@vN``, and ``NAME``
    when the version it serves is one of them)."""
    from llmforge.packaged import PACKAGED

    configured = str(project.settings["serve.model"])
    names = {model_label(configured): configured}
    for name in [*PACKAGED, *_repository_refs(project)]:
        names.setdefault(name, name)
    return names


def _repository_refs(project: Project) -> list[str]:
    from llmforge import registry

    refs = []
    for name in registry.model_names(project):
        listed = [v for v in registry.list_versions(project, name) if v.promoted or _exported(v)]
        try:
            serving = registry.find_version(project, name, serving=True)
        except NotFoundError:   # its promoted version is gone: NAME cannot be served, NAME@vN can
            serving = None
        refs += ([name] if serving in listed else []) + [version.ref for version in listed]
    return refs


def _exported(version: ModelVersion) -> bool:
    return bool({"adapter_gguf", "merged_gguf"} & set(version.manifest.get("exports") or {}))


def resolve_served_model(project: Project, name: str | None) -> str:
    """What :func:`get_runtime` loads for the model an HTTP caller named (None or "": serve.model).

    Only :func:`servable_models` names are accepted: a path is refused like any unknown name,
    with the same answer whether or not a file is there.

    Raises:
        NotFoundError: ``name`` is not servable; the message lists what is.
    """
    if not name:
        return str(project.settings["serve.model"])
    servable = servable_models(project)
    if name in servable:
        return servable[name]
    raise NotFoundError(f"unknown model {name!r}: available models are {', '.join(servable)}, "
                        "or agent:NAME for an agent's answers from the documents")


def served_runtime(project: Project, name: str | None, *, agent: str | None = None) -> LlamaRuntime:
    """The runtime for a model named over HTTP: :func:`resolve_served_model` then :func:`get_runtime`.

    ``agent``: ``name`` is that agent's stored model, not the caller's words: an agent can be
    written over HTTP, so its model must be servable too, and a refusal does not repeat it. A model
    that cannot be loaded is reported by its label alone; the log keeps the files and the reason.

    Raises:
        NotFoundError: ``name`` is not servable.
        LlmforgeError: the model cannot be loaded.
    """
    try:
        target = resolve_served_model(project, name)
    except NotFoundError:
        if agent is None:
            raise
        raise NotFoundError(f"{agent} names a model this server does not serve; its model must be one of "
                            f"{', '.join(servable_models(project))}") from None
    try:
        return get_runtime(project, target)
    except Exception as exc:  # noqa: BLE001 — the caller gets a path-free message, the log the reason
        log.error("model %s cannot be loaded: %s", target, exc, exc_info=not isinstance(exc, LlmforgeError))
        raise ModelUnavailableError(f"model {model_label(target)!r} cannot be loaded; the server log says why") from None
