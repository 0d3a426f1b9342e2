from __future__ import annotations

import hashlib
import io
import os
from pathlib import Path

import pytest

from llmforge.blobs import CHUNK, BlobStore, create_key, load_key
from llmforge.errors import BlobError, IntegrityError


@pytest.fixture(params=[False, True], ids=["plain", "encrypted"])
def store(request: pytest.FixtureRequest, tmp_path: Path) -> BlobStore:
    key = None
    if request.param:
        create_key(tmp_path / "key")
        key = load_key(tmp_path / "key")
    return BlobStore(tmp_path / "blobs", key)


class TrickleStream(io.RawIOBase):
    """Returns at most 1000 bytes per read, like a pipe."""

    def __init__(self, data: bytes) -> None:
        self.data = memoryview(data)
        self.pos = 0

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        size = 1000 if size < 0 else min(size, 1000)
        piece = bytes(self.data[self.pos:self.pos + size])
        self.pos += len(piece)
        return piece


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, CHUNK + 1, 2 * CHUNK + 5])
def test_round_trip_any_size(store: BlobStore, size: int) -> None:
    data = os.urandom(size)
    info = store.put_bytes(data)
    assert info.sha256 == hashlib.sha256(data).hexdigest()
    assert info.size == size and info.created
    assert store.read_bytes(info.sha256) == data
    store.verify(info.sha256)


def test_short_reads_from_a_pipe_still_round_trip(store: BlobStore) -> None:
    data = os.urandom(CHUNK + 12345)
    info = store.put_stream(TrickleStream(data))
    assert store.read_bytes(info.sha256) == data


def test_same_content_is_stored_once(store: BlobStore, tmp_path: Path) -> None:
    source = tmp_path / "doc.txt"
    source.write_bytes(b"hello world\n" * 1000)
    first = store.put_file(source)
    second = store.put_file(source)
    assert first.sha256 == second.sha256 and not second.created
    stored = [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()]
    assert len(stored) == 1
    assert not any((tmp_path / "blobs" / "tmp").iterdir())


def test_encrypted_blob_holds_no_plaintext(tmp_path: Path) -> None:
    create_key(tmp_path / "key")
    store = BlobStore(tmp_path / "blobs", load_key(tmp_path / "key"))
    secret = "سري للغاية: the launch code is 0000-TOP-SECRET".encode() * 50
    info = store.put_bytes(secret)
    raw = info.path.read_bytes()
    assert info.path.suffix == ".enc"
    assert b"TOP-SECRET" not in raw and "سري".encode() not in raw
    assert store.read_bytes(info.sha256) == secret


@pytest.mark.parametrize("where", ["header", "first", "last"])
def test_flipped_byte_is_detected(tmp_path: Path, where: str) -> None:
    create_key(tmp_path / "key")
    store = BlobStore(tmp_path / "blobs", load_key(tmp_path / "key"))
    info = store.put_bytes(os.urandom(CHUNK + 100))
    raw = bytearray(info.path.read_bytes())
    index = {"header": 8, "first": 40, "last": len(raw) - 1}[where]
    raw[index] ^= 0x01
    info.path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        store.read_bytes(info.sha256)


def test_truncation_at_a_segment_boundary_is_detected(tmp_path: Path) -> None:
    create_key(tmp_path / "key")
    store = BlobStore(tmp_path / "blobs", load_key(tmp_path / "key"))
    info = store.put_bytes(os.urandom(2 * CHUNK + 100))
    raw = info.path.read_bytes()
    header = 17
    info.path.write_bytes(raw[: header + 2 * (CHUNK + 16)])  # drop the last segment
    with pytest.raises(IntegrityError):
        store.verify(info.sha256)


def test_flipped_byte_in_plain_blob_is_detected(tmp_path: Path) -> None:
    store = BlobStore(tmp_path / "blobs")
    info = store.put_bytes(b"plain text content")
    info.path.write_bytes(b"plain text c0ntent")
    with pytest.raises(IntegrityError):
        store.verify(info.sha256)


def test_wrong_key_fails_authentication(tmp_path: Path) -> None:
    create_key(tmp_path / "k1")
    create_key(tmp_path / "k2")
    info = BlobStore(tmp_path / "blobs", load_key(tmp_path / "k1")).put_bytes(b"data")
    with pytest.raises(IntegrityError, match="wrong key"):
        BlobStore(tmp_path / "blobs", load_key(tmp_path / "k2")).read_bytes(info.sha256)


def test_encrypted_blob_without_key_and_missing_blob(tmp_path: Path) -> None:
    create_key(tmp_path / "key")
    info = BlobStore(tmp_path / "blobs", load_key(tmp_path / "key")).put_bytes(b"data")
    plain = BlobStore(tmp_path / "blobs")
    with pytest.raises(BlobError, match="no key"):
        plain.read_bytes(info.sha256)
    with pytest.raises(BlobError, match="not in the store"):
        plain.read_bytes("0" * 64)
    with pytest.raises(BlobError, match="not a sha256"):
        plain.find("../../etc/passwd")


def test_key_file_is_private_and_checked(tmp_path: Path) -> None:
    create_key(tmp_path / "key")
    assert (tmp_path / "key").stat().st_mode & 0o777 == 0o600
    (tmp_path / "bad").write_bytes(b"short")
    with pytest.raises(BlobError, match="damaged"):
        load_key(tmp_path / "bad")
    with pytest.raises(BlobError, match="missing"):
        load_key(tmp_path / "absent")


def test_delete(store: BlobStore) -> None:
    info = store.put_bytes(b"to be removed")
    assert info.sha256 in store
    assert store.delete(info.sha256)
    assert info.sha256 not in store
    assert not store.delete(info.sha256)
