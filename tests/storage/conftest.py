"""Fixtures of the storage contract suite: a migrated, empty database on every backend and a
way to open as many independent Stores (sessions, connections) on it as a test needs."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import pytest

from idp.storage import Store
from idp.storage.db import make_engine, make_sessionmaker, upgrade
from tests.conftest import BACKENDS, fresh_database


@pytest.fixture(params=BACKENDS)
def open_store(request: pytest.FixtureRequest, tmp_path) -> Iterator[Callable[[], Store]]:
    """A factory of Stores on one freshly migrated database; each has its own connection."""
    with fresh_database(request.param, tmp_path) as url:
        engine = make_engine(url)
        upgrade(engine)
        sessions = make_sessionmaker(engine)
        opened: list[Store] = []

        def open_one() -> Store:
            store = Store(sessions())
            opened.append(store)
            return store

        try:
            yield open_one
        finally:
            for store in opened:
                store.close()
            engine.dispose()
