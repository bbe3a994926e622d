"""The distribution ships consent_spec whole: build the wheel, install it, use the CLI.

Builds the wheel of the whole distribution from a copy of the source tree (so the
build leaves nothing in the checkout), installs it with ``--no-deps`` into a fresh
virtual environment that sees this interpreter's site-packages for the
dependencies, and runs ``porta-consent`` from there on the packaged vectors.
"""

from __future__ import annotations

import os
import shutil
import site
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

# Builds a wheel and a virtual environment: not part of the everyday run.
pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "consent_spec"
_SKIP = shutil.ignore_patterns(".git", ".venv", "node_modules", "__pycache__", "build", "dist", "*.egg-info", ".pytest_cache", ".ruff_cache")


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {key: value for key, value in os.environ.items() if key not in {"PYTHONPATH", "PYTHONHOME"}}
    return subprocess.run(args, cwd=cwd, env=env, capture_output=True, text=True, timeout=600, check=False)


def _can_build_in_place() -> bool:
    """True when this environment has the build backend pyproject.toml asks for.

    Then the wheel is built without network access; otherwise pip builds it in an
    isolated environment with the backend fetched from the package index.
    """
    try:
        import setuptools
    except ImportError:
        return False
    major = int(setuptools.__version__.split(".")[0])
    if major < 68:
        return False
    if major >= 71:  # bdist_wheel is part of setuptools from 70.1
        return True
    try:
        import wheel  # noqa: F401
    except ImportError:
        return False
    return True


@pytest.fixture(scope="module")
def installed(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, ignore=_SKIP)
    isolation = ["--no-build-isolation"] if _can_build_in_place() else []
    built = _run([sys.executable, "-m", "pip", "wheel", "--no-deps", *isolation, "-q", "-w", str(work / "dist"), str(source)], work)
    assert built.returncode == 0, built.stderr
    (wheel,) = (work / "dist").glob("porta-*.whl")

    venv = work / "venv"
    made = _run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], work)
    assert made.returncode == 0, made.stderr
    python = venv / "bin" / "python"
    purelib = Path(_run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work).stdout.strip())
    # Dependencies come from this interpreter's site-packages, listed after the new
    # environment's own, so the installed wheel is what gets imported.
    parents = {*site.getsitepackages(), sysconfig.get_paths()["purelib"]}
    (purelib / "zz_parent_site.pth").write_text("\n".join(sorted(parents)) + "\n", "utf-8")
    install = _run([sys.executable, "-m", "pip", "--python", str(python), "install", "--no-deps", "--no-index", "-q", str(wheel)], work)
    assert install.returncode == 0, install.stderr
    location = _run([str(python), "-c", "import consent_spec; print(consent_spec.__file__)"], work)
    assert location.returncode == 0, location.stderr
    package = Path(location.stdout.strip()).parent
    return {"wheel": wheel, "venv": venv, "package": package, "cwd": work}


def test_wheel_contains_spec_schemas_and_every_vector(installed: dict[str, Path]) -> None:
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        shipped = {name.removeprefix("consent_spec/") for name in wheel.namelist() if name.startswith("consent_spec/")}
    expected = {
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts and path.suffix in {".py", ".json", ".jwt", ".md"}
        # interop/js is a separate npm package (its own package.json and, once run,
        # node_modules): a second implementation that reads the vectors, not Python data.
        and path.relative_to(PACKAGE).parts[:2] != ("interop", "js")
    }
    assert "SPEC.md" in expected and "schemas/consent-record.schema.json" in expected
    assert expected <= shipped, sorted(expected - shipped)
    assert not any(name.startswith("interop/") for name in shipped)


def test_installed_package_is_the_wheel_not_the_checkout(installed: dict[str, Path]) -> None:
    assert installed["venv"] in installed["package"].parents


def test_installed_cli_validates_packaged_vectors(installed: dict[str, Path]) -> None:
    cli = installed["venv"] / "bin" / "porta-consent"
    vectors = installed["package"] / "vectors"
    valid = sorted(str(path) for path in (vectors / "valid").glob("*/*.json") if '"$schema"' in path.read_text("utf-8"))
    assert len(valid) >= 10
    ok = _run([str(cli), "validate", *valid], installed["cwd"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _run([str(cli), "validate", str(vectors / "invalid" / "withdrawal" / "narrow-without-removes.json")], installed["cwd"])
    assert bad.returncode == 1
    assert "$: required member 'removes' is missing" in bad.stdout


def test_installed_cli_verifies_the_packaged_receipt(installed: dict[str, Path]) -> None:
    cli = installed["venv"] / "bin" / "porta-consent"
    receipts = installed["package"] / "vectors" / "receipt"
    ok = _run([str(cli), "verify-receipt", str(receipts / "given.jwt"), "--jwks", str(receipts / "jwks.json")], installed["cwd"])
    assert ok.returncode == 0, ok.stdout + ok.stderr
    bad = _run([str(cli), "verify-receipt", str(receipts / "alg-none.jwt"), "--jwks", str(receipts / "jwks.json")], installed["cwd"])
    assert bad.returncode == 1


def test_installed_package_reads_spec_md(installed: dict[str, Path]) -> None:
    code = "from importlib import resources; print(resources.files('consent_spec').joinpath('SPEC.md').read_text()[:40])"
    result = _run([str(installed["venv"] / "bin" / "python"), "-c", code], installed["cwd"])
    assert result.stdout.startswith("# Porta Consent Specification 1.0"), result.stderr


# The same wheel carries the provider, the SDK and the conformance suite: their data files
# (templates, styles, migrations, schemas, report assets) ship only if setup.cfg lists them.
REPO = PACKAGE.parent
DATA_SUFFIXES = {".html", ".css", ".js", ".json", ".mako", ".py"}


def test_wheel_ships_every_data_file_of_every_package(installed: dict[str, Path]) -> None:
    with zipfile.ZipFile(installed["wheel"]) as wheel:
        shipped = set(wheel.namelist())
    for package in ("idp", "client_sdk", "conformance_tests"):
        expected = {
            str(path.relative_to(REPO))
            for path in (REPO / package).rglob("*")
            if path.is_file() and "__pycache__" not in path.parts and path.suffix in DATA_SUFFIXES
        }
        assert expected, package
        assert expected <= shipped, sorted(expected - shipped)


def test_installed_provider_migrates_and_renders_its_pages(installed: dict[str, Path], tmp_path: Path) -> None:
    """From the wheel alone: Alembic migrations, templates, static files and schemas load."""
    code = (
        "import sys\n"
        "from idp.app import create_app\n"
        f"app = create_app({{'DATABASE_URL': 'sqlite:///{tmp_path}/wheel.sqlite', 'ISSUER': 'http://127.0.0.1:9',"
        " 'SECRET_KEY': 'k' * 32, 'TESTING': True}, auto_upgrade=True)\n"
        "client = app.test_client()\n"
        "assert client.get('/login').status_code == 200\n"
        "assert client.get('/static/porta.css').status_code == 200\n"
        "assert client.get('/account/api/openapi.json').status_code == 200\n"
        "assert client.post('/register', json={'redirect_uris': ['https://rp.example/cb']}).status_code == 201\n"
        "import idp; print(idp.__file__)\n"
    )
    result = _run([str(installed["venv"] / "bin" / "python"), "-c", code], installed["cwd"])
    assert result.returncode == 0, result.stdout + result.stderr
    assert str(installed["venv"]) in result.stdout  # the wheel's idp, not the checkout's
