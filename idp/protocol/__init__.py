"""Framework-free OAuth 2.0 / OpenID Connect protocol core: one module per concern."""
