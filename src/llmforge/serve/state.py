"""What the routers share. :func:`llmforge.serve.app.create_app` keeps the served project and its
workers (metrics, usage recorder, job runner) on ``app.state``; routes read them from the request
(the project through :data:`ServedProject`), so a router module is written without an app in hand."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import Depends, Request

from llmforge.auth.identity import Caller
from llmforge.auth.ratelimit import caller_keys
from llmforge.errors import PermissionDenied

from llmforge.project import Project

MB = 1_000_000


def served_project(request: Request) -> Project:
    """The project this app serves (a FastAPI dependency)."""
    return request.app.state.project


ServedProject = Annotated[Project, Depends(served_project)]


def max_upload_bytes(project: Project) -> int:
    """``serve.max_upload_mb`` in bytes: the limit of a request body and of each uploaded file."""
    return int(float(project.settings["serve.max_upload_mb"]) * MB)


def account_tokens(request: Request, model: str, prompt: int, completion: int) -> None:
    """Record an answer's tokens: on the request for its usage record, and in the metrics."""
    request.state.model, request.state.prompt_tokens, request.state.completion_tokens = model, prompt, completion
    request.app.state.metrics.add_tokens(model, "prompt", prompt)
    request.app.state.metrics.add_tokens(model, "completion", completion)


@contextmanager
def generation(request: Request, caller: Caller) -> Iterator[Callable[[int], None]]:
    """Hold one of the caller's concurrent-generation slots for the block, after checking its
    generated-token budget; yields the function that charges the tokens generated to it.

    Raises:
        RateLimited: the budget is spent, or the caller already runs its most generations at once.
    """
    limiter = request.app.state.limiter
    keys = caller_keys(key_prefix=caller.key_prefix, user=caller.user)
    limiter.check_generation(keys)
    with limiter.generation_slot(f"user:{caller.user}"):
        yield lambda tokens: limiter.charge_tokens(keys, tokens)


def check_model_choice(caller: Caller, model: str | None) -> None:
    """A key scoped to agents answers through them only: no plain model (``None``: the default
    one), no model override of an agent."""
    if caller.agents is not None and not (model or "").startswith("agent:"):
        raise PermissionDenied(f"this key may use only the agents {', '.join(sorted(caller.agents))}, "
                               "not a model directly")
