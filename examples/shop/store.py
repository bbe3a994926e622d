"""The shop's own records about its customers, in SQLite: what it was allowed to keep.

Everything here is keyed by the person's ``sub`` at the shop; :func:`ShopStore.forget`
deletes all of it when the person withdraws consent.
"""

from __future__ import annotations

import json
import sqlite3
import threading
import time
from collections.abc import Iterable
from typing import Any

SCHEMA = """
CREATE TABLE IF NOT EXISTS customers (
    sub TEXT PRIMARY KEY,
    claims TEXT NOT NULL,
    receipt TEXT,
    updated_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS orders (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    sub TEXT NOT NULL REFERENCES customers(sub) ON DELETE CASCADE,
    product TEXT NOT NULL,
    ordered_at REAL NOT NULL
);
"""


class ShopStore:
    """A small thread-safe SQLite store (one connection per call)."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._lock = threading.Lock()
        with self._connect() as db:
            db.executescript(SCHEMA)

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=10)
        db.row_factory = sqlite3.Row
        db.execute("PRAGMA foreign_keys = ON")
        return db

    def remember(self, sub: str, claims: dict[str, Any], receipt: str | None) -> None:
        """Keep the claims the person consented to (and the receipt) after a login."""
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO customers (sub, claims, receipt, updated_at) VALUES (?, ?, ?, ?) "
                "ON CONFLICT(sub) DO UPDATE SET claims = excluded.claims, "
                "receipt = excluded.receipt, updated_at = excluded.updated_at",
                (sub, json.dumps(claims), receipt, time.time()),
            )

    def customer(self, sub: str) -> dict[str, Any] | None:
        """The stored record for ``sub``: claims, receipt and orders; ``None`` if unknown."""
        with self._connect() as db:
            row = db.execute("SELECT * FROM customers WHERE sub = ?", (sub,)).fetchone()
            if row is None:
                return None
            orders = db.execute(
                "SELECT product, ordered_at FROM orders WHERE sub = ? ORDER BY id", (sub,)
            ).fetchall()
        return {
            "sub": sub,
            "claims": json.loads(row["claims"]),
            "receipt": row["receipt"],
            "updated_at": row["updated_at"],
            "orders": [dict(o) for o in orders],
        }

    def add_order(self, sub: str, product: str) -> None:
        """Record an order."""
        with self._lock, self._connect() as db:
            db.execute(
                "INSERT INTO orders (sub, product, ordered_at) VALUES (?, ?, ?)",
                (sub, product, time.time()),
            )

    def forget(self, sub: str) -> bool:
        """Delete everything about ``sub``; True if there was something to delete."""
        with self._lock, self._connect() as db:
            deleted = db.execute("DELETE FROM customers WHERE sub = ?", (sub,)).rowcount
            db.execute("DELETE FROM orders WHERE sub = ?", (sub,))
        return bool(deleted)

    def drop_claims(self, sub: str, names: Iterable[str]) -> None:
        """Delete some claims of ``sub`` (consent narrowed)."""
        record = self.customer(sub)
        if record is None:
            return
        claims = {k: v for k, v in record["claims"].items() if k not in set(names)}
        with self._lock, self._connect() as db:
            db.execute(
                "UPDATE customers SET claims = ?, updated_at = ? WHERE sub = ?",
                (json.dumps(claims), time.time(), sub),
            )
