"""The `porta` CLI contract other tools rely on (issue: core provider, item 6)."""

from __future__ import annotations

import json
import os

import pytest
from alembic.script import ScriptDirectory
from click.testing import CliRunner
from sqlalchemy import create_engine, inspect

from idp.base.clock import now
from idp.base.encoding import digest
from idp.cli import main
from idp.storage import Store
from idp.storage.db import alembic_config, current_revision, make_sessionmaker
from tests.conftest import basic_auth


@pytest.fixture
def porta(tmp_path, database_url, monkeypatch):
    """Run `porta …` in-process against a private database; returns (runner, invoke)."""
    monkeypatch.setenv("PORTA_DATABASE_URL", database_url)
    monkeypatch.setenv("PORTA_ISSUER", "https://id.example")
    monkeypatch.setenv("PORTA_SECRET_KEY", "cli-test-secret-" + "z" * 16)
    runner = CliRunner()

    def invoke(*args: str, stdin: str | None = None, ok: bool = True, env=None):
        result = runner.invoke(main, list(args), input=stdin, catch_exceptions=False, env=env)
        if ok:
            assert result.exit_code == 0, result.output
        return result

    return invoke


def _store(database_url: str) -> Store:
    return Store(make_sessionmaker(create_engine(database_url))())


def test_db_upgrade_creates_schema(porta, database_url):
    result = porta("db", "upgrade")
    engine = create_engine(database_url)
    head = ScriptDirectory.from_config(alembic_config(engine)).get_current_head()
    assert f"database at revision {head}" in result.output
    assert current_revision(engine) == head
    tables = set(inspect(engine).get_table_names())
    assert {"users", "clients", "signing_keys", "grants", "consent_records", "event_outbox"} <= tables


def test_users_create_reads_password_from_stdin(porta, database_url):
    porta("db", "upgrade")
    porta("users", "create", "Bob@Example.org", "--name", "Bob Builder", "--password-stdin", stdin="s3cret-password\n")
    store = _store(database_url)
    user = store.get_user_by_email("bob@example.org")
    assert user is not None and user.profile["name"] == "Bob Builder"
    assert user.password_hash.startswith("$argon2id$")
    assert "s3cret-password" not in user.password_hash
    store.close()
    listed = porta("users", "list").output
    assert "bob@example.org" in listed


def test_users_create_refuses_duplicates_and_short_passwords(porta):
    porta("db", "upgrade")
    porta("users", "create", "c@example.org", "--password-stdin", stdin="long-enough-pw\n")
    again = porta("users", "create", "c@example.org", "--password-stdin", stdin="long-enough-pw\n", ok=False)
    assert again.exit_code != 0 and "already exists" in again.output
    short = porta("users", "create", "d@example.org", "--password-stdin", stdin="short\n", ok=False)
    assert short.exit_code != 0 and "at least" in short.output


def test_clients_create_json_prints_id_and_secret(porta, database_url):
    porta("db", "upgrade")
    out = json.loads(porta("clients", "create", "--name", "Shop", "--redirect-uri", "https://shop.example/cb", "--json").output)
    assert set(out) == {"client_id", "client_secret"}
    store = _store(database_url)
    client = store.get_client(out["client_id"])
    assert client.client_secret_hash == digest(out["client_secret"])  # stored hashed only
    assert client.metadata_["grant_types"] == ["authorization_code", "refresh_token"]
    assert client.metadata_["redirect_uris"] == ["https://shop.example/cb"]
    store.close()


def test_clients_create_public_has_no_secret(porta, database_url):
    porta("db", "upgrade")
    out = json.loads(
        porta("clients", "create", "--name", "App", "--redirect-uri", "http://127.0.0.1/cb", "--public", "--native", "--json").output
    )
    assert set(out) == {"client_id"}
    store = _store(database_url)
    meta = store.get_client(out["client_id"]).metadata_
    assert meta["token_endpoint_auth_method"] == "none" and meta["application_type"] == "native"
    store.close()


def test_clients_create_with_grant_types_and_list(porta):
    porta("db", "upgrade")
    out = json.loads(
        porta("clients", "create", "--name", "Batch", "--grant-type", "client_credentials", "--scope", "reports", "--json").output
    )
    assert "client_secret" in out
    assert out["client_id"] in porta("clients", "list").output


def test_clients_create_rejects_bad_redirect_uri_with_a_clear_error(porta):
    porta("db", "upgrade")
    result = porta("clients", "create", "--name", "Bad", "--redirect-uri", "http://evil.example/cb", ok=False)
    assert result.exit_code != 0
    assert "invalid_redirect_uri" in result.output and "https" in result.output


def test_keys_list_rotate_retire(porta, database_url):
    porta("db", "upgrade")
    before = porta("keys", "list").output.splitlines()
    assert len(before) == 2 and all(" signing " in line for line in before)
    rotated = porta("keys", "rotate").output
    assert rotated.count("published now, signs from") == 2
    after = porta("keys", "list").output.splitlines()
    states = sorted(line.split()[2] for line in after)
    assert states == ["published", "published", "signing", "signing"]
    old_kid = before[0].split()[0]
    still = porta("keys", "retire", old_kid, ok=False)  # its successor does not sign yet
    assert still.exit_code != 0 and "still signs" in still.output
    store = _store(database_url)
    try:
        for line in after:
            if " published " in line:
                store.sign_now(line.split()[0], now())
        store.commit()
    finally:
        store.close()
    porta("keys", "retire", old_kid)
    assert f"{old_kid}" in porta("keys", "list").output and "retired" in porta("keys", "list").output
    active_kid = next(line.split()[0] for line in after if " published " in line)
    refused = porta("keys", "retire", active_kid, ok=False)
    assert refused.exit_code != 0 and "rotate before retiring" in refused.output


def test_demo_no_serve_prints_credentials_and_is_idempotent(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("PORTA_DATABASE_URL", raising=False)
    monkeypatch.delenv("PORTA_ISSUER", raising=False)
    monkeypatch.delenv("PORTA_SECRET_KEY", raising=False)
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--no-serve", "--port", "8123"], catch_exceptions=False)
    assert first.exit_code == 0, first.output
    assert "demo@example.org / demo-password" in first.output
    assert "client_id=demo-shop" in first.output and "http://127.0.0.1:8123" in first.output
    assert (tmp_path / "porta-demo.sqlite").exists()
    assert (tmp_path / "porta-demo.sqlite.secret").stat().st_mode & 0o077 == 0  # 0600
    second = runner.invoke(main, ["demo", "--no-serve", "--port", "8123"], catch_exceptions=False)
    assert second.exit_code == 0, second.output


def test_config_lists_every_setting():
    result = CliRunner().invoke(main, ["config"])
    assert result.exit_code == 0
    for name in ("PORTA_DATABASE_URL", "PORTA_ISSUER", "PORTA_SECRET_KEY", "PORTA_REGISTRATION"):
        assert name in result.output


def test_db_cleanup_deletes_expired_rows_for_cron(porta, database_url):
    """`porta db cleanup` (issue 16 item 3) empties what expired, batch after batch, and
    reports it per table; live rows and the consent ledger stay."""
    from datetime import timedelta

    from sqlalchemy import func, select

    from idp.base.clock import later
    from idp.storage.models import AccessToken

    porta("db", "upgrade")
    store = _store(database_url)
    try:
        client = store.create_client("c1", {"redirect_uris": ["https://rp.example/cb"]}, client_secret_hash=None)
        for index in range(5):
            store.record_access_token(f"old{index}", client.client_id, None, now() - timedelta(days=2))
        store.record_access_token("live", client.client_id, None, later(600))
        store.commit()
    finally:
        store.close()
    result = porta("db", "cleanup", env={"PORTA_CLEANUP_BATCH_SIZE": "2"})
    assert "access_tokens: 5 deleted" in result.output
    store = _store(database_url)
    try:
        assert store.session.scalar(select(func.count()).select_from(AccessToken)) == 1
    finally:
        store.close()
    refused = porta("db", "cleanup", "--retention", "-1", ok=False)
    assert refused.exit_code != 0


# -- the first minutes (issue 16 item 9) --------------------------------------------------------


def _serve_calls(monkeypatch) -> list[tuple]:
    from idp.cli import serving

    calls: list[tuple] = []
    monkeypatch.setattr(serving, "_serve", lambda *args: calls.append(args))
    return calls


def test_serve_refuses_a_port_the_loopback_issuer_does_not_advertise(porta, monkeypatch):
    """`porta serve --port 8001` under PORTA_ISSUER=…:8000 used to advertise 8000 silently."""
    porta("db", "upgrade")
    calls = _serve_calls(monkeypatch)
    monkeypatch.setenv("PORTA_ISSUER", "http://127.0.0.1:8000")
    refused = porta("serve", "--port", "8001", ok=False)
    assert refused.exit_code != 0 and calls == []
    assert "PORTA_ISSUER=http://127.0.0.1:8001" in refused.output
    assert "--port 8000" in refused.output
    porta("serve", "--port", "8000")
    assert calls and calls[0][1] == 8000


def test_serve_without_an_issuer_advertises_its_own_port(porta, monkeypatch):
    porta("db", "upgrade")
    calls = _serve_calls(monkeypatch)
    monkeypatch.delenv("PORTA_ISSUER")
    porta("serve", "--port", "8123")
    assert calls and os.environ["PORTA_ISSUER"] == "http://127.0.0.1:8123"


def test_the_cli_reaches_the_demo_database(tmp_path, monkeypatch):
    """After `porta demo`, `porta --database …` (the line the demo prints) lists its person,
    and no stray porta.sqlite appears."""
    monkeypatch.chdir(tmp_path)
    for name in ("PORTA_DATABASE_URL", "PORTA_ISSUER", "PORTA_SECRET_KEY"):
        monkeypatch.delenv(name, raising=False)
    runner = CliRunner()
    demo = runner.invoke(main, ["demo", "--no-serve"], catch_exceptions=False)
    hint = next(line for line in demo.output.splitlines() if "manage it:" in line)
    args = hint.split("porta ", 1)[1].split()
    monkeypatch.delenv("PORTA_DATABASE_URL", raising=False)  # as in a new shell
    listed = runner.invoke(main, args, catch_exceptions=False)
    assert listed.exit_code == 0 and "demo@example.org" in listed.output
    assert not (tmp_path / "porta.sqlite").exists()


def test_two_issuers_on_one_host_use_two_session_cookies(make_app):
    """Cookies ignore ports (RFC 6265 §8.5): the name carries the issuer instead."""
    names = {
        make_app(ISSUER=issuer).config["SESSION_COOKIE_NAME"]
        for issuer in ("http://127.0.0.1:8000", "http://127.0.0.1:8001")
    }
    assert len(names) == 2 and all(name.startswith("porta_session_") for name in names)


def test_generated_secrets_are_git_ignored():
    import shutil
    import subprocess
    from pathlib import Path

    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = Path(__file__).resolve().parents[2]
    for name in ("porta-demo.sqlite.secret", "porta.sqlite.secret"):
        assert subprocess.run(["git", "check-ignore", "-q", name], cwd=root, check=False).returncode == 0


def test_an_operator_client_from_the_cli_keeps_a_scope_beyond_the_registration_list(porta, make_app):
    """`porta clients create --scope` is the operator's grant: the allow-list for /register
    (PORTA_REGISTRATION_ALLOWED_SCOPES) does not narrow it."""
    porta("db", "upgrade")
    out = json.loads(
        porta("clients", "create", "--name", "Batch", "--grant-type", "client_credentials", "--scope", "admin payments:write", "--json").output
    )
    http = make_app(SECRET_KEY="cli-test-secret-" + "z" * 16).test_client()
    response = http.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "admin payments:write"},
        headers=basic_auth(out["client_id"], out["client_secret"]),
    )
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["scope"] == "admin payments:write"
