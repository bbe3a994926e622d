"""Persistence: SQLAlchemy models, one repository module per aggregate, Alembic migrations.

This package is the only place with SQL; everything else calls the named
operations of :class:`Store`.
"""

from idp.storage.base import ConflictError
from idp.storage.store import Store

__all__ = ["ConflictError", "Store"]
