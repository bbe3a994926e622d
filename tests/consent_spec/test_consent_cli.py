"""``porta-consent validate`` and ``porta-consent verify-receipt``."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path

import pytest
from click.testing import CliRunner

from consent_spec.cli import main

VECTORS = Path(str(resources.files("consent_spec").joinpath("vectors")))
RECEIPTS = VECTORS / "receipt"


def _run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(main, list(args))
    return result.exit_code, result.output


def test_validate_accepts_valid_vectors() -> None:
    files = sorted(str(path) for path in (VECTORS / "valid" / "consent-record").glob("*.json"))
    code, output = _run("validate", *files)
    assert code == 0, output
    assert output.count(": valid") == len(files)


def test_validate_with_kind_for_documents_without_schema_member() -> None:
    file = str(VECTORS / "valid" / "withdrawal" / "provider-withdraw-later.json")
    assert _run("validate", file)[0] == 1
    code, output = _run("validate", "--kind", "withdrawal", file)
    assert (code, output.strip()) == (0, f"{file}: valid")


def test_validate_prints_each_error_with_its_path_and_exits_non_zero() -> None:
    file = VECTORS / "invalid" / "consent-record" / "granted-and-refused.json"
    code, output = _run("validate", str(file))
    assert code == 1
    assert f"{file}: $.refused[1]: claim both granted and refused [record-granted-refused-disjoint]" in output


def test_one_bad_file_among_good_ones_fails_the_run(tmp_path: Path) -> None:
    broken = tmp_path / "broken.json"
    broken.write_text("{not json", "utf-8")
    good = str(VECTORS / "valid" / "consent-record" / "given.json")
    code, output = _run("validate", good, str(broken))
    assert code == 1
    assert f"{good}: valid" in output
    assert f"{broken}: $: not JSON" in output


def test_unknown_kind_is_a_usage_error() -> None:
    code, output = _run("validate", "--kind", "nonsense", str(VECTORS / "valid" / "consent-record" / "given.json"))
    assert code == 2
    assert "nonsense" in output


def test_verify_receipt_from_file() -> None:
    code, output = _run("verify-receipt", str(RECEIPTS / "given.jwt"), "--jwks", str(RECEIPTS / "jwks.json"))
    assert code == 0, output
    assert "valid receipt rcpt-3e8c1a90" in output
    assert "is given" in output


@pytest.mark.parametrize(("name", "reason"), [("wrong-key.jwt", "signature"), ("wrong-typ.jwt", "typ"), ("alg-none.jwt", "alg"),
                                              ("tampered-payload.jwt", "signature"), ("unknown-kid.jwt", "key")])
def test_verify_receipt_rejects_bad_receipts(name: str, reason: str) -> None:
    code, output = _run("verify-receipt", str(RECEIPTS / name), "--jwks", str(RECEIPTS / "jwks.json"))
    assert code == 1
    assert output.rstrip().endswith(f"[{reason}]")


def test_verify_receipt_prints_schema_errors_with_paths() -> None:
    code, output = _run("verify-receipt", str(RECEIPTS / "invalid-claims.jwt"), "--jwks", str(RECEIPTS / "jwks.json"))
    assert code == 1
    assert ": $: required member 'record_hash' is missing [required]" in output


def test_verify_receipt_checks_issuer_when_asked() -> None:
    code, output = _run("verify-receipt", str(RECEIPTS / "given.jwt"), "--jwks", str(RECEIPTS / "jwks.json"), "--issuer", "https://other.example")
    assert code == 1
    assert "[issuer]" in output


@pytest.fixture
def jwks_url(tmp_path: Path) -> Iterator[str]:
    """Serve the vector JWKS from 127.0.0.1 on a free port; shut down afterwards."""
    (tmp_path / "jwks.json").write_text((RECEIPTS / "jwks.json").read_text("utf-8"), "utf-8")
    handler = partial(SimpleHTTPRequestHandler, directory=str(tmp_path))
    handler.log_message = lambda *args: None  # type: ignore[attr-defined]
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/jwks.json"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_verify_receipt_with_jwks_url(jwks_url: str) -> None:
    code, output = _run("verify-receipt", str(RECEIPTS / "given.jwt"), "--jwks", jwks_url)
    assert code == 0, output


def test_unreachable_jwks_is_reported(jwks_url: str) -> None:
    code, output = _run("verify-receipt", str(RECEIPTS / "given.jwt"), "--jwks", jwks_url.replace("jwks.json", "missing.json"))
    assert code == 1
    assert "cannot load JWKS" in output


def test_jwks_file_that_is_not_json(tmp_path: Path) -> None:
    bad = tmp_path / "jwks.json"
    bad.write_text(json.dumps({"keys": []})[:-3], "utf-8")
    code, output = _run("verify-receipt", str(RECEIPTS / "given.jwt"), "--jwks", str(bad))
    assert code == 1
    assert "cannot load JWKS" in output
