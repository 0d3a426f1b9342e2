"""The one exception hierarchy of llmforge.

Every error a user can cause or fix derives from :class:`LlmforgeError`; the CLI turns it into one
line on stderr and the exit code it carries, never a traceback (``--debug`` shows one).

    LlmforgeError                  exit 1
    ├── UsageError                 exit 2   bad option values, a command that cannot apply
    ├── ProjectError                        no project found, not a project, cannot create one
    │   └── ReadOnlyProjectError            (HTTP 503) a write to a project mounted read-only
    ├── ConfigError                         llmforge.toml unreadable, unknown or mistyped setting
    ├── LockError                           the project writer lock is held by another process
    ├── CatalogError                        the DuckDB catalog cannot be opened or migrated
    │   └── CatalogLockedError              another process holds the catalog
    ├── NotFoundError                       no such document, setting value, model ...
    ├── BlobError                           the blob store: missing blob, bad key
    │   └── IntegrityError                  stored bytes do not match their hash or tag
    ├── IngestError                         one input file cannot be ingested (the batch goes on)
    ├── TrainError                          a dataset, base model, training run or export cannot proceed
    ├── AuditError                          an audit chain that does not verify, refused for import
    ├── BusyError                           the server cannot take it now: a model queue full past
    │                                       serve.request_timeout, or the server stopping
    ├── ModelUnavailableError               (HTTP 503) a listed model cannot be loaded now
    ├── AuthError                           (HTTP 401) missing, malformed, invalid or expired
    │                                       credentials; a wrong user name or password
    ├── PermissionDenied                    (HTTP 403) the caller is known but lacks the permission
    └── RateLimited                         (HTTP 429) too many requests or failed logins; says
                                            when to retry (``retry_after`` seconds)
"""

from __future__ import annotations


class LlmforgeError(Exception):
    """Base of every error llmforge reports to its user."""

    exit_code: int = 1


class UsageError(LlmforgeError):
    exit_code = 2


class ProjectError(LlmforgeError):
    pass


class ReadOnlyProjectError(ProjectError):
    """A write asked of a project that cannot be written here (a read-only mount or snapshot, or
    files this user may not write): reads still work, writes go to the writable project."""


class ConfigError(LlmforgeError):
    pass


class LockError(LlmforgeError):
    pass


class CatalogError(LlmforgeError):
    pass


class CatalogLockedError(CatalogError):
    pass


class NotFoundError(LlmforgeError):
    pass


class BlobError(LlmforgeError):
    pass


class IntegrityError(BlobError):
    pass


class IngestError(LlmforgeError):
    pass


class TrainError(LlmforgeError):
    pass


class BusyError(LlmforgeError):
    pass


class ModelUnavailableError(LlmforgeError):
    """A listed model that cannot be loaded now (a missing or broken file, too little memory):
    the server's fault, not the caller's, so HTTP answers 503 and names no file."""


class AuditError(LlmforgeError):
    pass


class AuthError(LlmforgeError):
    pass


class PermissionDenied(LlmforgeError):
    pass


class RateLimited(LlmforgeError):
    """Refused for now; ``retry_after`` is the number of seconds until a retry may succeed."""

    def __init__(self, message: str, retry_after: float) -> None:
        super().__init__(message)
        self.retry_after = retry_after
