"""The case state machine as a table: every legal edge, nothing else.

Service recovery reads left to right: acknowledge and apologise, work on it (possibly waiting
for the customer), resolve, follow up with a satisfaction check, close. A resolved, followed-up
or closed case can be reopened back to `in_progress` when the customer is still unhappy.
Preconditions on some edges (apology before acknowledged, apology + action before resolved,
CSAT before follow_up_done, satisfied customer before closed) live in the service.
"""

from __future__ import annotations

STATES = ("new", "acknowledged", "in_progress", "waiting_for_customer", "resolved", "follow_up_done", "closed")
OPEN_STATES = frozenset({"new", "acknowledged", "in_progress", "waiting_for_customer"})
REOPENABLE = frozenset({"resolved", "follow_up_done", "closed"})

TRANSITIONS: dict[str, frozenset[str]] = {
    "new": frozenset({"acknowledged"}),
    "acknowledged": frozenset({"in_progress", "waiting_for_customer", "resolved"}),
    "in_progress": frozenset({"waiting_for_customer", "resolved"}),
    "waiting_for_customer": frozenset({"in_progress", "resolved"}),
    "resolved": frozenset({"follow_up_done", "in_progress"}),
    "follow_up_done": frozenset({"closed", "in_progress"}),
    "closed": frozenset({"in_progress"}),
}


def is_legal(from_state: str, to_state: str) -> bool:
    return to_state in TRANSITIONS.get(from_state, frozenset())


def is_reopen(from_state: str, to_state: str) -> bool:
    return from_state in REOPENABLE and to_state == "in_progress"
