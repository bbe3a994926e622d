"""The person's dashboard (/account) and its JSON API (/account/api), described by
idp/schemas/account-api.openapi.json.

Every change goes through idp.consent.decisions and is committed before the
person is told it happened; relying parties are then notified in the
background from the durable outbox.
"""

from __future__ import annotations

import json
import threading
from functools import wraps
from importlib import resources
from typing import Any

from flask import (
    Blueprint,
    Response,
    current_app,
    flash,
    jsonify,
    redirect,
    render_template,
    request,
    url_for,
)
from flask_wtf.csrf import CSRFError, generate_csrf

import consent_spec
from idp.base.clock import now
from idp.consent import decisions, events, requester
from idp.consent import relationships as views
from idp.profile import mail
from idp.profile.personas import list_personas
from idp.storage import Store
from idp.web.common import context, current_login, error_page, store
from idp.web.labels import claim_label

bp = Blueprint("account", __name__)


def deliver_in_background() -> None:
    """Push due events now, off the request thread (the outbox retries whatever fails)."""
    sessions = current_app.extensions["porta"]["sessionmaker"]
    thread = threading.Thread(
        target=events.deliver_due,
        args=(lambda: Store(sessions()), current_app.extensions["porta"]["outbound"]),
        name="porta-event-push",
        daemon=True,
    )
    thread.start()
    current_app.extensions["porta"].setdefault("push_threads", []).append(thread)


def send_mail_in_background() -> None:
    """Send due mail now, off the request thread (the mail outbox retries whatever fails)."""
    porta = current_app.extensions["porta"]
    settings = porta["settings"]
    if not settings.smtp_url:
        return
    sessions = porta["sessionmaker"]
    thread = threading.Thread(
        target=mail.deliver_due,
        args=(lambda: Store(sessions()), settings.smtp_url, settings.mail_from),
        name="porta-mail",
        daemon=True,
    )
    thread.start()
    porta.setdefault("push_threads", []).append(thread)


def _login_or_redirect(api: bool):
    def decorator(view):
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any):
            login = current_login()
            if login is None:
                if api:
                    response = jsonify(
                        {"error": "login_required", "error_description": "sign in at /login first"}
                    )
                    response.status_code = 401
                    return response
                return redirect(url_for("authorize.login", next=request.path), code=303)
            return view(login, *args, **kwargs)

        return wrapper

    return decorator


@bp.errorhandler(CSRFError)
def csrf_refused(error: CSRFError) -> Response | tuple[str, int]:
    """A POST without a valid CSRF token: the API answers JSON (its Error schema), pages a page."""
    if request.path.startswith("/account/api/"):
        response = jsonify(
            {
                "error": "invalid_request",
                "error_description": "missing or invalid X-CSRFToken header: "
                "take csrf_token from /account/api/session",
            }
        )
        response.status_code = 400
        return response
    return error_page(
        "This form has expired",
        "The form was missing its security token or it had expired. "
        "Go back, reload the page and try again.",
    )


# -- pages ---------------------------------------------------------------------------------


@bp.route("/account", methods=["GET"])
@_login_or_redirect(api=False)
def dashboard(login) -> str:
    """Every relationship in one place."""
    return render_template(
        "account.html", user=login.user, relationships=views.relationships(context(), login.user.id)
    )


@bp.route("/account/relationships/<client_id>", methods=["GET"])
@_login_or_redirect(api=False)
def relationship_page(login, client_id: str) -> str | tuple[str, int]:
    """One relationship: what is shared and why, the disclosure log, receipts, deliveries."""
    data = views.relationship(context(), login.user.id, client_id, full=True)
    if data is None:
        return error_page(
            "No such relationship", "You have not shared anything with this site.", 404
        )
    client = store().get_client(client_id)
    return render_template(
        "relationship.html",
        user=login.user,
        rel=data,
        personas=list_personas(store(), login.user.id),
        who=requester.describe(context(), client) if client is not None else None,
    )


def _change(login, client_id: str, action: str, claims: list[str]) -> tuple[bool, str]:
    ctx = context()
    client = ctx.store.get_client(client_id)
    if client is None:
        return False, "This site is no longer registered."
    try:
        with ctx.store.unit_of_work():
            if action == "withdraw":
                decisions.withdraw(ctx, login.user, client)
            else:
                decisions.narrow(ctx, login.user, client, claims)
    except decisions.ConsentError as error:
        return False, str(error)
    deliver_in_background()
    # Built from what happened, never from the URL: the site is said to be told only
    # when a notice was queued for it (DESIGN §4, true status).
    if action == "withdraw":
        done = "Consent withdrawn: the site's tokens are revoked"
    else:
        done = f"Stopped sharing {', '.join(claim_label(c) for c in claims)} with this site"
    if client.metadata_.get(events.ENDPOINT_METADATA):
        done += "; a notice to the site is queued, and its delivery is listed below."
    else:
        done += "; this site registered no address for notices, so it was not told."
    return True, done


@bp.route("/account/relationships/<client_id>/withdraw", methods=["POST"])
@_login_or_redirect(api=False)
def withdraw_page(login, client_id: str) -> Response | tuple[str, int]:
    """Withdraw consent (CSRF-protected form)."""
    ok, message = _change(login, client_id, "withdraw", [])
    if not ok:
        return error_page("Nothing was changed", message, 400)
    flash(message, "done")
    return redirect(url_for("account.relationship_page", client_id=client_id), code=303)


@bp.route("/account/relationships/<client_id>/narrow", methods=["POST"])
@_login_or_redirect(api=False)
def narrow_page(login, client_id: str) -> Response | tuple[str, int]:
    """Stop sharing the claims whose boxes the person unticked (CSRF-protected form)."""
    data = views.relationship(context(), login.user.id, client_id)
    if data is None:
        return error_page(
            "No such relationship", "You have not shared anything with this site.", 404
        )
    keep = set(request.form.getlist("keep"))
    remove = [item["claim"] for item in data["shared"] if item["claim"] not in keep]
    ok, message = _change(login, client_id, "narrow", remove)
    if not ok:
        return error_page("Nothing was changed", message, 400)
    flash(message, "done")
    return redirect(url_for("account.relationship_page", client_id=client_id), code=303)


@bp.route("/account/relationships/<client_id>/persona", methods=["POST"])
@_login_or_redirect(api=False)
def persona_page(login, client_id: str) -> Response | tuple[str, int]:
    """Switch the persona this site receives (CSRF-protected form; a renewed record says so)."""
    ctx = context()
    client = ctx.store.get_client(client_id)
    if client is None:
        return error_page("Nothing was changed", "This site is no longer registered.", 400)
    try:
        with ctx.store.unit_of_work():
            decisions.switch_persona(ctx, login.user, client, request.form.get("persona") or None)
    except decisions.ConsentError as error:
        return error_page("Nothing was changed", str(error), 400)
    # A persona switch queues no notice: the banner says only what changed.
    flash("From now on this site receives the values of the persona you picked.", "done")
    return redirect(url_for("account.relationship_page", client_id=client_id), code=303)


@bp.route("/account/receipts/<record_id>", methods=["GET"])
@_login_or_redirect(api=False)
def receipt_download(login, record_id: str) -> Response | tuple[str, int]:
    """Download a consent receipt (a JWT) of the person's own ledger."""
    record = views.own_record(context(), login.user.id, record_id)
    if record is None:
        return error_page("No such receipt", "This receipt is not in your ledger.", 404)
    return Response(
        record.receipt,
        mimetype="application/jwt",
        headers={"Content-Disposition": f'attachment; filename="consent-receipt-{record_id}.jwt"'},
    )


# -- JSON API ------------------------------------------------------------------------------


@bp.route("/account/api/session", methods=["GET"])
@_login_or_redirect(api=True)
def api_session(login) -> Response:
    """Who is logged in, and the CSRF token the API's POSTs must carry (X-CSRFToken)."""
    return jsonify({"email": login.user.email, "csrf_token": generate_csrf()})


@bp.route("/account/api/relationships", methods=["GET"])
@_login_or_redirect(api=True)
def api_relationships(login) -> Response:
    """Every relationship."""
    return jsonify({"relationships": views.relationships(context(), login.user.id)})


@bp.route("/account/api/relationships/<client_id>", methods=["GET"])
@_login_or_redirect(api=True)
def api_relationship(login, client_id: str) -> Response | tuple[Response, int]:
    """One relationship with its disclosure log and event deliveries."""
    data = views.relationship(context(), login.user.id, client_id, full=True)
    if data is None:
        return jsonify(
            {"error": "not_found", "error_description": "no relationship with this client"}
        ), 404
    return jsonify(data)


@bp.route("/account/api/receipts/<record_id>", methods=["GET"])
@_login_or_redirect(api=True)
def api_receipt(login, record_id: str) -> Response | tuple[Response, int]:
    """One receipt and its record."""
    record = views.own_record(context(), login.user.id, record_id)
    if record is None:
        return jsonify(
            {"error": "not_found", "error_description": "no such receipt in your ledger"}
        ), 404
    return jsonify(
        {"record_id": record.record_id, "receipt": record.receipt, "record": record.document}
    )


def _api_change(login, client_id: str, action: str) -> Response | tuple[Response, int]:
    body = request.get_json(silent=True) if request.is_json else None
    claims: list[str] = []
    if action == "narrow":
        if (
            not isinstance(body, dict)
            or not isinstance(body.get("claims"), list)
            or not all(isinstance(c, str) for c in body["claims"])
        ):
            return jsonify(
                {"error": "invalid_request", "error_description": 'send {"claims": ["…"]}'}
            ), 400
        claims = body["claims"]
    ok, message = _change(login, client_id, action, claims)
    if not ok:
        return jsonify({"error": "invalid_request", "error_description": message}), 400
    return jsonify(views.relationship(context(), login.user.id, client_id, full=True))


@bp.route("/account/api/relationships/<client_id>/withdraw", methods=["POST"])
@_login_or_redirect(api=True)
def api_withdraw(login, client_id: str) -> Response | tuple[Response, int]:
    """Withdraw consent."""
    return _api_change(login, client_id, "withdraw")


@bp.route("/account/api/relationships/<client_id>/narrow", methods=["POST"])
@_login_or_redirect(api=True)
def api_narrow(login, client_id: str) -> Response | tuple[Response, int]:
    """Stop sharing some claims: body {"claims": [...]}."""
    return _api_change(login, client_id, "narrow")


@bp.route("/account/api/openapi.json", methods=["GET"])
def openapi() -> Response:
    """The OpenAPI 3.1 description of this API."""
    document = json.loads(
        resources.files("idp").joinpath("schemas/account-api.openapi.json").read_text()
    )
    document["servers"] = [{"url": current_app.extensions["porta"]["settings"].issuer}]
    return jsonify(document)


@bp.route("/account/api/withdrawals", methods=["POST"])
@_login_or_redirect(api=True)
def api_withdrawal_document(login) -> Response | tuple[Response, int]:
    """Accept a consent_spec ``withdrawal`` document from the person (SPEC.md §9).

    The body must be ``application/json``: a cross-site HTML form cannot send
    that type and no CORS is granted, so this endpoint needs no CSRF token and
    other implementations of the spec can call it as they call one another's.
    ``action`` withdraw ends the consent; narrow removes ``removes.claims``.
    """
    if request.mimetype != "application/json":
        return _api_error(
            "invalid_request", "the body must be an application/json withdrawal document", 415
        )
    body = request.get_json(silent=True)
    if not isinstance(body, dict):
        return _api_error("invalid_request", "the body must be a JSON object")
    problems = consent_spec.validate(body, kind="withdrawal")
    if problems:
        return _api_error("invalid_request", f"{problems[0].path}: {problems[0].message}")
    ctx = context()
    record = decisions.current(ctx, login.user.id, body["client_id"])
    if record is None or record.record_id != body["record_id"]:
        return _api_error(
            "invalid_request", "record_id is not your active consent with this client", 409
        )
    if record.document["subject"] != body["subject"]:
        return _api_error("invalid_request", "subject does not match the consent record")
    if body["effective_at"] > now().strftime("%Y-%m-%dT%H:%M:%SZ"):
        return _api_error(
            "invalid_request", "a withdrawal that takes effect later is not supported yet"
        )
    if body["action"] == "narrow" and body.get("removes", {}).get("purposes"):
        return _api_error(
            "invalid_request", "narrowing by purpose is not supported yet; remove claims"
        )
    claims = body.get("removes", {}).get("claims", [])
    ok, message = _change(login, body["client_id"], body["action"], claims)
    if not ok:
        return _api_error("invalid_request", message)
    return jsonify(views.relationship(context(), login.user.id, body["client_id"], full=True))


def _api_error(error: str, description: str, status: int = 400) -> tuple[Response, int]:
    return jsonify({"error": error, "error_description": description}), status
