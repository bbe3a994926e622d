"""Porta Shop, an example relying party built on ``client_sdk.flask``."""
