"""Every endpoint declares a permission, and every role gets exactly what the table grants.

The matrix is generated from the live route table: a new endpoint without `Permit(...)` fails
`test_every_endpoint_declares_a_permission`, and each (role, endpoint) pair is exercised.
"""

from __future__ import annotations

import re

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient

from loyalist.api.app import create_app, is_public, iter_api_routes
from loyalist.api.deps import permission_of
from loyalist.api.permissions import roles_for
from loyalist.config import Settings
from loyalist.staff.schemas import Role


def _api_routes() -> list[tuple[str, APIRoute]]:
    return list(iter_api_routes(create_app(Settings(database_url="sqlite://"))))


def test_the_route_table_is_seen() -> None:
    """Guards the matrix itself: an empty walk would make every check below vacuous."""
    paths = {path for path, _ in _api_routes()}
    assert {"/healthz", "/v1/api-keys", "/v1/customers", "/v1/events"} <= paths
    assert len(paths) > 40


def test_every_endpoint_declares_a_permission() -> None:
    missing = [
        f"{sorted(route.methods)} {path}"
        for path, route in _api_routes()
        if not is_public(path) and permission_of(route) is None
    ]
    assert missing == []


def _concrete_path(path: str) -> str:
    # An id that exists nowhere: allowed roles then get 404/422, never a side effect on real rows
    # (for instance revoking the very key the test is using).
    return re.sub(r"\{[^}]+\}", "999999999", path)


MATRIX = [
    (method, path, permission_of(route))
    for path, route in _api_routes()
    if not is_public(path)
    for method in sorted(route.methods - {"HEAD", "OPTIONS"})
]


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix(app, make_key, role: Role) -> None:
    key = make_key(role)
    outcomes: list[str] = []
    with TestClient(app, raise_server_exceptions=False) as client:
        client.headers["Authorization"] = f"Bearer {key}"
        for method, path, permission in MATRIX:
            assert permission is not None
            response = client.request(method, _concrete_path(path), json={})
            allowed = role in roles_for(permission)
            if allowed and response.status_code in (401, 403):
                outcomes.append(f"{role} refused {method} {path} ({permission}): {response.status_code}")
            if not allowed and response.status_code != 403:
                outcomes.append(f"{role} NOT refused {method} {path} ({permission}): {response.status_code}")
            if response.status_code >= 500:
                outcomes.append(f"{role} got {response.status_code} on {method} {path}")
    assert outcomes == []


def test_anonymous_is_refused_everywhere(app) -> None:
    with TestClient(app, raise_server_exceptions=False) as client:
        failures = [
            f"{method} {path}: {status}"
            for method, path, _ in MATRIX
            if (status := client.request(method, _concrete_path(path), json={}).status_code) != 401
        ]
    assert failures == []
