"""porta-conformance: an OpenID provider conformance suite any provider can run.

Run it as ``porta-conformance run --config op.toml`` or as a pytest plugin
(``pytest --porta-config op.toml``). Test modules are named after the OpenID Foundation's
OP test modules where one exists; the rest check RFC 9700 rules and the consent_spec
profile. See ``conformance_tests.config`` for the op.toml format.
"""

__all__ = ["__version__"]

__version__ = "0.1.0"
