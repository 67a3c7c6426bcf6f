"""Every endpoint of the OpenAPI spec, fuzzed by schemathesis with valid admin credentials:
no response may be a server error, and every response must match its documented schema.

Why with credentials: without them every call stops at 401 and nothing behind the guard is
exercised. Examples per operation are kept small so the whole spec runs in CI within minutes;
`LOYALIST_FUZZ_EXAMPLES` raises it for a deeper local run.
"""

from __future__ import annotations

import os

import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import response_schema_conformance

from loyalist.staff.schemas import Role

pytestmark = pytest.mark.reliability
EXAMPLES = int(os.environ.get("LOYALIST_FUZZ_EXAMPLES", "5"))


@pytest.fixture
def fuzz_schema(app, make_key, request):  # type: ignore[no-untyped-def]
    request.node.admin_key = make_key(Role.admin)
    loaded = schemathesis.openapi.from_dict(app.openapi())  # built in-process: no HTTP timeout on a big spec
    loaded.app = app
    loaded.location = "/openapi.json"
    return loaded


schema = schemathesis.pytest.from_fixture("fuzz_schema")


@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_server_errors_and_responses_match_their_schema(case, request) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {request.node.admin_key}"}
    if case.path == "/readyz" and case.method.upper() == "GET":
        # 503 is this probe's documented answer while the database is busy or away (here the test
        # transaction holds SQLite's write lock); its own tests cover both answers
        response = case.call(headers=headers, timeout=120)
        assert response.status_code in (200, 503)
        return
    case.call_and_validate(headers=headers, checks=[not_a_server_error, response_schema_conformance], timeout=120)
