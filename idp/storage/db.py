"""Engines, sessions and migrations.

SQLite runs in WAL mode with foreign keys on and a busy timeout, so several
server workers can share one file; PostgreSQL is reached through psycopg 3.
The schema is owned by Alembic (``idp/storage/migrations``); nothing calls
``create_all``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from sqlalchemy import create_engine, event, exc, inspect
from sqlalchemy.engine import Engine, make_url
from sqlalchemy.orm import Session, sessionmaker

MIGRATIONS = Path(__file__).parent / "migrations"


class DatabaseUnavailableError(RuntimeError):
    """The configured database cannot be used; the message is one line for the operator."""


def _safe_url(url: str | Engine) -> str:
    try:
        parsed = url.url if isinstance(url, Engine) else make_url(url)
        return parsed.render_as_string(hide_password=True)
    except exc.ArgumentError:
        return "(not a database URL)"


@contextmanager
def database_errors(url: str | Engine) -> Iterator[None]:
    """Turn a wrong URL, a missing driver or an unreachable database into one line naming
    PORTA_DATABASE_URL and what to check (never a driver traceback)."""
    try:
        yield
    except exc.NoSuchModuleError:
        raise DatabaseUnavailableError(
            f"PORTA_DATABASE_URL {_safe_url(url)}: unknown database kind or driver; use "
            "sqlite:///path or postgresql+psycopg://user@host/db (pip install 'porta[postgres]')"
        ) from None
    except exc.ArgumentError:
        raise DatabaseUnavailableError(
            "PORTA_DATABASE_URL is not a database URL; use sqlite:///path or "
            "postgresql+psycopg://user@host/db"
        ) from None
    except (exc.OperationalError, exc.InterfaceError, exc.ProgrammingError) as error:
        detail = str(getattr(error, "orig", error) or error).strip().splitlines()
        reason = detail[0][:200] if detail else type(error).__name__
        raise DatabaseUnavailableError(
            f"cannot use the database {_safe_url(url)} (PORTA_DATABASE_URL): {reason}; check "
            "the URL, that the server is running and that the database and user exist"
        ) from None
    except ModuleNotFoundError as missing:
        raise DatabaseUnavailableError(
            f"PORTA_DATABASE_URL {_safe_url(url)} needs the Python module {missing.name!r}; "
            "for PostgreSQL: pip install 'porta[postgres]'"
        ) from None


def make_engine(url: str, **kwargs: Any) -> Engine:
    """Create an engine for ``url`` with the settings Porta relies on."""
    with database_errors(url):
        return _make_engine(url, **kwargs)


def _make_engine(url: str, **kwargs: Any) -> Engine:
    if url.startswith("sqlite"):
        kwargs.setdefault("connect_args", {})
        kwargs["connect_args"].setdefault("check_same_thread", False)
        kwargs["connect_args"].setdefault("timeout", 15)
        engine = create_engine(url, **kwargs)

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
            # pysqlite's own transaction handling defers BEGIN; take it over so that
            # a write transaction starts with BEGIN IMMEDIATE-free, predictable locking.
            cursor = dbapi_connection.cursor()
            if ":memory:" not in url:
                cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute("PRAGMA busy_timeout=15000")
            cursor.execute("PRAGMA synchronous=NORMAL")
            cursor.close()

        return engine
    kwargs.setdefault("pool_pre_ping", True)
    return create_engine(url, **kwargs)


def make_sessionmaker(engine: Engine) -> sessionmaker[Session]:
    """Sessions that keep loaded objects usable after commit."""
    return sessionmaker(bind=engine, expire_on_commit=False)


def alembic_config(engine: Engine) -> AlembicConfig:
    """An Alembic configuration bound to ``engine`` (no ini file needed)."""
    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    cfg.attributes["engine"] = engine
    return cfg


def upgrade(engine: Engine, revision: str = "head") -> None:
    """Apply migrations up to ``revision`` (``porta db upgrade``)."""
    with database_errors(engine):
        command.upgrade(alembic_config(engine), revision)


def current_revision(engine: Engine) -> str | None:
    """The revision the database is at, or None for an empty database."""
    with engine.connect() as conn:
        if not inspect(conn).has_table("alembic_version"):
            return None
        row = conn.exec_driver_sql("SELECT version_num FROM alembic_version").first()
        return row[0] if row else None


def head_revision() -> str | None:
    """The newest migration this code knows."""
    from alembic.script import ScriptDirectory

    cfg = AlembicConfig()
    cfg.set_main_option("script_location", str(MIGRATIONS))
    return ScriptDirectory.from_config(cfg).get_current_head()


def is_up_to_date(engine: Engine) -> bool:
    """True when the database is at the newest migration."""
    with database_errors(engine):
        return current_revision(engine) == head_revision()
