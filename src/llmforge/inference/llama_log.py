"""Output of native code: llama.cpp writes straight to file descriptors 1 and 2, past Python."""

from __future__ import annotations

import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager


class CapturedOutput:
    """What :func:`capture_llama_log` captured (filled in when the block ends)."""

    text = ""


@contextmanager
def capture_llama_log() -> Iterator[CapturedOutput]:
    """Capture what llama.cpp's C code prints (per-tensor quantisation notes, adapter buffer
    fallbacks), which would otherwise flood the terminal; the text is kept for error messages."""
    captured = CapturedOutput()
    sys.stdout.flush()
    sys.stderr.flush()
    saved = [os.dup(1), os.dup(2)]
    with tempfile.TemporaryFile() as sink:
        os.dup2(sink.fileno(), 1)
        os.dup2(sink.fileno(), 2)
        try:
            yield captured
        finally:
            os.dup2(saved[0], 1)
            os.dup2(saved[1], 2)
            for fd in saved:
                os.close(fd)
            sink.seek(0)
            captured.text = sink.read().decode("utf-8", "replace")
