"""op.toml: how to reach the provider under test, and as whom.

::

    issuer = "https://op.example"          # required; discovery is fetched from it

    [client]                               # optional if the OP offers dynamic registration
    client_id = "rp"
    client_secret = "s3cret"
    redirect_uri = "http://127.0.0.1:8765/cb"   # nothing needs to listen there
    token_endpoint_auth_method = "client_secret_basic"   # or client_secret_post
    post_logout_redirect_uri = "http://127.0.0.1:8765/bye"  # optional, for the logout plan

    [public_client]                        # optional; token_endpoint_auth_method "none"
    client_id = "native"
    redirect_uri = "http://127.0.0.1:8765/native"

    [user]                                 # required: an account that can log in
    username = "alice@example.com"
    password = "…"

    [login]                                # optional
    driver = "form"                        # "form" (HTTP + HTML forms) or "browser" (Chromium)
    username_field = "email"               # input names, auto-detected when absent
    password_field = "password"
    approve_button = "decision=approve"    # name=value of the consent submit button
    chromium = "/usr/bin/chromium"         # browser driver only

    [timing]                               # optional
    code_lifetime_s = 60                   # enables the expired-code test (waits this long)
    event_wait_s = 15                      # how long to wait for a pushed consent event (SET)
    access_token_lifetime_s = 600          # enables rfc6750-userinfo-expired-token (waits this long)
    code_reuse_wait_s = 30                 # oidcc-codereuse-30seconds waits this long
    throttle_wait_s = 60                   # total pause allowed for 429 / Retry-After per test

    [provider]                             # optional: what the provider claims to follow
    conforms_to = ["rfc9700"]              # makes RFC 9700's stricter rules MUSTs
    rotates_refresh_tokens = true          # every client's refresh token is rotated
    introspection_shared = ["access_token"]  # token types any authenticated client may introspect

A client section that is absent is registered dynamically (RFC 7591) when the provider
advertises a registration_endpoint; tests that need it are skipped otherwise.
Every error names the offending key, e.g. ``client.redirect_uri: missing``.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


class ConfigError(ValueError):
    """op.toml is unreadable or a key is missing, unknown or of the wrong type."""


@dataclass(frozen=True)
class ClientConfig:
    """A client registered at the provider for the tests."""

    client_id: str
    redirect_uri: str
    client_secret: str | None = None
    token_endpoint_auth_method: str = "client_secret_basic"
    post_logout_redirect_uri: str | None = None

    @property
    def is_public(self) -> bool:
        """True for a public client (no secret, auth method ``none``)."""
        return self.token_endpoint_auth_method == "none"


@dataclass(frozen=True)
class LoginConfig:
    """How the login and consent pages are driven."""

    driver: str = "form"
    username_field: str | None = None
    password_field: str | None = None
    approve_button: str | None = None
    chromium: str = "/usr/bin/chromium"


@dataclass(frozen=True)
class OPConfig:
    """The whole op.toml."""

    issuer: str
    username: str
    password: str
    client: ClientConfig | None = None
    public_client: ClientConfig | None = None
    login: LoginConfig = field(default_factory=LoginConfig)
    code_lifetime_s: float | None = None
    event_wait_s: float = 15.0
    http_timeout_s: float = 15.0
    code_reuse_wait_s: float = 30.0
    throttle_wait_s: float = 60.0
    access_token_lifetime_s: float | None = None
    conforms_to: frozenset[str] = frozenset()
    rotates_refresh_tokens: bool = False
    introspection_shared: frozenset[str] = frozenset()
    """Token types the provider's documented policy lets any authenticated client introspect
    (e.g. access tokens, for resource servers that are clients); others stay private to the
    client they were issued to (RFC 7662 §4)."""

    def claims(self, profile: str) -> bool:
        """True when op.toml says the provider conforms to ``profile`` (e.g. "rfc9700")."""
        return profile.lower() in self.conforms_to


_TOP = {"issuer", "client", "public_client", "user", "login", "timing", "provider", "http_timeout_s"}
_CLIENT = {"client_id", "client_secret", "redirect_uri", "token_endpoint_auth_method",
           "post_logout_redirect_uri"}
_PUBLIC = {"client_id", "redirect_uri", "post_logout_redirect_uri"}
_USER = {"username", "password"}
_LOGIN = {"driver", "username_field", "password_field", "approve_button", "chromium"}
_TIMING = {"code_lifetime_s", "event_wait_s", "code_reuse_wait_s", "throttle_wait_s", "access_token_lifetime_s"}
_PROVIDER = {"conforms_to", "rotates_refresh_tokens", "introspection_shared"}
TOKEN_TYPES = {"access_token", "refresh_token"}
"""Values ``provider.introspection_shared`` understands."""
PROFILES = {"rfc9700"}
"""Values ``provider.conforms_to`` understands."""
_AUTH_METHODS = {"client_secret_basic", "client_secret_post"}


def load(path: str | Path) -> OPConfig:
    """Read and check op.toml; raise ConfigError naming the bad key."""
    try:
        with open(path, "rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML ({exc})") from exc
    return parse(data)


def parse(data: dict[str, Any]) -> OPConfig:
    """Check a decoded op.toml mapping and build an OPConfig."""
    _no_unknown(data, _TOP, "")
    issuer = _url(data, "issuer", "", required=True)
    user = _table(data, "user", required=True)
    _no_unknown(user, _USER, "user.")
    client = public = None
    if "client" in data:
        table = _table(data, "client")
        _no_unknown(table, _CLIENT, "client.")
        method = _str(table, "token_endpoint_auth_method", "client.") or "client_secret_basic"
        if method not in _AUTH_METHODS:
            raise ConfigError(
                f"client.token_endpoint_auth_method: {method!r} is not one of "
                f"{sorted(_AUTH_METHODS)}"
            )
        client = ClientConfig(
            client_id=_str(table, "client_id", "client.", required=True),
            client_secret=_str(table, "client_secret", "client.", required=True),
            redirect_uri=_url(table, "redirect_uri", "client.", required=True),
            token_endpoint_auth_method=method,
            post_logout_redirect_uri=_url(table, "post_logout_redirect_uri", "client."),
        )
    if "public_client" in data:
        table = _table(data, "public_client")
        _no_unknown(table, _PUBLIC, "public_client.")
        public = ClientConfig(
            client_id=_str(table, "client_id", "public_client.", required=True),
            redirect_uri=_url(table, "redirect_uri", "public_client.", required=True),
            token_endpoint_auth_method="none",
            post_logout_redirect_uri=_url(table, "post_logout_redirect_uri", "public_client."),
        )
    login_table = _table(data, "login") if "login" in data else {}
    _no_unknown(login_table, _LOGIN, "login.")
    driver = _str(login_table, "driver", "login.") or "form"
    if driver not in {"form", "browser"}:
        raise ConfigError(f"login.driver: {driver!r} is not 'form' or 'browser'")
    approve = _str(login_table, "approve_button", "login.")
    if approve is not None and "=" not in approve:
        raise ConfigError("login.approve_button: expected name=value")
    login = LoginConfig(
        driver=driver,
        username_field=_str(login_table, "username_field", "login."),
        password_field=_str(login_table, "password_field", "login."),
        approve_button=approve,
        chromium=_str(login_table, "chromium", "login.") or LoginConfig.chromium,
    )
    timing = _table(data, "timing") if "timing" in data else {}
    _no_unknown(timing, _TIMING, "timing.")
    lifetime = timing.get("code_lifetime_s")
    if lifetime is not None and (not isinstance(lifetime, int | float) or lifetime <= 0):
        raise ConfigError("timing.code_lifetime_s: expected a positive number of seconds")
    access_lifetime = timing.get("access_token_lifetime_s")
    if access_lifetime is not None and (not isinstance(access_lifetime, int | float) or access_lifetime <= 0):
        raise ConfigError("timing.access_token_lifetime_s: expected a positive number of seconds")
    event_wait = timing.get("event_wait_s", 15.0)
    if not isinstance(event_wait, int | float) or event_wait <= 0:
        raise ConfigError("timing.event_wait_s: expected a positive number of seconds")
    waits = {}
    for key, default in (("code_reuse_wait_s", 30.0), ("throttle_wait_s", 60.0)):
        value = timing.get(key, default)
        if not isinstance(value, int | float) or isinstance(value, bool) or value < 0:
            raise ConfigError(f"timing.{key}: expected a number of seconds >= 0")
        waits[key] = float(value)
    provider = _table(data, "provider") if "provider" in data else {}
    _no_unknown(provider, _PROVIDER, "provider.")
    conforms = provider.get("conforms_to", [])
    if not isinstance(conforms, list) or not all(isinstance(p, str) for p in conforms):
        raise ConfigError("provider.conforms_to: expected a list of strings")
    unknown = sorted({p.lower() for p in conforms} - PROFILES)
    if unknown:
        raise ConfigError(f"provider.conforms_to: unknown {unknown} (known: {sorted(PROFILES)})")
    rotates = provider.get("rotates_refresh_tokens", False)
    if not isinstance(rotates, bool):
        raise ConfigError("provider.rotates_refresh_tokens: expected true or false")
    shared = provider.get("introspection_shared", [])
    if not isinstance(shared, list) or not all(isinstance(t, str) for t in shared):
        raise ConfigError("provider.introspection_shared: expected a list of token types")
    if set(shared) - TOKEN_TYPES:
        raise ConfigError(f"provider.introspection_shared: unknown {sorted(set(shared) - TOKEN_TYPES)} "
                          f"(known: {sorted(TOKEN_TYPES)})")
    http_timeout = data.get("http_timeout_s", 15.0)
    if not isinstance(http_timeout, int | float) or http_timeout <= 0:
        raise ConfigError("http_timeout_s: expected a positive number of seconds")
    return OPConfig(
        issuer=issuer,
        username=_str(user, "username", "user.", required=True),
        password=_str(user, "password", "user.", required=True),
        client=client,
        public_client=public,
        login=login,
        code_lifetime_s=float(lifetime) if lifetime is not None else None,
        event_wait_s=float(event_wait),
        http_timeout_s=float(http_timeout),
        code_reuse_wait_s=waits["code_reuse_wait_s"],
        throttle_wait_s=waits["throttle_wait_s"],
        conforms_to=frozenset(p.lower() for p in conforms),
        rotates_refresh_tokens=rotates,
        introspection_shared=frozenset(shared),
        access_token_lifetime_s=float(access_lifetime) if access_lifetime is not None else None,
    )


def _no_unknown(table: dict[str, Any], allowed: set[str], prefix: str) -> None:
    for key in table:
        if key not in allowed:
            raise ConfigError(f"{prefix}{key}: unknown key (expected one of {sorted(allowed)})")


def _table(data: dict[str, Any], key: str, required: bool = False) -> dict[str, Any]:
    if key not in data:
        if required:
            raise ConfigError(f"{key}: missing table [{key}]")
        return {}
    value = data[key]
    if not isinstance(value, dict):
        raise ConfigError(f"{key}: expected a table [{key}]")
    return value


def _str(table: dict[str, Any], key: str, prefix: str, required: bool = False) -> Any:
    if key not in table:
        if required:
            raise ConfigError(f"{prefix}{key}: missing")
        return None
    value = table[key]
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{prefix}{key}: expected a non-empty string")
    return value


def _url(table: dict[str, Any], key: str, prefix: str, required: bool = False) -> Any:
    value = _str(table, key, prefix, required)
    if value is None:
        return None
    parts = urlsplit(value)
    if parts.scheme not in {"http", "https"} or not parts.netloc:
        raise ConfigError(f"{prefix}{key}: {value!r} is not an absolute http(s) URL")
    return value
