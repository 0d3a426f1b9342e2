"""Training: datasets from the corpus, LoRA fine-tuning, jobs, evaluation and GGUF export.

The pieces and how they meet (each module owns one step; the model repository is
:mod:`llmforge.registry`):

    data.py      build_dataset(project, ...) -> DatasetInfo   datasets/<name>/{train,eval}/ (Arrow) + dataset.json
    base.py      resolve_base(project, spec) -> PreparedBase  a transformers directory for any base (GGUFs are
                 check_tokenizer(base, texts)                 dequantised once into models/hf/<sha>/); training ids
                                                              must equal llama.cpp's for a GGUF base
    backends.py  BACKENDS registry: peft (CPU, or CUDA without Unsloth), unsloth (CUDA)
    loop.py      the recipe: tokenise, pack, LoRA, AdamW, checkpoints, resume, cancellation
    jobs.py      train jobs in the catalog's jobs table (kind 'train'), detached workers, cancel, resume
    evaluate.py  perplexity on the held-out split, QA accuracy with and without retrieval
    export.py    GGUF LoRA adapter over the base GGUF, or a merged GGUF; each export verified in llama.cpp

Dataset rows share one Arrow schema: ``kind`` ("text" or "chat"), ``text`` (continued
pre-training), ``messages`` (list of {role, content}), ``answer`` (gold answer of a QA pair, else
""), ``document_id`` and ``chunk_id`` (where the row came from, "" for operator examples) and
``source`` ("corpus", "file:<name>", "synthetic").
"""
