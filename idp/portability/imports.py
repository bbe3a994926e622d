"""Import (consent_spec SPEC.md §12.3): an export is opened, checked in the order of the spec,
and brought in only for a person who proved who they are.

- :func:`idp.portability.opening.open_export` checks the export first (decryption,
  signature, document, expiry, ledger, receipts).
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
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import jwt
from jwt.exceptions import InvalidTokenError

import consent_spec
from idp.base.clock import later
from idp.base.context import Context
from idp.base.encoding import digest, random_token
from idp.base.settings import trusted_issuers
from idp.portability.common import (
    VERIFIED_CLAIMS_TYP,
    ImportRefusedError,
)
from idp.portability.opening import (
    FetchJwks,
    OpenedExport,
    instant,
    open_export,
    verified_receipts,
    verify_jws,
    verify_signed,
)
from idp.profile import mail
from idp.profile.accounts import AccountError, create_user, hash_password
from idp.profile.editing import VERIFIED_FLAG
from idp.profile.personas import PersonaError, list_personas
from idp.storage import ConflictError
from idp.storage.models import User

# Every flag that asserts a verification: an importer never takes one from an export.
VERIFICATION_FLAGS = frozenset(VERIFIED_FLAG.values())


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
        payload = verify_jws(token, jwks or {"keys": []}, where)
        try:
            verification = payload["verified_claims"]["verification"]
            ((claim, value),) = payload["verified_claims"]["claims"].items()
            verified_at = instant(verification["time"])
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
    exported_at = instant(document["exported_at"])
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
        receipts = verified_receipts(document, keys, issuer)
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
