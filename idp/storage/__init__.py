"""Persistence: SQLAlchemy models, repository functions, Alembic migrations."""

from idp.storage.repository import Store

__all__ = ["Store"]
