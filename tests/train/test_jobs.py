"""Training jobs end to end on a tiny model: CLI, registration, one run at a time, kill -9 and resume."""

from __future__ import annotations

import json
import os
import re
import signal
import time
from pathlib import Path

import pytest

pytest.importorskip("peft")
pytest.importorskip("datasets")

from llmforge import registry  # noqa: E402
from llmforge.errors import TrainError, UsageError  # noqa: E402
from llmforge.jobs import get_job, list_jobs, update_job  # noqa: E402
from llmforge.project import Project  # noqa: E402
from llmforge.settings import write_setting  # noqa: E402
from llmforge.train import jobs  # noqa: E402
from llmforge.train.data import build_dataset  # noqa: E402
from llmforge.testing.tiny import build_tiny_model  # noqa: E402
from tests.assets import copy_project, structured_project  # noqa: E402

DOCS = {
    "pumps.txt": "Pump station 4 on Mill Lane lifts water to the northern reservoir. It was rebuilt in 2016. "
                 "Its three pumps deliver 450 litres per second. The station is inspected every Tuesday. " * 3,
    "chlorine.txt": "Free chlorine at the outlet must stay between 0.2 and 1.0 mg/L. The analyser is calibrated "
                    "weekly. An alarm is raised when the reading stays below the limit for ten minutes. " * 3,
    "zahraa.txt": "تقع محطة الضخ الرئيسية في حي الزهراء، وقد أنشئت عام ١٩٩٨ لتزويد المنطقة الشرقية بالمياه. "
                  "يعمل فيها اثنا عشر موظفاً على ثلاث نوبات، وتفحص المضخات كل أسبوع. " * 3,
}


@pytest.fixture(scope="module")
def template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A structured project with a dataset, and a tiny base model beside it; copied per test."""
    root = tmp_path_factory.mktemp("train-jobs")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("HOME", str(root))
        project = structured_project(root, DOCS)
        build_dataset(project, eval_fraction=0.34)
        build_tiny_model(root / "project" / "tiny-base", DOCS.values())
    return root / "project"


@pytest.fixture
def kb(template: Path, tmp_path: Path) -> Project:
    root = copy_project(template, tmp_path / "kb").root
    for name, value in (("train.base", str(root / "tiny-base")), ("train.seq_len", "64"),
                        ("train.grad_accum", "1"), ("train.lr", "0.01"), ("train.checkpoint_steps", "3")):
        write_setting(root / "llmforge.toml", name, value)
    return Project(root)


def test_a_run_registers_a_version_with_its_lineage(kb: Project, cli) -> None:
    result = cli("train", "run", "-p", kb.root, "--name", "ops", "--max-steps", "6", "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert job["state"] == "succeeded" and job["step"] == 6 and job["total_steps"] == 6
    assert job["result"]["version"] == "ops@v1"
    version = registry.get_version(kb, "ops@v1")
    manifest = version.manifest
    assert manifest["backend"] == "peft" and manifest["job_id"] == job["id"]
    assert manifest["hyperparameters"]["seq_len"] == 64 and manifest["hyperparameters"]["max_steps"] == 6
    trained, held_out = manifest["dataset"]["documents"], manifest["dataset"]["eval_documents"]
    assert manifest["dataset"]["sha256"] and len(trained) == 2 and len(held_out) == 1
    assert not set(trained) & set(held_out)   # lineage names only what the model learnt from
    assert manifest["metrics"]["eval_perplexity"] < manifest["metrics"]["base_eval_perplexity"]
    assert "adapter/adapter_model.safetensors" in manifest["files"] and registry.verify_files(version) == []
    log = jobs.log_path(kb, job["id"]).read_text()
    assert "step 6/6 loss" in log and "checkpoint at step 3" in log and "registered ops@v1" in log
    assert not (jobs.run_dir(kb, job["id"]) / "checkpoints").exists()   # a succeeded job is never resumed

    listed = json.loads(cli("train", "list", "-p", kb.root, "--json").stdout)
    assert [j["id"] for j in listed] == [job["id"]]
    assert json.loads(cli("train", "status", "-p", kb.root, "--json").stdout)["state"] == "succeeded"
    shown = cli("train", "logs", "-p", kb.root, "--tail", "1")
    assert "registered ops@v1" in shown.stdout


def test_bad_input_is_refused_before_anything_runs(kb: Project, cli, tmp_path: Path) -> None:
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    bad = cli("train", "run", "-p", kb.root, "--base", str(not_a_model), "--max-steps", "2")
    assert bad.exit_code == 1 and bad.stderr.strip().splitlines()[-1].startswith("error: ")
    assert "is not a Hugging Face model directory" in bad.stderr and "Traceback" not in bad.stderr
    assert registry.list_versions(kb) == []
    assert json.loads(cli("train", "status", "-p", kb.root, "--json").stdout)["state"] == "failed"
    assert cli("train", "run", "-p", kb.root, "--dataset", "nope").exit_code == 1
    assert cli("train", "run", "-p", kb.root, "--lora-r", "0").exit_code == 2
    assert cli("train", "run", "-p", kb.root, "--name", "Bad Name").exit_code == 2
    assert cli("train", "run", "-p", kb.root, "--backend", "unsloth").exit_code == 1   # no GPU here
    assert registry.list_versions(kb) == []


def test_one_training_run_at_a_time(kb: Project) -> None:
    job = jobs.submit(kb, name="ops", max_steps=2)
    with jobs.training_lock(kb, "someone-else"):
        with pytest.raises(TrainError, match="another training run is in progress .*someone-else"):
            jobs.submit(kb, name="ops", max_steps=2)
        with pytest.raises(TrainError, match="another training run"):
            jobs.run(kb, job["id"])
    assert registry.list_versions(kb) == []


def test_cancel_and_resume_states(kb: Project) -> None:
    job = jobs.submit(kb, name="ops", max_steps=2)
    assert jobs.cancel(kb, job["id"])["state"] == "cancelled"
    with pytest.raises(UsageError, match="already cancelled"):
        jobs.cancel(kb, job["id"])
    assert jobs.prepare_resume(kb, job["id"])["state"] == "queued"
    done = jobs.run(kb, job["id"])
    assert done["state"] == "succeeded" and done["result"]["version"] == "ops@v1"
    with pytest.raises(UsageError, match="only failed, cancelled, interrupted"):
        jobs.prepare_resume(kb, job["id"])


def _wait_for(predicate, timeout: float = 120.0):  # noqa: ANN001, ANN202
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if value := predicate():
            return value
        time.sleep(0.2)
    raise AssertionError("timed out")


def test_a_killed_detached_run_resumes_from_its_checkpoint(kb: Project, cli) -> None:
    started = json.loads(cli("train", "run", "-p", kb.root, "--name", "ops", "--max-steps", "400",
                             "--checkpoint-steps", "5", "--detach", "--json").stdout)
    job_id, pid = started["id"], started["pid"]
    checkpoints = jobs.run_dir(kb, job_id) / "checkpoints"
    _wait_for(lambda: any(checkpoints.glob("step-*")))
    os.killpg(pid, signal.SIGKILL)   # the worker leads its own session: nothing survives
    _wait_for(lambda: get_job(kb, job_id)["state"] == "interrupted", 30)
    _wait_for(lambda: jobs.lock_holder(kb) is None, 15)   # released once the killed processes are gone
    saved = max(int(p.name.split("-")[1]) for p in checkpoints.glob("step-*"))
    assert registry.list_versions(kb) == []   # nothing registered by a run that did not finish

    resumed = cli("train", "resume", job_id, "-p", kb.root, "--json")
    assert resumed.exit_code == 0, resumed.stderr
    job = json.loads(resumed.stdout)
    assert job["state"] == "succeeded" and job["step"] == 400
    log = jobs.log_path(kb, job_id).read_text()
    first_after = [line for line in log.splitlines() if line.split(" ", 2)[-1].startswith(f"step {saved + 1}/")]
    assert first_after, f"the resumed run should continue at step {saved + 1}"
    assert registry.get_version(kb, "ops").version == 1


def test_a_detached_run_can_be_cancelled_and_resumed(kb: Project, cli) -> None:
    started = json.loads(cli("train", "run", "-p", kb.root, "--name", "ops", "--max-steps", "400",
                             "--checkpoint-steps", "50", "--detach", "--json").stdout)
    job_id = started["id"]
    _wait_for(lambda: (get_job(kb, job_id)["step"] or 0) >= 2)
    assert cli("train", "cancel", job_id, "-p", kb.root).exit_code == 0
    job = _wait_for(lambda: (j := get_job(kb, job_id))["state"] == "cancelled" and j, 60)
    assert 2 <= job["step"] < 400 and "resume" in job["message"]
    assert (jobs.run_dir(kb, job_id) / "checkpoints" / f"step-{job['step']:06d}").is_dir()


def test_out_of_memory_and_a_full_disk_are_explained() -> None:
    import errno as errnos

    import torch

    with pytest.raises(RuntimeError) as refused:
        torch.empty(2**42)   # 16 TiB: the CPU allocator refuses, as it does when training runs out
    assert jobs._describe(refused.value).startswith("out of memory: lower train.seq_len")
    assert jobs._describe(MemoryError()).startswith("out of memory")
    assert jobs._describe(OSError(errnos.ENOSPC, "No space left on device")).startswith("disk full")
    # safetensors says it in words, without an errno: the same reading as the checkpoint writer's
    assert jobs._describe(RuntimeError("Error while writing: No space left on device (os error 28)")).startswith("disk full")


def test_what_can_be_checked_is_checked_before_a_run_starts(kb: Project, cli) -> None:
    import subprocess

    for name in ("_ops", "qwen2.5-coder-0.5b-instruct", "x" * 65):   # names the repository refuses
        assert cli("train", "run", "-p", kb.root, "--name", name, "--max-steps", "1").exit_code == 2
    assert cli("train", "run", "-p", kb.root, "--base", "no-such-model", "--detach").exit_code == 1
    assert list_jobs(kb) == []   # nothing was queued, nothing runs in the background
    sleeper = subprocess.Popen(["sleep", "30"])
    try:
        with kb.catalog() as conn:   # a job queued by another live process
            conn.execute("INSERT INTO jobs (id, kind, state, pid, params) VALUES ('other', 'train', 'queued', ?, '{}')",
                         [sleeper.pid])
        with pytest.raises(TrainError, match="training job other is already queued or running"):
            jobs.submit(kb, name="ops", max_steps=1)
    finally:
        sleeper.kill()
        sleeper.wait()


def test_cancel_never_signals_a_process_that_reused_the_pid(kb: Project) -> None:
    import subprocess

    job = jobs.submit(kb, name="ops", max_steps=2)
    stranger = subprocess.Popen(["sleep", "30"])
    try:
        update_job(kb, job["id"], state="running", pid=stranger.pid)   # as after a reboot
        assert get_job(kb, job["id"])["state"] == "interrupted"
        assert jobs.cancel(kb, job["id"])["state"] == "cancelled"
        assert stranger.poll() is None   # still alive: it was never sent SIGTERM
    finally:
        stranger.kill()
        stranger.wait()
    failed = jobs.submit(kb, name="ops", max_steps=2)
    update_job(kb, failed["id"], state="failed", message="boom")
    with pytest.raises(UsageError, match="already failed"):
        jobs.cancel(kb, failed["id"])


def test_resume_refuses_a_rebuilt_dataset_and_parents_need_the_same_base(kb: Project, tmp_path: Path) -> None:
    job = jobs.submit(kb, name="ops", max_steps=2)
    jobs.cancel(kb, job["id"])
    build_dataset(kb, eval_fraction=0.0)   # the rows change under the stopped job
    jobs.prepare_resume(kb, job["id"])
    with pytest.raises(TrainError, match="dataset default was rebuilt since this job started"):
        jobs.run(kb, job["id"])

    build_dataset(kb, eval_fraction=0.34)
    assert jobs.run(kb, jobs.submit(kb, name="ops", max_steps=2)["id"])["state"] == "succeeded"
    other_base = build_tiny_model(tmp_path / "other-base", DOCS.values(), seed=1, vocab_size=400)
    child = jobs.submit(kb, name="ops", max_steps=2, base=str(other_base), parent="ops")
    assert child["params"]["parent"] == "ops@v1"   # pinned at submission
    with pytest.raises(TrainError, match="ops@v1 was trained on another base model"):
        jobs.run(kb, child["id"])
    assert [v.ref for v in registry.list_versions(kb)] == ["ops@v1"]


def test_an_adapter_export_takes_no_quantization(kb: Project, cli) -> None:
    result = cli("models", "export", "ops@v1", "-p", kb.root, "--quantization", "q4_k_m")
    assert result.exit_code == 2 and "merged export only" in result.stderr


def test_a_run_registered_before_a_crash_is_not_registered_twice(kb: Project) -> None:
    job = jobs.submit(kb, name="ops", max_steps=2)
    assert jobs.run(kb, job["id"])["result"]["version"] == "ops@v1"
    update_job(kb, job["id"], state="failed", message="the catalog update after registration failed")
    jobs.prepare_resume(kb, job["id"])
    assert jobs.run(kb, job["id"])["result"]["version"] == "ops@v1"
    assert [v.ref for v in registry.list_versions(kb)] == ["ops@v1"]


def test_max_steps_zero_is_refused_in_one_line_and_help_says_what_absent_means(kb: Project, cli) -> None:
    refused = cli("train", "run", "-p", kb.root, "--max-steps", "0")
    assert refused.exit_code == 2 and "Traceback" not in refused.stderr
    assert refused.stderr.strip().splitlines() == [
        "error: --max-steps must be at least 1, got 0 (leave it out to train for --epochs, default setting "
        "train.epochs)"]
    assert list_jobs(kb) == []
    shown = " ".join(re.sub(r"[│╭╮╰╯─]", " ", cli("train", "run", "--help").stdout).split())
    assert "at least 1" in shown and "Left out: as many as --epochs passes" in shown and "--full-eval" in shown


def test_every_phase_is_logged_with_its_duration_and_the_plan_comes_first(kb: Project, cli) -> None:
    result = cli("train", "run", "-p", kb.root, "--name", "ops", "--epochs", "1")
    assert result.exit_code == 0, result.stderr
    job = list_jobs(kb)[0]
    log = [line.split(" ", 2)[2] for line in jobs.log_path(kb, job["id"]).read_text().splitlines()]
    done = [line for line in log if ": done in " in line]
    for phase in ("preparing base model", "reading dataset default", "checking the training tokenizer",
                  "loading ", "tokenising ", "training ", "evaluating the base and the fine-tuned model on",
                  "saving the adapter", "registering a new version of ops"):
        assert any(line.startswith(phase) for line in done), f"no timed phase {phase!r} in {done}"
    steps = job["total_steps"]
    plan = next(line for line in log if line.startswith(f"training {steps} steps (") and "done in" not in line)
    assert plan.startswith(f"training {steps} steps (1 epoch over ")   # shown before the first step
    assert log.index(plan) < next(i for i, line in enumerate(log) if line.startswith("step 1/"))
    assert any(line.startswith("ETA ") and f"for the {steps - 1} steps left" in line for line in log)
    # the terminal (here stderr, not a terminal) says the same
    assert "training " in result.stderr and "done in" in result.stderr and "ETA" in result.stderr
    manifest = registry.get_version(kb, "ops@v1").manifest
    assert manifest["hyperparameters"]["eval_sample"] == 16
    assert manifest["metrics"]["eval_sequences"] == min(16, manifest["metrics"]["eval_sequences_total"])


def test_a_child_run_measures_its_parent_on_the_same_held_out_sample(kb: Project) -> None:
    write_setting(kb.root / "llmforge.toml", "train.eval_sample", "2")
    kb.reload_settings()
    first = jobs.run(kb, jobs.submit(kb, name="ops", max_steps=3)["id"])
    assert first["state"] == "succeeded"
    child = jobs.run(kb, jobs.submit(kb, name="ops", max_steps=2, parent="ops@v1")["id"])
    parent_metrics = registry.get_version(kb, "ops@v1").manifest["metrics"]
    metrics = registry.get_version(kb, child["result"]["version"]).manifest["metrics"]
    assert metrics["eval_sequences"] == parent_metrics["eval_sequences"] == 2
    # the parent's adapter, measured again on the child's sample, gives the parent's own figure
    assert metrics["parent_eval_perplexity"] == pytest.approx(parent_metrics["eval_perplexity"], rel=1e-4)
    assert metrics["base_eval_perplexity"] == pytest.approx(parent_metrics["base_eval_perplexity"], rel=1e-4)


def test_full_eval_measures_the_whole_held_out_split(kb: Project, cli) -> None:
    write_setting(kb.root / "llmforge.toml", "train.eval_sample", "1")
    result = cli("train", "run", "-p", kb.root, "--name", "ops", "--max-steps", "1", "--full-eval", "--json")
    assert result.exit_code == 0, result.stderr
    metrics = registry.get_version(kb, "ops@v1").manifest["metrics"]
    assert metrics["eval_sequences"] == metrics["eval_sequences_total"] > 1
    sampled = cli("train", "run", "-p", kb.root, "--name", "ops", "--max-steps", "1", "--json")
    assert sampled.exit_code == 0, sampled.stderr
    assert registry.get_version(kb, "ops@v2").manifest["metrics"]["eval_sequences"] == 1
