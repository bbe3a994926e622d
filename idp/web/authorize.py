"""Authorization endpoint and the person's login and consent pages (OIDC Core §3.1.2)."""

from __future__ import annotations

import secrets
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, Response, redirect, render_template, request, session, url_for

from idp.base import metrics
from idp.base.clock import later, now
from idp.base.errors import AccessDeniedError, BadRedirectError, OAuthError
from idp.consent import decisions, requester
from idp.profile.accounts import authenticate
from idp.profile.claims import profile_value
from idp.profile.personas import list_personas
from idp.profile.subjects import subject
from idp.protocol import authorize as authz
from idp.web.common import (
    body_params,
    context,
    current_login,
    error_page,
    query_params,
    store,
)
from idp.web.labels import claim_label, purpose_label, retention_text

bp = Blueprint("authorize", __name__)


def send_authorization_response(
    redirect_uri: str, response_mode: str, params: dict[str, str]
) -> Response:
    """Return to the client by query redirect or by form_post (OAuth 2.0 Form Post Response Mode)."""
    if response_mode == "form_post":
        nonce = secrets.token_urlsafe(16)
        html = render_template(
            "form_post.html", action=redirect_uri, params=params, script_nonce=nonce
        )
        response = Response(html, status=200, mimetype="text/html")
        response.headers["Cache-Control"] = "no-store"
        response.headers["Content-Security-Policy"] = (
            f"default-src 'none'; script-src 'nonce-{nonce}'; style-src 'self'; "
            "frame-ancestors 'none'; base-uri 'none'"
        )
        return response
    response = redirect(authz.redirect_url(redirect_uri, params), code=302)
    response.headers["Cache-Control"] = "no-store"
    return response


def _send_error(error: authz.AuthorizationError) -> Response:
    return send_authorization_response(
        error.redirect_uri, error.response_mode, authz.error_params(context(), error)
    )


def _remember_interaction(interaction_id: str) -> None:
    """Bind an interaction to this browser, so no other browser can complete it."""
    pending = [i for i in session.get("interactions", []) if i != interaction_id][-9:]
    session["interactions"] = [*pending, interaction_id]


def _continue(
    client, auth_request: authz.AuthorizationRequest, interaction_id: str | None
) -> Response:
    """Run the next step of an authorization: send to login, to consent, or issue the code."""
    ctx = context()
    login = current_login()
    step = authz.next_step(ctx, client, auth_request, login, lambda u: subject(ctx, client, u.id))
    if step == "issue":
        assert login is not None
        with ctx.store.unit_of_work():
            if interaction_id is not None and not ctx.store.complete_interaction(interaction_id):
                return error_page(
                    "Request already handled", "This sign-in request was already completed.", 409
                )
            params = authz.issue_code(ctx, client, auth_request, login)
        return send_authorization_response(
            auth_request.redirect_uri, auth_request.response_mode, params
        )
    if interaction_id is None:
        with ctx.store.unit_of_work():
            row = ctx.store.create_interaction(
                client.client_id, auth_request.to_json(), later(ctx.settings.interaction_ttl)
            )
        interaction_id = row.id
    _remember_interaction(interaction_id)
    target = "authorize.login" if step == "login" else "authorize.consent"
    return redirect(url_for(target, interaction=interaction_id), code=303)


@bp.route("/authorize", methods=["GET", "POST"])
def authorization_endpoint() -> Response | tuple[str, int]:
    """Authorization endpoint: RFC 6749 §3.1, §4.1.1; OIDC Core §3.1.2.1 (GET and POST)."""
    try:
        if request.method == "POST":
            params, duplicated = body_params()
        else:
            params, duplicated = query_params()
    except OAuthError as error:
        return error_page("Invalid request", error.description)
    ctx = context()
    try:
        client, auth_request = authz.validate_authorization_request(ctx, params, duplicated)
        return _continue(client, auth_request, None)
    except BadRedirectError as bad:
        return error_page("This sign-in request cannot be completed", bad.oauth_error.description)
    except authz.AuthorizationError as error:
        return _send_error(error)


def _load_interaction(interaction_id: str | None):
    """The pending interaction named in the request, if it belongs to this browser."""
    if not interaction_id or interaction_id not in session.get("interactions", []):
        return None, None, None
    row = store().get_interaction(interaction_id)
    if row is None:
        return None, None, None
    client = store().get_client(row.client_id)
    if client is None:
        return None, None, None
    return row, client, authz.AuthorizationRequest.from_json(row.request)


def local_path(target: str) -> str | None:
    """``target`` when it is a path on this site, else None (RFC 9700 §4.11.2: no open redirector).

    Browsers drop tabs and newlines from URLs and read ``\\`` as ``/`` (WHATWG URL
    parsing), so ``/<TAB>/evil.example`` would become ``//evil.example``, another site; a
    newline would also break the Location header. Such characters refuse the value
    outright rather than being cleaned into something else.
    """
    if any(ord(ch) < 0x21 or ord(ch) == 0x7F or ch == "\\" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


BAD_NEXT = (
    "The page to return to after sign-in is not an address on this site.",
    "Open the sign-in page from this site's own links and try again.",
)


@bp.route("/login", methods=["GET"])
def login() -> Response | tuple[str, int] | str:
    """The login page (the person authenticates with email and password)."""
    if request.args.get("next") and local_path(request.args["next"]) is None:
        return error_page("This sign-in link is not valid", " ".join(BAD_NEXT))
    interaction_id = request.args.get("interaction")
    row, client, auth_request = _load_interaction(interaction_id)
    if interaction_id and row is None:
        return error_page(
            "Sign-in expired",
            "This sign-in request has expired. Go back to the site and try again.",
        )
    return render_template(
        "login.html",
        interaction=interaction_id,
        client=client,
        email=(auth_request.login_hint if auth_request else "") or "",
        error=None,
        next=request.args.get("next", ""),
    )


def login_submit() -> Response | tuple[str, int]:
    """Check the password, start a session, continue the pending authorization (rate limited)."""
    form = request.form
    if form.get("next") and local_path(form["next"]) is None:
        return error_page("This sign-in link is not valid", " ".join(BAD_NEXT))
    interaction_id = form.get("interaction") or None
    email = (form.get("email") or "").strip()
    password = form.get("password") or ""
    row, client, auth_request = _load_interaction(interaction_id)
    if interaction_id and row is None:
        return error_page(
            "Sign-in expired",
            "This sign-in request has expired. Go back to the site and try again.",
        )
    user = authenticate(store(), email, password) if email and password else None
    if user is None:
        with store().unit_of_work():
            store().audit("login_failed", email=email[:320], remote=request.remote_addr)
        metrics.LOGIN_FAILURES.inc()
        return render_template(
            "login.html",
            interaction=interaction_id,
            client=client,
            email=email,
            error="The email or password is not right.",
            next=form.get("next", ""),
        ), 401
    ctx = context()
    with ctx.store.unit_of_work():
        sid = ctx.store.create_login_session(user.id, now(), later(ctx.settings.session_ttl))
        ctx.store.audit("login_succeeded", user_id=user.id, remote=request.remote_addr)
        if row is not None and auth_request is not None:
            auth_request.fresh_login = True
            row.request = auth_request.to_json()
    # A new session after login (no fixation); pending interactions move along.
    pending = session.get("interactions", [])
    session.clear()
    session.permanent = True
    session["sid"] = sid
    session["interactions"] = pending
    if auth_request is None:
        # Only a local path (checked above): never an open redirector (RFC 9700 §4.11.2).
        target = local_path(form.get("next") or "") or url_for("pages.home")
        return redirect(target, code=303)
    try:
        return _continue(client, auth_request, interaction_id)
    except authz.AuthorizationError as error:
        return _send_error(error)


def _display(value) -> str:
    if isinstance(value, dict):
        return ", ".join(str(v) for v in value.values() if v not in (None, ""))
    if isinstance(value, bool):
        return "yes" if value else "no"
    return "" if value is None else str(value)


def _consent_rows(
    auth_request: authz.AuthorizationRequest, user, personas=(), previous=()
) -> list[dict]:
    """One row per requested claim: the value that would be shared, purposes, retention.

    Nothing optional starts ticked (GDPR Art. 7, EDPB guidelines 05/2020): a box is
    ticked only when the site requires the claim, or when the person shared it with
    this site before (``previous``: their last choice is the starting point). A claim
    with no value anywhere is shown, but cannot be ticked: there is nothing to share.
    """
    rows = []
    request_doc = auth_request.consent_request or {"claims": {}}
    for name, spec in request_doc["claims"].items():
        value = profile_value(user, name)
        if name == "updated_at" and isinstance(value, int):
            # A NumericDate (OIDC Core §5.1) is for the site; the person reads a date.
            value = datetime.fromtimestamp(value, UTC).strftime("%d %B %Y, %H:%M UTC")
        persona_values = [(p.name, _display(p.claims[name])) for p in personas if name in p.claims]
        available = bool(_display(value)) or bool(persona_values)
        essential = spec.get("essential", False)
        retention = spec.get("retention") or {}
        rows.append(
            {
                "name": name,
                "label": claim_label(name),
                "value": _display(value) or "(not set in your profile)",
                "available": available,
                "ticked": available and (essential or name in previous),
                "essential": essential,
                "purposes": [purpose_label(p) for p in spec["purposes"]],
                "retention": retention_text(retention),
                "shared_with_others": (spec.get("third_party_disclosure") or {}).get(
                    "disclosed", False
                ),
                "persona_values": persona_values,
            }
        )
    return rows


@bp.route("/consent", methods=["GET"])
def consent() -> Response | tuple[str, int] | str:
    """The consent page: what the client asks for, with the values it would receive."""
    row, client, auth_request = _load_interaction(request.args.get("interaction"))
    if row is None:
        return error_page("Request expired", "This sign-in request has expired or is not yours.")
    login = current_login()
    if login is None:
        return redirect(url_for("authorize.login", interaction=row.id), code=303)
    request_doc = auth_request.consent_request or {}
    personas = list_personas(store(), login.user.id)
    previous = decisions.last_shared(context(), login.user.id, client.client_id)
    return render_template(
        "consent.html",
        interaction=row.id,
        client=client,
        user=login.user,
        rows=_consent_rows(auth_request, login.user, personas, previous),
        personas=personas,
        party=request_doc.get("relying_party", {}),
        legal_basis=request_doc.get("legal_basis"),
        terms=request_doc.get("accepted_terms", []),
        offline="offline_access" in auth_request.scopes,
        who=requester.describe(context(), client),
    )


@bp.route("/consent", methods=["POST"])
def consent_submit() -> Response | tuple[str, int]:
    """Record the person's decision and return to the client (OIDC Core §3.1.2.4)."""
    row, client, auth_request = _load_interaction(request.form.get("interaction"))
    if row is None:
        return error_page("Request expired", "This sign-in request has expired or is not yours.")
    login = current_login()
    if login is None:
        return redirect(url_for("authorize.login", interaction=row.id), code=303)
    ctx = context()
    decision = request.form.get("decision")
    if decision not in ("approve", "required", "deny"):
        return error_page("Choose approve or deny", "The consent form was sent without a decision.")
    chosen = decisions.chosen_claims(
        auth_request.consent_request,
        required_only=decision == "required",
        ticked=request.form.getlist("claim"),
    )
    auth_request.answer_offline_access(request.form.get("offline_access") == "yes")
    try:
        # One unit of work: the interaction is used up, the decision recorded (a refusal
        # too) and the code issued together, or, on a bad form, none of it.
        with ctx.store.unit_of_work():
            if not ctx.store.complete_interaction(row.id):
                return error_page(
                    "Request already handled", "This sign-in request was already completed.", 409
                )
            outcome = None
            if auth_request.consent_request is not None:
                outcome = decisions.decide(
                    ctx,
                    login.user,
                    client,
                    auth_request.consent_request,
                    chosen,
                    approve=decision != "deny",
                    persona_id=request.form.get("persona") or None,
                    scopes=auth_request.consent_items(),
                )
            refused = decision == "deny" or (outcome is not None and outcome.state == "refused")
            if not refused:
                params = authz.issue_code(ctx, client, auth_request, login, outcome)
    except decisions.ConsentError as error:
        return error_page("This consent form is not valid", str(error))
    if refused:
        reason = (
            "the person declined the request"
            if decision == "deny"
            else "the person withheld a claim the site marked essential"
        )
        return _send_error(
            authz.AuthorizationError(
                AccessDeniedError(reason),
                auth_request.redirect_uri,
                auth_request.state,
                auth_request.response_mode,
            )
        )
    return send_authorization_response(
        auth_request.redirect_uri, auth_request.response_mode, params
    )


bp.add_url_rule("/login", endpoint="login_submit", view_func=login_submit, methods=["POST"])
