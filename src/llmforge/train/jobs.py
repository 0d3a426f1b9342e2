"""Training jobs: rows of the catalog's jobs table (kind ``train``), run here or in a detached worker.

States: queued → running → succeeded | failed | cancelled; a run whose process vanished (a crash,
``kill -9``, a reboot) reads as ``interrupted``. ``resume`` continues any of failed, cancelled or
interrupted from its newest checkpoint in ``runs/<job>/checkpoints`` (removed once a job succeeds:
only its ``train.log`` stays). One training run at a time
per project: a flock on ``runs/.train.lock`` held by the running process decides, so a second run
is refused even when the catalog still says otherwise. The rows live in the one job store
(:mod:`llmforge.jobs`), which also reads a running job whose process lost that lock as interrupted.

The catalog is opened only for short updates (at most every few seconds), never across the run.
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from llmforge import jobs as store
from llmforge.errors import LlmforgeError, TrainError, UsageError
from llmforge.locks import file_lock, pid_alive, probe_lock
from llmforge.project import Project
from llmforge.train.recipe import Recipe

log = logging.getLogger(__name__)
RESUMABLE = ("failed", "cancelled", "interrupted")
UPDATE_SECONDS = 2.0
LOCK_GRACE_SECONDS = 2.0   # `train status` probes the lock for an instant: a starting run waits that out
LOCK_POLL_SECONDS = 0.1


def run_dir(project: Project, job_id: str) -> Path:
    return project.path("runs") / job_id


def log_path(project: Project, job_id: str) -> Path:
    return run_dir(project, job_id) / "train.log"


# --- the training lock --------------------------------------------------------------------------

def _lock_path(project: Project) -> Path:
    return project.root / str(store.TRAIN.lock)


def _refuse_second_run(holder: str) -> TrainError:
    return TrainError(f"another training run is in progress ({holder}); wait for it, or "
                      "`llmforge train cancel JOB`")


@contextmanager
def training_lock(project: Project, job_id: str) -> Iterator[None]:
    """Held by the one process that trains; refuses a second run with who holds it."""
    path = _lock_path(project)
    path.parent.mkdir(parents=True, exist_ok=True)
    with file_lock(path, store.holder_text(job_id, os.getpid()), _refuse_second_run, LOCK_GRACE_SECONDS,
                   LOCK_POLL_SECONDS):
        yield


def lock_holder(project: Project) -> str | None:
    """Who trains now, or None (probing the lock without keeping it)."""
    return probe_lock(_lock_path(project))


# --- submitting, cancelling, resuming -------------------------------------------------------------

def submit(project: Project, *, name: str, base: str | None = None, dataset: str = "default",
           backend: str | None = None, parent: str | None = None, **recipe_options: Any) -> dict[str, Any]:
    """Record a queued training job after checking what can be checked cheaply."""
    from llmforge import registry
    from llmforge.train.backends import choose_backend
    from llmforge.train.data import load_dataset_info

    settings = project.settings
    registry.validate_name(name)
    recipe = Recipe.from_settings(settings, **recipe_options)
    backend_name = choose_backend(backend or str(settings["train.backend"])).name
    info = load_dataset_info(project, dataset)
    base_spec = base or str(settings["train.base"])
    _check_base_spec(base_spec)
    if parent:   # pinned: a later promotion must not change what this run continues from
        parent = registry.get_version(project, parent).ref
    if holder := lock_holder(project):
        raise _refuse_second_run(holder)
    params = {"name": name, "base": base_spec, "dataset": info.name, "dataset_sha256": info.sha256,
              "backend": backend_name, "parent": parent, "recipe": recipe.to_dict()}
    job_id = datetime.now(timezone.utc).strftime("%Y%m%d-%H%M%S-") + uuid.uuid4().hex[:6]
    job = store.create_job(project, store.TRAIN.name, job_id, params, pid=os.getpid(), message="queued",
                           check=_refuse_while_another_is_active)   # two submissions racing: the catalog decides
    run_dir(project, job_id).mkdir(parents=True, exist_ok=True)
    return job


def _refuse_while_another_is_active(active: list[dict[str, Any]]) -> None:
    """One training job queued or running at a time (this process's own queued jobs aside: it
    runs them one after the other)."""
    live = [job["id"] for job in active if pid_alive(job["pid"]) and job["pid"] != os.getpid()]
    if live:
        raise TrainError(f"training job {live[0]} is already queued or running; wait for it, or "
                         f"`llmforge train cancel {live[0]}`")


def _check_base_spec(spec: str) -> None:
    """Fail now, not in a background worker, when the base names nothing that exists."""
    from llmforge.packaged import PACKAGED

    if spec in PACKAGED:
        return
    path = Path(spec).expanduser()
    if not path.exists():
        raise TrainError(f"base model {spec!r} is neither a packaged model ({', '.join(PACKAGED)}) nor an "
                         "existing .gguf file or model directory")


def detach(project: Project, job_id: str) -> dict[str, Any]:
    """Run the job in a background process that outlives this shell (own session, output to its log)."""
    path = log_path(project, job_id)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "ab") as out:
        process = subprocess.Popen(
            [sys.executable, "-m", "llmforge", "--project", str(project.root), "--quiet", "train", "worker", job_id],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
            close_fds=True, cwd=str(project.root))
    store.update_job(project, job_id, pid=process.pid, message="starting")
    return store.get_job(project, job_id, store.TRAIN.name)


def cancel(project: Project, job_id: str) -> dict[str, Any]:
    """Ask a running job to stop (it checkpoints first); a job that is not running is cancelled at once."""
    job = store.get_job(project, job_id, store.TRAIN.name)
    if job["state"] in ("succeeded", "cancelled", "failed"):
        raise UsageError(f"job {job_id} is already {job['state']}")
    if job["state"] == "running":   # settled: its pid holds the training lock, so it is no reused pid
        os.kill(job["pid"], signal.SIGTERM)
        store.update_job(project, job_id, message="cancel requested: stopping after the current step")
    else:
        store.update_job(project, job_id, state="cancelled", message="cancelled", stamp=("finished_at",))
    return store.get_job(project, job_id, store.TRAIN.name)


def prepare_resume(project: Project, job_id: str) -> dict[str, Any]:
    job = store.get_job(project, job_id, store.TRAIN.name)
    if job["state"] not in RESUMABLE:
        raise UsageError(f"job {job_id} is {job['state']}; only {', '.join(RESUMABLE)} jobs can be resumed")
    if holder := lock_holder(project):
        raise _refuse_second_run(holder)
    store.update_job(project, job_id, state="queued", pid=os.getpid(), message="resuming", finished_at=None)
    return store.get_job(project, job_id, store.TRAIN.name)


def wait(project: Project, job_id: str, timeout: float, poll: float = 0.5) -> dict[str, Any]:
    """The job once it is no longer queued or running (or after ``timeout`` seconds)."""
    deadline = time.monotonic() + timeout
    while True:
        job = store.get_job(project, job_id, store.TRAIN.name)
        if job["state"] not in store.ACTIVE or time.monotonic() > deadline:
            return job
        time.sleep(poll)


# --- running -------------------------------------------------------------------------------------

class _Stopper:
    """SIGTERM/SIGINT ask the loop to stop between steps (it saves a checkpoint first)."""

    def __init__(self) -> None:
        self.requested = False
        self._previous: dict[int, Any] = {}

    def __enter__(self) -> _Stopper:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGTERM, signal.SIGINT):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def _handle(self, signum: int, frame: Any) -> None:
        self.requested = True

    def __exit__(self, *exc: object) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class _Reporter:
    """Phase and step lines to the run's log (``train logs``) and to ``on_status``; progress to the
    catalog at most every UPDATE_SECONDS.

    A phase (preparing the base, tokenising, loading, training, evaluating, saving, registering)
    starts with a line naming it and ends with one giving its duration, so a slow one is visible
    while it runs and measured once it is done.
    """

    def __init__(self, project: Project, job_id: str, on_step: Callable[[Any], None] | None,
                 on_status: Callable[[str], None] | None = None) -> None:
        self.project, self.job_id, self.on_step = project, job_id, on_step
        self.on_status = on_status or (lambda message: None)
        self._last = 0.0
        self._phase: tuple[str, float] | None = None
        self._first_step: int | None = None
        self._log = open(log_path(project, job_id), "a", encoding="utf-8")   # noqa: SIM115 (closed in close)

    def line(self, text: str) -> None:
        stamp = datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M:%S")
        self._log.write(f"{stamp} {text}\n")
        self._log.flush()

    def phase(self, message: str) -> None:
        """A new phase starts (and the previous one ends)."""
        self.end_phase()
        self._phase = (message, time.monotonic())
        self.line(message)
        self.on_status(message)
        self._news(message=message[:200])

    def end_phase(self) -> None:
        if self._phase is not None:
            message, started = self._phase
            self.line(f"{message}: done in {time.monotonic() - started:.1f} s")
            self._phase = None

    def step(self, info: Any) -> None:
        self.line(f"step {info.step}/{info.total_steps} loss {info.loss:.4f} lr {info.lr:.2e} "
                  f"{info.tokens_per_s:.0f} tokens/s eta {info.eta_s:.0f}s")
        if self._first_step is None:   # the first step of this process: the ETA is measured now
            self._first_step = info.step
            if info.step < info.total_steps:
                left = info.total_steps - info.step
                self.line(f"ETA {format_seconds(info.eta_s)} for the {left} step{'s' if left != 1 else ''} left "
                          f"(measured on the first step: {info.elapsed_s / max(info.step, 1):.1f} s per step)")
        now = time.monotonic()
        if now - self._last >= UPDATE_SECONDS or info.step == info.total_steps:
            self._last = now
            self._news(step=info.step, total_steps=info.total_steps, last_loss=round(info.loss, 5),
                       progress=info.step / info.total_steps,
                       message=f"training: {info.tokens_per_s:.0f} tokens/s, ETA {format_seconds(info.eta_s)}")
        if self.on_step:
            self.on_step(info)

    def _news(self, **fields: Any) -> None:
        try:   # progress is news, not state: a busy catalog must not stop the training
            store.update_job(self.project, self.job_id, **fields)
        except LlmforgeError as exc:
            self.line(f"progress not recorded in the catalog this time: {exc}")

    def close(self) -> None:
        self.end_phase()
        self._log.close()


def format_seconds(seconds: float) -> str:
    """``42 s``, ``12 min``, ``3.5 h``: an ETA for people."""
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"


def run(project: Project, job_id: str, *, on_step: Callable[[Any], None] | None = None,
        on_status: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Run a queued job in this process to its end (success, failure, or a requested stop)."""
    job = store.get_job(project, job_id, store.TRAIN.name)
    if job["state"] not in ("queued", "interrupted"):
        raise UsageError(f"job {job_id} is {job['state']}, not queued")
    reporter = _Reporter(project, job_id, on_step, on_status)
    try:
        with training_lock(project, job_id), _Stopper() as stopper:
            store.update_job(project, job_id, state="running", pid=os.getpid(), message="loading",
                             stamp=() if job["started_at"] else ("started_at",))
            reporter.line(f"job {job_id} running in pid {os.getpid()}: {json.dumps(job['params'])}")
            result = _train(project, job_id, job["params"], reporter, lambda: stopper.requested)
    except LlmforgeError as exc:
        _fail(project, job_id, reporter, str(exc))
        raise
    except BaseException as exc:
        _fail(project, job_id, reporter, _describe(exc))
        if isinstance(exc, (MemoryError, OSError)) or _is_oom(exc):
            raise TrainError(_describe(exc)) from exc
        raise
    finally:
        reporter.close()
    return result


def _fail(project: Project, job_id: str, reporter: _Reporter, message: str) -> None:
    reporter.end_phase()
    reporter.line(f"failed: {message}")
    try:
        store.update_job(project, job_id, state="failed", message=message[:1000], stamp=("finished_at",))
    except LlmforgeError as exc:
        log.warning("could not record the failure of job %s: %s", job_id, exc)


def _is_oom(exc: BaseException) -> bool:
    """CUDA's OutOfMemoryError, or torch's CPU allocator refusing ("can't allocate memory")."""
    text = str(exc).lower()
    return (type(exc).__name__ == "OutOfMemoryError" or "out of memory" in text
            or "can't allocate memory" in text or "cannot allocate memory" in text)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, MemoryError) or _is_oom(exc):
        return ("out of memory: lower train.seq_len or train.batch_size, or pick a smaller base model "
                "(the newest checkpoint is kept; `llmforge train resume` continues from it)")
    from llmforge.train.loop import disk_full

    if disk_full(exc):
        return "disk full: free space under runs/ and models/, then `llmforge train resume`"
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    return f"{type(exc).__name__}: {exc}"


def _train(project: Project, job_id: str, params: dict[str, Any], reporter: _Reporter,
           should_stop: Callable[[], bool]) -> dict[str, Any]:
    from llmforge import registry
    from llmforge.train.base import resolve_base
    from llmforge.train.data import load_dataset_info, open_splits
    from llmforge.train.loop import train_lora

    recipe = Recipe(**params["recipe"])
    reporter.phase(f"preparing base model {params['base']}")
    base = resolve_base(project, params["base"], progress=reporter.phase)
    reporter.phase(f"reading dataset {params['dataset']}")
    info = load_dataset_info(project, params["dataset"])
    if params.get("dataset_sha256") and info.sha256 != params["dataset_sha256"]:
        raise TrainError(f"dataset {info.name} was rebuilt since this job started (sha256 {info.sha256[:12]}… "
                         f"instead of {params['dataset_sha256'][:12]}…): its checkpoints learnt from other rows; "
                         "start a new `llmforge train run` instead of resuming")
    splits = open_splits(info)
    train_rows, eval_rows = list(splits["train"]), list(splits["eval"])
    parent = registry.get_version(project, params["parent"]) if params.get("parent") else None
    if parent is not None and (parent.manifest.get("base") or {}).get("sha256") != base.sha256:
        raise TrainError(f"{parent.ref} was trained on another base model "
                         f"({(parent.manifest.get('base') or {}).get('spec')}); continue it on that base")
    model, tokenizer, backend, tokenizer_check = _load_model(base, params, recipe, train_rows, parent, reporter)
    reporter.end_phase()
    reporter.line(f"base {base.spec} ({base.architecture}), dataset {info.name} ({len(train_rows)} train / "
                  f"{len(eval_rows)} eval rows), backend {backend.name}")
    compare = {"parent": parent.path / "adapter"} if parent is not None else None
    outcome = train_lora(model, tokenizer, base.architecture, train_rows, eval_rows, recipe,
                         run_dir(project, job_id), on_step=reporter.step, should_stop=should_stop,
                         on_checkpoint=lambda step: reporter.line(f"checkpoint at step {step}"),
                         on_phase=reporter.phase, compare=compare)
    if outcome.stopped:
        reporter.end_phase()
        reporter.line(f"stopped at step {outcome.step}/{outcome.total_steps}; checkpoint kept")
        store.update_job(project, job_id, state="cancelled", step=outcome.step, total_steps=outcome.total_steps,
                         message=f"stopped at step {outcome.step}: `llmforge train resume {job_id}` continues",
                         stamp=("finished_at",))
        return store.get_job(project, job_id, store.TRAIN.name)
    done = [v for v in registry.list_versions(project, params["name"]) if v.manifest.get("job_id") == job_id]
    if done:   # registered before a crash that kept the job from being marked succeeded
        return _succeed(project, job_id, reporter, done[0], outcome)
    reporter.phase("saving the adapter")
    staging = registry.staging_dir(project, params["name"])
    try:
        model.save_pretrained(staging / "adapter")
    except Exception as exc:
        raise TrainError(f"could not write the adapter into {staging}: {_describe(exc)}") from exc
    # with a parent, parent_eval_perplexity is measured on this run's held-out sample: what promotion compares
    metrics = {k: round(v, 5) if isinstance(v, float) else v for k, v in outcome.metrics.items()}
    manifest = {
        "name": params["name"], "parent": params.get("parent"), "job_id": job_id,
        "created_at": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "base": base.to_dict(),
        "dataset": {"name": info.name, "sha256": info.sha256, "train_rows": info.train_rows,
                    "eval_rows": info.eval_rows, "sources": list(info.sources),
                    "documents": [d for d in info.documents if d not in set(info.eval_documents)],
                    "eval_documents": list(info.eval_documents)},
        "backend": backend.name, "hyperparameters": recipe.to_dict(),
        "training": {"steps": outcome.step, "tokens": outcome.tokens, "seconds": round(outcome.seconds, 2),
                     "tokens_per_s": round(outcome.tokens_per_s, 1)},
        "metrics": metrics,
        "tokenizer_check": tokenizer_check,
    }
    reporter.phase(f"registering a new version of {params['name']}")
    version = registry.register_version(project, params["name"], staging, manifest)
    return _succeed(project, job_id, reporter, version, outcome)


def _load_model(base: Any, params: dict[str, Any], recipe: Recipe, train_rows: list[dict[str, Any]],
                parent: Any, reporter: _Reporter) -> tuple[Any, Any, Any, dict[str, Any]]:
    """The peft model and its tokenizer (llama.cpp's ids for a GGUF base), checked to agree with
    llama.cpp's on samples (the tokenizers loaded once, for both); a parent's adapter as the start."""
    from llmforge.train.backends import choose_backend
    from llmforge.train.base import check_tokenizer, serving_tokenizer

    backend = choose_backend(params["backend"])
    reporter.phase(f"loading {base.spec} with {backend.name}")
    try:
        model, tokenizer = backend.load(base, recipe)
    except Exception as exc:  # a folder that looks like a model but is not one: say so, in one line
        if _is_oom(exc):
            raise
        raise TrainError(f"base model {base.spec} cannot be loaded from {base.hf_dir}: {type(exc).__name__}: "
                         f"{str(exc)[:300]}") from exc
    tokenizer = serving_tokenizer(tokenizer, base)
    reporter.phase("checking the training tokenizer against llama.cpp's")
    samples = [r["text"] or " ".join(m["content"] for m in r["messages"]) for r in train_rows[:40]]
    tokenizer_check = check_tokenizer(base, samples, tokenizer=tokenizer)
    if parent is not None:
        _start_from(model, parent)
    return model, tokenizer, backend, tokenizer_check


def _succeed(project: Project, job_id: str, reporter: _Reporter, version: Any, outcome: Any) -> dict[str, Any]:
    reporter.end_phase()
    manifest = version.manifest
    result = {"version": version.ref, "metrics": manifest["metrics"], "training": manifest["training"]}
    reporter.line(f"succeeded: registered {version.ref} {json.dumps(manifest['metrics'])}")
    store.update_job(project, job_id, state="succeeded", result=result, step=outcome.step,
                     total_steps=outcome.total_steps, last_loss=outcome.train_loss, progress=1.0,
                     message=f"registered {version.ref}", stamp=("finished_at",))
    # A succeeded job is never resumed: its checkpoints (adapter and optimizer state, three times the
    # adapter's size) would only weigh on the project. The log stays.
    shutil.rmtree(run_dir(project, job_id) / "checkpoints", ignore_errors=True)
    return store.get_job(project, job_id, store.TRAIN.name)


def _start_from(model: Any, parent: Any) -> None:
    """Initialise the LoRA weights from a parent version (same rank and targets required)."""
    from peft import set_peft_model_state_dict
    from safetensors.torch import load_file

    weights = load_file(str(parent.path / "adapter" / "adapter_model.safetensors"))
    try:
        set_peft_model_state_dict(model, weights)
    except RuntimeError as exc:
        raise TrainError(f"cannot continue from {parent.ref}: its adapter does not fit this recipe "
                         f"(use its lora_r {parent.manifest['hyperparameters'].get('lora_r')})") from exc
