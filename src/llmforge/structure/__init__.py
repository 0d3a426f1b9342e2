"""Structuring: chunks, entities, embeddings, the search index."""
