"""Receive consent events: Security Event Tokens (RFC 8417) pushed to the RP (RFC 8935).

When a person withdraws or narrows consent, the provider POSTs a SET to the RP's registered
endpoint with ``Content-Type: application/secevent+jwt``.  The RP verifies it and answers
``202 Accepted`` (RFC 8935 §2.2), or ``400`` with ``{"err", "description"}`` (§2.3, codes
from §2.4).  Use :class:`EventReceiver` as a plain function (:meth:`EventReceiver.receive`)
or as a Flask view (:meth:`EventReceiver.flask_view`)::

    receiver = EventReceiver(client, handler=forget_person)
    app.add_url_rule("/events", view_func=receiver.flask_view(), methods=["POST"])
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from client_sdk.errors import SecurityEventError
from client_sdk.jwks import ASYMMETRIC_ALGS, KeyNotFoundError, verify_jws

if TYPE_CHECKING:
    from client_sdk.client import Client

SET_MEDIA_TYPE = "application/secevent+jwt"
SET_TYP = "secevent+jwt"
#: the consent_spec payload kind that marks a consent event
CONSENT_EVENT_KIND = "consent-event"


@dataclass(frozen=True)
class ConsentEvent:
    """One consent event out of a SET's ``events`` claim (consent_spec SPEC.md §13).

    Attributes:
        event_type: the event type URI (the key in ``events``, RFC 8417 §2.2), e.g.
            ``https://porta.example/consent-spec/1.0/event/consent-withdrawn``.
        payload: the event payload as sent (``record_id``, ``claims``, ``receipt`` …).
        subject: the person's ``sub`` at this RP (the SET's ``sub``).
        change: what happened: ``withdrawn``, ``narrowed`` or ``expired``.
    """

    event_type: str
    payload: dict[str, Any]
    subject: str | None
    change: str

    @property
    def withdrawn(self) -> bool:
        """True when the person withdrew consent: stop using and delete the claims."""
        return self.change == "withdrawn"

    @property
    def ends_consent(self) -> bool:
        """True when nothing may be used any more (consent withdrawn or expired)."""
        return self.change in ("withdrawn", "expired")

    @property
    def affected_claims(self) -> list[str]:
        """Claims no longer released: ``claims`` (withdrawn) or ``removed_claims`` (narrowed)."""
        names = self.payload.get("claims") or self.payload.get("removed_claims") or []
        return [n for n in names if isinstance(n, str)]

    @property
    def receipt(self) -> str | None:
        """The consent receipt of the new record, when the provider sent one."""
        receipt = self.payload.get("receipt")
        return receipt if isinstance(receipt, str) else None


@dataclass(frozen=True)
class SecurityEvent:
    """A verified Security Event Token (RFC 8417 §2).

    Attributes:
        token: the SET as received.
        header: its JOSE header.
        claims: its claims (``iss``, ``aud``, ``jti``, ``iat``, ``events`` …).
        duplicate: True when this ``jti`` was already received by this receiver.
    """

    token: str
    header: dict[str, Any]
    claims: dict[str, Any]
    duplicate: bool = False
    _consent: tuple[ConsentEvent, ...] = field(default=(), repr=False)

    @property
    def jti(self) -> str:
        """The SET's unique identifier (RFC 8417 §2.2)."""
        return self.claims["jti"]

    @property
    def events(self) -> dict[str, Any]:
        """The ``events`` claim: event type URI -> payload."""
        return self.claims["events"]

    @property
    def consent_events(self) -> tuple[ConsentEvent, ...]:
        """The consent events this SET carries (payload ``kind`` is ``consent-event``)."""
        return self._consent


def _subject(claims: dict[str, Any], payload: dict[str, Any]) -> str | None:
    """The person's ``sub``: the SET's ``sub`` (consent_spec), else ``sub_id`` (RFC 9493)."""
    sub_id = claims.get("sub_id")
    for candidate in (
        claims.get("sub"),
        payload.get("sub"),
        sub_id.get("sub") if isinstance(sub_id, dict) else None,
    ):
        if isinstance(candidate, str) and candidate:
            return candidate
    return None


def _consent_change(event_type: str, payload: dict[str, Any]) -> str | None:
    """``withdrawn``/``narrowed``/``expired`` for a consent event type URI, else ``None``."""
    last = event_type.rstrip("/").rsplit("/", 1)[-1].rsplit("#", 1)[-1]
    if last.startswith("consent-") and len(last) > len("consent-"):
        return last.removeprefix("consent-")
    if payload.get("kind") == CONSENT_EVENT_KIND:
        state = payload.get("state") or payload.get("status")
        return str(state) if state else "changed"
    return None


def _validate_with_spec(claims: dict[str, Any]) -> list[str]:
    """Validate a consent-event claims set with consent_spec, when it is installed."""
    try:
        import consent_spec
    except ImportError:
        return []
    return [str(issue) for issue in consent_spec.validate(claims, kind=CONSENT_EVENT_KIND) or []]


class EventReceiver:
    """Verifies SETs from the client's provider and hands consent events to ``handler``.

    Args:
        client: the :class:`~client_sdk.Client` whose provider transmits the events; its
            issuer and JWKS are used.
        handler: called once per new (non-duplicate) verified SET with the
            :class:`SecurityEvent`.
        audience: accepted ``aud`` values; defaults to the client's ``client_id``.
        validate_schema: validate consent-event payloads with ``consent_spec`` if installed.
        max_age: reject SETs whose ``iat`` is older than this many seconds (``None``: no limit).
        remember: how many ``jti`` values to remember for duplicate detection.
    """

    def __init__(
        self,
        client: Client,
        handler: Callable[[SecurityEvent], Any] | None = None,
        *,
        audience: Iterable[str] | None = None,
        validate_schema: bool = True,
        max_age: float | None = None,
        remember: int = 10_000,
    ) -> None:
        self.client = client
        self.handler = handler
        self.audience = frozenset(audience) if audience is not None else None
        self.validate_schema = validate_schema
        self.max_age = max_age
        self._remember = remember
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def verify(self, token: str) -> SecurityEvent:
        """Verify a SET (RFC 8417 §2, RFC 8935 §2) without calling the handler."""
        try:
            header, claims = verify_jws(token, jwks=self.client.jwks, allowed_algs=ASYMMETRIC_ALGS)
        except KeyNotFoundError as exc:
            raise SecurityEventError("invalid_key", str(exc)) from exc
        except ValueError as exc:
            reason = str(exc)
            err = "invalid_key" if "signature" in reason or "alg" in reason else "invalid_request"
            raise SecurityEventError(err, reason) from exc
        typ = header.get("typ")
        if typ is not None and str(typ).lower().removeprefix("application/") != SET_TYP:
            raise SecurityEventError(
                "invalid_request", f"JWT typ is {typ!r}, not {SET_TYP!r} (RFC 8417 §2.3)"
            )
        if claims.get("iss") != self.client.issuer:
            raise SecurityEventError(
                "invalid_issuer", f"SET issuer {claims.get('iss')!r} is not {self.client.issuer!r}"
            )
        aud = claims.get("aud")
        audiences = [aud] if isinstance(aud, str) else aud if isinstance(aud, list) else []
        accepted = self.audience or {self.client.client_id}
        if not accepted.intersection(audiences):
            raise SecurityEventError(
                "invalid_audience", f"SET audience {aud!r} does not name this recipient"
            )
        if not isinstance(claims.get("jti"), str) or not claims["jti"]:
            raise SecurityEventError("invalid_request", "SET has no 'jti' (RFC 8417 §2.2)")
        iat = claims.get("iat")
        if not isinstance(iat, int | float) or isinstance(iat, bool):
            raise SecurityEventError("invalid_request", "SET has no numeric 'iat' (RFC 8417 §2.2)")
        now = time.time()
        if iat > now + self.client.leeway:
            raise SecurityEventError("invalid_request", "SET 'iat' is in the future")
        if self.max_age is not None and now - iat > self.max_age:
            raise SecurityEventError("invalid_request", "SET is older than this receiver accepts")
        if "exp" in claims and isinstance(claims["exp"], int | float) and now > claims["exp"] + self.client.leeway:
            raise SecurityEventError("invalid_request", "SET has expired")
        events = claims.get("events")
        if not isinstance(events, dict) or not events or not all(
            isinstance(v, dict) for v in events.values()
        ):
            raise SecurityEventError(
                "invalid_request", "SET 'events' must be a non-empty object of objects (RFC 8417 §2.2)"
            )
        consent = []
        for event_type, payload in events.items():
            change = _consent_change(event_type, payload)
            if change is not None:
                consent.append(ConsentEvent(event_type, payload, _subject(claims, payload), change))
        if consent and self.validate_schema:
            problems = _validate_with_spec(claims)
            if problems:
                raise SecurityEventError(
                    "invalid_request",
                    "consent event does not conform to consent_spec: " + "; ".join(problems[:5]),
                )
        return SecurityEvent(token, header, claims, _consent=tuple(consent))

    def receive(self, body: bytes | str, content_type: str | None = SET_MEDIA_TYPE) -> SecurityEvent:
        """Verify one pushed SET, call the handler unless it is a duplicate, and return it.

        ``content_type`` is the request's ``Content-Type``; RFC 8935 §2 requires
        ``application/secevent+jwt``.  Raises :class:`~client_sdk.errors.SecurityEventError`
        carrying the RFC 8935 §2.4 error code.
        """
        media = (content_type or "").split(";")[0].strip().lower()
        if media != SET_MEDIA_TYPE:
            raise SecurityEventError(
                "invalid_request", f"Content-Type must be {SET_MEDIA_TYPE} (RFC 8935 §2), not {media!r}"
            )
        token = body.decode("ascii", "replace") if isinstance(body, bytes) else body
        event = self.verify(token.strip())
        with self._lock:
            duplicate = event.jti in self._seen
            self._seen[event.jti] = None
            self._seen.move_to_end(event.jti)
            while len(self._seen) > self._remember:
                self._seen.popitem(last=False)
        if duplicate:
            return SecurityEvent(event.token, event.header, event.claims, True, event.consent_events)
        if self.handler is not None:
            self.handler(event)
        return event

    def flask_view(self) -> Callable[[], Any]:
        """A Flask view implementing the RFC 8935 push endpoint (register it with POST)."""
        from flask import jsonify, request

        def receive_security_event() -> Any:
            try:
                self.receive(request.get_data(), request.headers.get("Content-Type"))
            except SecurityEventError as exc:
                return jsonify({"err": exc.err, "description": exc.description}), 400
            return "", 202

        return receive_security_event
