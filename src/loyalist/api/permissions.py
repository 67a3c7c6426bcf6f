"""Which roles hold which permission. The single table every endpoint is checked against.

Routes declare a permission with `Depends(require("customers:read"))`; the security test walks
the route table and fails for any endpoint without one, then exercises every role against it.
"""

from __future__ import annotations

from loyalist.staff.schemas import Role

ALL = frozenset(Role)
STAFF_AND_INTEGRATION = frozenset({Role.admin, Role.manager, Role.agent, Role.integration})
MANAGERS = frozenset({Role.admin, Role.manager})
READERS = frozenset({Role.admin, Role.manager, Role.agent, Role.analyst, Role.integration})

PERMISSIONS: dict[str, frozenset[Role]] = {
    # customers and their history
    "customers:read": READERS,
    "customers:write": STAFF_AND_INTEGRATION,
    "customers:merge": MANAGERS,
    "customers:export": MANAGERS,
    "customers:erase": frozenset({Role.admin}),
    "interactions:write": STAFF_AND_INTEGRATION,
    # events and points
    "events:write": frozenset({Role.admin, Role.manager, Role.integration}),
    "events:dry_run": READERS,
    "ledger:read": READERS,
    "ledger:redeem": STAFF_AND_INTEGRATION,
    "ledger:adjust": MANAGERS,
    "ledger:compensate": frozenset({Role.admin, Role.manager, Role.agent}),
    "ledger:admin": frozenset({Role.admin}),
    "rules:read": READERS,
    "rules:write": MANAGERS,
    # rewards and vouchers
    "rewards:read": READERS,
    "rewards:write": MANAGERS,
    "rewards:redeem": STAFF_AND_INTEGRATION,
    "vouchers:consume": STAFF_AND_INTEGRATION,
    "tiers:read": READERS,
    "tiers:write": MANAGERS,
    "purchases:read": READERS,
    # analytics
    "analytics:read": frozenset({Role.admin, Role.manager, Role.analyst}),
    # listening: surveys, feedback, cases, staff flags
    "surveys:read": READERS,
    "surveys:write": MANAGERS,
    "surveys:send": STAFF_AND_INTEGRATION,
    "feedback:read": READERS,
    "feedback:write": STAFF_AND_INTEGRATION,
    "feedback:train": MANAGERS,
    "cases:read": frozenset({Role.admin, Role.manager, Role.agent, Role.integration}),
    "cases:write": frozenset({Role.admin, Role.manager, Role.agent, Role.integration}),
    "cases:manage": MANAGERS,
    "flags:write": frozenset({Role.admin, Role.manager, Role.agent}),
    "flags:confirm": MANAGERS,
    # acting: segments, offers, messaging, automations, tasks, campaigns
    "scores:read": READERS,
    "scores:write": frozenset({Role.admin, Role.manager, Role.analyst}),
    "segments:read": READERS,
    "segments:write": MANAGERS,
    "offers:read": READERS,
    "offers:write": MANAGERS,
    "messages:read": READERS,
    "messages:send": STAFF_AND_INTEGRATION,
    "messaging:admin": MANAGERS,
    "automations:read": READERS,
    "automations:write": MANAGERS,
    "tasks:read": frozenset({Role.admin, Role.manager, Role.agent}),
    "tasks:write": frozenset({Role.admin, Role.manager, Role.agent}),
    "campaigns:read": READERS,
    "campaigns:write": MANAGERS,
    # administration
    "keys:admin": frozenset({Role.admin}),
    "staff:read": frozenset({Role.admin, Role.manager}),
    "staff:admin": frozenset({Role.admin}),
    "audit:read": frozenset({Role.admin, Role.manager}),
    "metrics:read": frozenset({Role.admin, Role.analyst, Role.integration}),
}


def roles_for(permission: str) -> frozenset[Role]:
    """Roles holding `permission`; an unknown permission is a programming error, not 'nobody'."""
    try:
        return PERMISSIONS[permission]
    except KeyError:
        raise KeyError(f"unknown permission {permission!r}: add it to PERMISSIONS") from None
