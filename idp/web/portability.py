"""Taking the profile along: export, import and account deletion (consent_spec §12; GDPR Art. 17, 20).

Thin pages over :mod:`idp.portability.transfer`: every rule lives there.
"""

from __future__ import annotations

from functools import wraps
from typing import Any

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from idp.base.clock import now
from idp.portability import transfer as portability
from idp.profile.personas import list_personas
from idp.web.account import deliver_in_background
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
    return portability.imported_history(store(), user_id)


def _login_required(view):
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any):
        login = current_login()
        if login is None:
            return redirect(url_for("authorize.login", next=request.path), code=303)
        return view(login, *args, **kwargs)

    return wrapper


# -- export ------------------------------------------------------------------------------------


@bp.route("/account/export", methods=["GET"])
@_login_required
def export_download(login) -> Response | tuple[str, int]:
    """Everything, as one signed portable-profile document (SPEC.md §12), for the person only."""
    ctx = context()
    try:
        token = portability.sign_export(ctx, portability.export(ctx, login.user))
    except portability.ExportError as error:
        return error_page("Your export could not be made", str(error), 409)
    name = f"porta-export-{now():%Y%m%d}.jwt"
    return Response(
        token,
        mimetype="application/jwt",
        headers={"Content-Disposition": f'attachment; filename="{name}"', **NO_STORE},
    )


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


@bp.route("/account/import", methods=["GET", "POST"])
def import_page() -> str | tuple[str, int]:
    """Bring a profile exported from another Porta (or any provider of consent_spec).

    Open without signing in: the person has no account here yet. The form is
    CSRF-protected; the export is verified against its issuer's keys before
    anything is created, and a refused export leaves nothing behind.
    """
    if request.method == "GET":
        return render_template("import.html", error=None, field=None)
    token = _uploaded_token()
    password = request.form.get("password") or ""
    if not token:
        return _import_error("export", "choose the export file, or paste its content")
    if password != (request.form.get("password_again") or ""):
        return _import_error("password", "the two passwords are not the same")
    ctx = context()
    try:
        with ctx.store.unit_of_work():
            user = portability.import_export(ctx, token, password=password)
    except portability.ImportRefusedError as error:
        return _import_error(error.path, error.message)
    return render_template(
        "import_done.html",
        email=user.email,
        personas=list_personas(ctx.store, user.id),
        user=user,
    )


def _import_error(field: str, message: str) -> tuple[str, int]:
    return render_template("import.html", error=message, field=field), 400


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
            told = portability.delete_account(ctx, login.user, request.form.get("password") or "")
    except portability.DeletionRefusedError as error:
        return render_template("delete.html", user=login.user, error=str(error)), 400
    session.clear()
    deliver_in_background()
    return render_template("delete_done.html", told=len(told))
