"""The training recipe: hyper-parameters from settings and options, and how rows become tokens.

One recipe whatever the backend: the same rows give the same token ids and loss masks, so a run on
Unsloth and a run on peft differ only in the kernels underneath.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, fields, replace
from typing import Any

from llmforge.inference.chat_format import render_chat

IGNORE = -100   # label of tokens that carry no loss (prompts, padding)


@dataclass(frozen=True)
class Recipe:
    seq_len: int = 256
    batch_size: int = 1
    grad_accum: int = 4
    lr: float = 2e-4
    warmup_steps: int = 5
    epochs: float = 1.0
    max_steps: int = 0
    lora_r: int = 16
    lora_alpha: int = 32
    lora_dropout: float = 0.05
    checkpoint_steps: int = 50
    seed: int = 0
    eval_sample: int = 16          # held-out sequences measured before/after (0: the whole eval split)

    @classmethod
    def from_settings(cls, settings: Mapping[str, Any], **overrides: Any) -> Recipe:
        """Settings ``train.<field>``, then the given overrides (None values ignored).

        ``max_steps`` 0 in the settings means "as many as ``epochs`` takes"; given as an override
        it must be at least 1 (leave it out for ``epochs``), so that 0 never silently means a
        whole epoch.

        Raises:
            UsageError: a value out of range.
        """
        from llmforge.errors import UsageError

        if overrides.get("max_steps") is not None and overrides["max_steps"] < 1:
            raise UsageError(f"--max-steps must be at least 1, got {overrides['max_steps']} (leave it out to "
                             "train for --epochs, default setting train.epochs)")
        values = {f.name: settings[f"train.{f.name}"] for f in fields(cls)}
        values.update({k: v for k, v in overrides.items() if v is not None})
        if overrides.get("epochs") is not None and overrides.get("max_steps") is None:
            values["max_steps"] = 0   # an explicit --epochs wins over a max_steps setting
        return cls(**values).checked()

    def checked(self) -> Recipe:
        from llmforge.errors import UsageError

        positive = ("seq_len", "batch_size", "grad_accum", "lora_r", "lora_alpha", "checkpoint_steps")
        for name in positive:
            if getattr(self, name) < 1:
                raise UsageError(f"{name.replace('_', '-')} must be at least 1, got {getattr(self, name)}")
        if not 0 < self.lr < 1:
            raise UsageError(f"learning rate must be between 0 and 1, got {self.lr}")
        if self.max_steps < 0 or self.epochs <= 0:
            raise UsageError("epochs must be positive and max-steps non-negative")
        if self.eval_sample < 0:
            raise UsageError(f"eval-sample cannot be negative, got {self.eval_sample}")
        return self

    def replace(self, **changes: Any) -> Recipe:
        return replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class TokenSequence:
    """One training or evaluation sequence: token ids and their labels (IGNORE where no loss)."""

    input_ids: list[int]
    labels: list[int]


def encode_rows(tokenizer: Any, architecture: str, rows: Iterable[Mapping[str, Any]], seq_len: int) -> list[TokenSequence]:
    """Token sequences for training or evaluation.

    Text rows (continued pre-training) are joined with end-of-text tokens and cut into blocks of
    ``seq_len`` (packing wastes no compute on padding); chat rows become one sequence each, loss
    on the assistant's reply only, cut at ``seq_len``.
    """
    eos = tokenizer.eos_token_id
    stream: list[int] = []
    sequences: list[TokenSequence] = []
    for row in rows:
        if row["kind"] == "text":
            stream.extend(_ids(tokenizer, row["text"], first=not stream))
            if eos is not None:
                stream.append(eos)
            continue
        prompt, completion = render_chat(tokenizer, architecture, list(row["messages"]))
        prompt_ids = _ids(tokenizer, prompt, first=True) if prompt else []
        completion_ids = _ids(tokenizer, completion, first=not prompt_ids)
        ids = (prompt_ids + completion_ids)[:seq_len]
        labels = ([IGNORE] * len(prompt_ids) + completion_ids)[:seq_len]
        if any(label != IGNORE for label in labels[1:]):
            sequences.append(TokenSequence(ids, labels))
    for start in range(0, len(stream), seq_len):
        block = stream[start:start + seq_len]
        if len(block) >= 8:   # a last scrap of a few tokens teaches nothing
            sequences.append(TokenSequence(block, list(block)))
    return sequences


def _ids(tokenizer: Any, text: str, *, first: bool) -> list[int]:
    """Token ids of ``text``; the model's BOS (if it has one) only at the start of a sequence."""
    return list(tokenizer(text, add_special_tokens=first)["input_ids"])


def pad_token_id(tokenizer: Any) -> int:
    """The id batches are padded with: the tokenizer's pad token, else its end of text, else 0."""
    return tokenizer.pad_token_id if tokenizer.pad_token_id is not None else (tokenizer.eos_token_id or 0)


def collate(batch: list[TokenSequence], pad_id: int) -> dict[str, Any]:
    """Right-padded tensors: input_ids, attention_mask and labels (padding carries no loss)."""
    import torch

    width = max(len(s.input_ids) for s in batch)
    ids = torch.full((len(batch), width), pad_id, dtype=torch.long)
    labels = torch.full((len(batch), width), IGNORE, dtype=torch.long)
    mask = torch.zeros((len(batch), width), dtype=torch.long)
    for i, seq in enumerate(batch):
        n = len(seq.input_ids)
        ids[i, :n] = torch.tensor(seq.input_ids)
        labels[i, :n] = torch.tensor(seq.labels)
        mask[i, :n] = 1
    return {"input_ids": ids, "attention_mask": mask, "labels": labels}
