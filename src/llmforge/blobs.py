"""Content-addressed file store, optionally encrypted at rest.

A blob's address is the sha256 of its plaintext. Files live at ``blobs/<aa>/<sha256>``, or
``blobs/<aa>/<sha256>.enc`` when encrypted, so a store can hold both after encryption is turned
on. Writes stream in fixed-size pieces (no whole-file reads), go to a temporary file that is
fsync-ed and renamed into place, so a crash never leaves a partial blob under a real address.

Encryption is AES-256-GCM in the STREAM construction (Hoang et al., 2015): the plaintext is cut
into segments, each sealed with a nonce made of a random per-blob prefix, the segment counter and
a last-segment flag, with the file header as associated data. A flipped byte, reordered or
dropped segments, and truncation are all detected on read.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import struct
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llmforge.errors import BlobError, IntegrityError
from llmforge.fileio import fsync_dir

CHUNK = 1 << 20
MAGIC = b"LFGCM1"
_HEADER = struct.Struct(">6s7sI")  # magic, nonce prefix, segment size
_TAG = 16
KEY_BYTES = 32


def create_key(path: Path) -> None:
    """Write a new random 256-bit key, readable by the owner only."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as handle:
        handle.write(secrets.token_bytes(KEY_BYTES))
        handle.flush()
        os.fsync(handle.fileno())


def load_key(path: Path) -> bytes:
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        raise BlobError(f"encryption is on but the key {path} is missing") from None
    if len(key) != KEY_BYTES:
        raise BlobError(f"the encryption key {path} is damaged ({len(key)} bytes, want {KEY_BYTES})")
    return key


@dataclass(frozen=True)
class BlobInfo:
    sha256: str
    size: int
    path: Path
    created: bool  # False when the content was already stored


class BlobStore:
    """Put and get files by the sha256 of their content.

    Args:
        root: the ``blobs/`` directory.
        key: a 32-byte AES key to encrypt new blobs, or None to store them as they are.
    """

    def __init__(self, root: Path, key: bytes | None = None) -> None:
        self.root = root
        self.key = key

    def _path(self, sha256: str, encrypted: bool) -> Path:
        return self.root / sha256[:2] / (sha256 + (".enc" if encrypted else ""))

    def find(self, sha256: str) -> Path | None:
        """Where the blob lives, encrypted or not, or None."""
        if len(sha256) != 64 or not all(c in "0123456789abcdef" for c in sha256):
            raise BlobError(f"not a sha256 address: {sha256!r}")
        for encrypted in (True, False):
            path = self._path(sha256, encrypted)
            if path.exists():
                return path
        return None

    def __contains__(self, sha256: str) -> bool:
        return self.find(sha256) is not None

    def put_file(self, source: Path) -> BlobInfo:
        with open(source, "rb") as handle:
            return self.put_stream(handle)

    def put_bytes(self, data: bytes) -> BlobInfo:
        from io import BytesIO

        return self.put_stream(BytesIO(data))

    def put_stream(self, stream: BinaryIO) -> BlobInfo:
        """Store everything readable from ``stream``; a no-op for content already stored."""
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="put-")
        try:
            with os.fdopen(fd, "wb") as out:
                pieces = _read_pieces(stream)
                sink = _Encryptor(out, self.key) if self.key else None
                for piece, last in _with_last(pieces):
                    digest.update(piece)
                    size += len(piece)
                    if sink:
                        sink.write(piece, last)
                    else:
                        out.write(piece)
                out.flush()
                os.fsync(out.fileno())
            sha256 = digest.hexdigest()
            existing = self.find(sha256)
            if existing is not None:
                return BlobInfo(sha256, size, existing, created=False)
            final = self._path(sha256, self.key is not None)
            final.parent.mkdir(parents=True, exist_ok=True)
            os.replace(tmp_name, final)
            fsync_dir(final.parent)
            return BlobInfo(sha256, size, final, created=True)
        finally:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)

    def open_chunks(self, sha256: str) -> Iterator[bytes]:
        """The plaintext of a blob, piece by piece, verified as it is read.

        Raises:
            BlobError: no such blob, or it is encrypted and no key is loaded.
            IntegrityError: the stored bytes were altered.
        """
        path = self.find(sha256)
        if path is None:
            raise BlobError(f"blob {sha256[:12]} is not in the store")
        if path.suffix == ".enc":
            if self.key is None:
                raise BlobError(f"blob {sha256[:12]} is encrypted and no key is loaded")
            yield from _decrypt(path, self.key)
        else:
            with open(path, "rb") as handle:
                yield from _read_pieces(handle)

    def read_bytes(self, sha256: str) -> bytes:
        """Whole plaintext, hash-checked. For small blobs; stream large ones with open_chunks."""
        data = b"".join(self.open_chunks(sha256))
        if hashlib.sha256(data).hexdigest() != sha256:
            raise IntegrityError(f"blob {sha256[:12]} does not match its address")
        return data

    def verify(self, sha256: str) -> None:
        """Read the whole blob and check its hash (and its GCM tags when encrypted)."""
        digest = hashlib.sha256()
        for piece in self.open_chunks(sha256):
            digest.update(piece)
        if digest.hexdigest() != sha256:
            raise IntegrityError(f"blob {sha256[:12]} does not match its address")

    def delete(self, sha256: str) -> bool:
        path = self.find(sha256)
        if path is None:
            return False
        path.unlink()
        return True


def _read_pieces(stream: BinaryIO) -> Iterator[bytes]:
    """Full CHUNK-sized pieces (short reads from pipes are topped up), the last one shorter."""
    while piece := stream.read(CHUNK):
        while len(piece) < CHUNK and (more := stream.read(CHUNK - len(piece))):
            piece += more
        yield piece


def _with_last(pieces: Iterator[bytes]) -> Iterator[tuple[bytes, bool]]:
    """Pair each piece with whether it is the last; an empty stream gives one empty last piece."""
    previous = next(pieces, b"")
    for piece in pieces:
        yield previous, False
        previous = piece
    yield previous, True


def _nonce(prefix: bytes, counter: int, last: bool) -> bytes:
    return prefix + struct.pack(">I?", counter, last)


class _Encryptor:
    def __init__(self, out: BinaryIO, key: bytes) -> None:
        self.out = out
        self.aead = AESGCM(key)
        self.prefix = secrets.token_bytes(7)
        self.header = _HEADER.pack(MAGIC, self.prefix, CHUNK)
        self.counter = 0
        out.write(self.header)

    def write(self, piece: bytes, last: bool) -> None:
        if self.counter >= 2**32 - 1:
            raise BlobError("blob too large to encrypt")
        nonce = _nonce(self.prefix, self.counter, last)
        self.out.write(self.aead.encrypt(nonce, piece, self.header))
        self.counter += 1


def _decrypt(path: Path, key: bytes) -> Iterator[bytes]:
    aead = AESGCM(key)
    with open(path, "rb") as handle:
        header = handle.read(_HEADER.size)
        if len(header) != _HEADER.size:
            raise IntegrityError(f"{path.name}: truncated header")
        magic, prefix, segment = _HEADER.unpack(header)
        if magic != MAGIC:
            raise IntegrityError(f"{path.name}: not an llmforge encrypted blob")
        counter = 0
        current = handle.read(segment + _TAG)
        while True:
            following = handle.read(segment + _TAG)
            last = not following
            try:
                yield aead.decrypt(_nonce(prefix, counter, last), current, header)
            except InvalidTag:
                raise IntegrityError(f"blob {path.name[:12]} failed authentication "
                                     "(altered, truncated or wrong key)") from None
            if last:
                return
            current = following
            counter += 1
