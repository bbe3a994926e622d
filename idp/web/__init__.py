"""Thin Flask blueprints: HTTP in, protocol call, HTTP out."""
