"""Every Porta setting in one place: its type, default, ``PORTA_*`` variable and meaning.

:class:`Settings` is a frozen dataclass; each field carries its documentation in
``metadata["doc"]``, and :func:`describe` (``porta config``) prints the table
from the fields, so there is no second list to keep in step.

A setting is read, in order of precedence, from the mapping given to
:func:`idp.app.create_app` (keyed by the upper-case name, ``{"ISSUER": …}``),
then from the environment variable ``PORTA_<NAME>``, then from the default.
Values from the environment are strings and are converted to the field's type;
a value that does not convert stops the provider with an error naming the
variable.
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import secrets
from dataclasses import dataclass, field, fields, replace
from functools import cache
from pathlib import Path
from typing import Any, get_type_hints
from urllib.parse import urlsplit

from idp.base.mail import parse_smtp_url

TRUE_WORDS = frozenset({"1", "true", "yes", "on"})
FALSE_WORDS = frozenset({"0", "false", "no", "off", ""})


def _setting(default: Any, doc: str, *, env: bool = True) -> Any:
    """A documented field; ``env=False`` for one that only create_app's mapping can set."""
    return field(default=default, metadata={"doc": doc, "env": env})


@dataclass(frozen=True)
class Settings:
    """The provider's configuration, resolved once by :func:`load_settings`."""

    database_url: str = _setting(
        "sqlite:///porta.sqlite",
        "SQLAlchemy URL of the database. SQLite (WAL mode) needs no setup; for PostgreSQL use "
        "postgresql+psycopg://user@host/db (install the `postgres` extra).",
    )
    issuer: str = _setting(
        "http://127.0.0.1:8000",
        "The issuer identifier (OIDC Discovery §4.3, RFC 8414 §2): the https URL that is the "
        "prefix of every endpoint and the `iss` of every token. http is only for local use.",
    )
    # None only before load_settings resolves it (for SQLite, from a side file).
    secret_key: str | None = _setting(
        None,
        "Signs session cookies and, through HKDF, derives the key that encrypts private signing "
        "keys at rest. Required for any database but SQLite; for SQLite, when unset, a random key "
        "is kept in a 0600 file beside the database (<db>.secret).",
    )
    auth_code_ttl: int = _setting(
        60, "Lifetime of an authorization code in seconds (RFC 6749 §4.1.2)."
    )
    access_token_ttl: int = _setting(
        600,
        "Lifetime of a JWT access token in seconds (RFC 9068; short, as RFC 9700 §2.2 advises).",
    )
    id_token_ttl: int = _setting(600, "Lifetime of an ID token in seconds (OIDC Core §2).")
    refresh_token_ttl: int = _setting(
        30 * 24 * 3600,
        "Absolute lifetime of a refresh-token family in seconds; rotation never extends it.",
    )
    session_ttl: int = _setting(
        8 * 3600, "How long a login session at the provider lasts, in seconds."
    )
    interaction_ttl: int = _setting(
        1800,
        "How long a pending authorization request waits for login and consent, in seconds.",
    )
    id_token_signing_alg: str = _setting(
        "ES256",
        "Default ID token signing algorithm; clients may ask for RS256 through "
        "`id_token_signed_response_alg` (OIDC Registration §2).",
    )
    access_token_signing_alg: str = _setting(
        "RS256",
        "Signing algorithm of JWT access tokens. RFC 9068 §2.1 makes RS256 the one every "
        "resource server supports.",
    )
    require_pkce: bool = _setting(
        False,
        "Require PKCE (RFC 7636) from confidential clients too. Public clients always need it "
        "(RFC 9700 §2.1.1); `plain` is refused either way.",
    )
    default_subject_type: str = _setting(
        "pairwise",
        "Subject identifier type for clients that do not ask for one (OIDC Core §8): pairwise "
        "keeps relying parties from linking a person across sectors.",
    )
    registration: str = _setting(
        "open",
        "Dynamic client registration (RFC 7591): `open` (anyone may register), `token` (an "
        "initial access token is required, RFC 7591 §3) or `closed` (endpoint absent).",
    )
    registration_initial_access_token: str | None = _setting(
        None,
        "The initial access token required when REGISTRATION is `token`.",
    )
    registration_allowed_scopes: str = _setting(
        "",
        "Space-separated scopes, beyond the OpenID Connect ones (openid profile email address "
        "phone offline_access), that a client registered through /register may obtain. Others "
        "it asks for are left out of its registration (RFC 7591 §3.2.1) and never granted; "
        "clients made with `porta clients create --scope` are not limited by this list.",
    )
    resources: str = _setting(
        "",
        "Space-separated absolute URIs of the resource servers this provider issues access "
        "tokens for (RFC 8707). A token request with `resource` set to one of them gets an "
        "access token whose `aud` is that URI; any other `resource` is `invalid_target`. "
        "Without `resource` the `aud` is the issuer.",
    )
    login_rate_limit: str = _setting(
        "10 per minute;50 per hour",
        "Flask-Limiter rate for login attempts per client address (RFC 9700 §4.x, brute force).",
    )
    ratelimit_storage_uri: str = _setting(
        "memory://",
        "Where login rate-limit counters live. `memory://` counts per worker process; use "
        "redis://host:6379 so that every worker and host shares the same counters.",
    )
    max_request_bytes: int = _setting(
        64 * 1024,
        "Largest request body accepted; larger requests get a 413 OAuth error.",
    )
    key_cache_seconds: int = _setting(
        30,
        "How long a worker keeps the signing keys in memory before re-reading the key table, so "
        "a `porta keys rotate` reaches running workers within this delay.",
    )
    jwks_max_age: int = _setting(
        60,
        "Cache-Control max-age of /jwks.json in seconds: how long relying parties may keep the "
        "key set before fetching it again (RFC 7517 §5 key rollover).",
    )
    key_publish_seconds: int = _setting(
        3600,
        "How long a new signing key is published in the JWKS before it signs anything, in "
        "seconds. At least KEY_CACHE_SECONDS + JWKS_MAX_AGE, so that every worker and every "
        "relying party has seen a key before they meet a token it signed.",
    )
    key_rotation_days: int = _setting(
        90,
        "Rotate the signing keys every this many days: each server's pump publishes a new key "
        "pair (signing KEY_PUBLISH_SECONDS later) and retires superseded keys once every token "
        "they signed has expired. 0 turns scheduled rotation off (`porta keys rotate` still "
        "works).",
    )
    metrics_allow: str = _setting(
        "127.0.0.1/32 ::1/128",
        "Space-separated networks (CIDR) whose clients may read /metrics without a token. "
        "Behind a proxy the address is the proxy's; prefer METRICS_TOKEN there. Empty: only "
        "the token opens it.",
    )
    metrics_token: str | None = _setting(
        None,
        "A bearer token (RFC 6750 §2.1) that opens /metrics from any address, for a Prometheus "
        "server elsewhere (its `authorization` scrape setting).",
    )
    site_name: str = _setting("Porta", "Name shown on the person's pages.")
    claims_catalogue: str | None = _setting(
        None,
        "Path to a JSON claims-catalogue document (consent_spec SPEC.md §11) adding custom "
        "URI-named claims (OIDC Core §5.1.2) to the built-in OIDC Core §5.1 ones, or re-labelling "
        "standard claims and setting their sensitivity. Checked at start: an invalid file stops "
        "the provider with an error naming the problem. Served at /claims-catalogue.json.",
    )
    outbound_private_addresses: bool = _setting(
        False,
        "Let the provider fetch client-supplied URLs (jwks_uri, sector_identifier_uri) and push "
        "events to addresses on private networks. Off by default (server-side request forgery); "
        "loopback is allowed while the issuer itself is on loopback.",
    )
    outbound_deadline_seconds: int = _setting(
        10,
        "Overall deadline, in seconds, of one request to a client-supplied URL (jwks_uri, "
        "sector_identifier_uri, event push, back-channel logout, import key discovery): "
        "connecting, sending and reading together. A slower server gets the status `timeout`.",
    )
    outbound_max_concurrent: int = _setting(
        8,
        "How many requests to client-supplied URLs one process makes at once; more wait (within "
        "the deadline above), then fail as `refused: too many outbound requests`.",
    )
    event_pump_seconds: int = _setting(
        15,
        "How often each server worker pushes due consent events and back-channel logout tokens "
        "from the outbox, expires lapsed consents, rotates and retires signing keys when due "
        "and deletes one batch of finished rows; 0 turns the pump off (then run "
        "`porta events deliver`, `porta consents expire` and `porta db cleanup` from cron).",
    )
    cleanup_retention_seconds: int = _setting(
        24 * 3600,
        "How long finished rows are kept before cleanup deletes them, in seconds: expired codes "
        "and access-token records, used or expired refresh tokens (a reused refresh token is "
        "detected for this long after its rotation, RFC 9700 §4.14.2), finished or expired "
        "interactions, used client assertions, expired pending imports and sent mail. The "
        "consent ledger is never deleted.",
    )
    cleanup_batch_size: int = _setting(
        1000,
        "Most rows per table one cleanup round deletes: each pump round (EVENT_PUMP_SECONDS) "
        "runs one round; `porta db cleanup` runs rounds until nothing is left.",
    )
    argon2_time_cost: int = _setting(
        3,
        "argon2id passes. With the two settings below, the defaults are RFC 9106 §4's second "
        "recommended option (as argon2-cffi's defaults); lower them only for tests.",
    )
    argon2_memory_kib: int = _setting(65536, "argon2id memory per hash, in KiB.")
    argon2_parallelism: int = _setting(4, "argon2id lanes.")
    smtp_url: str | None = _setting(
        None,
        "The SMTP server mail leaves through: smtps://user:pass@host:465 (TLS), "
        "smtp+starttls://user:pass@host:587 (STARTTLS, RFC 3207) or smtp://host:25 (a relay on "
        "this machine). Unset: Porta sends no mail, and what needs it (importing a profile "
        "without an account here) says so.",
    )
    mail_from: str = _setting(
        "Porta <porta@localhost>", "The From address of the mail Porta sends."
    )
    import_trusted_issuers: str = _setting(
        "",
        "Space-separated issuers whose exports are trusted (consent_spec SPEC.md §12.2): the "
        "claims they verified themselves arrive as verified_claims naming them. Empty by "
        "default: every imported value is self-asserted. A bare email_verified or "
        "phone_number_verified is never imported; Porta asserts only what it verified itself.",
    )
    export_ttl: int = _setting(
        7 * 24 * 3600,
        "How long a profile export can be imported, in seconds (its expires_at, SPEC.md §12.3).",
    )
    import_link_ttl: int = _setting(
        3600,
        "How long the link that proves the email address of an import without an account "
        "stays valid, in seconds.",
    )
    dev: bool = _setting(
        False,
        "Development mode, set by `porta serve --dev` and `porta demo`: allows an http issuer on "
        "a host other than loopback. Outside it, such an issuer stops the provider, since its "
        "cookies could not be Secure (RFC 9700 §4.x, OIDC Discovery §3 requires https).",
    )
    testing: bool = _setting(
        False,
        "Flask's TESTING flag; also keeps the background event pump from starting. Tests set "
        "it through create_app({'TESTING': True}); it has no environment variable.",
        env=False,
    )

    @classmethod
    def from_environment(cls) -> Settings:
        """The settings the environment and the defaults give, read once per process.

        For code that runs without a Context: :mod:`idp.profile.accounts` takes the
        argon2 cost from here (tests lower it with ``PORTA_ARGON2_*`` variables set
        before the first hash). It skips :func:`load_settings`' checks and its
        SQLite side secret, so reading it has no effect on disk; ``secret_key`` is
        therefore only what the environment says.
        """
        return _from_environment()


def trusted_issuers(settings: Settings) -> frozenset[str]:
    """The issuers of PORTA_IMPORT_TRUSTED_ISSUERS, without trailing slashes."""
    return frozenset(i.rstrip("/") for i in settings.import_trusted_issuers.split() if i)


def env_name(item: Any) -> str:
    """The environment variable of a :class:`Settings` field."""
    return f"PORTA_{item.name.upper()}"


@cache
def _types() -> dict[str, Any]:
    return get_type_hints(Settings)


def _convert(variable: str, raw: str, kind: Any) -> Any:
    """A ``PORTA_*`` string as the field's type, or a ValueError naming the variable."""
    if kind is bool:
        word = raw.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
        raise ValueError(f"{variable} must be true or false, got {raw!r}")
    if kind is int:
        try:
            return int(raw.strip())
        except ValueError:
            raise ValueError(f"{variable} must be a whole number, got {raw!r}") from None
    return raw  # str, or str | None


def _read(overrides: dict[str, Any]) -> dict[str, Any]:
    """Each field's value from ``overrides`` (upper-case names), the environment or its default."""
    types = _types()
    values: dict[str, Any] = {}
    for item in fields(Settings):
        key = item.name.upper()
        if key in overrides:
            values[item.name] = overrides[key]
        elif item.metadata["env"] and env_name(item) in os.environ:
            values[item.name] = _convert(
                env_name(item), os.environ[env_name(item)], types[item.name]
            )
    return values


@cache
def _from_environment() -> Settings:
    return Settings(**_read({}))


def load_settings(overrides: dict[str, Any] | None = None) -> Settings:
    """Resolve every setting from ``overrides``, the environment and the defaults, and check them."""
    overrides = dict(overrides or {})
    unknown = set(overrides) - {item.name.upper() for item in fields(Settings)}
    if unknown:
        raise ValueError(f"unknown Porta setting(s): {', '.join(sorted(unknown))}")
    settings = Settings(**_read(overrides))
    settings = replace(settings, issuer=settings.issuer.rstrip("/"), testing=bool(settings.testing))
    if settings.registration not in {"open", "token", "closed"}:
        raise ValueError("PORTA_REGISTRATION must be one of open, token, closed")
    if settings.registration == "token" and not settings.registration_initial_access_token:
        raise ValueError("PORTA_REGISTRATION=token needs PORTA_REGISTRATION_INITIAL_ACCESS_TOKEN")
    _check_issuer(settings)
    if settings.id_token_signing_alg not in {"ES256", "RS256"}:
        raise ValueError("PORTA_ID_TOKEN_SIGNING_ALG must be ES256 or RS256")
    if settings.key_publish_seconds < settings.key_cache_seconds + settings.jwks_max_age:
        raise ValueError(
            "PORTA_KEY_PUBLISH_SECONDS must be at least PORTA_KEY_CACHE_SECONDS + "
            f"PORTA_JWKS_MAX_AGE ({settings.key_cache_seconds + settings.jwks_max_age}): a key "
            "must be published everywhere before it signs"
        )
    if settings.cleanup_batch_size < 1 or settings.cleanup_retention_seconds < 0:
        raise ValueError(
            "PORTA_CLEANUP_BATCH_SIZE must be at least 1 and PORTA_CLEANUP_RETENTION_SECONDS "
            "at least 0"
        )
    if settings.smtp_url:
        parse_smtp_url(settings.smtp_url)  # a ValueError naming PORTA_SMTP_URL
    if not settings.secret_key:
        settings = replace(settings, secret_key=_sqlite_side_secret(settings.database_url))
    return settings


def _check_issuer(settings: Settings) -> None:
    """An http issuer only on loopback (or in development): elsewhere cookies and tokens would
    cross the network in the clear (OIDC Discovery §3: the issuer uses the https scheme)."""
    parts = urlsplit(settings.issuer)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        raise ValueError(f"PORTA_ISSUER must be an https URL, got {settings.issuer!r}")
    if parts.scheme == "https" or settings.dev:
        return
    host = parts.hostname
    loopback = host == "localhost"
    with contextlib.suppress(ValueError):
        loopback = loopback or ipaddress.ip_address(host).is_loopback
    if not loopback:
        raise ValueError(
            f"PORTA_ISSUER must use https on a host other than loopback, got {settings.issuer!r}: "
            "set an https issuer (behind a TLS proxy), or use `porta serve --dev` for development"
        )


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
    for item in fields(Settings):
        if item.metadata["env"]:
            rows.append(f"| `{env_name(item)}` | `{item.default}` | {item.metadata['doc']} |")
    return "\n".join(rows)
