"""A native command-line app that logs in with Porta through the loopback redirect (RFC 8252)."""
