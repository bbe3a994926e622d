"""WSGI entry point for servers that import an application by name (``idp.wsgi:app``)."""

from idp.app import create_app
from idp.base.audit import log_to_stderr

log_to_stderr()
app = create_app()
