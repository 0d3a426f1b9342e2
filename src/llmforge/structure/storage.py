"""Where a project's chunk index lives: ``<project>/lancedb``, or an S3-compatible object store.

With ``index.uri = "s3://bucket/path"`` the index is a LanceDB table on an on-premise store
(MinIO, Ceph RGW) at ``index.endpoint``. llmforge never guesses a store: an ``s3://`` index
without an endpoint is refused, so nothing reaches for AWS's public endpoints, and one without
credentials is refused too, so LanceDB's object store never falls back to probing a cloud
metadata address for them (LanceDB's client is native code: the process's outbound guard,
:mod:`llmforge.offline`, does not see its connections, so these checks stand in for it).

The keys stay out of ``llmforge.toml``: they come from the environment (``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, optionally ``AWS_SESSION_TOKEN``), or from the file named by
``index.credentials_file`` (an AWS-style ``key = value`` file, e.g. ``secrets/s3.ini``, relative
to the project), which the environment overrides.
"""

from __future__ import annotations

import os
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlparse

from llmforge.errors import ConfigError
from llmforge.project import Project
from llmforge.structure.index import ChunkIndex

KEYS = ("aws_access_key_id", "aws_secret_access_key", "aws_session_token")


def project_index(project: Project) -> ChunkIndex:
    """The project's chunk index where its settings put it.

    Raises:
        ConfigError: an ``index.uri`` that is not ``s3://bucket/path``, an ``s3://`` index
            without ``index.endpoint`` or without credentials, or an unreadable credentials file.
    """
    settings = project.settings
    uri = str(settings["index.uri"]).strip()
    if not uri:
        return ChunkIndex(project.path("lancedb"))
    parsed = urlparse(uri)
    if parsed.scheme != "s3" or not parsed.netloc:
        raise ConfigError(f"index.uri must be empty (the project's lancedb/ folder) or s3://bucket/path, got {uri!r}")
    endpoint = str(settings["index.endpoint"]).strip()
    if not endpoint:
        raise ConfigError("index.uri is on S3 but index.endpoint is empty: name the store's endpoint "
                          "(e.g. http://minio.internal:9000); llmforge never defaults to a public cloud")
    if urlparse(endpoint).scheme == "http" and not settings["index.allow_http"]:
        raise ConfigError(f"index.endpoint {endpoint} is plain http: set index.allow_http = true to accept it")
    options = {"aws_endpoint": endpoint, "aws_region": str(settings["index.region"]),
               "allow_http": "true" if settings["index.allow_http"] else "false"}
    options.update(_credentials(project, str(settings["index.credentials_file"]).strip()))
    return ChunkIndex(uri, options)


def keep_versions(project: Project) -> timedelta:
    """How long old table versions survive compaction (setting ``index.keep_versions_minutes``)."""
    return timedelta(minutes=float(project.settings["index.keep_versions_minutes"]))


def _credentials(project: Project, credentials_file: str) -> dict[str, str]:
    """The access key, secret and session token: the file's, then the environment's over them."""
    found: dict[str, str] = {}
    if credentials_file:
        found.update(_read_credentials(project.root / Path(credentials_file).expanduser()))
    found.update({key: os.environ[key.upper()] for key in KEYS if os.environ.get(key.upper())})
    if not (found.get("aws_access_key_id") and found.get("aws_secret_access_key")):
        raise ConfigError("index.uri is on S3 but no credentials were given: set AWS_ACCESS_KEY_ID and "
                          "AWS_SECRET_ACCESS_KEY, or name a credentials file in index.credentials_file")
    return found


def _read_credentials(path: Path) -> dict[str, str]:
    """``key = value`` lines of an AWS-style credentials file (sections and comments ignored)."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"cannot read the index credentials file {path}: {exc.strerror or exc}") from None
    found = {}
    for line in lines:
        key, sep, value = line.partition("=")
        if sep and key.strip().lower() in KEYS:
            found[key.strip().lower()] = value.strip()
    return found
