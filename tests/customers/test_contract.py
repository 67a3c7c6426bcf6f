"""The functions other domains rely on: create/get/resolve/ensure/update and timeline record."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select

from loyalist.customers import service
from loyalist.customers.models import Customer
from loyalist.customers.schemas import CustomerCreate, CustomerUpdate
from loyalist.errors import Conflict, NotFound, ValidationFailed
from loyalist.interactions import service as timeline


def test_create_get_update(session, actor) -> None:
    created = service.create_customer(
        session, data=CustomerCreate(external_id="C-1", first_name="Anna", last_name="Berg",
                                     email=" Anna.Berg@Example.COM ", phone="20 12 34 56", locale="da"),
        actor=actor)
    assert (created.email, created.phone, created.name, created.status) == (
        "anna.berg@example.com", "+4520123456", "Anna Berg", "active")
    assert service.get_customer(session, created.id) == created
    updated = service.update_customer(session, customer_id=created.id,
                                      data=CustomerUpdate(display_name="Annie"), actor=actor)
    assert updated.name == "Annie"
    with pytest.raises(NotFound) as err:
        service.get_customer(session, 999999)
    assert err.value.field == "customer_id"


def test_duplicate_external_id_conflicts(session, actor) -> None:
    service.create_customer(session, data=CustomerCreate(external_id="X"), actor=actor)
    with pytest.raises(Conflict) as err:
        service.create_customer(session, data=CustomerCreate(external_id="X"), actor=actor)
    assert err.value.field == "external_id"
    assert session.scalar(select(func.count(Customer.id))) == 1


def test_ensure_and_resolve(session, actor) -> None:
    first = service.ensure_customer(session, external_id="E-1", actor=actor, email="e1@example.com", name="E One")
    again = service.ensure_customer(session, external_id="E-1", actor=actor)
    assert first == again
    assert service.resolve_customer_id(session, external_id="E-1") == first
    assert service.resolve_customer_id(session, customer_id=first) == first
    with pytest.raises(NotFound) as err:
        service.resolve_customer_id(session, external_id="nope")
    assert err.value.field == "external_id"
    with pytest.raises(ValidationFailed):
        service.resolve_customer_id(session)


def test_record_and_list_timeline(session, actor) -> None:
    cid = service.ensure_customer(session, external_id="T-1", actor=actor)
    row = timeline.record(session, customer_id=cid, kind="purchase", channel="in_store", summary="Bought shoes",
                          occurred_at=datetime(2026, 1, 5, 10, tzinfo=UTC), data={"total": "19.99"})
    assert row.id > 0 and row.data == {"total": "19.99"}
    page = timeline.list_timeline(session, cid, kinds=["purchase"])
    assert [i.id for i in page.items] == [row.id]
    assert page.total == 1


def test_resolve_refuses_nul_and_out_of_range_as_not_found(session, actor) -> None:
    cid = service.ensure_customer(session, external_id="R-1", actor=actor)
    for kwargs, field in (({"external_id": "R\x00"}, "external_id"), ({"customer_id": 2**64}, "customer_id"),
                          ({"customer_id": 0}, "customer_id")):
        with pytest.raises(NotFound) as err:
            service.resolve_customer_id(session, **kwargs)
        assert err.value.field == field
    with pytest.raises(ValidationFailed) as verr:
        service.resolve_customer_id(session, customer_id=cid, external_id="R\x00")
    assert verr.value.field == "external_id"


@pytest.mark.parametrize("path", ["/v1/surveys/1/responses?offset=99999999999999999999",
                                  "/v1/events?offset=99999999999999999999",
                                  "/v1/audit?offset=-99999999999999999999"])
def test_a_query_number_beyond_64_bits_is_refused_by_name(client, path) -> None:
    """Found by schemathesis: an offset past int64 failed inside the driver as a 500."""
    response = client.get(path)
    assert response.status_code == 422
    assert response.json()["error"]["field"] == "offset"


def test_a_path_id_beyond_bigint_is_not_found(client) -> None:
    """Found by schemathesis on PostgreSQL: the id reached the query as "bigint out of range";
    no row can have such an id, so the answer is the ordinary 404."""
    response = client.get("/v1/surveys/9223372036854775808/responses")
    assert (response.status_code, response.json()["error"]["code"]) == (404, "not_found")


@pytest.mark.parametrize("path", ["/v1/segments/1/members", "/v1/segments/1/members/remove",
                                  "/v1/surveys/1/invitations"])
def test_a_customer_id_beyond_64_bits_in_a_body_is_refused_by_name(client, path) -> None:
    """Found by schemathesis on PostgreSQL: the id reached the query as "bigint out of range"."""
    response = client.post(path, json={"customer_ids": [2**64]})
    assert response.status_code == 422
    assert response.json()["error"]["field"].startswith("customer_ids")
