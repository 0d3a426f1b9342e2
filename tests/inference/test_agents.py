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
