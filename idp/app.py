"""The application factory: assembles configuration, storage, keys and blueprints. Nothing else."""

from __future__ import annotations

import logging
import threading
import time
from datetime import timedelta
from typing import Any

from flask import Flask, Response, g, render_template, request
from flask_limiter import Limiter
from flask_limiter.util import get_remote_address
from flask_wtf.csrf import CSRFError, CSRFProtect
from werkzeug.exceptions import HTTPException

from idp.base import audit, metrics
from idp.base.context import Context
from idp.base.errors import InvalidRequestError, OAuthError, RequestTooLargeError, ServerError
from idp.base.outbound import OutboundClient
from idp.base.settings import Settings, load_settings
from idp.consent.decisions import expire_due
from idp.consent.events import deliver_due
from idp.keys import KeyRing, ensure_keys, maintain_keys
from idp.profile import mail
from idp.profile.catalogue import Catalogue, load_catalogue
from idp.protocol.discovery import provider_metadata
from idp.storage import Store
from idp.storage.db import head_revision, is_up_to_date, make_engine, make_sessionmaker, upgrade
from idp.web import (
    account,
    authorize,
    discovery,
    labels,
    operations,
    pages,
    portability,
    profile,
    receipts,
    registration,
    token,
    userinfo,
)
from idp.web.common import oauth_error_response, session_cookie_name

# Machine-to-machine endpoints: they answer JSON and are not protected by CSRF tokens
# (they authenticate clients, or carry no cookies).
API_BLUEPRINTS = ("discovery", "token", "userinfo", "receipts", "registration", "operations")
HSTS = "max-age=31536000"
PAGE_CSP = (
    "default-src 'self'; img-src 'self' data: https:; style-src 'self'; script-src 'self'; "
    "frame-ancestors 'none'; base-uri 'none'; object-src 'none'"
)


def create_app(config: dict[str, Any] | None = None, *, auto_upgrade: bool = False) -> Flask:
    """Build a Porta application.

    ``config`` overrides settings documented in :mod:`idp.base.settings`. With
    ``auto_upgrade`` the database is migrated to the newest schema first
    (``porta serve`` does this for SQLite); otherwise an outdated database is
    an error that names the command to run.
    """
    settings = load_settings(config)
    app = Flask(__name__)
    secure = settings.issuer.startswith("https://")
    app.config.update(
        SECRET_KEY=settings.secret_key,
        TESTING=settings.testing,
        MAX_CONTENT_LENGTH=settings.max_request_bytes,
        # RFC 6265bis §4.1.3.2: a __Host- cookie is Secure, host-only and Path=/, so no
        # sibling host or plain-http page can set or shadow it; it needs https. The name
        # also derives from the issuer, so two instances on one host do not collide.
        SESSION_COOKIE_NAME=("__Host-" if secure else "") + session_cookie_name(settings.issuer),
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=secure,
        PERMANENT_SESSION_LIFETIME=timedelta(seconds=settings.session_ttl),
        WTF_CSRF_TIME_LIMIT=settings.interaction_ttl,
        WTF_CSRF_SSL_STRICT=secure,
        RATELIMIT_STORAGE_URI=settings.ratelimit_storage_uri,
        RATELIMIT_HEADERS_ENABLED=True,
    )

    engine = make_engine(settings.database_url)
    if auto_upgrade:
        upgrade(engine)
    elif not is_up_to_date(engine):
        raise RuntimeError(
            "the database schema is not up to date: run `porta db upgrade` "
            f"(database {engine.url.render_as_string(hide_password=True)})"
        )
    sessions = make_sessionmaker(engine)
    startup = Store(sessions())
    try:
        with startup.unit_of_work():
            ensure_keys(startup, settings.secret_key)  # first start: generate the signing keys
    finally:
        startup.close()
    keys = KeyRing(lambda: Store(sessions()), settings.secret_key, settings.key_cache_seconds)
    # OIDC Core §5.1 claims plus the operator's (consent_spec SPEC.md §11)
    catalogue = load_catalogue(settings.claims_catalogue)
    metadata = provider_metadata(settings)  # built once: it depends on settings only
    metadata["claims_supported"] = sorted(
        set(metadata["claims_supported"]) | {claim.name for claim in catalogue}
    )
    outbound = OutboundClient(settings)  # every request to a client-supplied URL
    app.extensions["porta"] = {
        "discovery": metadata,
        "fetch_json": outbound.fetch_json,
        "outbound": outbound,
        "settings": settings,
        "engine": engine,
        "sessionmaker": sessions,
        "keys": keys,
        "catalogue": catalogue,
        "schema_head": head_revision(),  # /readyz compares the database with it
    }

    for blueprint in (
        operations.bp,
        discovery.bp,
        token.bp,
        userinfo.bp,
        receipts.bp,
        registration.bp,
        authorize.bp,
        pages.bp,
        account.bp,
        profile.bp,
        portability.bp,
    ):
        app.register_blueprint(blueprint)

    csrf = CSRFProtect(app)
    for name in API_BLUEPRINTS:
        csrf.exempt(app.blueprints[name])
    # Authorization and logout requests come from relying parties (GET or POST, OIDC Core
    # §3.1.2.1, RP-Initiated Logout §2): they carry no CSRF token; the forms they lead to do.
    csrf.exempt(authorize.authorization_endpoint)
    csrf.exempt(pages.end_session_endpoint)
    # JSON-only (see its docstring): cross-site forms cannot produce application/json.
    csrf.exempt(account.api_withdrawal_document)
    csrf.exempt(portability.api_export)

    limiter = Limiter(get_remote_address, app=app, default_limits=[])
    app.extensions["porta"]["limiter"] = limiter
    # Login and import both hash a password (and import fetches another provider's keys):
    # the same throttle guards both against brute force and abuse.
    for endpoint in ("authorize.login_submit", "portability.import_page"):
        app.view_functions[endpoint] = limiter.limit(settings.login_rate_limit, methods=["POST"])(
            app.view_functions[endpoint]
        )

    app.add_template_filter(labels.claim_label, "claim_label")
    app.add_template_filter(labels.purpose_label, "purpose_label")
    app.add_template_filter(labels.retention_text, "retention_text")
    _install_handlers(app)
    if not settings.testing and settings.event_pump_seconds > 0:
        start_pump(sessions, keys, settings, catalogue)
    return app


def start_pump(
    sessions: Any, keys: KeyRing, settings: Settings, catalogue: Catalogue
) -> threading.Thread:
    """A daemon thread per worker: push due events, send due mail, expire lapsed consents,
    rotate and retire signing keys when due, delete one bounded batch of finished rows."""
    outbound = OutboundClient(settings)

    def open_store() -> Store:
        return Store(sessions())

    def loop() -> None:
        while True:
            time.sleep(settings.event_pump_seconds)
            try:
                deliver_due(open_store, outbound)
                if settings.smtp_url:
                    mail.deliver_due(open_store, settings.smtp_url, settings.mail_from)
                store = open_store()
                try:
                    with store.unit_of_work():
                        expire_due(
                            Context(settings, store, keys, outbound.fetch_json, catalogue)
                        )
                    with store.unit_of_work():
                        maintain_keys(store, settings.secret_key, settings)
                    store.purge_batch(
                        settings.cleanup_retention_seconds, settings.cleanup_batch_size
                    )
                finally:
                    store.close()
            except Exception:
                logging.getLogger("porta.pump").exception("event pump round failed")

    thread = threading.Thread(target=loop, name="porta-pump", daemon=True)
    thread.start()
    return thread


def _is_api_request() -> bool:
    endpoint = request.endpoint or ""
    return endpoint.split(".")[0] in API_BLUEPRINTS or (
        request.endpoint is None
        and request.path.startswith(("/token", "/userinfo", "/register", "/revoke", "/introspect"))
    )


def _install_handlers(app: Flask) -> None:
    hsts = app.config["SESSION_COOKIE_SECURE"]  # an https issuer

    @app.teardown_appcontext
    def _close_store(_exc: BaseException | None) -> None:
        store = g.pop("porta_store", None)
        if store is not None:
            store.rollback()
            store.close()

    def _request_id() -> None:
        g.porta_request_id = audit.request_id_for(request.headers.get(audit.REQUEST_ID_HEADER))
        audit.bind_request_id(g.porta_request_id)

    # First of all hooks, so that a request the rate limiter stops has its id too.
    app.before_request_funcs.setdefault(None, []).insert(0, _request_id)

    @app.teardown_request
    def _end_request_id(_exc: BaseException | None) -> None:
        audit.bind_request_id(None)

    @app.after_request
    def _send_request_id(response: Response) -> Response:
        rid = g.get("porta_request_id") or audit.request_id_for(None)
        response.headers[audit.REQUEST_ID_HEADER] = rid
        return response

    @app.before_request
    def _start_clock() -> None:
        g.porta_started = time.perf_counter()

    @app.after_request
    def _count_request(response: Response) -> Response:
        endpoint = request.endpoint or "unmatched"  # bounded label values: no raw paths
        metrics.REQUESTS.labels(endpoint, request.method, str(response.status_code)).inc()
        started = g.get("porta_started")
        if started is not None:
            metrics.LATENCY.labels(endpoint).observe(time.perf_counter() - started)
        return response

    @app.after_request
    def _security_headers(response: Response) -> Response:
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        # Clickjacking defence on every page (RFC 9700 §4.16, OIDC Core §3.1.2.6 notes).
        response.headers.setdefault("X-Frame-Options", "DENY")
        response.headers.setdefault("Content-Security-Policy", PAGE_CSP)
        if response.mimetype == "text/html":
            response.headers.setdefault("Cache-Control", "no-store")
        if hsts:  # RFC 6797 §7.1: browsers remember to use https only, for a year
            response.headers.setdefault("Strict-Transport-Security", HSTS)
        return response

    @app.errorhandler(CSRFError)
    def _csrf_error(error: CSRFError) -> tuple[str, int]:
        return render_template(
            "error.html",
            title="This form has expired",
            message="The form was missing its security token or it had expired. Go back, reload the page and try again.",
        ), 400

    @app.errorhandler(429)
    def _too_many(error: HTTPException) -> tuple[str, int]:
        metrics.THROTTLED.labels(request.endpoint or "unmatched").inc()
        return render_template(
            "error.html",
            title="Too many attempts",
            message="Too many sign-in attempts from your address. Wait a minute and try again.",
        ), 429

    @app.errorhandler(HTTPException)
    def _http_error(error: HTTPException) -> Response | tuple[str, int]:
        api = _is_api_request() or request.path.startswith("/.well-known")
        if error.code == 413 and api:
            return oauth_error_response(RequestTooLargeError())
        if api:
            return oauth_error_response(
                InvalidRequestError(error.description or error.name, status_code=error.code or 400)
            )
        return render_template(
            "error.html", title=error.name, message=error.description
        ), error.code or 500

    @app.errorhandler(OAuthError)
    def _oauth_error(error: OAuthError) -> Response:
        return oauth_error_response(error)

    @app.errorhandler(Exception)
    def _unexpected(error: Exception) -> Response | tuple[str, int]:
        app.logger.exception("unhandled error on %s %s", request.method, request.path)
        if _is_api_request():
            return oauth_error_response(ServerError("the provider hit an internal error"))
        return render_template(
            "error.html",
            title="Something went wrong",
            message="The provider hit an internal error.",
        ), 500
