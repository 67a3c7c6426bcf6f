"""Helpers for survey tests: customers, surveys from templates, a points rule for completion."""

from __future__ import annotations

from itertools import count

import pytest

from loyalist.customers import service as customers
from loyalist.customers.schemas import CustomerCreate
from loyalist.events import service as events
from loyalist.events.schemas import RuleCreate
from loyalist.surveys import service
from loyalist.surveys.schemas import FromTemplate

_n = count(1)


def make_customer(session, actor, *, locale: str | None = "en", **extra) -> int:
    n = next(_n)
    data = CustomerCreate(first_name="Ida", last_name=f"Holm{n}", email=f"ida{n}@example.org", locale=locale,
                          **extra)
    return customers.create_customer(session, data=data, actor=actor).id


@pytest.fixture
def nps_survey(session, actor):
    return service.create_from_template(
        session, data=FromTemplate(template="nps", review_link="https://reviews.example.org/shop"), actor=actor)


@pytest.fixture
def survey_points_rule(session, actor):
    """25 points per completed survey, through the ordinary earning rules."""
    return events.create_rule(session, data=RuleCreate(name="Survey thanks", kind="fixed_points",
                                                       event_types=["survey_completed"], params={"points": 25}),
                              actor=actor)
