"""The API's unit of work: an endpoint's writes commit after it returns and before the answer is
sent, so a commit that fails is reported to the client and leaves nothing behind."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import event, func, select

from loyalist.customers.models import Customer
from loyalist.staff.schemas import Role


def test_a_failed_commit_is_an_error_answer_and_writes_nothing(app, make_key, session_factory) -> None:
    key = make_key(Role.admin)

    def refuse(_session: Any) -> None:
        raise RuntimeError("the database refused the commit")

    event.listen(session_factory, "before_commit", refuse)
    try:
        with TestClient(app, raise_server_exceptions=False) as client:
            response = client.post("/v1/customers", json={"external_id": "UOW-1"},
                                   headers={"Authorization": f"Bearer {key}"})
    finally:
        event.remove(session_factory, "before_commit", refuse)
    assert response.status_code == 500
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.external_id == "UOW-1")) == 0


def test_an_endpoint_error_rolls_back_what_it_wrote(client, session_factory) -> None:
    assert client.post("/v1/customers", json={"external_id": "UOW-2"}).status_code == 201
    duplicate = client.post("/v1/customers", json={"external_id": "UOW-2"})
    assert duplicate.status_code == 409
    with session_factory() as s:
        assert s.scalar(select(func.count()).select_from(Customer).where(Customer.external_id == "UOW-2")) == 1
