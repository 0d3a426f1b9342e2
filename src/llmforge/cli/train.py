"""``llmforge train data|run|list|status|logs|cancel|resume|eval``."""

from __future__ import annotations

import json
import sys
import time
from typing import Annotated, Any

import typer
from rich.markup import escape
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from llmforge.cli._common import OPTIONS, JsonOption, ProjectOption, emit, note, open_project, stderr, stdout

train_app = typer.Typer(help="Fine-tune a model on the project's documents (LoRA), follow and evaluate runs.",
                        no_args_is_help=True)
JobArg = Annotated[str | None, typer.Argument(help="Job id (default: the newest training job).", show_default=False)]


cache_app = typer.Typer(help="The machine's cache of base models, shared by every project: list, prune.",
                        no_args_is_help=True)


def register(app: typer.Typer) -> None:
    from llmforge.cli import train_data

    train_data.register(train_app)
    train_app.add_typer(cache_app, name="cache")
    app.add_typer(train_app, name="train")


def _job_id(project: Any, job: str | None) -> str:
    from llmforge.errors import NotFoundError
    from llmforge.jobs import TRAIN, list_jobs

    if job:
        return job
    jobs = list_jobs(project, TRAIN.name, limit=1)
    if not jobs:
        raise NotFoundError("no training jobs yet: start one with `llmforge train run`")
    return jobs[0]["id"]


def _show(job: dict[str, Any]) -> None:
    params = job.get("params") or {}
    stdout.print(f"[bold]{job['id']}[/] {job['state']}  {escape(job.get('message') or '')}", highlight=False)
    if job.get("step") is not None:
        loss = f"  loss {job['last_loss']:.4f}" if job.get("last_loss") is not None else ""
        stdout.print(f"  step {job['step']}/{job['total_steps']}{loss}", highlight=False)
    stdout.print(f"  model {params.get('name')}  base {params.get('base')}  dataset {params.get('dataset')}  "
                 f"backend {params.get('backend')}", highlight=False)
    stdout.print(f"  started {job.get('started_at') or '-'}  finished {job.get('finished_at') or '-'}  "
                 f"pid {job.get('pid') or '-'}", highlight=False)
    if job.get("result"):
        stdout.print(f"  result {escape(json.dumps(job['result'], ensure_ascii=False))}", highlight=False)


class _PhaseLines:
    """A run's phases on stderr: a line when each starts and its duration when it ends, the running
    one in the progress bar with its own elapsed time (steps, loss, tokens/s and ETA while training)."""

    def __init__(self, bar: Progress, task: Any, visible: bool) -> None:
        self.bar, self.task, self.visible = bar, task, visible
        self.current: tuple[str, float] | None = None
        self.eta_told = False

    def _say(self, text: str) -> None:
        if self.visible:
            self.bar.console.print(escape(text), highlight=False)
        else:
            note(escape(text))

    def start(self, message: str) -> None:
        self.end()
        self.current = (message, time.monotonic())
        self._say(f"{message} …")
        self.bar.reset(self.task, description=message, total=None)

    def end(self) -> None:
        if self.current is not None:
            self._say(f"  done in {time.monotonic() - self.current[1]:.1f} s")
            self.current = None

    def step(self, info: Any) -> None:
        from llmforge.train.jobs import format_seconds

        if not self.eta_told and info.step < info.total_steps:
            self.eta_told = True
            left = info.total_steps - info.step
            self._say(f"  ETA {format_seconds(info.eta_s)} for the {left} step{'s' if left != 1 else ''} left "
                      f"({info.elapsed_s / max(info.step, 1):.1f} s per step, measured on the first)")
        self.bar.update(self.task, completed=info.step, total=info.total_steps,
                        description=f"loss {info.loss:.3f} · {info.tokens_per_s:.0f} tok/s")


def _run_here(project: Any, job_id: str, as_json: bool) -> None:
    """Run a job in this process: phase lines with their durations, a progress bar while it trains."""
    from llmforge.train.jobs import run

    visible = stderr.is_terminal and not OPTIONS.quiet and not as_json
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
               TimeRemainingColumn())
    with Progress(*columns, console=stderr, disable=not visible) as bar:
        phases = _PhaseLines(bar, bar.add_task("starting", total=None), visible)
        try:
            job = run(project, job_id, on_step=phases.step, on_status=phases.start)
        finally:
            phases.end()
    emit(job, as_json, lambda: _show(job))
    if job["state"] == "cancelled":
        note(f"stopped; continue with `llmforge train resume {job_id}`")
        raise typer.Exit(130)


@train_app.command("run")
def run_command(
    name: Annotated[str, typer.Option(help="Model name in the repository (versions are numbered).")] = "assistant",
    base: Annotated[str | None, typer.Option(help="Base model: packaged name, model directory or .gguf "
                                             "(default: setting train.base).", show_default=False)] = None,
    dataset: Annotated[str, typer.Option(help="Dataset built by `llmforge train data build`.")] = "default",
    backend: Annotated[str | None, typer.Option(help="auto, unsloth or peft (default: setting train.backend).",
                                                show_default=False)] = None,
    parent: Annotated[str | None, typer.Option(help="Continue from this model version's adapter (NAME@vN).",
                                               show_default=False)] = None,
    epochs: Annotated[float | None, typer.Option(help="Passes over the training split when --max-steps is left out "
                                                 "(default: setting train.epochs).", show_default=False)] = None,
    max_steps: Annotated[int | None, typer.Option(
        help="Optimizer steps, at least 1 (overrides --epochs). Left out: as many as --epochs passes over the "
             "training split take; the step count is shown before training starts.", show_default=False)] = None,
    lora_r: Annotated[int | None, typer.Option(help="LoRA rank.", show_default=False)] = None,
    lr: Annotated[float | None, typer.Option(help="Peak learning rate.", show_default=False)] = None,
    seq_len: Annotated[int | None, typer.Option(help="Tokens per sequence.", show_default=False)] = None,
    batch_size: Annotated[int | None, typer.Option(help="Sequences per micro-batch.", show_default=False)] = None,
    grad_accum: Annotated[int | None, typer.Option(help="Micro-batches per step.", show_default=False)] = None,
    checkpoint_steps: Annotated[int | None, typer.Option(help="Checkpoint every N steps.", show_default=False)] = None,
    full_eval: Annotated[bool, typer.Option("--full-eval", help="Measure the base and the fine-tuned model on the "
                                            "whole held-out split (default: a sample of train.eval_sample "
                                            "sequences).")] = False,
    detach: Annotated[bool, typer.Option("--detach", help="Run in the background; follow with "
                                         "`llmforge train status|logs`.")] = False,
    project: ProjectOption = None, as_json: JsonOption = False,
) -> None:
    """Fine-tune a LoRA adapter and register it as a new model version."""
    from llmforge.train.jobs import detach as detach_job, submit

    proj = open_project(project)
    job = submit(proj, name=name, base=base, dataset=dataset, backend=backend, parent=parent, epochs=epochs,
                 max_steps=max_steps, lora_r=lora_r, lr=lr, seq_len=seq_len, batch_size=batch_size,
                 grad_accum=grad_accum, checkpoint_steps=checkpoint_steps, eval_sample=0 if full_eval else None)
    if detach:
        job = detach_job(proj, job["id"])
        emit(job, as_json, lambda: stdout.print(
            f"training job {job['id']} started in the background (pid {job['pid']}); "
            f"follow it with `llmforge train logs {job['id']} --follow`", highlight=False))
        return
    _run_here(proj, job["id"], as_json)


@train_app.command("worker", hidden=True)
def worker(job: str, project: ProjectOption = None) -> None:
    """Run a queued job (what --detach starts in the background)."""
    from llmforge.train.jobs import run

    run(open_project(project), job)


@train_app.command("list")
def list_command(limit: Annotated[int, typer.Option(help="Newest jobs to show.")] = 20,
                 project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Training jobs, newest first."""
    from llmforge.jobs import TRAIN, list_jobs

    jobs = list_jobs(open_project(project), TRAIN.name, limit=limit)

    def render() -> None:
        if not jobs:
            stdout.print("no training jobs yet")
            return
        table = Table("state", "model", "base", "step", "loss", "message")
        table.add_column("job", no_wrap=True, min_width=22)   # the id cancel/resume need, never cut
        for job in jobs:
            params = job.get("params") or {}
            step = f"{job['step']}/{job['total_steps']}" if job.get("step") is not None else "-"
            loss = f"{job['last_loss']:.3f}" if job.get("last_loss") is not None else "-"
            table.add_row(job["state"], params.get("name", ""), params.get("base", ""), step, loss,
                          escape(job.get("message") or ""), job["id"])
        stdout.print(table)

    emit(jobs, as_json, render)


@train_app.command("status")
def status_command(job: JobArg = None, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """One job's state, progress, last loss and result."""
    from llmforge.jobs import TRAIN, get_job

    proj = open_project(project)
    found = get_job(proj, _job_id(proj, job), TRAIN.name)
    emit(found, as_json, lambda: _show(found))


@train_app.command("logs")
def logs_command(job: JobArg = None,
                 follow: Annotated[bool, typer.Option("--follow", "-f", help="Keep printing until the job ends.")] = False,
                 tail: Annotated[int, typer.Option(help="Lines from the end to show (0: all).")] = 0,
                 project: ProjectOption = None) -> None:
    """A job's log: one line per step (loss, learning rate, tokens/s, ETA), checkpoints, the outcome."""
    from llmforge.errors import NotFoundError
    from llmforge.jobs import ACTIVE, TRAIN, get_job
    from llmforge.train.jobs import log_path

    proj = open_project(project)
    job_id = _job_id(proj, job)
    get_job(proj, job_id, TRAIN.name)
    path = log_path(proj, job_id)
    if not path.is_file():
        raise NotFoundError(f"job {job_id} has no log yet")
    with open(path, encoding="utf-8", errors="replace") as handle:
        lines = handle.readlines()
        sys.stdout.writelines(lines[-tail:] if tail else lines)
        while follow:
            line = handle.readline()
            if line:
                sys.stdout.write(line)
                sys.stdout.flush()
                continue
            if get_job(proj, job_id, TRAIN.name)["state"] not in ACTIVE:
                sys.stdout.writelines(handle.readlines())
                break
            time.sleep(0.5)


@train_app.command("cancel")
def cancel_command(job: str, project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Stop a job (a running one saves a checkpoint first, so it can be resumed)."""
    from llmforge.train.jobs import cancel

    found = cancel(open_project(project), job)
    emit(found, as_json, lambda: _show(found))


@train_app.command("resume")
def resume_command(job: str,
                   detach: Annotated[bool, typer.Option("--detach", help="Continue in the background.")] = False,
                   project: ProjectOption = None, as_json: JsonOption = False) -> None:
    """Continue a failed, cancelled or interrupted job from its newest checkpoint."""
    from llmforge.train.jobs import detach as detach_job, prepare_resume

    proj = open_project(project)
    prepare_resume(proj, job)
    if detach:
        found = detach_job(proj, job)
        emit(found, as_json, lambda: stdout.print(f"job {job} resumed in the background (pid {found['pid']})",
                                                  highlight=False))
        return
    _run_here(proj, job, as_json)


@train_app.command("eval")
def eval_command(
    version: Annotated[str, typer.Argument(help="Model version (NAME or NAME@vN).")],
    against: Annotated[str | None, typer.Option(help="Another version to compare with (default: the base "
                                                "model, and the parent version if any).", show_default=False)] = None,
    max_qa: Annotated[int, typer.Option(help="Most question-answer pairs to score.")] = 50,
    full_eval: Annotated[bool, typer.Option("--full-eval", help="Perplexity on the whole held-out split (default: "
                                            "the sample the version was trained with, train.eval_sample).")] = False,
    project: ProjectOption = None, as_json: JsonOption = False,
) -> None:
    """Held-out perplexity and QA accuracy (with and without retrieval); results go into the manifest."""
    from llmforge.cli._common import progress_bar
    from llmforge.train.evaluate import evaluate_version, render_report

    proj = open_project(project)
    with progress_bar("answering held-out questions", None) as advance:
        report = evaluate_version(proj, version, against=against, max_qa=max_qa, full_eval=full_eval,
                                  progress=lambda done, total: advance(1, f"answering held-out questions "
                                                                          f"({done}/{total})"))
    emit(report, as_json, lambda: render_report(report, stdout))


def _size(count: int) -> str:
    return f"{count / 1e9:.2f} GB" if count >= 1e8 else f"{count / 1e6:.1f} MB"


def _cache_table(entries: list[Any], title: str) -> None:
    table = Table("model", "holds", "size", "last used", "folder", title=title)
    for entry in entries:
        row = entry.to_dict()
        table.add_row(escape(entry.model), " + ".join(entry.holds) or "-", _size(entry.bytes),
                      str(row["last_used"]).replace("T", " "), escape(str(entry.path)))
    stdout.print(table)


@cache_app.command("list")
def cache_list_command(as_json: JsonOption = False) -> None:
    """Base models in the machine cache: assembled packaged GGUFs (gguf) and float weights for training (hf)."""
    from llmforge.packaged import cache_entries, cache_root

    entries = cache_entries()
    total = sum(entry.bytes for entry in entries)

    def render() -> None:
        if not entries:
            stdout.print(f"the cache {escape(str(cache_root()))} holds no base models")
            return
        _cache_table(entries, f"{escape(str(cache_root()))}: {_size(total)}")

    emit({"cache": str(cache_root()), "bytes": total, "entries": [entry.to_dict() for entry in entries]},
         as_json, render)


@cache_app.command("prune")
def cache_prune_command(
    unused_days: Annotated[float, typer.Option(min=0.0, help="Remove base models not used for this many days "
                                               "(0: all of them).")] = 30.0,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Only say what would be removed.")] = False,
    as_json: JsonOption = False,
) -> None:
    """Free disk space: remove cached base models unused for a while (rebuilt when next needed)."""
    from llmforge.packaged import prune_cache

    removed = prune_cache(unused_days, dry_run=dry_run)
    freed = sum(entry.bytes for entry in removed)

    def render() -> None:
        verb = "would free" if dry_run else "freed"
        if removed:
            _cache_table(removed, f"{verb} {_size(freed)}")
        else:
            stdout.print(f"nothing unused for {unused_days:g} days")

    emit({"dry_run": dry_run, "bytes": freed, "removed": [entry.to_dict() for entry in removed]}, as_json, render)
