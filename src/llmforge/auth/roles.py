"""Permissions and roles, as data: each permission declared once with what it allows, each role a
set of them. Routes name the permission they need; users and keys carry a role.
"""

from __future__ import annotations

from dataclasses import dataclass

from llmforge.errors import UsageError


@dataclass(frozen=True)
class Permission:
    name: str
    description: str


PERMISSION_TABLE: tuple[Permission, ...] = (
    Permission("search", "Search the knowledge base."),
    Permission("ask", "Ask questions answered from the documents (RAG), through any allowed agent."),
    Permission("chat", "Chat completions with the served models and agents."),
    Permission("embed", "Compute embeddings."),
    Permission("documents:read", "List and read documents and their pages."),
    Permission("documents:write", "Upload, ingest and delete documents."),
    Permission("structure:write", "Chunk, embed and index documents."),
    Permission("jobs:read", "Follow background jobs."),
    Permission("models:read", "List models and model versions."),
    Permission("models:write", "Register, export and delete model versions."),
    Permission("agents:read", "List agents and their settings."),
    Permission("agents:write", "Create, change and delete agents."),
    Permission("datasets:read", "List and read training datasets."),
    Permission("datasets:write", "Build and delete training datasets."),
    Permission("training:read", "Follow training runs and their metrics."),
    Permission("training:write", "Start and cancel training runs."),
    Permission("usage:read", "Read one's own usage."),
    Permission("usage:read:all", "Read every caller's usage."),
    Permission("metrics:read", "Read the service metrics."),
    Permission("users:read", "List users."),
    Permission("users:write", "Add users, disable them, change their roles and passwords."),
    Permission("keys:read", "List API keys (never their secrets)."),
    Permission("keys:write", "Create, revoke and rotate API keys."),
    Permission("audit:read", "Read and verify the audit log."),
)
PERMISSIONS: tuple[str, ...] = tuple(p.name for p in PERMISSION_TABLE)


@dataclass(frozen=True)
class Role:
    name: str
    description: str
    permissions: frozenset[str]


_ANALYST = frozenset({"search", "ask", "chat", "embed", "documents:read", "jobs:read", "models:read",
                      "agents:read", "usage:read"})
_OPERATOR = _ANALYST | {"documents:write", "structure:write", "datasets:read", "datasets:write", "training:read",
                        "training:write", "models:write", "agents:write", "metrics:read"}

ROLES: tuple[Role, ...] = (
    Role("analyst", "Queries the knowledge base and the models; reads documents and its own usage.", _ANALYST),
    Role("operator", "An analyst who also feeds documents, builds datasets, trains and publishes models "
         "and agents.", _OPERATOR),
    Role("admin", "Everything, including users, API keys, everyone's usage and the audit log.",
         frozenset(PERMISSIONS)),
)
ROLE_NAMES: tuple[str, ...] = tuple(r.name for r in ROLES)
_BY_NAME = {role.name: role for role in ROLES}


def check_role(name: str) -> str:
    """``name`` if it is a role; else a UsageError that lists the roles."""
    if name not in _BY_NAME:
        raise UsageError(f"unknown role {name!r} (roles: {', '.join(ROLE_NAMES)})")
    return name


def permissions_of(role: str) -> frozenset[str]:
    """The permissions ``role`` grants (UsageError for an unknown role)."""
    return _BY_NAME[check_role(role)].permissions


def check_permissions(names: tuple[str, ...] | list[str] | frozenset[str]) -> frozenset[str]:
    """``names`` as a set, once each is known to be a permission."""
    unknown = sorted(set(names) - set(PERMISSIONS))
    if unknown:
        raise UsageError(f"unknown permission {', '.join(map(repr, unknown))} (see `llmforge users roles`)")
    return frozenset(names)


def describe(permission: str) -> str:
    """The one-line description of a permission (UsageError for an unknown one)."""
    check_permissions([permission])
    return next(p.description for p in PERMISSION_TABLE if p.name == permission)
