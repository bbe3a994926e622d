"""The person's profile and personas pages (OIDC Core §5.1 claims; DESIGN §4)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("profile", __name__)
