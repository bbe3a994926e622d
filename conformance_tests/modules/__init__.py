"""Test plans; importing this package registers every test.

One module per plan (basic, config, dynamic, formpost, logout, security, consent); the
security plan's client authentication and token-lifecycle tests live in ``client_auth``
and ``tokens``.
"""

from conformance_tests.modules import (  # noqa: F401
    basic,
    basic_requests,
    client_auth,
    config_plan,
    consent,
    dynamic,
    formpost,
    logout,
    security,
    tokens,
)
