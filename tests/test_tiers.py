"""The rule in tests/conftest.py that puts tests in the ``slow`` tier."""

from __future__ import annotations

import pytest

from tests.conftest import _refers_to_a_launcher
from tests.live import LivePorta


def _starts_porta(tmp_path):
    with LivePorta(tmp_path).start():
        pass


def _calls_a_helper_that_starts_porta(tmp_path):
    _starts_porta(tmp_path)


def _imports_a_launcher_inside():
    from tests.interop.node_op.launcher import node_op

    return node_op


def _in_process(http):
    return http.get("/.well-known/openid-configuration").status_code


@pytest.mark.parametrize(
    "function",
    [_starts_porta, _calls_a_helper_that_starts_porta, _imports_a_launcher_inside, lambda: LivePorta],
)
def test_a_function_that_uses_a_launcher_is_slow(function):
    assert _refers_to_a_launcher(function)


@pytest.mark.parametrize("function", [_in_process, lambda: None, len])
def test_an_in_process_function_is_not(function):
    assert not _refers_to_a_launcher(function)

