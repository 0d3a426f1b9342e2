"""Document ingestion: detect, extract, OCR, normalise."""
