"""Moving a person: signed export and verified import of the portable profile (consent_spec
SPEC.md §12), and account deletion. Sits beside ``idp.protocol``: it may use consent, profile,
keys and storage, and nothing above them."""
