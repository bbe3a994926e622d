"""Taking the profile along: export, import and account deletion (consent_spec §12; GDPR Art. 17, 20).

Thin pages over :mod:`idp.portability`: every rule lives there.
"""

from __future__ import annotations

from datetime import timedelta
from functools import wraps
from typing import Any

from flask import (
    Blueprint,
    Response,
    jsonify,
    redirect,
    render_template,
    request,
    session,
    url_for,
)

from idp.base.clock import now
from idp.base.settings import trusted_issuers
from idp.portability import erasure, exports, imports, moving, opening
from idp.portability.common import DeletionRefusedError, ExportError, ImportRefusedError
from idp.portability.history import imported_history
from idp.profile.personas import list_personas
from idp.web.account import deliver_in_background, send_mail_in_background
from idp.web.common import NO_STORE, context, current_login, error_page, store

bp = Blueprint("portability", __name__)

IMPORT_MAX_BYTES = 8 * 1024 * 1024
"""Largest export accepted by the import page (a ledger of a few thousand records)."""


@bp.url_value_preprocessor
def _room_for_an_export(endpoint: str | None, _values: dict[str, Any] | None) -> None:
    # Runs before any before_request hook (the CSRF check reads the form): an export is
    # larger than the provider's usual request bound, so the import page allows more.
    if endpoint == "portability.import_page" and request.method == "POST":
        request.max_content_length = IMPORT_MAX_BYTES
        request.max_form_memory_size = IMPORT_MAX_BYTES


@bp.app_template_global()
def imported_history_of(user_id: str) -> list[dict[str, Any]]:
    """Imported ledgers for a page (``{% include "imported_history.html" %}`` uses it)."""
    return imported_history(store(), user_id)


def _login_required(view):
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        login = current_login()
        if login is None:
            return redirect(url_for("authorize.login", next=request.path), code=303)
        return view(login, *args, **kwargs)

    return wrapper


# -- export ------------------------------------------------------------------------------------


@bp.route("/account/export", methods=["GET", "POST"])
@_login_required
def export_download(login) -> Response | str | tuple[str, int]:
    """Everything, as one portable-profile document (SPEC.md §12): signed by this provider and,
    unless the person explicitly asks otherwise, encrypted under a passphrase they choose."""
    if request.method == "GET":
        return _export_page(login)
    encrypt = request.form.get("unencrypted") != "yes"
    passphrase = request.form.get("passphrase") or ""
    if encrypt and passphrase != (request.form.get("passphrase_again") or ""):
        return _export_page(login, "The two passphrases are not the same.", 400)
    ctx = context()
    lifetime = timedelta(seconds=ctx.settings.export_ttl)
    try:
        token = exports.sign_export(ctx, exports.export(ctx, login.user, lifetime=lifetime))
        if encrypt:
            token = exports.encrypt_export(token, passphrase)
    except ExportError as error:
        return _export_page(login, str(error), 400)
    name = f"porta-export-{now():%Y%m%d}.{'jwe' if encrypt else 'jwt'}"
    return Response(
        token,
        mimetype="application/jose" if encrypt else "application/jwt",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


@bp.route("/account/api/export", methods=["POST"])
def api_export() -> Response | tuple[Response, int]:
    """The export for programs acting for the signed-in person (``consent_export_endpoint``,
    consent_spec SPEC.md §19.7): ``{"passphrase": "…"}`` gives the encrypted form (§12.1
    form 1), ``{"encrypt": false}`` the signed JWS alone. JSON-only, like the withdrawal
    API: a cross-site form cannot send ``application/json``, so it needs no CSRF token.
    """
    login = current_login()
    if login is None:
        return _api_error("login_required", "sign in at /login first", 401)
    if request.mimetype != "application/json":
        return _api_error("invalid_request", "the body must be application/json", 415)
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _api_error("invalid_request", "the body must be a JSON object")
    passphrase = body.get("passphrase")
    if body.get("encrypt") is False and passphrase is None:
        encrypt = False
    elif isinstance(passphrase, str):
        encrypt = True
    else:
        return _api_error(
            "invalid_request",
            'send {"passphrase": "..."} for an encrypted export, or {"encrypt": false}',
        )
    ctx = context()
    lifetime = timedelta(seconds=ctx.settings.export_ttl)
    try:
        token = exports.sign_export(ctx, exports.export(ctx, login.user, lifetime=lifetime))
        if encrypt:
            token = exports.encrypt_export(token, passphrase)
    except ExportError as error:
        return _api_error("invalid_request", str(error))
    return Response(
        token, mimetype="application/jose" if encrypt else "application/jwt", headers=NO_STORE
    )


def _api_error(error: str, description: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": error, "error_description": description}), status


def _export_page(login, error: str | None = None, status: int = 200) -> tuple[str, int]:
    days = max(1, context().settings.export_ttl // 86400)
    return render_template(
        "export.html",
        user=login.user,
        error=error,
        days=days,
        min_passphrase=exports.MIN_PASSPHRASE_LENGTH,
    ), status


@bp.route("/account/imported", methods=["GET"])
@_login_required
def imported_page(login) -> str:
    """The consent history brought from other providers: kept as history, granting nothing here."""
    return render_template("imported.html", user=login.user)


# -- import ------------------------------------------------------------------------------------


def _uploaded_token() -> str:
    upload = request.files.get("export_file")
    if upload is not None and upload.filename:
        # A stray byte-order mark or non-ASCII byte is left for the JWS checks to name.
        return upload.read(IMPORT_MAX_BYTES + 1).decode("utf-8-sig", errors="replace").strip()
    return (request.form.get("export_text") or "").strip()


def _fetch_jwks(ctx) -> opening.FetchJwks:
    return lambda issuer: opening.issuer_jwks(ctx.fetch_json, issuer)


@bp.route("/account/import", methods=["GET", "POST"])
def import_page() -> str | tuple[str, int]:
    """Bring a profile exported from another Porta (or any provider of consent_spec), SPEC.md §12.3.

    Signed in, the export comes into this account. Signed out, the person proves the
    export's email address first: a single-use link is mailed to it, and the account is
    made only when that link is opened. The form is CSRF-protected and throttled.
    """
    login = current_login()
    if request.method == "GET":
        return _import_form(login)
    token = _uploaded_token()
    if not token:
        return _import_form(login, "export", "choose the export file, or paste its content")
    password = request.form.get("password") or ""
    if login is None and password != (request.form.get("password_again") or ""):
        return _import_form(login, "password", "the two passwords are not the same")
    ctx = context()
    fetch = _fetch_jwks(ctx)
    try:
        with ctx.store.unit_of_work():
            if login is None:
                imports.require_mail(ctx)
            opened = opening.open_export(token, fetch, passphrase=request.form.get("passphrase"))
            if login is not None:
                imports.import_into_account(
                    ctx, login.user, opened, fetch, merge=request.form.get("merge") == "yes"
                )
            else:
                email = imports.start_email_import(
                    ctx,
                    opened,
                    password,
                    # Links in mail are built on the issuer, never on the request's Host
                    # header, which whoever sends the request chooses.
                    link=lambda secret: (
                        ctx.issuer
                        + (
                            url_for("portability.import_confirm", token=secret)
                            if secret
                            else url_for("authorize.login", next="/account/import")
                        )
                    ),
                )
    except ImportRefusedError as error:
        return _import_form(login, error.path, error.message)
    if login is None:
        send_mail_in_background()
        return render_template("import_sent.html", email=email)
    return render_template(
        "import_done.html",
        email=login.user.email,
        personas=list_personas(ctx.store, login.user.id),
        user=login.user,
        self_asserted=not opened.signed or opened.issuer not in trusted_issuers(ctx.settings),
        issuer=opened.issuer,
    )


@bp.route("/account/import/confirm", methods=["GET", "POST"])
def import_confirm() -> str | tuple[str, int]:
    """The link mailed to the export's address: opening it (a GET) changes nothing, so mail
    scanners that follow links do no harm; the person confirms with a button (a POST)."""
    secret = (request.values.get("token") or "")[:128]
    ctx = context()
    if request.method == "GET":
        email = imports.pending_import(ctx, secret)
        if email is None:
            return error_page(
                "This link cannot be used",
                "It has expired or was already used. Import your export again to get a new one.",
                410,
            )
        return render_template("import_confirm.html", email=email, token=secret)
    try:
        with ctx.store.unit_of_work():
            user = imports.finish_email_import(ctx, secret, _fetch_jwks(ctx))
    except ImportRefusedError as error:
        return error_page("Nothing was imported", error.message, 400)
    return render_template(
        "import_done.html",
        email=user.email,
        personas=list_personas(ctx.store, user.id),
        user=user,
        self_asserted=True,
        issuer=None,
    )


def _import_form(login, field: str | None = None, error: str | None = None):
    status = 400 if error else 200
    return render_template(
        "import.html",
        login=login,
        error=error,
        field=field,
        mail=bool(context().settings.smtp_url),
    ), status


# -- telling the old sites ----------------------------------------------------------------------


@bp.route("/account/moved", methods=["GET", "POST"])
@_login_required
def moved_page(login) -> str | tuple[str, int]:
    """Tell sites the person picks that they moved to another provider (SPEC.md §12.5).

    Nothing is ticked in advance and nothing is sent unless the person picks a site;
    the result page says, site by site, whether an event was queued.
    """
    ctx = context()
    sites = [
        (client_id, (ctx.store.get_client(client_id).metadata_.get("client_name") or client_id))
        for client_id in ctx.store.relationship_client_ids(login.user.id)
        if ctx.store.get_client(client_id) is not None
    ]
    if request.method == "GET":
        return render_template("moved.html", sites=sites, error=None, told=None)
    try:
        with ctx.store.unit_of_work():
            told = moving.tell_sites(
                ctx, login.user, request.form.getlist("site"), request.form.get("new_issuer") or ""
            )
    except moving.MoveNoticeError as error:
        return render_template("moved.html", sites=sites, error=str(error), told=None), 400
    if any(item.queued for item in told):
        deliver_in_background()
    return render_template("moved.html", sites=sites, error=None, told=told)


# -- deletion ----------------------------------------------------------------------------------


@bp.route("/account/delete", methods=["GET", "POST"])
@_login_required
def delete_page(login) -> str | tuple[str, int]:
    """Delete the account (GDPR Art. 17) after the person confirms with their password."""
    if request.method == "GET":
        return render_template("delete.html", user=login.user, error=None)
    if request.form.get("confirm") != "yes":
        return render_template(
            "delete.html", user=login.user, error="tick the box to confirm the deletion"
        ), 400
    ctx = context()
    try:
        with ctx.store.unit_of_work():
            told = erasure.delete_account(ctx, login.user, request.form.get("password") or "")
    except DeletionRefusedError as error:
        return render_template("delete.html", user=login.user, error=str(error)), 400
    session.clear()
    deliver_in_background()
    return render_template("delete_done.html", told=len(told))
