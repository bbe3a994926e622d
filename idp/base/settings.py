"""Every Porta setting in one place: its default, its ``PORTA_*`` variable, what it does.

A setting is read, in order of precedence, from the mapping given to
:func:`idp.app.create_app`, then from the environment variable named in its
:class:`Setting`, then from the default below. Values from the environment are
strings and are converted to the type of the default.
"""

from __future__ import annotations

import os
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class Setting:
    """One documented configuration option."""

    name: str
    default: Any
    doc: str

    @property
    def env(self) -> str:
        """The environment variable that sets this option."""
        return f"PORTA_{self.name}"


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "DATABASE_URL",
        "sqlite:///porta.sqlite",
        "SQLAlchemy URL of the database. SQLite (WAL mode) needs no setup; for PostgreSQL use "
        "postgresql+psycopg://user@host/db (install the `postgres` extra).",
    ),
    Setting(
        "ISSUER",
        "http://127.0.0.1:8000",
        "The issuer identifier (OIDC Discovery §4.3, RFC 8414 §2): the https URL that is the "
        "prefix of every endpoint and the `iss` of every token. http is only for local use.",
    ),
    Setting(
        "SECRET_KEY",
        None,
        "Signs session cookies and, through HKDF, derives the key that encrypts private signing "
        "keys at rest. Required for any database but SQLite; for SQLite, when unset, a random key "
        "is kept in a 0600 file beside the database (<db>.secret).",
    ),
    Setting("AUTH_CODE_TTL", 60, "Lifetime of an authorization code in seconds (RFC 6749 §4.1.2)."),
    Setting(
        "ACCESS_TOKEN_TTL",
        600,
        "Lifetime of a JWT access token in seconds (RFC 9068; short, as RFC 9700 §2.2 advises).",
    ),
    Setting("ID_TOKEN_TTL", 600, "Lifetime of an ID token in seconds (OIDC Core §2)."),
    Setting(
        "REFRESH_TOKEN_TTL",
        30 * 24 * 3600,
        "Absolute lifetime of a refresh-token family in seconds; rotation never extends it.",
    ),
    Setting("SESSION_TTL", 8 * 3600, "How long a login session at the provider lasts, in seconds."),
    Setting(
        "INTERACTION_TTL",
        1800,
        "How long a pending authorization request waits for login and consent, in seconds.",
    ),
    Setting(
        "ID_TOKEN_SIGNING_ALG",
        "ES256",
        "Default ID token signing algorithm; clients may ask for RS256 through "
        "`id_token_signed_response_alg` (OIDC Registration §2).",
    ),
    Setting(
        "ACCESS_TOKEN_SIGNING_ALG",
        "RS256",
        "Signing algorithm of JWT access tokens. RFC 9068 §2.1 makes RS256 the one every "
        "resource server supports.",
    ),
    Setting(
        "REQUIRE_PKCE",
        False,
        "Require PKCE (RFC 7636) from confidential clients too. Public clients always need it "
        "(RFC 9700 §2.1.1); `plain` is refused either way.",
    ),
    Setting(
        "DEFAULT_SUBJECT_TYPE",
        "pairwise",
        "Subject identifier type for clients that do not ask for one (OIDC Core §8): pairwise "
        "keeps relying parties from linking a person across sectors.",
    ),
    Setting(
        "REGISTRATION",
        "open",
        "Dynamic client registration (RFC 7591): `open` (anyone may register), `token` (an "
        "initial access token is required, RFC 7591 §3) or `closed` (endpoint absent).",
    ),
    Setting(
        "REGISTRATION_INITIAL_ACCESS_TOKEN",
        None,
        "The initial access token required when REGISTRATION is `token`.",
    ),
    Setting(
        "LOGIN_RATE_LIMIT",
        "10 per minute;50 per hour",
        "Flask-Limiter rate for login attempts per client address (RFC 9700 §4.x, brute force).",
    ),
    Setting(
        "RATELIMIT_STORAGE_URI",
        "memory://",
        "Where login rate-limit counters live. `memory://` counts per worker process; use "
        "redis://host:6379 so that every worker and host shares the same counters.",
    ),
    Setting(
        "MAX_REQUEST_BYTES",
        64 * 1024,
        "Largest request body accepted; larger requests get a 413 OAuth error.",
    ),
    Setting(
        "KEY_CACHE_SECONDS",
        30,
        "How long a worker keeps the signing keys in memory before re-reading the key table, so "
        "a `porta keys rotate` reaches running workers within this delay.",
    ),
    Setting("SITE_NAME", "Porta", "Name shown on the person's pages."),
    Setting(
        "CLAIMS_CATALOGUE",
        None,
        "Path to a JSON claims-catalogue document (consent_spec SPEC.md §11) adding custom "
        "URI-named claims (OIDC Core §5.1.2) to the built-in OIDC Core §5.1 ones, or re-labelling "
        "standard claims and setting their sensitivity. Checked at start: an invalid file stops "
        "the provider with an error naming the problem. Served at /claims-catalogue.json.",
    ),
    Setting(
        "OUTBOUND_PRIVATE_ADDRESSES",
        False,
        "Let the provider fetch client-supplied URLs (jwks_uri, sector_identifier_uri) and push "
        "events to addresses on private networks. Off by default (server-side request forgery); "
        "loopback is allowed while the issuer itself is on loopback.",
    ),
    Setting(
        "EVENT_PUMP_SECONDS",
        15,
        "How often each server worker pushes due consent events and back-channel logout tokens "
        "from the outbox and expires lapsed consents; 0 turns the pump off (then run "
        "`porta events deliver` and `porta consents expire` from cron).",
    ),
    Setting(
        "ARGON2_TIME_COST",
        3,
        "argon2id passes. With the two settings below, the defaults are RFC 9106 §4's second "
        "recommended option (as argon2-cffi's defaults); lower them only for tests.",
    ),
    Setting("ARGON2_MEMORY_KIB", 65536, "argon2id memory per hash, in KiB."),
    Setting("ARGON2_PARALLELISM", 4, "argon2id lanes."),
)

_BY_NAME = {s.name: s for s in SETTINGS}


def setting(name: str) -> Any:
    """One setting from the environment or its default (for code that has no app config)."""
    item = _BY_NAME[name]
    raw = os.environ.get(item.env)
    return item.default if raw is None else _convert(raw, item.default)


def _convert(raw: str, default: Any) -> Any:
    if isinstance(default, bool):
        return raw.strip().lower() in {"1", "true", "yes", "on"}
    if isinstance(default, int):
        return int(raw)
    return raw


def load_config(overrides: dict[str, Any] | None = None) -> dict[str, Any]:
    """Resolve every setting from ``overrides``, the environment and the defaults."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - set(_BY_NAME) - {"TESTING"}
    if unknown:
        raise ValueError(f"unknown Porta setting(s): {', '.join(sorted(unknown))}")
    config: dict[str, Any] = {}
    for setting in SETTINGS:
        if setting.name in overrides:
            config[setting.name] = overrides[setting.name]
        elif setting.env in os.environ:
            config[setting.name] = _convert(os.environ[setting.env], setting.default)
        else:
            config[setting.name] = setting.default
    config["ISSUER"] = config["ISSUER"].rstrip("/")
    config["TESTING"] = bool(overrides.get("TESTING", False))
    if config["REGISTRATION"] not in {"open", "token", "closed"}:
        raise ValueError("PORTA_REGISTRATION must be one of open, token, closed")
    if config["REGISTRATION"] == "token" and not config["REGISTRATION_INITIAL_ACCESS_TOKEN"]:
        raise ValueError("PORTA_REGISTRATION=token needs PORTA_REGISTRATION_INITIAL_ACCESS_TOKEN")
    if config["ID_TOKEN_SIGNING_ALG"] not in {"ES256", "RS256"}:
        raise ValueError("PORTA_ID_TOKEN_SIGNING_ALG must be ES256 or RS256")
    if not config["SECRET_KEY"]:
        config["SECRET_KEY"] = _sqlite_side_secret(config["DATABASE_URL"])
    return config


def _sqlite_side_secret(database_url: str) -> str:
    """Keep a generated secret beside a SQLite database so restarts can decrypt its keys."""
    prefix = "sqlite:///"
    if not database_url.startswith(prefix) or database_url == "sqlite:///:memory:":
        if database_url.startswith("sqlite"):
            return secrets.token_urlsafe(32)
        raise ValueError("PORTA_SECRET_KEY must be set for any database but SQLite")
    path = Path(database_url[len(prefix) :] + ".secret")
    if path.exists():
        return path.read_text().strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    value = secrets.token_urlsafe(32)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    return value


def describe() -> str:
    """The settings as a Markdown table, for the README and `porta config`."""
    rows = ["| variable | default | meaning |", "| --- | --- | --- |"]
    for s in SETTINGS:
        rows.append(f"| `{s.env}` | `{s.default}` | {s.doc} |")
    return "\n".join(rows)
