"""The training recipe and loop on a tiny model built in code: masks, packing, learning, resume."""

from __future__ import annotations

import errno
from pathlib import Path

import pytest

torch = pytest.importorskip("torch")
pytest.importorskip("peft")

from llmforge.errors import TrainError  # noqa: E402
from llmforge.train import backends  # noqa: E402
from llmforge.train.base import PreparedBase  # noqa: E402
from llmforge.train.loop import Checkpoints, micro_batches, total_steps, train_lora  # noqa: E402
from llmforge.train.recipe import IGNORE, Recipe, encode_rows, render_chat  # noqa: E402
from llmforge.testing.tiny import SAMPLE_TEXT, build_tiny_model  # noqa: E402

CHAT = {"kind": "chat", "messages": [{"role": "system", "content": "Be brief."},
                                     {"role": "user", "content": "What is the capital of France?"},
                                     {"role": "assistant", "content": "Paris."}]}
TEXT = {"kind": "text", "text": SAMPLE_TEXT * 4}


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> PreparedBase:
    path = build_tiny_model(tmp_path_factory.mktemp("tiny") / "model", [SAMPLE_TEXT])
    return PreparedBase("tiny", path, None, "", "qwen2")


def load(tiny: PreparedBase, recipe: Recipe):  # noqa: ANN201
    return backends.BACKENDS["peft"].load(tiny, recipe)


def test_chat_rows_train_on_the_reply_only(tiny: PreparedBase) -> None:
    _, tokenizer = load(tiny, Recipe())
    (seq,) = encode_rows(tokenizer, "qwen2", [CHAT], 256)
    prompt, reply = render_chat(tokenizer, "qwen2", CHAT["messages"])
    assert prompt.endswith("<|im_start|>assistant\n") and reply.startswith("Paris.")
    trained = [i for i, label in zip(seq.input_ids, seq.labels) if label != IGNORE]
    assert tokenizer.decode(trained).startswith("Paris.")
    assert seq.labels[0] == IGNORE and len(seq.labels) == len(seq.input_ids)


def test_text_rows_are_packed_into_full_blocks(tiny: PreparedBase) -> None:
    _, tokenizer = load(tiny, Recipe())
    sequences = encode_rows(tokenizer, "qwen2", [TEXT, TEXT, TEXT], 32)
    assert len(sequences) > 3
    assert all(len(s.input_ids) == 32 for s in sequences[:-1])
    assert all(s.labels == s.input_ids for s in sequences)


def test_models_without_a_chat_template_learn_the_format_they_are_served_with(tiny: PreparedBase) -> None:
    _, tokenizer = load(tiny, Recipe())
    tokenizer.chat_template = None
    prompt, reply = render_chat(tokenizer, "gemma3", CHAT["messages"])
    assert prompt == "<start_of_turn>user\nBe brief.\n\nWhat is the capital of France?<end_of_turn>\n<start_of_turn>model\n"
    assert reply == "Paris.<end_of_turn>\n"
    prompt, reply = render_chat(tokenizer, "qwen2", CHAT["messages"])   # llama.cpp's "qwen" fallback
    assert prompt.startswith("<|im_start|>system\nBe brief.<|im_end|>") and prompt.endswith("<|im_start|>assistant\n")
    prompt, _ = render_chat(tokenizer, "llama", CHAT["messages"])      # ... and "llama-2"
    assert prompt.startswith("[INST] <<SYS>>\nBe brief.")


def test_data_order_is_fixed_by_seed_and_epoch() -> None:
    seqs = list(range(10))
    assert micro_batches(seqs, 3, 0, 0) == micro_batches(seqs, 3, 0, 0)
    assert micro_batches(seqs, 3, 0, 0) != micro_batches(seqs, 3, 0, 1)
    assert sorted(i for batch in micro_batches(seqs, 3, 0, 0) for i in batch) == seqs
    assert total_steps(10, Recipe(batch_size=2, grad_accum=2, epochs=2)) == 5
    assert total_steps(10, Recipe(max_steps=7)) == 7


def test_training_lowers_held_out_loss(tiny: PreparedBase, tmp_path: Path) -> None:
    recipe = Recipe(seq_len=64, max_steps=30, grad_accum=1, lr=1e-2, warmup_steps=2, checkpoint_steps=100)
    model, tokenizer = load(tiny, recipe)
    outcome = train_lora(model, tokenizer, "qwen2", [TEXT, CHAT] * 3, [TEXT], recipe, tmp_path)
    assert not outcome.stopped and outcome.step == 30 and outcome.tokens > 0
    assert outcome.metrics["eval_perplexity"] < 0.8 * outcome.metrics["base_eval_perplexity"]


def _adapter(model) -> dict[str, torch.Tensor]:  # noqa: ANN001
    return {k: v.detach().clone() for k, v in model.state_dict().items() if "lora_" in k}


def test_a_stopped_run_resumes_to_the_same_weights(tiny: PreparedBase, tmp_path: Path) -> None:
    recipe = Recipe(seq_len=48, max_steps=8, grad_accum=2, lr=5e-3, checkpoint_steps=3, lora_dropout=0.1)
    rows = [TEXT, CHAT, TEXT, CHAT]
    model, tokenizer = load(tiny, recipe)
    straight = train_lora(model, tokenizer, "qwen2", rows, [TEXT], recipe, tmp_path / "a")
    expected = _adapter(model)

    steps: list[int] = []
    model, tokenizer = load(tiny, recipe)
    stopped = train_lora(model, tokenizer, "qwen2", rows, [TEXT], recipe, tmp_path / "b",
                         on_step=lambda info: steps.append(info.step), should_stop=lambda: len(steps) >= 5)
    assert stopped.stopped and stopped.step == 5
    assert Checkpoints(tmp_path / "b").latest().name == "step-000005"
    model, tokenizer = load(tiny, recipe)   # a fresh process would start like this
    resumed = train_lora(model, tokenizer, "qwen2", rows, [TEXT], recipe, tmp_path / "b")
    assert resumed.step == 8 and not resumed.stopped
    for name, tensor in _adapter(model).items():
        torch.testing.assert_close(tensor, expected[name], rtol=1e-5, atol=1e-6)
    assert resumed.metrics["eval_loss"] == pytest.approx(straight.metrics["eval_loss"], rel=1e-5)


def test_only_the_newest_checkpoints_are_kept(tiny: PreparedBase, tmp_path: Path) -> None:
    recipe = Recipe(seq_len=32, max_steps=9, grad_accum=1, checkpoint_steps=2)
    model, tokenizer = load(tiny, recipe)
    train_lora(model, tokenizer, "qwen2", [TEXT], [], recipe, tmp_path)
    assert sorted(p.name for p in (tmp_path / "checkpoints").iterdir()) == ["step-000008", "step-000009"]


def test_a_full_disk_during_a_checkpoint_keeps_the_previous_one(tiny: PreparedBase, tmp_path: Path,
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    recipe = Recipe(seq_len=32, max_steps=6, grad_accum=1, checkpoint_steps=2)
    model, tokenizer = load(tiny, recipe)
    real_save = model.save_pretrained
    calls = []

    def save(path, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        calls.append(path)
        if len(calls) == 2:   # the second checkpoint finds the disk full
            raise OSError(errno.ENOSPC, "No space left on device")
        return real_save(path, *args, **kwargs)

    monkeypatch.setattr(model, "save_pretrained", save)
    with pytest.raises(TrainError, match="disk full.*previous checkpoint is kept"):
        train_lora(model, tokenizer, "qwen2", [TEXT], [], recipe, tmp_path)
    names = sorted(p.name for p in (tmp_path / "checkpoints").iterdir())
    assert names == ["step-000002"]   # no half-written checkpoint left behind


def test_a_dataset_with_nothing_to_learn_is_refused(tiny: PreparedBase, tmp_path: Path) -> None:
    recipe = Recipe(seq_len=16)
    model, tokenizer = load(tiny, recipe)
    with pytest.raises(TrainError, match="no usable examples"):
        train_lora(model, tokenizer, "qwen2", [{"kind": "text", "text": "hi"}], [], recipe, tmp_path)


def test_recipe_values_are_checked() -> None:
    from llmforge.errors import UsageError

    with pytest.raises(UsageError, match="lora-r"):
        Recipe(lora_r=0).checked()
    with pytest.raises(UsageError, match="learning rate"):
        Recipe(lr=0).checked()


# --- every step trains; the first step waits for no evaluation; a bounded evaluation ----------------

def test_no_step_trains_at_learning_rate_zero() -> None:
    from llmforge.train.loop import schedule, warmup_steps

    for steps in range(1, 40):
        for warmup in (0, 1, 5, 100):
            recipe = Recipe(warmup_steps=warmup)
            factors = [schedule(recipe, steps)(step) for step in range(steps)]
            assert min(factors) > 0, (steps, warmup, factors)
            assert max(factors) == pytest.approx(1.0)   # the peak rate is reached
            assert warmup_steps(recipe, steps) <= steps // 4
    assert warmup_steps(Recipe(warmup_steps=5), 2) == 0 and warmup_steps(Recipe(warmup_steps=5), 100) == 5


def _on_text(model, ids: list[int]) -> tuple[torch.Tensor, float]:  # noqa: ANN001
    """Logits along ``ids`` and the mean next-token loss there."""
    model.eval()
    with torch.no_grad():
        out = model(input_ids=torch.tensor([ids]), labels=torch.tensor([ids]))
    return out.logits[0], float(out.loss)


@pytest.mark.parametrize("recipe, changed_top_tokens", [
    (Recipe(seq_len=64, max_steps=2), False),                           # lr, warm-up, accumulation: defaults
    (Recipe(seq_len=128, max_steps=2, grad_accum=1, lr=2e-3), True),    # the demo's two steps
])
def test_a_two_step_run_changes_the_output_on_its_training_text(tiny: PreparedBase, tmp_path: Path,
                                                                recipe: Recipe, changed_top_tokens: bool) -> None:
    model, tokenizer = load(tiny, recipe)
    steps = []
    train_lora(model, tokenizer, "qwen2", [TEXT], [], recipe, tmp_path, on_step=steps.append)
    assert [info.lr for info in steps] == [pytest.approx(recipe.lr), pytest.approx(recipe.lr / 2)]
    ids = tokenizer(SAMPLE_TEXT)["input_ids"]
    tuned, tuned_loss = _on_text(model, ids)
    with model.disable_adapter():
        base, base_loss = _on_text(model, ids)
    assert float((tuned - base).abs().max()) > 0.02   # an untrained LoRA (B = 0) changes nothing at all
    assert tuned_loss < base_loss                      # ... and the change goes towards the training text
    if changed_top_tokens:   # what the export's adapter_changes_output reads: a different top token somewhere
        assert bool((tuned.argmax(-1) != base.argmax(-1)).any())


def test_the_first_step_starts_before_any_evaluation_and_both_sides_use_one_sample(
        tiny: PreparedBase, tmp_path: Path) -> None:
    from llmforge.train.loop import eval_sample, mean_loss
    from llmforge.train.recipe import pad_token_id

    recipe = Recipe(seq_len=16, max_steps=2, grad_accum=1, eval_sample=3)
    model, tokenizer = load(tiny, recipe)
    events: list[str] = []
    held_out = [TEXT, {"kind": "text", "text": "Paris " + SAMPLE_TEXT * 2}]
    outcome = train_lora(model, tokenizer, "qwen2", [TEXT], held_out, recipe, tmp_path,
                         on_step=lambda info: events.append(f"step {info.step}"), on_phase=events.append)
    assert events[0].startswith("tokenising") and events[1].startswith("training 2 steps (--max-steps 2")
    assert events[2:4] == ["step 1", "step 2"] and events[4] == "tokenising 2 held-out rows"
    assert events[5].startswith("evaluating the base and the fine-tuned model on 3 held-out sequences (a sample of")
    everything = encode_rows(tokenizer, "qwen2", held_out, recipe.seq_len)
    sample = eval_sample(everything, 3)
    assert len(everything) > 3 and len(sample) == 3 and sample[0] is everything[0]
    assert outcome.metrics["eval_sequences"] == 3 and outcome.metrics["eval_sequences_total"] == len(everything)
    with model.disable_adapter():
        base_loss = mean_loss(model, sample, recipe.batch_size, pad_token_id(tokenizer))
    assert outcome.metrics["base_eval_loss"] == pytest.approx(base_loss, rel=1e-6)
    assert outcome.metrics["eval_loss"] == pytest.approx(mean_loss(model, sample, 1, pad_token_id(tokenizer)),
                                                         rel=1e-6)
    assert eval_sample(everything, 0) == everything   # --full-eval


def test_max_steps_must_be_at_least_one_when_given() -> None:
    from llmforge.errors import UsageError
    from llmforge.settings import load_settings

    settings = load_settings(None, environ={})
    with pytest.raises(UsageError, match=r"--max-steps must be at least 1, got 0 \(leave it out to train for --epochs"):
        Recipe.from_settings(settings, max_steps=0)
    assert Recipe.from_settings(settings).max_steps == 0   # the setting's 0: as many as the epochs take
    assert Recipe.from_settings(settings, max_steps=3).max_steps == 3
    assert Recipe.from_settings(settings).eval_sample == 16
    with pytest.raises(UsageError, match="eval-sample"):
        Recipe(eval_sample=-1).checked()
