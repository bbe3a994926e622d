"""Plan ``consent``: the consent_spec profile (consent_spec/SPEC.md §7, §9, §12, §13).

A provider opts in by advertising ``consent_receipts_supported: true`` in discovery; every
test skips otherwise. The HTTP surface this profile expects is named once, in
:data:`PROFILE`:

* the token response carries the RP's consent receipt (SPEC §7: "given … to the RP (API,
  token response)") in ``consent_receipt``;
* ``consent_withdrawal_endpoint`` (discovery) accepts a ``withdrawal`` document (SPEC §9)
  POSTed as JSON by the person's logged-in browser session;
* a client registered with ``consent_event_endpoint`` receives consent events as RFC 8935
  pushes of RFC 8417 SETs (SPEC §13); the suite listens on 127.0.0.1 for them;
* ``consent_export_endpoint`` (discovery), POSTed ``{"encrypt": false}`` from the person's
  logged-in session, returns the signed ``portable-profile`` export (SPEC §12, §19.7).

consent_spec is imported only when a test runs, so the suite installs without it.
"""

from __future__ import annotations

import json
import queue
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt

from conformance_tests.checks import BODY_EXCERPT
from conformance_tests.config import ClientConfig
from conformance_tests.context import DEFAULT_REDIRECT, AuthResult, Context, describe_jwt_error
from conformance_tests.registry import check, expect, fail, skip

PLAN = "consent"

PROFILE = {
    "flag": "consent_receipts_supported",
    "token_member": "consent_receipt",
    "withdrawal_endpoint": "consent_withdrawal_endpoint",
    "export_endpoint": "consent_export_endpoint",
    "event_endpoint_metadata": "consent_event_endpoint",
}
"""Names of the discovery members, token response member and client metadata this plan uses."""

PROTOCOL_CLAIMS = {"iss", "sub", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "azp",
                   "at_hash", "c_hash", "sid", "jti"}
WITHDRAWN_EVENT = "https://porta.example/consent-spec/1.0/event/consent-withdrawn"


def _consent_spec() -> Any:
    try:
        import consent_spec
    except ImportError:
        skip("the consent_spec package is not installed (pip install porta)")
    return consent_spec


def _require_profile(ctx: Context) -> None:
    if ctx.metadata.get(PROFILE["flag"]) is not True:
        skip(f"discovery lacks {PROFILE['flag']}: true (the provider does not implement consent_spec receipts)")


def _receipt(ctx: Context, tokens: dict[str, Any], client: ClientConfig) -> dict[str, Any]:
    """Verify the token response's receipt with consent_spec (SPEC §7.3) and return its claims."""
    receipt = tokens.get(PROFILE["token_member"])
    if not isinstance(receipt, str):
        fail(f"token response has no {PROFILE['token_member']} (SPEC §7: receipts go to the RP in the token response)")
    spec = _consent_spec()
    try:
        return dict(spec.verify_receipt(receipt, ctx.jwks, issuer=ctx.metadata["issuer"],
                                        audience=client.client_id))
    except Exception as exc:  # consent_spec's ReceiptVerificationError carries the reason
        fail(f"consent receipt rejected (SPEC §7.3, {getattr(exc, 'reason', type(exc).__name__)}): {exc}")


def _released(ctx: Context, result: AuthResult, tokens: dict[str, Any]) -> set[str]:
    """Every non-protocol claim the RP received in the ID token and from UserInfo."""
    claims = set(ctx.id_token_claims(tokens["id_token"], result.client, result.nonce))
    if ctx.metadata.get("userinfo_endpoint"):
        response = ctx.get(ctx.metadata["userinfo_endpoint"],
                           headers={"Authorization": f"Bearer {tokens['access_token']}"})
        if response.status_code == 200:
            claims |= set(response.json())
    return claims - PROTOCOL_CLAIMS


@check("consent-receipt-in-token-response", PLAN, "consent_spec SPEC §7.1-7.3, §5",
       "The token response carries a consent receipt that verifies and validates")
def receipt_in_token_response(ctx: Context) -> None:
    """Signature, typ, alg allow-list, iss, aud and the consent-receipt schema all hold."""
    _require_profile(ctx)
    result, tokens = ctx.login_and_tokens(scope="openid email profile", extra={"prompt": "consent"})
    claims = _receipt(ctx, tokens, result.client)
    record = claims["consent_record"]
    granted = set(record.get("granted", {}))
    leaked = _released(ctx, result, tokens) - granted
    expect(not leaked, f"claims released without being granted in the receipt's record: {sorted(leaked)}")


@check("consent-unticked-claims-never-leak", PLAN, "consent_spec SPEC §5 (granted, refused); DESIGN §4",
       "A claim the person unticks on the consent page is never released")
def unticked_claims(ctx: Context) -> None:
    """Untick email (and email_verified, when offered apart): both must be absent from the ID
    token and UserInfo, and email must be refused in the receipt's record."""
    _require_profile(ctx)
    browser = ctx.browser()
    try:
        result = ctx.authorize(scope="openid email profile", session=browser, extra={"prompt": "consent"},
                               uncheck=("email", "email_verified"))
        if not result.outcome.consent_shown:
            fail("no consent page was shown for a new scope with prompt=consent")
        if "email" not in result.outcome.unchecked:
            skip("the consent page has no checkbox named or valued 'email' to untick")
        tokens = ctx.tokens(result)
    finally:
        browser.close()
    released = _released(ctx, result, tokens)
    expect("email" not in released and "email_verified" not in released,
           f"unticked claim released: {sorted(released & {'email', 'email_verified'})}")
    record = _receipt(ctx, tokens, result.client)["consent_record"]
    expect("email" in record.get("refused", []), f"receipt record does not list email as refused: {record.get('refused')}")
    expect("email" not in record.get("granted", {}), "receipt record lists the unticked email as granted")


class _EventSink:
    """RFC 8935 push receiver on 127.0.0.1: answers 202 and queues each SET."""

    def __init__(self) -> None:
        self.events: queue.Queue[tuple[str, str]] = queue.Queue()
        sink = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length).decode("utf-8", "replace")
                sink.events.put((self.headers.get("Content-Type", ""), body))
                self.send_response(202)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                return

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_port}/consent-events"

    @contextmanager
    def running(self) -> Iterator[_EventSink]:
        thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        thread.start()
        try:
            yield self
        finally:
            self.server.shutdown()
            self.server.server_close()
            thread.join(timeout=5)


@check("consent-withdrawal-revokes-tokens", PLAN, "consent_spec SPEC §9, §13; RFC 8417 §2; RFC 8935 §2",
       "Withdrawal takes effect at once and the RP receives a valid consent-withdrawn SET")
def withdrawal(ctx: Context) -> None:
    """After withdrawing, UserInfo and refresh stop working and a signed SET is pushed."""
    _require_profile(ctx)
    endpoint = ctx.metadata.get(PROFILE["withdrawal_endpoint"])
    if not endpoint:
        skip(f"discovery lacks {PROFILE['withdrawal_endpoint']}")
    if not ctx.metadata.get("registration_endpoint"):
        skip("needs a client registered with a consent event endpoint: no dynamic registration")
    spec = _consent_spec()
    sink = _EventSink()
    with sink.running():
        client = ctx.register_client({PROFILE["event_endpoint_metadata"]: sink.url,
                                      "redirect_uris": [DEFAULT_REDIRECT]})
        browser = ctx.browser()
        try:
            _result, tokens = ctx.login_and_tokens(client, scope="openid email offline_access",
                                                  session=browser, extra={"prompt": "consent"})
            record = _receipt(ctx, tokens, client)["consent_record"]
            now = datetime.now(UTC).isoformat().replace("+00:00", "Z")
            document = {"spec_version": "1.0", "withdrawal_id": str(uuid.uuid4()),
                        "record_id": record["record_id"], "client_id": client.client_id,
                        "subject": record["subject"], "action": "withdraw", "initiated_by": "person",
                        "requested_at": now, "effective_at": now}
            problems = spec.validate(document, "withdrawal")
            if problems:
                fail(f"suite bug: its withdrawal document is invalid: {problems[:3]}")
            status, body = browser.fetch("POST", endpoint, json_body=document)
            expect(status in {200, 201, 202, 204}, f"withdrawal answered HTTP {status}: {body[:BODY_EXCERPT]}")
        finally:
            browser.close()
        userinfo = ctx.get(ctx.endpoint("userinfo_endpoint"),
                           headers={"Authorization": f"Bearer {tokens['access_token']}"})
        expect(userinfo.status_code == 401, f"UserInfo still answers {userinfo.status_code} after withdrawal")
        if "refresh_token" in tokens:
            refreshed = ctx.token_request(client, {"grant_type": "refresh_token",
                                                   "refresh_token": tokens["refresh_token"]})
            expect(refreshed.status_code != 200, "the refresh token still works after withdrawal")
        try:
            content_type, set_jwt = sink.events.get(timeout=ctx.config.event_wait_s)
        except queue.Empty:
            fail(f"no Security Event Token reached the client's consent event endpoint within "
                 f"{ctx.config.event_wait_s:.0f} s (SPEC §13; op.toml timing.event_wait_s)")
    _check_set(ctx, spec, content_type, set_jwt, client, record)


def _check_set(ctx: Context, spec: Any, content_type: str, token: str, client: ClientConfig,
               record: dict[str, Any]) -> None:
    expect(content_type.split(";")[0].strip() == "application/secevent+jwt",
           f"SET pushed with Content-Type {content_type!r} (RFC 8935 §2)")
    header = jwt.get_unverified_header(token)
    expect(str(header.get("typ", "")).lower().removeprefix("application/") == "secevent+jwt",
           f"SET typ {header.get('typ')!r}, RFC 8417 §2.3 requires secevent+jwt")
    key = ctx.signing_key(header)
    try:
        claims = jwt.decode(token, key, algorithms=[header["alg"]], audience=client.client_id,
                            issuer=ctx.metadata["issuer"], options={"verify_exp": False})
    except jwt.PyJWTError as exc:
        fail(f"SET signature or claims invalid: "
             f"{describe_jwt_error(exc, token, audience=client.client_id, issuer=ctx.metadata['issuer'])}")
    problems = spec.validate(claims, "consent-event")
    expect(not problems, f"SET claims are not a valid consent-event: {problems[:3]}")
    payload = claims.get("events", {}).get(WITHDRAWN_EVENT)
    expect(payload is not None, f"SET events {sorted(claims.get('events', {}))} lack {WITHDRAWN_EVENT}")
    expect(payload.get("record_id") == record["record_id"], "SET names another consent record")


@check("consent-ledger-export-validates", PLAN, "consent_spec SPEC §12, §8",
       "The person's export is a valid portable-profile whose ledger chain verifies")
def ledger_export(ctx: Context) -> None:
    """The export validates against portable-profile, including the hash chain of §8."""
    _require_profile(ctx)
    endpoint = ctx.metadata.get(PROFILE["export_endpoint"])
    if not endpoint:
        skip(f"discovery lacks {PROFILE['export_endpoint']}")
    spec = _consent_spec()
    browser = ctx.browser()
    try:
        ctx.login_and_tokens(scope="openid email", session=browser, extra={"prompt": "consent"})
        # SPEC.md §19.7: the person's session POSTs JSON and asks for the signed form.
        status, body = browser.fetch("POST", endpoint, json_body={"encrypt": False})
    finally:
        browser.close()
    expect(status == 200, f"export answered HTTP {status}: {body[:BODY_EXCERPT]}")
    body = body.strip()
    if body.count(".") == 2 and not body.startswith("{"):
        header = jwt.get_unverified_header(body)
        expect(
            header.get("typ") in ("portable-profile+jwt", "portable-profile+json"),
            f"signed export typ {header.get('typ')!r}, expected 'portable-profile+jwt'",
        )
        document = jwt.decode(body, ctx.signing_key(header), algorithms=[header["alg"]],
                              options={"verify_aud": False, "verify_exp": False})
    else:
        try:
            document = json.loads(body)
        except ValueError:
            fail("export is neither JSON nor a JWS")
    problems = spec.validate(document, "portable-profile")
    expect(not problems, f"export is not a valid portable-profile: {[str(p) for p in problems[:3]]}")
    expect(document.get("ledger"), "the export's ledger is empty although a consent was just given")
