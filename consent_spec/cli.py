"""``porta-consent``: validate consent documents and verify consent receipts.

Exit status: 0 when everything checked is valid, 1 when any document or receipt
has an error, 2 for usage errors (click's convention).
"""

from __future__ import annotations

import json
import sys
import urllib.request
from pathlib import Path
from typing import Any

import click

from .receipt import ReceiptVerificationError, verify_receipt
from .schemas import KINDS, SPEC_VERSION
from .validate import validate

_MAX_JWKS_BYTES = 1_000_000


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(SPEC_VERSION, prog_name="porta-consent (consent spec)")
def main() -> None:
    """Check documents against the Porta consent specification."""


@main.command("validate")
@click.argument("files", nargs=-1, required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--kind", type=click.Choice(KINDS), help="Document kind; detected from '$schema' when omitted.")
def validate_command(files: tuple[Path, ...], kind: str | None) -> None:
    """Validate each FILE (JSON) and print every error with its JSON path."""
    failed = False
    for file in files:
        try:
            document = json.loads(file.read_text("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError) as exc:
            click.echo(f"{file}: $: not JSON: {exc}")
            failed = True
            continue
        issues = validate(document, kind)
        if issues:
            failed = True
            for issue in issues:
                click.echo(f"{file}: {issue.path}: {issue.message} [{issue.rule}]")
        else:
            click.echo(f"{file}: valid")
    sys.exit(1 if failed else 0)


def _load_jwks(source: str) -> Any:
    if source.startswith(("https://", "http://")):
        with urllib.request.urlopen(source, timeout=10) as response:  # noqa: S310 - scheme checked above
            return json.loads(response.read(_MAX_JWKS_BYTES))
    return json.loads(Path(source).read_text("utf-8"))


@main.command("verify-receipt")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--jwks", "jwks_source", required=True, metavar="FILE_OR_URL", help="The issuer's JWK Set: a file, or its jwks_uri (https; http only for local testing).")
@click.option("--issuer", default=None, help="Require this 'iss'.")
@click.option("--audience", default=None, help="Require 'aud' to contain this client_id.")
def verify_receipt_command(file: Path, jwks_source: str, issuer: str | None, audience: str | None) -> None:
    """Verify the consent receipt (compact JWS) in FILE and print its record's state."""
    try:
        jwks = _load_jwks(jwks_source)
    except (OSError, ValueError) as exc:
        click.echo(f"{jwks_source}: cannot load JWKS: {exc}")
        sys.exit(1)
    try:
        claims = verify_receipt(file.read_text("utf-8"), jwks, issuer=issuer, audience=audience)
    except ReceiptVerificationError as exc:
        if exc.errors:
            for issue in exc.errors:
                click.echo(f"{file}: {issue.path}: {issue.message} [{issue.rule}]")
        else:
            click.echo(f"{file}: {exc} [{exc.reason}]")
        sys.exit(1)
    record = claims["consent_record"]
    click.echo(f"{file}: valid receipt {claims['jti']} from {claims['iss']}: record {record['record_id']} is {record['state']}")
    sys.exit(0)


if __name__ == "__main__":
    main()
