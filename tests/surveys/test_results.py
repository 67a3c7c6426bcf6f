"""Results: NPS/CSAT per period with intervals, groups, response rate, exit reasons."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from loyalist import clock
from loyalist.errors import ValidationFailed
from loyalist.surveys import service
from loyalist.surveys.schemas import FromTemplate

from .conftest import make_customer

JAN = datetime(2026, 1, 15, 12, tzinfo=UTC)
FEB = datetime(2026, 2, 10, 12, tzinfo=UTC)
APR = datetime(2026, 4, 2, 12, tzinfo=UTC)


def _answer(session, actor, survey_id: int, when: datetime, channel: str, **answers) -> None:
    with clock.frozen_at(when):
        cid = make_customer(session, actor)
        service.submit_response(session, survey_id=survey_id, customer_id=cid, answers=answers, channel=channel,
                                actor=actor)


def test_nps_per_month_and_channel_hand_computed(session, actor, nps_survey) -> None:
    # January: 5 promoters, 3 passives, 2 detractors (the stats example: 30 [-18.4, 78.4]).
    jan = [10, 9, 9, 10, 9, 7, 8, 7, 3, 0]
    for i, score in enumerate(jan):
        _answer(session, actor, nps_survey.id, JAN, "portal" if i < 6 else "web", score=score)
    # February: 1 promoter, 3 detractors -> -50.
    for score in (9, 1, 2, 6):
        _answer(session, actor, nps_survey.id, FEB, "web", score=score)

    out = service.results(session, survey_id=nps_survey.id, period="month", by="channel")
    assert (out.overall.responses, out.overall.promoters, out.overall.passives, out.overall.detractors) == (
        14, 6, 3, 5)
    assert out.overall.nps == 7.1  # 100 * (6 - 5) / 14
    jan_row, feb_row = out.trend
    assert (jan_row.group, jan_row.nps, jan_row.nps_ci_low, jan_row.nps_ci_high, jan_row.nps_change) == (
        "2026-01", 30.0, -18.4, 78.4, None)
    assert (feb_row.group, feb_row.nps, feb_row.nps_change) == ("2026-02", -50.0, -80.0)
    groups = {g.group: g for g in out.groups}
    # portal: 10, 9, 9, 10, 9, 7 -> 5 promoters of 6 = 83.3; web: 8, 7, 3, 0, 9, 1, 2, 6 -> (1 - 5) / 8 = -50
    assert (groups["portal"].nps, groups["web"].nps) == (83.3, -50.0)

    quarters = service.results(session, survey_id=nps_survey.id, period="quarter")
    assert [(t.group, t.responses) for t in quarters.trend] == [("2026-Q1", 14)]
    weeks = service.results(session, survey_id=nps_survey.id, period="week")
    assert [t.group for t in weeks.trend] == ["2026-W03", "2026-W07"]
    window = service.results(session, survey_id=nps_survey.id, since=FEB.replace(day=1), until=APR)
    assert (window.overall.responses, window.overall.nps) == (4, -50.0)


def test_csat_wilson_and_response_rate(session, actor) -> None:
    survey = service.create_from_template(session, data=FromTemplate(template="csat_post_purchase"), actor=actor)
    invited = [make_customer(session, actor) for _ in range(4)]
    sent = service.invite(session, survey_id=survey.id, customer_ids=invited, actor=actor)
    service.submit_by_token(session, token=sent.links[invited[0]].rsplit("/", 1)[1], answers={"satisfaction": 5})
    for score in (5, 4, 4, 4, 5, 5, 4, 2, 1):  # 8 of 10 satisfied overall
        _answer(session, actor, survey.id, clock.now(), "in_store", satisfaction=score)
    out = service.results(session, survey_id=survey.id, by="tier")
    assert (out.overall.csat_n, out.overall.csat_satisfied, out.overall.csat) == (10, 8, 80.0)
    assert (out.overall.csat_ci_low, out.overall.csat_ci_high) == (49.0, 94.3)
    assert out.overall.nps is None and out.overall.nps_n == 0
    assert (out.invitations, out.invited_responses, out.response_rate) == (4, 1, 25.0)
    assert [g.group for g in out.groups] == ["(none)"]


def test_exit_reason_breakdown(session, actor) -> None:
    survey = service.create_from_template(session, data=FromTemplate(template="exit_interview"), actor=actor)
    for reasons in (["price"], ["price", "quality"], ["complaint_unresolved"], ["price"]):
        _answer(session, actor, survey.id, clock.now(), "phone", reasons=reasons)
    out = service.results(session, survey_id=survey.id)
    assert out.exit_reasons == {"price": 3, "quality": 1, "complaint_unresolved": 1}


def test_results_refuse_bad_parameters(session, actor, nps_survey) -> None:
    for kwargs, field in (({"period": "day"}, "period"), ({"by": "shoe_size"}, "by"),
                          ({"confidence": 1.0}, "confidence"), ({"since": APR, "until": JAN}, "until")):
        with pytest.raises(ValidationFailed) as e:
            service.results(session, survey_id=nps_survey.id, **kwargs)
        assert e.value.field == field


def test_results_by_tag_snapshot(session, actor, nps_survey) -> None:
    vip = make_customer(session, actor, tags=["vip", "newsletter"])
    plain = make_customer(session, actor)
    for cid, score in ((vip, 10), (plain, 5)):
        service.submit_response(session, survey_id=nps_survey.id, customer_id=cid, answers={"score": score},
                                channel="portal", actor=actor)
    out = service.results(session, survey_id=nps_survey.id, by="tag")
    assert [(g.group, g.responses, g.nps) for g in out.groups] == [
        ("(none)", 1, -100.0), ("newsletter", 1, 100.0), ("vip", 1, 100.0)]
