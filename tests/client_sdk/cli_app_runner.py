"""Run ``python -m examples.cli_app`` as a subprocess and play the person's browser for it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests
from sdk_browser import drive

ROOT = Path(__file__).resolve().parents[2]


def run_cli_app(issuer: str, client_id: str, answers: dict[str, str]) -> dict[str, Any]:
    """Start the CLI app, log in through its printed URL, return the profile it prints."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (str(ROOT), os.environ.get("PYTHONPATH", "")) if p)}
    process = subprocess.Popen(
        [sys.executable, "-m", "examples.cli_app", "--issuer", issuer, "--client-id", client_id,
         "--no-browser", "--timeout", "120"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        url = None
        for line in process.stderr:
            if line.strip().startswith("http"):
                url = line.strip()
                break
        assert url, "the CLI app printed no login URL"
        redirect_uri = parse_qs(urlsplit(url).query)["redirect_uri"][0]
        assert redirect_uri.startswith("http://127.0.0.1:") and redirect_uri.endswith("/callback")
        arrival = drive(requests.Session(), url, redirect_uri, answers)
        page = requests.get(arrival.url, timeout=30)  # the browser lands on the app's loopback port
        assert page.status_code == 200 and "You are logged in" in page.text
        stdout, stderr = process.communicate(timeout=60)
        assert process.returncode == 0, stderr
        return json.loads(stdout)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
