"""Shared by the identity tests: a clock the tests can move, and a user to work with."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

import pytest

from llmforge.auth import common

PASSWORD = "correct horse battery staple"


def audit_rows(project) -> list[tuple]:
    """``(actor, action, target, details)`` of every audit record, oldest first."""
    with project.catalog() as conn:
        return conn.execute("SELECT actor, action, target, CAST(details AS VARCHAR) FROM audit_log "
                            "ORDER BY seq").fetchall()


@dataclass
class Clock:
    """Moves ``llmforge.auth.common.utcnow``, the one clock the identity modules read."""

    offset: timedelta = field(default_factory=timedelta)

    def advance(self, **delta: float) -> None:
        self.offset += timedelta(**delta)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> Clock:
    moved = Clock()
    real = common.utcnow
    monkeypatch.setattr(common, "utcnow", lambda: real() + moved.offset)
    return moved


@pytest.fixture
def settings(project, monkeypatch: pytest.MonkeyPatch):
    """``settings(name=value, ...)``: set auth settings through their environment variables."""

    def apply(**values: object) -> None:
        for name, value in values.items():
            monkeypatch.setenv(f"LLMFORGE_AUTH_{name.upper()}", str(value))
        project.reload_settings()

    return apply
