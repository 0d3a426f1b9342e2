from __future__ import annotations

from pathlib import Path

import pytest

from llmforge.errors import ConfigError
from llmforge.settings import SETTINGS, default_toml, get_setting, load_settings, write_setting


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def test_defaults_when_no_file(tmp_path: Path) -> None:
    settings = load_settings(tmp_path / "missing.toml", environ={})
    for setting in SETTINGS:
        assert settings[setting.name] == setting.default
        assert settings.source(setting.name) == "default"


def test_file_overrides_default_and_env_overrides_file(tmp_path: Path) -> None:
    toml = write(tmp_path / "llmforge.toml", "[catalog]\nlock_timeout = 5\n")
    settings = load_settings(toml, environ={})
    assert settings["catalog.lock_timeout"] == 5.0
    assert settings.source("catalog.lock_timeout") == "llmforge.toml"
    settings = load_settings(toml, environ={"LLMFORGE_CATALOG_LOCK_TIMEOUT": "7.5"})
    assert settings["catalog.lock_timeout"] == 7.5
    assert settings.source("catalog.lock_timeout") == "LLMFORGE_CATALOG_LOCK_TIMEOUT"


@pytest.mark.parametrize("raw, expected", [("1", True), ("yes", True), ("off", False), ("FALSE", False)])
def test_boolean_environment_values(tmp_path: Path, raw: str, expected: bool) -> None:
    settings = load_settings(None, environ={"LLMFORGE_BLOBS_ENCRYPT": raw})
    assert settings["blobs.encrypt"] is expected


def test_bad_environment_value_names_the_variable(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="LLMFORGE_CATALOG_LOCK_TIMEOUT.*number"):
        load_settings(None, environ={"LLMFORGE_CATALOG_LOCK_TIMEOUT": "soon"})


def test_syntax_error_reports_line_number(tmp_path: Path) -> None:
    toml = write(tmp_path / "llmforge.toml", "[catalog]\nlock_timeout = 5\nthis is not toml\n")
    with pytest.raises(ConfigError, match=r"invalid TOML.*line 3"):
        load_settings(toml, environ={})


def test_type_error_reports_line_number(tmp_path: Path) -> None:
    toml = write(tmp_path / "llmforge.toml", "# comment\n[log]\nlevel = \"loud\"\n")
    with pytest.raises(ConfigError, match=r"llmforge.toml:3: log.level must be one of"):
        load_settings(toml, environ={})


def test_unknown_setting_is_refused(tmp_path: Path) -> None:
    toml = write(tmp_path / "llmforge.toml", "[catalog]\nlock_timout = 5\n")
    with pytest.raises(ConfigError, match=r":2: unknown setting 'catalog.lock_timout'"):
        load_settings(toml, environ={})


def test_negative_number_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="must not be negative"):
        load_settings(None, environ={"LLMFORGE_LOCK_WAIT": "-1"})


def test_write_setting_keeps_comments_and_validates(tmp_path: Path) -> None:
    toml = write(tmp_path / "llmforge.toml", default_toml())
    assert write_setting(toml, "lock.wait", "12") == 12.0
    text = toml.read_text()
    assert "# Default seconds a writing command waits" in text
    assert load_settings(toml, environ={})["lock.wait"] == 12.0
    with pytest.raises(ConfigError, match="must be a number"):
        write_setting(toml, "lock.wait", "later")
    assert load_settings(toml, environ={})["lock.wait"] == 12.0


def test_default_toml_parses_to_defaults(tmp_path: Path) -> None:
    toml = write(tmp_path / "llmforge.toml", default_toml())
    settings = load_settings(toml, environ={})
    assert all(settings.source(s.name) == "default" for s in SETTINGS)


def test_unknown_setting_name() -> None:
    with pytest.raises(ConfigError, match="unknown setting"):
        get_setting("no.such")


def test_every_setting_is_documented_in_readme() -> None:
    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text(encoding="utf-8")
    missing = [s.name for s in SETTINGS if f"`{s.name}`" not in readme]
    assert not missing, f"settings missing from README.md: {missing}"


@pytest.mark.parametrize("variable, raw, message", [
    ("LLMFORGE_SEARCH_VECTOR_WEIGHT", "1.5", "at most 1"),
    ("LLMFORGE_INGEST_TIMEOUT", "nan", "must not be negative"),
])
def test_ranges_are_checked(variable: str, raw: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_settings(None, environ={variable: raw})
