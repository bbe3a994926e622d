"""Import (consent_spec SPEC.md §12.3): an export is opened, checked in the order of the spec,
and brought in only for a person who proved who they are.

- :func:`open_export` decrypts (§12.1 form 1), verifies the signature against the
  exporter's keys (form 2) or takes an unsigned document as self-asserted (form 3),
  validates the document, its expiry, its ledger and every receipt.
- :func:`import_into_account` brings an export into the signed-in person's account: the
  export's email must be the account's, or the person confirms the merge.
- :func:`start_email_import` / :func:`finish_email_import`: without an account here, the
  person proves the export's email address by opening a single-use link sent to it over
  SMTP; only then is the account created (and that address verified, by us).
- :func:`import_new_account` is the operator's path (``porta users import``).

Whatever the path, values arrive self-asserted: no bare ``*_verified`` flag is ever taken
from an export. Claims a trusted issuer verified itself are kept as verified claims naming
it (§12.2); the export is remembered, so a replay is refused (§12.3 step 5).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwcrypto import jwe, jwk
from jwcrypto.common import JWException
from jwt.exceptions import InvalidSignatureError, InvalidTokenError, PyJWKError

import consent_spec
from idp.base.clock import later, now
from idp.base.context import Context
from idp.base.encoding import digest, random_token
from idp.base.settings import trusted_issuers
from idp.portability.common import (
    EXPORT_TYP,
    LEGACY_EXPORT_TYP,
    MAX_EXPORT_AGE_DAYS,
    VERIFIED_CLAIMS_TYP,
    ImportRefusedError,
)
from idp.portability.exports import PBES2_ALG, PBES2_ENC, PBES2_MAX_ITERATIONS
from idp.profile import mail
from idp.profile.accounts import AccountError, create_user, hash_password
from idp.profile.editing import VERIFIED_FLAG
from idp.profile.personas import PersonaError, list_personas
from idp.storage import ConflictError
from idp.storage.models import User

LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "::1"}
_KTY_FOR_ALG = {"ES256": "EC", "ES384": "EC", "EdDSA": "OKP", "PS256": "RSA", "RS256": "RSA"}
# Every flag that asserts a verification: an importer never takes one from an export.
VERIFICATION_FLAGS = frozenset(VERIFIED_FLAG.values())

FetchJwks = Callable[[str], dict[str, Any]]


@dataclass(frozen=True)
class OpenedExport:
    """An export whose form, document, expiry, chain and receipts all checked out."""

    document: dict[str, Any]
    issuer: str  # exporter.issuer; proven by the signature only when ``signed``
    signed: bool
    token: str | None  # the signed export (JWS) as received, kept as history
    receipts: dict[str, str]  # record_id -> verified receipt
    jwks: dict[str, Any] | None  # the exporter's published keys (signed exports)

    @property
    def email(self) -> str | None:
        value = self.document["profile"].get("email")
        return value if isinstance(value, str) else None


# -- opening and verifying -------------------------------------------------------------------


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
    """The JWK Set of ``issuer``: its discovery document (OIDC Discovery §4), then ``jwks_uri``,
    plus its retired keys (``retired_jwks_uri``, SPEC.md §12.4) when it publishes them.

    The discovery document must name the same issuer (Discovery §4.3), and the
    URLs must be https (or http on a loopback host). Raises ``ValueError``.
    """
    if not fetchable(issuer):
        raise ValueError("the issuer is not an https URL (or http on a loopback host)")
    config = fetch_json(issuer.rstrip("/") + "/.well-known/openid-configuration")
    if not isinstance(config, dict) or config.get("issuer") != issuer:
        raise ValueError("the issuer's discovery document names another issuer")
    keys: list[Any] = []
    for member in ("jwks_uri", "retired_jwks_uri"):
        uri = config.get(member)
        if uri is None and member == "retired_jwks_uri":
            continue
        if not fetchable(uri):
            raise ValueError(f"the issuer's {member} is not an https URL")
        document = fetch_json(uri)
        if not isinstance(document, dict) or not isinstance(document.get("keys"), list):
            raise ValueError(f"the issuer's {member} does not hold a JWK Set")
        keys.extend(document["keys"])
    return {"keys": keys}


def _select_key(jwks: dict[str, Any], alg: str, kid: Any, where: str = "header.kid"):
    """The public signing key named by ``kid`` that can verify ``alg`` (SPEC.md §7.3 step 5)."""
    if not isinstance(kid, str):
        raise ImportRefusedError(where, "the JWS header names no key (kid)")
    for key in jwks.get("keys", []):
        if not isinstance(key, dict) or key.get("kid") != kid:
            continue
        if key.get("kty") != _KTY_FOR_ALG.get(alg) or key.get("use", "sig") != "sig":
            continue
        if key.get("alg", alg) != alg or any(m in key for m in ("d", "p", "q", "k")):
            continue
        return key
    raise ImportRefusedError(where, f"the signer publishes no {alg} signing key with kid {kid!r}")


def _verify_jws(token: str, jwks: dict[str, Any], where: str) -> dict[str, Any]:
    """The payload of a JWS that verifies with a key of ``jwks`` (algorithm from the key)."""
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        raise ImportRefusedError(where, "the JWS header cannot be read") from exc
    alg = header.get("alg")
    if alg not in consent_spec.ALLOWED_ALGORITHMS:
        raise ImportRefusedError(where, f"algorithm {alg!r} is not allowed")
    if "crit" in header:
        raise ImportRefusedError(where, "critical header parameters are not supported")
    key = _select_key(jwks, alg, header.get("kid"), "header.kid" if where == "header" else where)
    try:
        return jwt.decode(
            token,
            key=jwt.PyJWK(key, algorithm=alg),
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
        raise ImportRefusedError(where, "the signer's key is unusable") from exc
    except InvalidSignatureError as exc:
        raise ImportRefusedError(
            "signature" if where == "header" else where,
            "the signature does not verify with the signer's keys: the document was changed "
            "after it was signed, or was not signed by that provider",
        ) from exc
    except InvalidTokenError as exc:
        raise ImportRefusedError(where, "the signed payload is not a JSON object") from exc


def _decrypt(token: str, passphrase: str | None) -> str:
    """The signed export inside an encrypted one (SPEC.md §12.1 form 1)."""
    try:
        envelope = jwe.JWE()
        envelope.deserialize(token)
        header = envelope.jose_header
    except (JWException, ValueError) as exc:
        raise ImportRefusedError("header", "the encrypted export cannot be read") from exc
    if header.get("alg") != PBES2_ALG or header.get("enc") != PBES2_ENC:
        raise ImportRefusedError(
            "header.alg", f"an encrypted export must use {PBES2_ALG} with {PBES2_ENC}"
        )
    if not isinstance(header.get("p2c"), int) or header["p2c"] > PBES2_MAX_ITERATIONS:
        raise ImportRefusedError("header.p2c", "the key-derivation count is out of bounds")
    if not passphrase:
        raise ImportRefusedError("passphrase", "this export is encrypted: enter its passphrase")
    try:
        envelope.allowed_algs = [PBES2_ALG, PBES2_ENC]
        envelope.decrypt(jwk.JWK.from_password(passphrase))
    except (JWException, ValueError) as exc:
        raise ImportRefusedError("passphrase", "the passphrase does not open this export") from exc
    return envelope.payload.decode("utf-8", errors="replace").strip()


def verify_signed(token: str, fetch_jwks: FetchJwks) -> tuple[dict[str, Any], str, dict]:
    """(document, issuer, issuer's keys) of a signed export: SPEC.md §12.3 steps 2 and 3."""
    try:
        header = jwt.get_unverified_header(token)
    except InvalidTokenError as exc:
        raise ImportRefusedError("header", "the JWS header cannot be read") from exc
    typ = header.get("typ")
    if not isinstance(typ, str) or typ.lower().removeprefix("application/") not in (
        EXPORT_TYP,
        LEGACY_EXPORT_TYP,
    ):
        raise ImportRefusedError("header.typ", f"typ is {typ!r}, expected {EXPORT_TYP!r}")
    if header.get("alg") not in consent_spec.ALLOWED_ALGORITHMS:
        raise ImportRefusedError("header.alg", f"algorithm {header.get('alg')!r} is not allowed")
    if "crit" in header:
        raise ImportRefusedError("header.crit", "critical header parameters are not supported")
    issuer = header.get("iss")
    if issuer is None:
        try:
            issuer = (
                jwt.decode(token, options={"verify_signature": False})
                .get("exporter", {})
                .get("issuer")
            )
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
    document = _verify_jws(token, jwks, "header")
    exporter = document.get("exporter")
    if not isinstance(exporter, dict) or exporter.get("issuer") != issuer:
        raise ImportRefusedError(
            "$.exporter.issuer", f"the document names another exporter than its signer {issuer}"
        )
    _check_document(document)
    return document, issuer, jwks


def _check_document(document: dict[str, Any]) -> None:
    """Schema (§12.3 step 3) and ledger chain (step 6, SPEC.md §8)."""
    problems = consent_spec.validate(document, "portable-profile")
    problems = problems or consent_spec.verify_chain(document["ledger"], path_prefix=("ledger",))
    if problems:
        first = problems[0]
        more = f" (and {len(problems) - 1} more problems)" if len(problems) > 1 else ""
        raise ImportRefusedError(first.path, first.message + more)


def _check_fresh(document: dict[str, Any], moment: datetime) -> None:
    """SPEC.md §12.3 step 4: not expired, and not an old export without an expiry."""
    expires_at = document.get("expires_at")
    if expires_at is not None:
        if _instant(expires_at) <= moment:
            raise ImportRefusedError(
                "$.expires_at", "this export has expired: make a new one at your old provider"
            )
        return
    if _instant(document["exported_at"]) < moment - timedelta(days=MAX_EXPORT_AGE_DAYS):
        raise ImportRefusedError(
            "$.exported_at",
            f"this export has no expiry and is over {MAX_EXPORT_AGE_DAYS} days old: "
            "make a new one at your old provider",
        )


def _verified_receipts(document: dict[str, Any], jwks: dict[str, Any], issuer: str):
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


def open_export(
    raw: Any,
    fetch_jwks: FetchJwks,
    *,
    passphrase: str | None = None,
    moment: datetime | None = None,
) -> OpenedExport:
    """Check an export in the order of SPEC.md §12.3 (steps 1-4 and 6); refuse at the first fault."""
    if not isinstance(raw, str) or not raw.strip():
        raise ImportRefusedError("$", "the export is empty")
    raw = raw.strip()
    moment = moment or now()
    if raw.startswith("{"):
        try:
            document = json.loads(raw)
        except ValueError as exc:
            raise ImportRefusedError("$", "an unsigned export must be a JSON object") from exc
        if not isinstance(document, dict):
            raise ImportRefusedError("$", "an unsigned export must be a JSON object")
        _check_document(document)
        _check_fresh(document, moment)
        return OpenedExport(
            document, document["exporter"]["issuer"].rstrip("/"), False, None, {}, None
        )
    if raw.count(".") == 4:
        raw = _decrypt(raw, passphrase)
    if raw.count(".") != 2:
        raise ImportRefusedError(
            "$", "not an export: expected a JWE, a JWS in compact serialization, or JSON"
        )
    document, issuer, jwks = verify_signed(raw, fetch_jwks)
    _check_fresh(document, moment)
    # Keys the export embeds are bound by its signature (SPEC.md §12.4): receipts signed
    # by keys the exporter has since retired still verify.
    keys = {"keys": [*jwks["keys"], *document.get("keys", {}).get("keys", [])]}
    return OpenedExport(
        document, issuer, True, raw, _verified_receipts(document, keys, issuer), jwks
    )


def _trusted_verified_claims(
    ctx: Context, opened: OpenedExport, fetch_jwks: FetchJwks
) -> list[tuple[str, Any, str, datetime, str]]:
    """(claim, value, verifier, time, token) of each verified claim that may be kept (§12.2)."""
    trusted = trusted_issuers(ctx.settings)
    if not opened.signed or opened.issuer.rstrip("/") not in trusted:
        return []
    kept = []
    profile = opened.document["profile"]
    for index, token in enumerate(opened.document.get("verified_claims", [])):
        where = f"$.verified_claims[{index}]"
        try:
            header = jwt.get_unverified_header(token)
            unverified = jwt.decode(token, options={"verify_signature": False})
        except InvalidTokenError as exc:
            raise ImportRefusedError(where, "not a readable JWS") from exc
        issuer = unverified.get("iss")
        if header.get("typ") != VERIFIED_CLAIMS_TYP or not isinstance(issuer, str):
            raise ImportRefusedError(where, f"typ must be {VERIFIED_CLAIMS_TYP!r}, with an iss")
        if issuer.rstrip("/") not in trusted:
            continue  # an untrusted verifier's word: the value stays self-asserted
        jwks = opened.jwks if issuer == opened.issuer else fetch_jwks(issuer)
        payload = _verify_jws(token, jwks or {"keys": []}, where)
        try:
            verification = payload["verified_claims"]["verification"]
            ((claim, value),) = payload["verified_claims"]["claims"].items()
            verified_at = _instant(verification["time"])
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise ImportRefusedError(
                where, "not a verified_claims object of SPEC.md §12.2"
            ) from exc
        if profile.get(claim) == value:
            kept.append((claim, value, issuer, verified_at, token))
    return kept


# -- bringing it in --------------------------------------------------------------------------


def _refuse_replay(ctx: Context, opened: OpenedExport) -> None:
    """SPEC.md §12.3 step 5: an export is imported once, whoever presents it again."""
    if ctx.store.export_was_imported(opened.issuer, opened.document["export_id"]):
        raise ImportRefusedError("$.export_id", "this export was already imported (a replay)")


def _self_asserted(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if k not in VERIFICATION_FLAGS}


def _bring_in(
    ctx: Context,
    user: User,
    opened: OpenedExport,
    fetch_jwks: FetchJwks,
    *,
    fill_profile: bool,
) -> None:
    """Personas, history, verified claims and the replay guard, for a person known here."""
    store, document = ctx.store, opened.document
    _refuse_replay(ctx, opened)
    if fill_profile:
        profile = dict(user.profile or {})
        for name, value in _self_asserted(document["profile"]).items():
            profile.setdefault(name, value)
        store.save_profile(user, profile)
    taken = {p.name.lower() for p in list_personas(store, user.id)}
    labels: set[str] = set()
    persona_of_site: dict[str, str] = {}
    for index, persona in enumerate(document["personas"]):
        name = persona["label"].strip()
        if not name or name.lower() in labels:
            raise ImportRefusedError(
                f"$.personas[{index}].label", f"two personas of the export are named {name!r}"
            )
        labels.add(name.lower())
        if name.lower() in taken:  # one of the account's own: the imported one is renamed
            name = f"{name} (from {urlsplit(opened.issuer).hostname})"[:100]
        existing = store.get_persona(persona["persona_id"])
        try:
            row = store.add_persona(
                user.id,
                name,
                _self_asserted(persona["claims"]),
                persona_id=None if existing is not None else persona["persona_id"],
            )
        except (PersonaError, ConflictError) as exc:
            raise ImportRefusedError(f"$.personas[{index}].label", str(exc)) from exc
        taken.add(name.lower())
        for site in persona.get("sites", []):
            persona_of_site[site] = row.id
    _keep_history(store, user, document, opened.issuer, opened.receipts, persona_of_site)
    for index, earlier in enumerate(document.get("history", [])):
        _bring_in_earlier(ctx, user, earlier, fetch_jwks, f"$.history[{index}]")
    for claim, value, verifier, verified_at, token in _trusted_verified_claims(
        ctx, opened, fetch_jwks
    ):
        store.add_verified_claim(user.id, claim, value, verifier, verified_at, token)
    store.remember_import(
        opened.issuer, document["export_id"], user.id, opened.token, self_asserted=not opened.signed
    )
    try:
        store.flush()
    except ConflictError as exc:
        raise ImportRefusedError(
            "$.export_id", "this export was already imported (a replay)"
        ) from exc


def _keep_history(
    store: Any,
    user: User,
    document: dict[str, Any],
    issuer: str,
    receipts: dict[str, str],
    persona_of_site: dict[str, str],
) -> None:
    """The export's ledger as imported history (granting nothing here)."""
    exported_at = _instant(document["exported_at"])
    previous = consent_spec.GENESIS_HASH
    for entry in document["ledger"]:
        entry_hash = consent_spec.chain_hash(entry, previous)
        client_id = entry["request"]["relying_party"]["client_id"]
        store.add_imported_record(
            user_id=user.id,
            export_id=document["export_id"],
            issuer=issuer,
            sequence=entry["sequence"],
            record_id=entry["record_id"],
            client_id=client_id,
            state=entry["state"],
            entry_hash=entry_hash,
            document=entry,
            receipt=receipts.get(entry["record_id"]),
            exported_at=exported_at,
            persona_id=persona_of_site.get(client_id),
        )
        previous = entry_hash


def _bring_in_earlier(
    ctx: Context, user: User, token: Any, fetch_jwks: FetchJwks, where: str
) -> None:
    """One export of an earlier move, carried in ``history`` (SPEC.md §12.5): verified as in
    §12.3 steps 2, 3 and 6 (its expiry and replay do not apply) and kept as history too."""
    if not isinstance(token, str) or token.count(".") != 2:
        raise ImportRefusedError(where, "a history entry must be a signed export (a JWS)")
    try:
        document, issuer, jwks = verify_signed(token, fetch_jwks)
        keys = {"keys": [*jwks["keys"], *document.get("keys", {}).get("keys", [])]}
        receipts = _verified_receipts(document, keys, issuer)
    except ImportRefusedError as error:
        raise ImportRefusedError(f"{where} {error.path}", error.message) from error
    if ctx.store.export_was_imported(issuer, document["export_id"]):
        return  # already here (the person imported it directly): kept once
    _keep_history(ctx.store, user, document, issuer, receipts, {})
    for index, earlier in enumerate(document.get("history", [])):
        _bring_in_earlier(ctx, user, earlier, fetch_jwks, f"{where}.history[{index}]")
    ctx.store.remember_import(issuer, document["export_id"], user.id, token, self_asserted=False)


def import_into_account(
    ctx: Context, user: User, opened: OpenedExport, fetch_jwks: FetchJwks, *, merge: bool
) -> None:
    """Bring an export into the signed-in person's account (SPEC.md §12.3 step 7).

    The export's email must be the account's, unless the person confirmed that the
    export is theirs to merge. Profile values fill only what the account lacks; the
    sign-in email and every verification flag stay as they are.
    """
    email = opened.email
    if not merge and (email or "").lower() != user.email.lower():
        raise ImportRefusedError(
            "merge",
            f"this export is for {email or 'another address'}, not for {user.email}: tick the box "
            "to confirm it is yours and should be merged into this account",
        )
    _bring_in(ctx, user, opened, fetch_jwks, fill_profile=True)


def import_new_account(
    ctx: Context,
    opened: OpenedExport,
    fetch_jwks: FetchJwks,
    *,
    password: str | None = None,
    password_hash: str | None = None,
    email_proven: bool = False,
) -> User:
    """Create the person of an export here; the operator's path, and the end of the email proof.

    The account's email is marked verified only when ``email_proven`` (the person
    opened our link, so we verified it ourselves, and we record when and how).
    """
    email = opened.email
    if email is None:
        raise ImportRefusedError(
            "$.profile.email", "the profile has no email address to sign in with here"
        )
    _refuse_replay(ctx, opened)
    if ctx.store.get_user_by_email(email) is not None:
        raise ImportRefusedError(
            "$.profile.email",
            f"an account for {email} already exists here: sign in to it and import from there",
        )
    try:
        user = create_user(ctx.store, email, password, password_hash=password_hash)
    except AccountError as exc:
        field = "password" if "password" in str(exc) else "$.profile.email"
        raise ImportRefusedError(field, str(exc)) from exc
    profile = _self_asserted(opened.document["profile"])
    profile["email"] = user.email
    profile["email_verified"] = email_proven
    if email_proven:
        ctx.store.record_verification(user, "email", user.email, "email-link")
    ctx.store.save_profile(user, profile)
    try:
        _bring_in(ctx, user, opened, fetch_jwks, fill_profile=False)
    except ConflictError as exc:
        raise ImportRefusedError(
            "$.profile.email", f"an account for {email} was created meanwhile"
        ) from exc
    return user


def require_mail(ctx: Context) -> None:
    """Refuse an import without an account when no mail can prove the address."""
    if not ctx.settings.smtp_url:
        raise ImportRefusedError(
            "mail",
            "this provider sends no mail, so it cannot check that the address is yours: "
            "ask its operator, or sign in to an account here and import into it",
        )


def start_email_import(
    ctx: Context, opened: OpenedExport, password: str, *, link: Callable[[str], str]
) -> str:
    """Hold an import for a person without an account here and mail them a link (§12.3 step 7).

    Returns the address written to. Nothing says whether that address has an account
    here: if it does, the message tells its owner to sign in and import from there.
    """
    email = opened.email
    if email is None:
        raise ImportRefusedError(
            "$.profile.email", "the profile has no email address to prove and sign in with"
        )
    require_mail(ctx)
    _refuse_replay(ctx, opened)
    try:
        password_hash = hash_password(password)
    except AccountError as exc:
        raise ImportRefusedError("password", str(exc)) from exc
    site = ctx.settings.site_name
    if ctx.store.get_user_by_email(email) is not None:
        mail.queue(ctx.store, email, "import-account-exists", site=site, sign_in=link(""))
        return email
    secret = random_token(32)
    ctx.store.add_pending_import(
        token_hash=digest(secret),
        email=email,
        export=opened.token or json.dumps(opened.document),
        password_hash=password_hash,
        expires_at=later(ctx.settings.import_link_ttl),
    )
    minutes = max(1, ctx.settings.import_link_ttl // 60)
    mail.queue(
        ctx.store,
        email,
        "import-verify",
        site=site,
        link=link(secret),
        issuer=opened.issuer,
        minutes=minutes,
    )
    return email


def pending_import(ctx: Context, secret: str) -> str | None:
    """The address a pending import's link was sent to, while the link is usable."""
    row = ctx.store.get_pending_import(digest(secret))
    return row.email if row is not None else None


def finish_email_import(ctx: Context, secret: str, fetch_jwks: FetchJwks) -> User:
    """The person opened the link: create the account, with its email verified by us."""
    row = ctx.store.get_pending_import(digest(secret))
    if row is None:
        raise ImportRefusedError("link", "this link has expired or was already used")
    export, email, password_hash = row.export, row.email, row.password_hash
    if not ctx.store.complete_pending_import(row.id):  # single use, even under a race
        raise ImportRefusedError("link", "this link has expired or was already used")
    opened = open_export(export, fetch_jwks)
    if (opened.email or "").lower() != email.lower():
        raise ImportRefusedError("link", "this link does not belong to this export")
    return import_new_account(
        ctx, opened, fetch_jwks, password_hash=password_hash, email_proven=True
    )


def _instant(value: str) -> datetime:
    return datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(UTC)
