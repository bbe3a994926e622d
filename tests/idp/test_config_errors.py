"""Configuration errors are one line naming the variable or database and what to do (issue 13 item 10).

Each case runs the real ``porta`` command group in-process; none may print a traceback.
"""

from __future__ import annotations

import pytest
from click.testing import CliRunner

from idp.cli import main

SECRET = "k" * 43


def _porta(monkeypatch, tmp_path, env: dict[str, str], *args: str):
    monkeypatch.chdir(tmp_path)
    for name in ("PORTA_DATABASE_URL", "PORTA_SECRET_KEY", "PORTA_ISSUER", "PORTA_DEV"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return CliRunner().invoke(main, list(args))


def _one_line(result) -> str:
    assert result.exit_code == 1
    assert result.exception is None or isinstance(result.exception, SystemExit)
    lines = result.output.strip().splitlines()
    assert len(lines) == 1, result.output
    assert "Traceback" not in result.output
    return lines[0]


@pytest.mark.parametrize(
    ("env", "names"),
    [
        (
            {
                "PORTA_DATABASE_URL": "postgresql+psycopg://nobody@127.0.0.1:1/porta",
                "PORTA_SECRET_KEY": SECRET,
            },
            ("PORTA_DATABASE_URL", "127.0.0.1:1", "server is running"),
        ),
        (
            {"PORTA_DATABASE_URL": "nonsense://x", "PORTA_SECRET_KEY": SECRET},
            ("PORTA_DATABASE_URL", "sqlite:///"),
        ),
        (
            {"PORTA_DATABASE_URL": ":::", "PORTA_SECRET_KEY": SECRET},
            ("PORTA_DATABASE_URL", "not a database URL"),
        ),
        (
            {"PORTA_DATABASE_URL": "postgresql+psycopg://u:pw-hidden@127.0.0.1:1/x"},
            ("PORTA_SECRET_KEY",),
        ),
        ({"PORTA_ACCESS_TOKEN_TTL": "ten"}, ("PORTA_ACCESS_TOKEN_TTL", "whole number")),
        ({"PORTA_ISSUER": "http://id.example"}, ("PORTA_ISSUER", "https")),
    ],
)
@pytest.mark.parametrize("command", [("users", "list"), ("db", "upgrade"), ("serve",)])
def test_a_configuration_error_is_one_line_naming_what_to_fix(
    monkeypatch, tmp_path, env, names, command
):
    line = _one_line(_porta(monkeypatch, tmp_path, env, *command))
    assert line.startswith("Error: ")
    for name in names:
        assert name in line
    assert "pw-hidden" not in line  # a password in the URL is never echoed
