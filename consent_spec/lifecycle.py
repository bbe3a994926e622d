"""The consent record lifecycle: states, their W3C DPV terms, and legal transitions.

SPEC.md section 6 holds the same table. A transition is the step from the state of
one record to the state of the record that ``replaces`` it in the same lineage;
``None`` stands for "no previous record" (a new lineage).
"""

from __future__ import annotations

from types import MappingProxyType

DPV = "https://w3id.org/dpv#"
"""Namespace of the W3C Data Privacy Vocabulary (DPV 2.x)."""

STATES: tuple[str, ...] = (
    "given",
    "refused",
    "renewed",
    "narrowed",
    "withdrawn",
    "expired",
    "superseded",
    "invalidated",
)
"""Every lifecycle state, in the order SPEC.md lists them."""

DPV_STATUS = MappingProxyType(
    {
        "given": DPV + "ConsentGiven",
        "refused": DPV + "ConsentRefused",
        "renewed": DPV + "RenewedConsentGiven",
        # DPV has no narrowing status: a narrowed record is consent given for a smaller scope.
        "narrowed": DPV + "ConsentGiven",
        "withdrawn": DPV + "ConsentWithdrawn",
        "expired": DPV + "ConsentExpired",
        # DPV has no superseded status; the closest correct parent is "invalid for processing".
        "superseded": DPV + "ConsentStatusInvalidForProcessing",
        "invalidated": DPV + "ConsentInvalidated",
    }
)
"""Each state's DPV consent status IRI (SPEC.md section 6.1)."""

ACTIVE_STATES = frozenset({"given", "renewed", "narrowed"})
"""States under which claims may be released (DPV ConsentStatusValidForProcessing)."""

TERMINAL_STATES = frozenset({"withdrawn", "expired", "superseded", "invalidated"})
"""States after which a lineage ends; a later decision starts a new lineage."""

_FROM_ACTIVE = frozenset({"renewed", "narrowed", "withdrawn", "expired", "superseded", "invalidated"})

TRANSITIONS = MappingProxyType(
    {
        None: frozenset({"given", "refused"}),
        "given": _FROM_ACTIVE,
        "renewed": _FROM_ACTIVE,
        "narrowed": _FROM_ACTIVE,
        "refused": frozenset({"given", "superseded"}),
        "withdrawn": frozenset(),
        "expired": frozenset(),
        "superseded": frozenset(),
        "invalidated": frozenset(),
    }
)
"""The one table of legal transitions: previous state (or ``None``) -> allowed next states."""


class IllegalTransitionError(ValueError):
    """Raised by :func:`check_transition` for a step the lifecycle does not allow."""

    def __init__(self, previous: str | None, new: str) -> None:
        origin = "a new lineage" if previous is None else f"state {previous!r}"
        allowed = ", ".join(sorted(TRANSITIONS.get(previous, ()))) or "nothing (terminal state)"
        super().__init__(f"cannot go from {origin} to {new!r}; allowed: {allowed}")
        self.previous = previous
        self.new = new


def is_legal_transition(previous: str | None, new: str) -> bool:
    """Tell whether a record in state ``new`` may follow one in state ``previous``."""
    if previous is not None and previous not in STATES:
        raise ValueError(f"unknown consent state {previous!r}")
    if new not in STATES:
        raise ValueError(f"unknown consent state {new!r}")
    return new in TRANSITIONS[previous]


def check_transition(previous: str | None, new: str) -> None:
    """Raise :class:`IllegalTransitionError` unless ``previous -> new`` is legal."""
    if not is_legal_transition(previous, new):
        raise IllegalTransitionError(previous, new)
