from __future__ import annotations

import json

import pytest

from llmforge.errors import NotFoundError, UsageError
from llmforge.inference.agents import agent_settings, create_agent, delete_agent, get_agent, list_agents, update_agent


def test_versions_and_settings(project) -> None:
    first = create_agent(project, "ops", {"k": 4, "system_prompt": "Be brief."})
    assert first["version"] == 1 and first["config"] == {"k": 4, "system_prompt": "Be brief."}
    second = update_agent(project, "ops", {"max_tokens": 64, "k": None})
    assert second["version"] == 2 and second["config"] == {"k": 4, "system_prompt": "Be brief.", "max_tokens": 64}
    assert get_agent(project, "ops", version=1)["config"] == first["config"]
    agent_id, settings = agent_settings(project, "agent:ops")
    assert agent_id == "agent:ops@2" and settings.k == 4 and settings.max_tokens == 64
    assert [a["name"] for a in list_agents(project)] == ["ops"]
    assert delete_agent(project, "ops") == 2 and list_agents(project) == []


def test_default_agent_needs_no_setup(project) -> None:
    agent_id, settings = agent_settings(project, None)
    assert agent_id == "agent:default@0" and settings.k is None


@pytest.mark.parametrize("name, config, message", [
    ("Bad Name", {}, "lower-case"),
    ("ok", {"colour": "blue"}, "unknown agent settings"),
    ("ok", {"k": 0}, "k must be between"),
    ("ok", {"mode": "fuzzy"}, "mode must be"),
])
def test_bad_agents(project, name: str, config: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        create_agent(project, name, config)


def test_duplicates_and_missing(project) -> None:
    create_agent(project, "ops", {})
    with pytest.raises(UsageError, match="exists"):
        create_agent(project, "ops", {})
    with pytest.raises(NotFoundError):
        get_agent(project, "nosuch")
    with pytest.raises(NotFoundError):
        update_agent(project, "nosuch", {"k": 3})


def test_agents_cli(cli, project) -> None:
    assert cli("agents", "create", "helpdesk", "-k", "3", "--system-prompt", "Answer politely.").exit_code == 0
    shown = json.loads(cli("agents", "show", "helpdesk", "--json").stdout)
    assert shown["config"] == {"k": 3, "system_prompt": "Answer politely."}
    assert cli("agents", "update", "helpdesk", "--mode", "vector").exit_code == 0
    assert json.loads(cli("agents", "list", "--json").stdout)[0]["version"] == 2
    assert cli("agents", "delete", "helpdesk").exit_code == 0
    assert cli("agents", "show", "helpdesk").exit_code == 1


def test_overrides_of_one_question(project) -> None:
    """The CLI's ask, /v1/ask and the agent:NAME chat model all override through agent_settings."""
    create_agent(project, "ops", {"k": 4, "model": "gemma3-270m", "system_prompt": "Be brief.", "max_tokens": 64})
    agent_id, settings = agent_settings(project, "ops", model="qwen2.5-coder-0.5b-instruct", k=7,
                                        system_prompt="Answer in Arabic.", max_tokens=32)
    assert agent_id == "agent:ops@1"   # the stored version the answer traces back to
    assert (settings.model, settings.k, settings.system_prompt, settings.max_tokens) == \
        ("qwen2.5-coder-0.5b-instruct", 7, "Answer in Arabic.", 32)
    _, kept = agent_settings(project, "agent:ops", model=None, k=None)   # None keeps the agent's value
    assert (kept.model, kept.k, kept.system_prompt, kept.max_tokens) == ("gemma3-270m", 4, "Be brief.", 64)
    _, default = agent_settings(project, None, k=3)
    assert default.k == 3 and default.model is None


@pytest.mark.parametrize("overrides, message", [
    ({"k": 0}, "k must be between 1 and 50"),
    ({"k": 51}, "k must be between 1 and 50"),
    ({"max_tokens": 5000}, "max_tokens must be between 1 and 4096"),
    ({"k": "7"}, "k must be between"),
])
def test_overrides_are_checked_like_a_stored_agent(project, overrides: dict, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        agent_settings(project, None, **overrides)
