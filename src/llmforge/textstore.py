"""Document text in the catalog, in clear or, in an encrypted project, not there at all.

An encrypted project (``llmforge init --encrypt``, setting ``blobs.encrypt``) keeps no extracted
text in clear in ``catalog.duckdb``:

* a page row keeps its ``chars`` but an empty ``text`` and ``search_text``: the text is read back
  from the document's extracted-text blob (``documents.text_sha256``, AES-256-GCM in the blob
  store), which ingest writes for every document anyway;
* a chunk row's ``text`` and ``heading`` are sealed in place (:func:`seal_text`: AES-256-GCM with
  the blob key, bound to the chunk id), since a chunk has no blob of its own.

Readers go through :func:`page_texts` and :func:`open_text`, so a project that turned encryption
on later reads its older clear rows and its newer sealed ones alike. Not covered here: entity
names (short spans the entity queries group by), titles and file metadata, the LanceDB index.
"""

from __future__ import annotations

import base64
import json
import secrets
from collections.abc import Sequence

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from llmforge.blobs import BlobStore
from llmforge.errors import BlobError, IntegrityError
from llmforge.project import Project

SEALED = "lfgcm1:"
_NONCE = 12


def catalog_key(project: Project) -> bytes | None:
    """The key that seals catalog text: the blob key of an encrypted project, else None.

    Raises:
        BlobError: encryption is on but the key file is missing or damaged.
    """
    return project.blobs().key


def seal_text(key: bytes | None, text: str, label: str) -> str:
    """``text`` as the catalog stores it: as it is without a key, else sealed with AES-256-GCM,
    bound to ``label`` (the row's id) so a sealed value copied to another row fails to open."""
    if key is None:
        return text
    nonce = secrets.token_bytes(_NONCE)
    sealed = AESGCM(key).encrypt(nonce, text.encode("utf-8"), label.encode("utf-8"))
    return SEALED + base64.b64encode(nonce + sealed).decode("ascii")


def open_text(key: bytes | None, stored: str, label: str) -> str:
    """The text of a value :func:`seal_text` stored (a clear value comes back as it is).

    Raises:
        BlobError: the value is sealed and no key is loaded (``blobs.encrypt`` is off).
        IntegrityError: the sealed value was altered, belongs to another row, or the key is wrong.
    """
    if not stored.startswith(SEALED):
        return stored
    if key is None:
        raise BlobError(f"the catalog text of {label} is encrypted and no key is loaded: turn blobs.encrypt "
                        "back on")
    try:
        raw = base64.b64decode(stored[len(SEALED):], validate=True)
        return AESGCM(key).decrypt(raw[:_NONCE], raw[_NONCE:], label.encode("utf-8")).decode("utf-8")
    except (InvalidTag, ValueError):
        raise IntegrityError(f"the catalog text of {label} failed authentication (altered or wrong key)") from None


def page_texts(project: Project, document_ids: Sequence[str]) -> dict[str, list[tuple[int, str]]]:
    """Each document's ``(page_no, text)`` in page order, from the catalog where it holds the text
    and from the document's encrypted text blob where it does not (an empty text of a page that
    has characters). A document without pages maps to an empty list.

    Raises:
        BlobError, IntegrityError: a text blob is missing, cannot be decrypted or was altered.
    """
    ids = list(dict.fromkeys(document_ids))
    with project.catalog() as conn:
        rows = conn.execute(
            "SELECT p.document_id, p.page_no, p.text, p.chars, d.text_sha256 FROM pages p "
            "JOIN documents d ON d.id = p.document_id WHERE list_contains(?, p.document_id) "
            "ORDER BY p.document_id, p.page_no", [ids]).fetchall()
    pages: dict[str, list[tuple[int, str]]] = {document_id: [] for document_id in ids}
    from_blobs: dict[str, dict[int, str]] = {}
    store: BlobStore | None = None
    for document_id, page_no, text, chars, text_sha256 in rows:
        if chars and not text:
            if document_id not in from_blobs:
                store = store or project.blobs()
                from_blobs[document_id] = _blob_pages(store, text_sha256, document_id)
            text = from_blobs[document_id].get(page_no)
            if text is None:
                raise IntegrityError(f"the text blob of document {document_id} has no page {page_no}")
        pages[document_id].append((page_no, text))
    return pages


def _blob_pages(store: BlobStore, text_sha256: str | None, document_id: str) -> dict[int, str]:
    if not text_sha256:
        raise BlobError(f"document {document_id} keeps its text in a blob but names none")
    extracted = json.loads(store.read_bytes(text_sha256))
    return {page["page_no"]: page["text"] for page in extracted["pages"]}
