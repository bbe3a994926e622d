"""Typed settings: overrides, PORTA_* conversion, the checks, and the documented table."""

from __future__ import annotations

from dataclasses import fields

import pytest
from click.testing import CliRunner

from idp.base.settings import Settings, describe, env_name, load_settings
from idp.cli import main

SECRET = {"SECRET_KEY": "settings-test-secret-" + "x" * 16}


def test_environment_values_take_the_field_type(monkeypatch):
    monkeypatch.setenv("PORTA_ACCESS_TOKEN_TTL", " 900 ")
    monkeypatch.setenv("PORTA_REQUIRE_PKCE", "yes")
    monkeypatch.setenv("PORTA_ISSUER", "https://id.example/")
    settings = load_settings(SECRET)
    assert settings.access_token_ttl == 900
    assert settings.require_pkce is True
    assert settings.issuer == "https://id.example"  # trailing slash dropped


def test_overrides_win_over_the_environment_and_use_upper_case_names(monkeypatch):
    monkeypatch.setenv("PORTA_SITE_NAME", "From the environment")
    settings = load_settings({**SECRET, "SITE_NAME": "From create_app", "TESTING": True})
    assert settings.site_name == "From create_app"
    assert settings.testing is True
    assert settings.secret_key == SECRET["SECRET_KEY"]


@pytest.mark.parametrize(
    ("variable", "value", "message"),
    [
        ("PORTA_ACCESS_TOKEN_TTL", "ten", "PORTA_ACCESS_TOKEN_TTL must be a whole number, got 'ten'"),
        ("PORTA_MAX_REQUEST_BYTES", "64k", "PORTA_MAX_REQUEST_BYTES must be a whole number, got '64k'"),
        ("PORTA_REQUIRE_PKCE", "maybe", "PORTA_REQUIRE_PKCE must be true or false, got 'maybe'"),
    ],
)
def test_a_value_that_does_not_convert_names_the_variable(monkeypatch, variable, value, message):
    monkeypatch.setenv(variable, value)
    with pytest.raises(ValueError) as raised:
        load_settings(SECRET)
    assert str(raised.value) == message


def test_the_cli_reports_a_bad_variable_in_one_line_without_a_traceback(monkeypatch):
    monkeypatch.setenv("PORTA_DATABASE_URL", "sqlite:///:memory:")
    monkeypatch.setenv("PORTA_ACCESS_TOKEN_TTL", "ten")
    result = CliRunner().invoke(main, ["users", "list"])
    assert result.exit_code == 1
    assert "Error: PORTA_ACCESS_TOKEN_TTL must be a whole number, got 'ten'" in result.output
    assert "Traceback" not in result.output
    assert isinstance(result.exception, SystemExit)


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"NO_SUCH_SETTING": 1}, "unknown Porta setting(s): NO_SUCH_SETTING"),
        ({"issuer": "https://id.example"}, "unknown Porta setting(s): issuer"),
        ({"REGISTRATION": "sometimes"}, "PORTA_REGISTRATION must be one of open, token, closed"),
        ({"REGISTRATION": "token"}, "PORTA_REGISTRATION=token needs PORTA_REGISTRATION_INITIAL_ACCESS_TOKEN"),
        ({"ID_TOKEN_SIGNING_ALG": "HS256"}, "PORTA_ID_TOKEN_SIGNING_ALG must be ES256 or RS256"),
        ({"DATABASE_URL": "postgresql+psycopg://db/porta"}, "PORTA_SECRET_KEY must be set for any database but SQLite"),
    ],
)
def test_invalid_settings_are_refused(monkeypatch, overrides, message):
    monkeypatch.delenv("PORTA_SECRET_KEY", raising=False)
    with pytest.raises(ValueError) as raised:
        load_settings(overrides if "DATABASE_URL" in overrides else {**SECRET, **overrides})
    assert str(raised.value) == message


def test_the_table_is_derived_from_the_fields():
    table = describe()
    documented = [item for item in fields(Settings) if item.metadata["env"]]
    assert len(table.splitlines()) == 2 + len(documented)
    for item in documented:
        assert f"| `{env_name(item)}` | `{item.default}` | {item.metadata['doc']} |" in table
    assert "PORTA_ACCESS_TOKEN_TTL" in table and "PORTA_TESTING" not in table


def test_settings_are_frozen():
    with pytest.raises(AttributeError):
        load_settings(SECRET).issuer = "https://elsewhere.example"  # type: ignore[misc]
