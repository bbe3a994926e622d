"""Settings, storage and a protocol Context, opened lazily for one ``porta`` invocation."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import click

from idp.base.settings import Settings, load_settings
from idp.profile.catalogue import load_catalogue

if TYPE_CHECKING:
    from idp.storage import Store


class Runtime:
    """Configuration and storage opened lazily for the CLI commands (one per invocation)."""

    def __init__(self) -> None:
        self._settings: Settings | None = None
        self._catalogue = None
        self._engine = None
        self._sessions = None

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            try:
                settings = load_settings()
                # A bad PORTA_CLAIMS_CATALOGUE stops the command here, naming the problem,
                # and every command's Context carries the operator's catalogue.
                self._catalogue = load_catalogue(settings.claims_catalogue)
            except ValueError as exc:
                raise click.ClickException(str(exc)) from exc
            self._settings = settings
        return self._settings

    @property
    def engine(self):
        if self._engine is None:
            from idp.storage.db import make_engine

            self._engine = make_engine(self.settings.database_url)
        return self._engine

    def store(self, *, upgrade_sqlite: bool = True):
        from idp.storage import Store
        from idp.storage.db import is_up_to_date, make_sessionmaker, upgrade

        if not is_up_to_date(self.engine):
            if upgrade_sqlite and self.engine.dialect.name == "sqlite":
                upgrade(self.engine)
            else:
                raise click.ClickException(
                    "the database schema is not up to date: run `porta db upgrade`"
                )
        if self._sessions is None:
            self._sessions = make_sessionmaker(self.engine)
        return Store(self._sessions())

    @contextmanager
    def unit_of_work(self, *, upgrade_sqlite: bool = True) -> Iterator[Store]:
        """A Store whose writes are committed when the block ends, or all rolled back if it
        raises; its connection is released either way."""
        store = self.store(upgrade_sqlite=upgrade_sqlite)
        try:
            with store.unit_of_work():
                yield store
        finally:
            store.close()

    def context(self, store):
        from idp.base.context import Context
        from idp.base.outbound import json_fetcher
        from idp.keys import KeyRing

        keys = KeyRing(lambda: self.store(), self.settings.secret_key, 0)
        return Context(
            settings=self.settings,
            store=store,
            keys=keys,
            fetch_json=json_fetcher(self.settings),
            catalogue=self._catalogue,
        )


pass_runtime = click.make_pass_decorator(Runtime, ensure=True)
