"""Taking the profile along: export, import and account deletion (consent_spec §12; GDPR Art. 17, 20)."""

from __future__ import annotations

from flask import Blueprint

bp = Blueprint("portability", __name__)
