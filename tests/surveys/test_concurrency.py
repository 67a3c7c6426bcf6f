"""Two submits of the same personal link at the same moment: exactly one lands, on both backends."""

from __future__ import annotations

import threading

from sqlalchemy import func, select

from loyalist.db import make_session_factory, unit_of_work
from loyalist.errors import InvalidToken
from loyalist.ledger import service as ledger
from loyalist.surveys import service
from loyalist.surveys.models import SurveyResponse
from loyalist.surveys.schemas import FromTemplate

from .conftest import make_customer


def test_racing_submits_of_one_link(committed_engine, actor) -> None:
    from loyalist.events import service as events
    from loyalist.events.schemas import RuleCreate

    factory = make_session_factory(committed_engine)
    with unit_of_work(factory) as s:
        events.create_rule(s, data=RuleCreate(name="Survey thanks", kind="fixed_points",
                                              event_types=["survey_completed"], params={"points": 25}), actor=actor)
        survey = service.create_from_template(s, data=FromTemplate(template="nps"), actor=actor)
        cid = make_customer(s, actor)
        token = service.invite(s, survey_id=survey.id, customer_ids=[cid], actor=actor).links[cid].rsplit("/", 1)[1]

    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def submit(score: int) -> None:
        barrier.wait()
        try:
            with unit_of_work(factory) as s:
                service.submit_by_token(s, token=token, answers={"score": score})
            outcomes.append("ok")
        except InvalidToken:
            outcomes.append("refused")

    threads = [threading.Thread(target=submit, args=(n,)) for n in (9, 2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(outcomes) == ["ok", "refused"]
    with unit_of_work(factory) as s:
        assert s.scalar(select(func.count()).select_from(SurveyResponse)) == 1
        assert ledger.get_balance(s, cid).available == 25
