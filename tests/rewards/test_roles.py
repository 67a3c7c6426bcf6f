"""Every tiers/rewards endpoint admits exactly the roles its permission grants.

Walks this domain's own routers (the app-wide matrix lives in tests/security), so a new
endpoint here is covered without editing a list.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute

from loyalist.api.deps import permission_of
from loyalist.api.permissions import roles_for
from loyalist.api.routes import rewards as rewards_routes
from loyalist.api.routes import tiers as tiers_routes
from loyalist.staff.schemas import Role

ENDPOINTS = [
    (method, re.sub(r"\{[^}]+\}", "1", route.path), permission_of(route))
    for router in (tiers_routes.router, rewards_routes.router)
    for route in router.routes
    if isinstance(route, APIRoute)
    for method in sorted(route.methods - {"HEAD", "OPTIONS"})
]


def test_every_endpoint_declares_a_permission() -> None:
    assert len(ENDPOINTS) >= 17
    assert [e for e in ENDPOINTS if e[2] is None] == []


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix(client_as, role: Role) -> None:
    c = client_as(role)
    wrong = []
    for method, path, permission in ENDPOINTS:
        allowed = role in roles_for(permission)
        status = c.request(method, path).status_code
        if (status == 403) == allowed or status == 401:
            wrong.append((method, path, permission, status))
    assert wrong == []
