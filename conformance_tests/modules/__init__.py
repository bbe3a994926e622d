"""Test plans; importing this package registers every test.

One module per plan: basic, config, dynamic, formpost, logout, security, consent.
"""

from conformance_tests.modules import (  # noqa: F401
    basic,
    config_plan,
    consent,
    dynamic,
    formpost,
    logout,
    security,
)
