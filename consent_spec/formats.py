"""The ``email`` format as SPEC.md section 3.3 defines it.

JSON Schema leaves the strictness of format checks to each validator, and two
validators of this specification disagreed on ``email`` (one accepted any text
with an ``@``, the other rejected ``a@b`` and internationalized addresses).
SPEC.md 3.3 therefore fixes it: RFC 5321 section 4.1.2 ``Mailbox`` with a
``Dot-string`` local part and a domain name, as extended to UTF-8 by RFC 6531
section 3.3; no quoted local parts and no address literals; at most 254
characters.
"""

from __future__ import annotations

import re

_ATOM = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~\u0080-\U0010ffff-]+"
_LABEL = r"[A-Za-z0-9\u0080-\U0010ffff](?:[A-Za-z0-9\u0080-\U0010ffff-]*[A-Za-z0-9\u0080-\U0010ffff])?"
_EMAIL = re.compile(rf"{_ATOM}(?:\.{_ATOM})*@{_LABEL}(?:\.{_LABEL})*")


def is_email(value: object) -> bool:
    """Format check for ``email`` (SPEC.md section 3.3); non-strings pass, as in JSON Schema."""
    return not isinstance(value, str) or (len(value) <= 254 and _EMAIL.fullmatch(value) is not None)
