"""Each choice list is declared once (llmforge.settings) and every other place derives it: the
settings' choices, the CLI's options, the HTTP request model and the stages that check arguments."""

from __future__ import annotations

import typing
from enum import Enum

import pytest

from llmforge.errors import UsageError
from llmforge.settings import OCR_LANGUAGES, OCR_MODES, QUERY_LANGUAGES, SEARCH_MODES, get_setting


def cli_choices(command: typing.Callable[..., None], option: str) -> tuple[str, ...]:
    """The values a CLI command's option offers: those of the Enum in its annotation, which Typer
    turns into the option's choices."""
    def enums(hint: object) -> typing.Iterator[type[Enum]]:
        if isinstance(hint, type) and issubclass(hint, Enum):
            yield hint
        for arg in typing.get_args(hint):
            yield from enums(arg)

    hint = typing.get_type_hints(command, include_extras=True)[option]
    return tuple(member.value for member in next(enums(hint)))


def refused_by_the_cli(cli, *args: str) -> bool:
    """Whether the real command line refuses these arguments while parsing them."""
    result = cli(*args)
    return result.exit_code == 2 and "Invalid value for" in result.stderr


def schema_choices(model: type, field: str) -> tuple[str, ...]:
    """The ``enum`` a pydantic model's JSON schema (so the OpenAPI document) gives ``field``."""
    schema = model.model_json_schema()["properties"][field]
    return tuple(next(option["enum"] for option in schema.get("anyOf", [schema]) if "enum" in option))


def test_search_modes_are_declared_once() -> None:
    pytest.importorskip("fastapi")
    from llmforge.cli.structure import search
    from llmforge.serve.routers.knowledge import SearchRequest

    assert get_setting("search.mode").choices == SEARCH_MODES
    assert cli_choices(search, "mode") == SEARCH_MODES
    assert schema_choices(SearchRequest, "mode") == SEARCH_MODES


def test_query_and_ocr_languages_are_declared_once() -> None:
    pytest.importorskip("fastapi")
    from llmforge.cli.ingest import ingest
    from llmforge.cli.structure import search
    from llmforge.serve.routers.knowledge import SearchRequest

    assert cli_choices(search, "lang") == QUERY_LANGUAGES
    assert schema_choices(SearchRequest, "lang") == QUERY_LANGUAGES
    assert get_setting("ingest.lang").choices == OCR_LANGUAGES
    assert cli_choices(ingest, "lang") == OCR_LANGUAGES
    assert get_setting("ingest.ocr").choices == OCR_MODES
    assert cli_choices(ingest, "ocr") == OCR_MODES


def test_the_command_line_takes_exactly_the_declared_values(cli, project) -> None:
    for mode in SEARCH_MODES:
        assert not refused_by_the_cli(cli, "search", "chlorine", "--mode", mode)
    assert refused_by_the_cli(cli, "search", "chlorine", "--mode", "fuzzy")
    for lang in OCR_LANGUAGES:
        assert not refused_by_the_cli(cli, "ingest", "missing.pdf", "--lang", lang)
    assert refused_by_the_cli(cli, "ingest", "missing.pdf", "--lang", "fra")


def test_the_stages_check_against_the_declaration(project) -> None:
    from PIL import Image

    from llmforge.errors import IngestError
    from llmforge.inference.agents import create_agent
    from llmforge.ingest.ocr import ocr_image
    from llmforge.structure.search import search

    for mode in SEARCH_MODES:
        create_agent(project, f"by-{mode}", {"mode": mode})
    with pytest.raises(UsageError, match=", ".join(SEARCH_MODES)):
        create_agent(project, "fuzzy", {"mode": "fuzzy"})
    with pytest.raises(UsageError, match=", ".join(SEARCH_MODES)):
        search(project, "chlorine", mode="fuzzy")
    with pytest.raises(IngestError, match=", ".join(OCR_LANGUAGES).replace("+", r"\+")):
        ocr_image(Image.new("L", (8, 8), 255), lang="fra")
