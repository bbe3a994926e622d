"""The import-linter contracts in setup.cfg can fail: each is broken by one illegal import.

A contract that cannot fail proves nothing. For every contract, the four
packages are copied to a temporary folder, one import that the contract forbids
is added to one module, and ``lint-imports`` (run on that copy only) must report
exactly that contract broken — and every contract kept on the untouched copy.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("idp", "consent_spec", "client_sdk", "conformance_tests")

# contract id -> (module file to edit, the illegal import added to it)
ILLEGAL = {
    "layers": ("idp/storage/accounts.py", "import idp.consent.ledger"),
    "sql-only-in-storage": ("idp/consent/ledger.py", "import sqlalchemy"),
    "flask-only-in-web": ("idp/protocol/token.py", "import flask"),
    "consent-spec-standalone": ("consent_spec/rules.py", "import idp.keys"),
    "sdk-independent-of-provider": ("client_sdk/jwks.py", "import idp.keys"),
    "suite-independent-of-provider": ("conformance_tests/config.py", "import idp.keys"),
}


def _lint(tree: Path, *contracts: str) -> subprocess.CompletedProcess[str]:
    lint = Path(sys.executable).with_name("lint-imports")
    arguments = [str(lint), "--no-cache", "--no-logo", str(tree / "setup.cfg")]
    for contract in contracts:
        arguments += ["--contract", contract]
    # The copy comes first on the path, so it is the tree that gets analysed.
    env = {**os.environ, "PYTHONPATH": str(tree)}
    return subprocess.run(arguments, cwd=tree, env=env, capture_output=True, text=True, timeout=120)


@pytest.fixture(scope="module")
def pristine(tmp_path_factory) -> Path:
    tree = tmp_path_factory.mktemp("contracts")
    for package in PACKAGES:
        shutil.copytree(
            ROOT / package, tree / package, ignore=shutil.ignore_patterns("__pycache__", "*.pyc")
        )
    shutil.copy(ROOT / "setup.cfg", tree / "setup.cfg")
    return tree


def test_every_contract_in_setup_cfg_is_proven_here():
    text = (ROOT / "setup.cfg").read_text()
    declared = {
        line.split(":")[-1].rstrip("]")
        for line in text.splitlines()
        if line.startswith("[importlinter:contract:")
    }
    assert declared == set(ILLEGAL)


def test_the_copied_tree_keeps_every_contract(pristine: Path):
    result = _lint(pristine)
    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{len(ILLEGAL)} kept, 0 broken" in result.stdout


@pytest.mark.parametrize("contract", sorted(ILLEGAL))
def test_one_illegal_import_breaks_the_contract(pristine: Path, tmp_path: Path, contract: str):
    tree = tmp_path / "tree"
    shutil.copytree(pristine, tree)
    module, statement = ILLEGAL[contract]
    path = tree / module
    path.write_text(path.read_text() + f"\n{statement}  # deliberately illegal\n")
    result = _lint(tree, contract)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "BROKEN" in result.stdout
    assert "0 kept, 1 broken" in result.stdout
