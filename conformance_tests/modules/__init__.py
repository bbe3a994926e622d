"""Test plans; importing this package registers every test.

One module per plan: basic, config, dynamic, formpost, logout, security, consent.
"""

from conformance_tests.modules import basic, config_plan, dynamic, formpost, logout, security  # noqa: F401
