"""The person's own pages at the provider: home and RP-Initiated Logout 1.0."""

from __future__ import annotations

from flask import Blueprint, Response, redirect, render_template, request, session

from idp.base.errors import OAuthError
from idp.consent.events import notify_session_end
from idp.protocol.logout import LogoutRequest, validate_logout_request
from idp.web.account import deliver_in_background
from idp.web.common import body_params, context, current_login, error_page, query_params, single

bp = Blueprint("pages", __name__)


@bp.route("/", methods=["GET"])
def home() -> str:
    """Who is logged in, and how to log out."""
    return render_template("home.html", login=current_login())


def _finish_logout(logout: LogoutRequest) -> Response | tuple[str, int] | str:
    ctx = context()
    sid = session.get("sid")
    if sid:
        with ctx.store.unit_of_work():
            ctx.store.end_login_session(sid)
            notified = notify_session_end(ctx, sid)
        if notified:
            deliver_in_background()
    session.clear()
    if logout.redirect_to:
        return redirect(logout.redirect_to, code=303)
    return render_template("logged_out.html", client=logout.client)


@bp.route("/logout", methods=["GET", "POST"])
def end_session_endpoint() -> Response | tuple[str, int] | str:
    """End-session endpoint: OpenID Connect RP-Initiated Logout 1.0 §2-§3.

    The person is asked to confirm unless the RP proves, with an id_token_hint
    for this very session, that the person is logging out of it (§2: the OP
    SHOULD ask when it cannot tell the request really comes from the person).
    """
    try:
        params = single(*(body_params() if request.method == "POST" else query_params()))
        ctx = context()
        logout = validate_logout_request(ctx, params)
    except OAuthError as error:
        return error_page("Logout request refused", error.description)
    login = current_login()
    if login is None:
        return _finish_logout(logout)
    if logout.hinted_sid is not None and logout.hinted_sid == login.sid:
        return _finish_logout(logout)
    session["pending_logout"] = params
    return render_template("logout_confirm.html", client=logout.client, user=login.user)


@bp.route("/logout/confirm", methods=["POST"])
def confirm_logout() -> Response | tuple[str, int] | str:
    """The person confirmed the logout (CSRF-protected form)."""
    params = session.pop("pending_logout", {}) or {}
    try:
        logout = validate_logout_request(context(), params)
    except OAuthError as error:
        return error_page("Logout request refused", error.description)
    if request.form.get("decision") != "logout":
        session.modified = True
        return redirect("/", code=303)
    return _finish_logout(logout)
