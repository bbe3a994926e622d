"""The lifecycle state machine (SPEC.md section 6): one table, in code and in SPEC.md."""

from __future__ import annotations

import copy
import re
from importlib import resources
from typing import Any

import pytest

from consent_spec import (
    DPV_STATUS,
    GENESIS_HASH,
    TRANSITIONS,
    IllegalTransitionError,
    chain_hash,
    check_transition,
    is_legal_transition,
    verify_chain,
)
from consent_spec.lifecycle import ACTIVE_STATES, STATES, TERMINAL_STATES
from consent_spec.schemas import load_schema
from consent_spec.vectors import valid_vectors

SPEC = resources.files("consent_spec").joinpath("SPEC.md").read_text("utf-8")
ORIGINS: list[str | None] = [None, *STATES]
LEGAL = [(a, b) for a in ORIGINS for b in STATES if b in TRANSITIONS[a]]
ILLEGAL = [(a, b) for a in ORIGINS for b in STATES if b not in TRANSITIONS[a]]
BASE = next(v.document for v in valid_vectors() if v.name == "consent-record/given.json")


def _spec_table() -> dict[str | None, set[str]]:
    section = SPEC.split("### 6.2 Transitions", 1)[1].split("```", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| ") and "---" not in line]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")][1:]
    table: dict[str | None, set[str]] = {}
    for row in rows[1:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        origin = None if cells[0] == "(start)" else cells[0]
        table[origin] = {state for state, mark in zip(header, cells[1:], strict=True) if mark == "✔"}
    return table


def test_spec_md_table_equals_the_code_table() -> None:
    assert _spec_table() == {origin: set(targets) for origin, targets in TRANSITIONS.items()}


def test_states_match_the_schema_enum() -> None:
    assert list(STATES) == load_schema("defs")["$defs"]["consent_state"]["enum"]


def test_every_state_maps_to_a_dpv_term_named_in_spec_md() -> None:
    assert set(DPV_STATUS) == set(STATES)
    for state, iri in DPV_STATUS.items():
        assert iri.startswith("https://w3id.org/dpv#")
        term = iri.split("#")[1]
        assert re.search(rf"\| `{state}` \|[^\n]*`dpv:{term}`", SPEC), state


def test_terminal_states_allow_nothing_and_active_states_allow_the_same() -> None:
    assert all(not TRANSITIONS[state] for state in TERMINAL_STATES)
    assert len({TRANSITIONS[state] for state in ACTIVE_STATES}) == 1


@pytest.mark.parametrize(("previous", "new"), LEGAL)
def test_legal_transition_is_accepted(previous: str | None, new: str) -> None:
    assert is_legal_transition(previous, new)
    check_transition(previous, new)
    assert verify_chain(_ledger(previous, new)) == []


@pytest.mark.parametrize(("previous", "new"), ILLEGAL)
def test_illegal_transition_is_rejected(previous: str | None, new: str) -> None:
    assert not is_legal_transition(previous, new)
    with pytest.raises(IllegalTransitionError):
        check_transition(previous, new)
    entries = _ledger(previous, new)
    position = len(entries) - 1
    assert [(i.path, i.rule) for i in verify_chain(entries)] == [(f"$[{position}].state", "lifecycle-transition")]


def test_unknown_states_are_misuse() -> None:
    with pytest.raises(ValueError):
        is_legal_transition("paused", "given")
    with pytest.raises(ValueError):
        is_legal_transition("given", "paused")


def _ledger(previous: str | None, new: str) -> list[dict[str, Any]]:
    """A ledger whose last entry moves from ``previous`` to ``new``."""
    states = ([] if previous is None else _path_to(previous)) + [new]
    entries = []
    head = GENESIS_HASH
    for index, state in enumerate(states):
        entry = copy.deepcopy(BASE)
        entry.update(record_id=f"00000000-0000-4000-8000-{index:012d}", sequence=index, previous_hash=head, state=state)
        if index > 0:
            entry["replaces"] = entries[-1]["record_id"]
        entries.append(entry)
        head = chain_hash(entry, head)
    return entries


def _path_to(state: str) -> list[str]:
    """A legal sequence of states from the start ending in ``state``."""
    frontier: list[list[str]] = [[first] for first in TRANSITIONS[None]]
    while frontier:
        path = frontier.pop(0)
        if path[-1] == state:
            return path
        frontier.extend([*path, nxt] for nxt in sorted(TRANSITIONS[path[-1]]) if nxt not in path)
    raise AssertionError(f"{state} is unreachable")
