"""Taking the profile along, and leaving: export, import (consent_spec SPEC.md §12; GDPR Art. 20)
and account deletion (GDPR Art. 17).

- :func:`export` builds the person's ``portable-profile`` document: profile, personas, the
  whole ledger in order with its head (SPEC.md §8), every receipt (§7) and terms (§10).
- :func:`sign_export` signs it as a JWS made as in SPEC.md §7.1, ``typ``
  ``portable-profile+json``; the issuer rides in the protected header (RFC 7519 §5.3
  replicates claims as header parameters) because the document's own members are closed.
- :func:`import_export` verifies such a JWS against the exporting issuer's JWKS, validates
  the document, its chain and each receipt, and creates the person here. The imported
  ledger is kept as history (SPEC.md §12: "rather than as consent given to itself"): it
  grants nothing at this provider.
- :func:`delete_account` withdraws every active consent (the RPs are told, SPEC.md §9, §13),
  revokes every token and erases the person, keeping only the ledger's detached records.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import metadata
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import InvalidSignatureError, InvalidTokenError, PyJWKError

import consent_spec
from idp.base.clock import now
from idp.base.context import Context
from idp.consent import decisions, events, ledger
from idp.profile.accounts import MIN_PASSWORD_LENGTH, AccountError, authenticate, create_user
from idp.profile.personas import PersonaError, create_persona, list_personas
from idp.profile.subjects import subject
from idp.storage import ConflictError, Store
from idp.storage.models import ImportedConsentRecord, User

EXPORT_TYP = "portable-profile+json"
"""JWS ``typ`` of a signed export (SPEC.md §12)."""
EXPORT_ALG = "ES256"  # RECOMMENDED by SPEC.md §7.1
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_KTY_FOR_ALG = {"ES256": "EC", "ES384": "EC", "EdDSA": "OKP", "PS256": "RSA", "RS256": "RSA"}


class ExportError(RuntimeError):
    """The person's data cannot be written as a valid portable-profile (names the member)."""


class ImportRefusedError(ValueError):
    """An export that is not imported; nothing of it was kept.

    ``path`` names what is wrong: a JSONPath into the document (``$.personas[1].label``),
    ``header.<name>`` for the JWS protected header, ``signature``, or ``password``.
    """

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


class DeletionRefusedError(ValueError):
    """An account deletion that was not done (wrong password)."""


def _timestamp(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _software() -> str:
    try:
        return f"Porta {metadata.version('porta')}"
    except metadata.PackageNotFoundError:  # pragma: no cover - running from a source tree
        return "Porta"


def _claim_values(values: dict[str, Any]) -> dict[str, Any]:
    """Claim values as SPEC.md §12 writes them: empty values left out, phone numbers in E.164.

    People type ``+44 20 7946 0000``; OIDC Core §5.1 asks for E.164, which has no
    separators, so spaces, dots, dashes and brackets are dropped from a ``+`` number.
    """
    out: dict[str, Any] = {}
    for name, value in values.items():
        if value is None or value == "":
            continue
        if name == "phone_number" and isinstance(value, str) and value.strip().startswith("+"):
            value = "+" + "".join(ch for ch in value if ch.isdigit())
        out[name] = value
    return out


# -- export ----------------------------------------------------------------------------------


def export(ctx: Context, user: User) -> dict[str, Any]:
    """The person's ``portable-profile`` document (SPEC.md §12), validated before it is returned.

    Personas are listed with their opaque ids (random, meaningless outside this
    provider) and the names the person gave them. The ledger is every record in
    sequence order, ``ledger_head`` the hash of the last (SPEC.md §8), and
    ``receipts`` the receipt of each record. Porta keeps no ``person-terms``
    documents of its own (accepted terms live in the records), so ``terms`` is empty.
    Raises :class:`ExportError` naming the member if the data cannot be exported validly.
    """
    records = ledger.records_of(ctx.store, user.id)
    documents = [row.document for row in records]
    document: dict[str, Any] = {
        "$schema": consent_spec.schema_id("portable-profile"),
        "spec_version": consent_spec.SPEC_VERSION,
        "export_id": str(uuid.uuid4()),
        "exported_at": _timestamp(now()),
        "exporter": {"issuer": ctx.issuer, "software": _software()},
        "profile": _claim_values(user.profile or {}),
        "personas": [
            {
                "persona_id": persona.id,
                "label": persona.name,
                "claims": _claim_values(persona.claims),
            }
            for persona in list_personas(ctx.store, user.id)
        ],
        "ledger": documents,
        "ledger_head": records[-1].entry_hash if records else consent_spec.GENESIS_HASH,
        "receipts": [row.receipt for row in records],
        "terms": [],
    }
    problems = consent_spec.validate(document, "portable-profile")
    if problems:
        raise ExportError(
            "your data cannot be exported as a valid portable profile: "
            + "; ".join(str(problem) for problem in problems[:3])
        )
    return document


def sign_export(ctx: Context, document: dict[str, Any]) -> str:
    """The export as a compact JWS (SPEC.md §7.1 rules, ``typ`` ``portable-profile+json``).

    The protected header carries ``kid`` (a key of our ``jwks_uri``) and ``iss``, so
    an importer knows whose keys to fetch before it trusts a byte of the payload.
    """
    key = ctx.keys.signing_key(EXPORT_ALG)
    return jwt.encode(
        document,
        key.private_key,
        algorithm=EXPORT_ALG,
        headers={"typ": EXPORT_TYP, "kid": key.kid, "iss": ctx.issuer},
    )


# -- import ----------------------------------------------------------------------------------


def fetchable(url: Any) -> bool:
    """True for an ``https`` URL, or ``http`` on a loopback host (SPEC.md §3.3 https_url)."""
    if not isinstance(url, str):
        return False
    try:
        parts = urlsplit(url)
        host = parts.hostname
    except ValueError:
        return False
    if not host or parts.username or parts.password:
        return False
    return parts.scheme == "https" or (parts.scheme == "http" and host in LOOPBACK_HOSTS)


def issuer_jwks(fetch_json: Callable[[str], Any], issuer: str) -> dict[str, Any]:
    """The JWK Set of ``issuer``: its discovery document (OIDC Discovery §4), then ``jwks_uri``.

    The discovery document must name the same issuer (Discovery §4.3), and both
    URLs must be https (or http on a loopback host). Raises ``ValueError``.
    """
    if not fetchable(issuer):
        raise ValueError("the issuer is not an https URL (or http on a loopback host)")
    config = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if not isinstance(config, dict) or config.get("issuer") != issuer:
        raise ValueError("the issuer's discovery document names another issuer")
    jwks_uri = config.get("jwks_uri")
    if not fetchable(jwks_uri):
        raise ValueError("the issuer's jwks_uri is not an https URL")
    jwks = fetch_json(jwks_uri)
    if not isinstance(jwks, dict) or not isinstance(jwks.get("keys"), list):
        raise ValueError("the issuer's jwks_uri does not hold a JWK Set")
    return jwks


def _select_key(jwks: dict[str, Any], alg: str, kid: Any) -> dict[str, Any]:
    """The public signing key named by ``kid`` that can verify ``alg`` (SPEC.md §7.3 step 5)."""
    if not isinstance(kid, str):
        raise ImportRefusedError("header.kid", "the JWS header names no key (kid)")
    for key in jwks.get("keys", []):
        if not isinstance(key, dict) or key.get("kid") != kid:
            continue
        if key.get("kty") != _KTY_FOR_ALG[alg] or key.get("use", "sig") != "sig":
            break
        if key.get("alg", alg) != alg or any(m in key for m in ("d", "p", "q", "k")):
            break
        return key
    raise ImportRefusedError(
        "header.kid", f"the exporting provider publishes no {alg} signing key with kid {kid!r}"
    )


@dataclass(frozen=True)
class VerifiedExport:
    """An export whose signature, document, chain and receipts all checked out."""

    document: dict[str, Any]
    issuer: str
    receipts: dict[str, str]  # record_id -> receipt


def verify_export(token: Any, fetch_jwks: Callable[[str], dict[str, Any]]) -> VerifiedExport:
    """Check a signed export in the order of SPEC.md §7.3, then §12 and §8; refuse at the first fault.

    ``fetch_jwks(issuer)`` returns the exporting issuer's JWK Set; the issuer is
    read from the protected header's ``iss`` (or ``exporter.issuer``) and must
    equal the document's ``exporter.issuer`` once the signature holds.
    """
    if not isinstance(token, str) or token.strip().count(".") != 2:
        raise ImportRefusedError(
            "$", "not a signed export: expected a JWS in compact serialization (three parts)"
        )
    token = token.strip()
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        raise ImportRefusedError("header", "the JWS header cannot be read") from exc
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") != EXPORT_TYP:
        raise ImportRefusedError("header.typ", f"typ is {typ!r}, expected {EXPORT_TYP!r}")
    alg = header.get("alg")
    if alg not in consent_spec.ALLOWED_ALGORITHMS:
        raise ImportRefusedError("header.alg", f"algorithm {alg!r} is not allowed")
    if "crit" in header:
        raise ImportRefusedError("header.crit", "critical header parameters are not supported")
    issuer = header.get("iss")
    if issuer is None:
        try:
            unverified = jwt.decode(token, options={"verify_signature": False})
            issuer = unverified.get("exporter", {}).get("issuer")
        except (InvalidTokenError, AttributeError):
            issuer = None
    if not fetchable(issuer):
        raise ImportRefusedError(
            "$.exporter.issuer",
            "the exporting provider is not named by an https URL, so its keys cannot be fetched",
        )
    try:
        jwks = fetch_jwks(issuer)
    except Exception as exc:
        # Nothing of the network error is echoed: the page is open to anyone (no oracle).
        raise ImportRefusedError(
            "$.exporter.issuer", f"the signing keys of {issuer} could not be fetched"
        ) from exc
    key = _select_key(jwks, alg, header.get("kid"))
    try:
        public_key = jwt.PyJWK(key, algorithm=alg)
        document = jwt.decode(
            token,
            key=public_key,
            algorithms=[alg],
            options={
                "verify_aud": False,
                "verify_iss": False,
                "verify_exp": False,
                "verify_iat": False,
                "verify_nbf": False,
            },
        )
    except PyJWKError as exc:
        raise ImportRefusedError("header.kid", "the exporting provider's key is unusable") from exc
    except InvalidSignatureError as exc:
        raise ImportRefusedError(
            "signature",
            f"the signature does not verify with the keys of {issuer}: the export was "
            "changed after it was signed, or was not signed by that provider",
        ) from exc
    except InvalidTokenError as exc:
        raise ImportRefusedError("$", "the signed payload is not a JSON object") from exc
    exporter = document.get("exporter")
    if not isinstance(exporter, dict) or exporter.get("issuer") != issuer:
        raise ImportRefusedError(
            "$.exporter.issuer", f"the document names another exporter than its signer {issuer}"
        )
    problems = consent_spec.validate(document, "portable-profile")
    problems = problems or consent_spec.verify_chain(document["ledger"], path_prefix=("ledger",))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ImportRefusedError(first.path, first.message + more)
    return VerifiedExport(document, issuer, _verified_receipts(document, jwks, issuer))


def _verified_receipts(
    document: dict[str, Any], jwks: dict[str, Any], issuer: str
) -> dict[str, str]:
    """Each receipt verifies (SPEC.md §7.3) and carries a ledger entry exactly as listed."""
    entries = {entry["record_id"]: entry for entry in document["ledger"]}
    verified: dict[str, str] = {}
    for index, receipt in enumerate(document["receipts"]):
        where = f"$.receipts[{index}]"
        try:
            claims = consent_spec.verify_receipt(receipt, jwks, issuer=issuer)
        except consent_spec.ReceiptVerificationError as exc:
            raise ImportRefusedError(where, f"the receipt does not verify: {exc}") from exc
        record = claims["consent_record"]
        entry = entries.get(record.get("record_id"))
        if entry is None:
            raise ImportRefusedError(where, "the receipt is for a record that is not in the ledger")
        if consent_spec.canonical_json(entry) != consent_spec.canonical_json(record):
            raise ImportRefusedError(where, "the receipt's record differs from the ledger entry")
        verified[record["record_id"]] = receipt
    return verified


def _exported_at(value: str) -> datetime:
    moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return moment.astimezone(UTC)


def import_export(
    ctx: Context,
    token: str,
    *,
    password: str,
    fetch_jwks: Callable[[str], dict[str, Any]] | None = None,
) -> User:
    """Create the person of a signed export here (SPEC.md §12), all or nothing.

    The export is verified first (:func:`verify_export`; keys from the exporting
    issuer's discovery document unless ``fetch_jwks`` is given). The person gets
    the profile, a login with ``password`` (this provider's own secret: exports
    carry none), the personas under new ids, and the ledger as imported history
    (``imported_consent_records``), which grants nothing here: a site the person
    used there asks for consent again here.

    Raises :class:`ImportRefusedError` naming the field. Call it inside a unit of
    work (``Store.unit_of_work``): a refusal then rolls everything back, so nothing
    of the import remains, and success commits it whole.
    """
    fetch = fetch_jwks or (lambda issuer: issuer_jwks(ctx.fetch_json, issuer))
    verified = verify_export(token, fetch)
    document = verified.document
    email = document["profile"].get("email")
    if not isinstance(email, str):
        raise ImportRefusedError(
            "$.profile.email", "the profile has no email address to sign in with here"
        )
    if ctx.store.get_user_by_email(email) is not None:
        raise ImportRefusedError(
            "$.profile.email",
            f"an account for {email} already exists here: sign in to it, or delete it first",
        )
    if not isinstance(password, str) or len(password) < MIN_PASSWORD_LENGTH:
        raise ImportRefusedError(
            "password", f"choose a password of at least {MIN_PASSWORD_LENGTH} characters"
        )
    try:
        user = _create(ctx.store, verified, email, password)
        ctx.store.flush()
    except ConflictError as exc:
        raise ImportRefusedError(
            "$.profile.email", f"an account for {email} was created meanwhile"
        ) from exc
    return user


def _create(store: Store, verified: VerifiedExport, email: str, password: str) -> User:
    document = verified.document
    try:
        user = create_user(store, email, password)
    except AccountError as exc:
        raise ImportRefusedError("$.profile.email", str(exc)) from exc
    user.profile = dict(document["profile"])
    for index, persona in enumerate(document["personas"]):
        try:
            create_persona(store, user, persona["label"], persona["claims"])
        except PersonaError as exc:
            raise ImportRefusedError(f"$.personas[{index}].label", str(exc)) from exc
    exported_at = _exported_at(document["exported_at"])
    previous = consent_spec.GENESIS_HASH
    for entry in document["ledger"]:
        entry_hash = consent_spec.chain_hash(entry, previous)
        store.add_imported_record(
            user_id=user.id,
            export_id=document["export_id"],
            issuer=verified.issuer,
            sequence=entry["sequence"],
            record_id=entry["record_id"],
            client_id=entry["request"]["relying_party"]["client_id"],
            state=entry["state"],
            entry_hash=entry_hash,
            document=entry,
            receipt=verified.receipts.get(entry["record_id"]),
            exported_at=exported_at,
        )
        previous = entry_hash
    return user


def imported_history(store: Store, user_id: str) -> list[dict[str, Any]]:
    """The person's imported ledgers, one per import, each re-checked (SPEC.md §8).

    Each import lists its relationships (by the exporter's client_id) with the
    state of their newest record; ``intact`` says the stored chain still hashes
    to the head recorded at import.
    """
    imports: dict[str, list[ImportedConsentRecord]] = {}
    for row in store.imported_records(user_id):
        imports.setdefault(row.export_id, []).append(row)
    out = []
    for export_id, rows in imports.items():
        documents = [row.document for row in rows]
        intact = not consent_spec.verify_chain(documents) and (
            consent_spec.ledger_head(documents) == rows[-1].entry_hash
        )
        relationships: dict[str, dict[str, Any]] = {}
        for row in rows:
            rp = row.document["request"]["relying_party"]
            rel = relationships.setdefault(
                row.client_id,
                {
                    "client_id": row.client_id,
                    "name": rp.get("name") or row.client_id,
                    "since": row.document["decided_at"],
                    "records": 0,
                },
            )
            rel["state"] = row.state
            rel["last"] = row.document["recorded_at"]
            rel["records"] += 1
        out.append(
            {
                "export_id": export_id,
                "issuer": rows[0].issuer,
                "exported_at": _timestamp(rows[0].exported_at),
                "imported_at": _timestamp(rows[0].imported_at),
                "ledger_head": rows[-1].entry_hash,
                "records": len(rows),
                "intact": intact,
                "relationships": list(relationships.values()),
            }
        )
    return out


# -- deletion --------------------------------------------------------------------------------


def delete_account(ctx: Context, user: User, password: str) -> list[str]:
    """Delete the person's account (GDPR Art. 17); returns the client_ids told of the withdrawal.

    1. Every relationship with an active consent is withdrawn through
       :func:`idp.consent.decisions.withdraw`: a ``withdrawn`` record and receipt, the
       RP's tokens revoked, a consent-withdrawn SET (SPEC.md §13) and a back-channel
       logout token queued for it.
    2. Every other live grant is revoked and its RP sent a logout token; every login
       session is ended.
    3. The person's profile, personas, disclosures, sessions, grants and imported
       history are removed (:meth:`idp.storage.Store.erase_person`).

    What stays is the ledger, detached from the person (``user_id`` NULL). Its
    documents hold no personal values: ``subject`` is the RP's own identifier for
    the person (pairwise by default, OIDC Core §8.1, now linked to nothing here),
    ``granted`` and ``refused`` hold claim names only, never values (SPEC.md §18),
    ``persona`` is an opaque per-RP reference, and ``request`` describes the RP.
    The hashes and receipts keep the proof of what was consented (GDPR Art. 7(1)).
    The caller commits, then pushes the queued events.
    """
    if authenticate(ctx.store, user.email, password) is None:
        raise DeletionRefusedError("the password is not right; nothing was deleted")
    told: list[str] = []
    client_ids = ctx.store.relationship_client_ids(user.id)
    for client_id in sorted(client_ids):
        client = ctx.store.get_client(client_id)
        if client is None or decisions.current(ctx, user.id, client_id) is None:
            continue
        decisions.withdraw(ctx, user, client, reason="account deleted")
        told.append(client_id)
    live = ctx.store.live_grants(user.id)
    logged_out: set[tuple[str, str | None]] = set()
    for grant in list(live):
        ctx.store.revoke_grant(grant.id, "account_deleted")
        client = ctx.store.get_client(grant.client_id)
        if client is None or grant.client_id in told or (grant.client_id, grant.sid) in logged_out:
            continue
        logged_out.add((grant.client_id, grant.sid))
        events.enqueue_backchannel_logout(
            ctx.store,
            ctx.keys,
            ctx.issuer,
            client,
            user_id=user.id,
            subject=subject(ctx, client, user.id),
            sid=grant.sid,
        )
    for sid in ctx.store.login_session_ids(user.id):
        ctx.store.end_login_session(sid)
    ctx.store.erase_person(user)
    return told
