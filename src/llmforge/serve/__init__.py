"""Serving: the HTTP API (FastAPI), usage records and metrics; the llama.cpp runtime joins later."""
