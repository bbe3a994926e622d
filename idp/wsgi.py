"""WSGI entry point for servers that import an application by name (``idp.wsgi:app``)."""

from idp.app import create_app

app = create_app()
