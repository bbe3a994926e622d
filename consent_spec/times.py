"""RFC 3339 date-times as this specification reads them (SPEC.md section 3.3).

Python's ``datetime.fromisoformat`` rejects two things RFC 3339 allows: the
lowercase ``t`` and ``z`` separators (RFC 3339 section 5.6 NOTE) and the leap
second ``23:59:60`` (RFC 3339 section 5.7). Both parsers here accept them; a leap
second is read as the instant one second after ``:59``, which keeps comparisons
in the right order.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

_DATE_TIME = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(?:\.(\d+))?(?:([Zz])|([+-])(\d{2}):(\d{2}))"
)


def parse_date_time(value: object) -> datetime | None:
    """Return the instant an RFC 3339 ``date-time`` names, or ``None`` when it is not one.

    The result is timezone-aware. Seconds of ``60`` are accepted (RFC 3339 section
    5.7 leap seconds, which occur at the end of a UTC minute); fractions beyond
    microseconds are truncated.
    """
    if not isinstance(value, str):
        return None
    match = _DATE_TIME.fullmatch(value)
    if match is None:
        return None
    year, month, day, hour, minute, second = (int(part) for part in match.group(1, 2, 3, 4, 5, 6))
    fraction = (match.group(7) or "")[:6].ljust(6, "0")
    if match.group(8):
        zone: timezone = UTC
    else:
        offset_hours, offset_minutes = int(match.group(10)), int(match.group(11))
        if offset_hours > 23 or offset_minutes > 59:
            return None
        sign = -1 if match.group(9) == "-" else 1
        zone = timezone(sign * timedelta(hours=offset_hours, minutes=offset_minutes))
    leap = second == 60
    try:
        moment = datetime(year, month, day, hour, minute, 59 if leap else second, int(fraction), tzinfo=zone)
    except ValueError:
        return None
    if leap:
        # RFC 3339 section 5.7: a leap second ends a UTC minute (23:59:60Z, or the same
        # instant written with another offset).
        utc = moment.astimezone(UTC)
        if (utc.hour, utc.minute) != (23, 59):
            return None
        moment += timedelta(seconds=1)
    return moment


def is_date_time(value: object) -> bool:
    """Format check for ``date-time`` (JSON Schema Validation 7.3.1, RFC 3339 section 5.6).

    Non-strings pass, as JSON Schema format assertions apply to strings only.
    """
    return not isinstance(value, str) or parse_date_time(value) is not None
