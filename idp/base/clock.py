"""The clock: aware UTC times, NumericDates (RFC 7519 §2) and RFC 3339 timestamps."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta


def now() -> datetime:
    """The current time, aware, in UTC."""
    return datetime.now(UTC)


def later(seconds: int) -> datetime:
    """``seconds`` from now."""
    return now() + timedelta(seconds=seconds)


def epoch(moment: datetime) -> int:
    """A NumericDate (RFC 7519 §2)."""
    return int(moment.timestamp())


def timestamp(moment: datetime) -> str:
    """An RFC 3339 UTC timestamp with second precision, as consent documents carry them."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
