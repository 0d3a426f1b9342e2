"""Inference shared by training's evaluation and by the server, so ``train`` never imports ``serve``.

    llama_log.py    capture_llama_log: what llama.cpp's C code prints, kept out of the terminal
    chat_format.py  how a conversation becomes a prompt, the same for serving and for training
    runtime.py      GGUF models loaded once per process, one request at a time per model
    rag.py          answers from the documents: retrieval, prompt, generation, citations, refusals
    agents.py       named, versioned agents (a RAG configuration each)
"""
