"""The listening and acting half of the demo business: surveys and exit interviews with free text
in four languages, complaints as cases in every state with apologies and compensation, staff
flags, reviews from the web, scores, segments, offers, a win-back campaign with a control group,
automations and staff tasks.

Everything goes through the domains' own services, at the moments it would have happened
(`clock.frozen_at`), so the console and portal show a business with a past, not a fixture.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import numpy as np
from sqlalchemy.orm import Session

from loyalist import clock
from loyalist.automation import service as automation
from loyalist.automation.schemas import ActionSpec, AutomationCreate, TriggerSpec
from loyalist.campaigns import service as campaigns
from loyalist.campaigns.schemas import CampaignCreate
from loyalist.cases import service as cases
from loyalist.cases.schemas import CaseCreate, CompensationRequest
from loyalist.demo.phrases import APOLOGIES, EXIT_REASON_OF, PHRASES
from loyalist.demo.timing import PhaseHook, no_timer
from loyalist.errors import DomainError
from loyalist.events import service as events
from loyalist.events.schemas import EventIn
from loyalist.feedback import service as feedback
from loyalist.feedback.schemas import MentionIn
from loyalist.messaging import service as messaging
from loyalist.messaging.schemas import TemplateCreate
from loyalist.offers import service as offers
from loyalist.offers.schemas import OfferCreate
from loyalist.rewards import service as rewards
from loyalist.scores import service as scores
from loyalist.segments import service as segments
from loyalist.segments.schemas import SegmentCreate, SegmentUpdate
from loyalist.surveys import service as surveys
from loyalist.surveys.schemas import FromTemplate
from loyalist.tasks import service as tasks
from loyalist.types import Actor

COMPLAINT_REASONS = ["quality", "slow_response", "staff", "delivery", "product_availability", "price",
                     "promise_broken"]
CASE_CATEGORY = {"quality": "product", "slow_response": "service", "staff": "staff", "delivery": "delivery",
                 "product_availability": "product", "price": "billing", "promise_broken": "service"}
# the state each demo case is left in, and how often
FINAL_STATES = ["new", "acknowledged", "in_progress", "waiting_for_customer", "resolved", "follow_up_done", "closed"]
ANSWER_BATCH = 250  # survey answers recorded per bulk call (a progress step)
STATE_WEIGHTS = [0.1, 0.1, 0.14, 0.08, 0.14, 0.1, 0.34]


@dataclass
class Person:
    customer_id: int
    external_id: str
    joined: datetime
    locale: str
    purchases: list[datetime] = field(default_factory=list)


@dataclass
class StoryCounts:
    survey_answers: int = 0
    exit_interviews: int = 0
    invitations: int = 0
    cases: Counter[str] = field(default_factory=Counter)
    flags: int = 0
    mentions: int = 0
    segments: int = 0
    offers_issued: int = 0
    campaign_members: int = 0
    automations: int = 0
    tasks: int = 0


def _staff_actor(staff_id: int, name: str, role: str) -> Actor:
    return Actor(kind="staff", id=staff_id, name=name, role=role)


def _phrase(rng: np.random.Generator, reason: str, locale: str) -> str:
    options = PHRASES[reason].get(locale) or PHRASES[reason]["en"]
    return str(options[int(rng.integers(0, len(options)))])


def _moment(rng: np.random.Generator, start: datetime, end: datetime) -> datetime:
    span = max((end - start).total_seconds(), 3600.0)
    return start + timedelta(seconds=float(rng.uniform(0, span)))


def listen(session: Session, rng: np.random.Generator, people: list[Person], now: datetime,
           staff: dict[str, Actor], counts: StoryCounts, report: Callable[[str, int, int], None],
           phase: PhaseHook = no_timer) -> None:
    """Surveys, exit interviews, reviews, complaints as cases and staff flags."""
    admin, manager, agent = staff["admin"], staff["manager"], staff["agent"]
    with phase("surveys: NPS answers"):
        nps = surveys.create_from_template(session, data=FromTemplate(template="nps", name="NPS"), actor=admin)
        exit_survey = surveys.create_from_template(session, data=FromTemplate(template="exit_interview"), actor=admin)
        relation = surveys.create_from_template(session, data=FromTemplate(template="relationship"), actor=admin)

        buyers = [p for p in people if p.purchases]
        frequency = np.array([len(p.purchases) for p in buyers])
        cut_low, cut_high = np.quantile(frequency, [0.4, 0.8])
        answering = rng.choice(len(buyers), size=min(len(buyers), max(40, len(people) // 10)), replace=False)
        detractors: list[tuple[Person, str, datetime]] = []
        batch: list[dict[str, object]] = []
        for n, i in enumerate(answering):
            person = buyers[int(i)]
            freq = len(person.purchases)
            # loyal customers are happier: the score distribution shifts with purchase frequency
            centre = 9.0 if freq >= cut_high else (7.5 if freq >= cut_low else 6.0)
            score = int(np.clip(round(rng.normal(centre, 2.0)), 0, 10))
            answers: dict[str, object] = {"score": score}
            reason = None
            if score <= 6:
                reason = COMPLAINT_REASONS[int(rng.integers(0, len(COMPLAINT_REASONS)))]
                answers["better"] = _phrase(rng, reason, person.locale)
            elif score <= 8 and rng.random() < 0.5:
                answers["raise"] = _phrase(rng, COMPLAINT_REASONS[int(rng.integers(0, 3))], person.locale)
            until = min(now - timedelta(hours=1), person.purchases[-1] + timedelta(days=20))
            when = _moment(rng, person.purchases[0], until)
            batch.append(dict(customer_id=person.customer_id, answers=answers, channel="email",
                              locale=person.locale, submitted_at=when))
            if reason is not None:
                detractors.append((person, reason, when))
            if len(batch) == ANSWER_BATCH or n + 1 == len(answering):
                counts.survey_answers += len(surveys.record_answers_bulk(session, survey_id=nps.id, items=batch,
                                                                         actor=admin))
                batch = []
                report("surveys", n + 1, len(answering))

    # exit interviews: customers who stopped buying half a year ago
    with phase("surveys: exit interviews"):
        lapsed = [p for p in buyers if p.purchases[-1] < now - timedelta(days=200)]
        batch = []
        leavers = rng.choice(len(lapsed), size=min(len(lapsed), max(10, len(people) // 50)), replace=False) \
            if lapsed else []
        for i in leavers:
            person = lapsed[int(i)]
            reason = list(EXIT_REASON_OF)[int(rng.integers(0, len(EXIT_REASON_OF)))]
            when = person.purchases[-1] + timedelta(days=int(rng.integers(60, 150)))
            batch.append(dict(customer_id=person.customer_id, channel="email", locale=person.locale,
                              answers={"reasons": [EXIT_REASON_OF[reason]],
                                       "details": _phrase(rng, reason, person.locale)},
                              submitted_at=min(when, now - timedelta(hours=2))))
        if batch:
            counts.exit_interviews += len(surveys.record_answers_bulk(session, survey_id=exit_survey.id,
                                                                      items=batch, actor=admin))

    # invitations still open: they show in each customer's portal
    with phase("surveys: invitations"):
        recent = [p.customer_id for p in buyers if p.purchases[-1] > now - timedelta(days=60)]
        invited = rng.choice(len(recent), size=min(len(recent), 250), replace=False) if recent else []
        result = surveys.invite(session, survey_id=relation.id, customer_ids=[recent[int(i)] for i in invited],
                                actor=admin)
        counts.invitations = result.invited

    # reviews and mentions from the web; negative ones become cases through the feedback hook
    with phase("reviews and mentions"):
        mentions = []
        for n in range(max(10, len(people) // 80)):
            person = buyers[int(rng.integers(0, len(buyers)))]
            positive = rng.random() < 0.6
            reason = "praise" if positive else COMPLAINT_REASONS[int(rng.integers(0, len(COMPLAINT_REASONS)))]
            mentions.append(MentionIn(kind="review", source=["google", "trustpilot", "facebook"][n % 3],
                                      external_id=f"demo-review-{n}", text=_phrase(rng, reason, person.locale),
                                      customer_id=person.customer_id, rating=int(rng.integers(4, 6)) if positive
                                      else int(rng.integers(1, 3)),
                                      occurred_at=_moment(rng, now - timedelta(days=90), now - timedelta(hours=3))))
        feedback.ingest_mentions(session, mentions=mentions, actor=admin)
        counts.mentions = len(mentions)

    # complaints: detractors who also wrote in, plus a few from the counter
    with phase("complaint cases"):
        complainants = detractors[: max(20, len(people) // 35)]
        # every state at least once, then by the weights
        states = (FINAL_STATES + [str(s) for s in rng.choice(FINAL_STATES, size=len(complainants), p=STATE_WEIGHTS)]
                  )[:len(complainants)]
        voucher_reward = min(rewards.list_rewards(session, active=True), key=lambda r: r.cost_points)
        for n, ((person, reason, when), final) in enumerate(zip(complainants, states, strict=True)):
            opened = max(when, now - timedelta(days=100)) if final in ("new", "acknowledged") else when
            opened = min(opened, now - timedelta(hours=30 if final == "new" else 200))
            severity = str(rng.choice(["low", "normal", "high", "critical"], p=[0.2, 0.6, 0.15, 0.05]))
            with clock.frozen_at(opened):
                case = cases.create_case(session, actor=agent, data=CaseCreate(
                    customer_id=person.customer_id, channel=str(rng.choice(["phone", "email", "in_store", "web"])),
                    category=CASE_CATEGORY[reason], severity=severity,  # type: ignore[arg-type]
                    subject=_phrase(rng, reason, person.locale)[:80], description=_phrase(rng, reason, person.locale),
                    assignee_id=agent.id))
            counts.cases[str(final)] += 1
            if final == "new":
                continue
            step = opened + timedelta(hours=float(rng.uniform(0.2, 6)))
            with clock.frozen_at(step):
                cases.acknowledge(session, case_id=case.id, text=APOLOGIES.get(person.locale, APOLOGIES["en"]),
                                  actor=agent)
            if final == "acknowledged":
                continue
            step += timedelta(hours=float(rng.uniform(1, 20)))
            with clock.frozen_at(step):
                cases.transition(session, case_id=case.id, to="in_progress", actor=agent)
                cases.add_action(session, case_id=case.id, actor=agent,
                                 description="Called the customer, checked the order and the store log")
            if final == "in_progress":
                continue
            if final == "waiting_for_customer":
                with clock.frozen_at(step + timedelta(hours=2)):
                    cases.transition(session, case_id=case.id, to="waiting_for_customer", actor=agent,
                                     note="Asked for a photo of the receipt")
                continue
            step += timedelta(hours=float(rng.uniform(2, 30)))
            kind = str(rng.choice(["points", "voucher", "gesture"], p=[0.5, 0.2, 0.3]))
            with clock.frozen_at(step):
                cases.compensate(session, case_id=case.id, actor=agent, data=CompensationRequest(
                    kind=kind, compensation_id="demo", points=150 if kind == "points" else None,  # type: ignore[arg-type]
                    reward_id=voucher_reward.id if kind == "voucher" else None,
                    description={"points": "150 points as an apology", "voucher": "A free coffee on us",
                                 "gesture": "Handwritten apology card from the manager"}[kind]))
                cases.resolve(session, case_id=case.id, resolution="Fixed and compensated; the team was briefed",
                              actor=agent)
            if final == "resolved":
                continue
            with clock.frozen_at(step + timedelta(days=3)):
                cases.record_follow_up(session, case_id=case.id, csat=int(rng.choice([3, 4, 5], p=[0.2, 0.4, 0.4])),
                                       actor=agent, comment="Customer happy with the outcome")
            if final == "closed":
                with clock.frozen_at(step + timedelta(days=4)):
                    cases.transition(session, case_id=case.id, to="closed", actor=manager)
            if (n + 1) % 25 == 0:
                report("cases", n + 1, len(complainants))
        cases.scan_breaches(session, as_of=now)

    # staff flag customers who seemed unhappy; managers confirm most of them
    with phase("staff flags"):
        flagged = rng.choice(len(detractors), size=min(len(detractors), 30), replace=False) if detractors else []
        for i in flagged:
            person, reason, when = detractors[int(i)]
            with clock.frozen_at(min(when + timedelta(days=1), now - timedelta(hours=1))):
                try:
                    flag = cases.flag_customer(session, customer_id=person.customer_id, actor=agent,
                                               reason_code="complained" if reason != "price" else "price",
                                               note="Seemed upset at the till")
                except DomainError:
                    continue
                if rng.random() < 0.6:
                    cases.confirm_flag(session, flag_id=flag.id, actor=manager)
            counts.flags += 1


def act(session: Session, rng: np.random.Generator, people: list[Person], now: datetime,
        staff: dict[str, Actor], counts: StoryCounts, report: Callable[[str, int, int], None],
        phase: PhaseHook = no_timer) -> None:
    """Scores, segments, templates, offers, a measured campaign, automations and tasks."""
    admin, manager, agent = staff["admin"], staff["manager"], staff["agent"]
    with phase("scores"):
        report("scores", 0, 1)
        scores.refresh(session, as_of=now, actor=admin)
        report("scores", 1, 1)

    with phase("segments"):
        rules = {
            "Champions": {"field": "rfm_segment", "op": "eq", "value": "champions"},
            "At risk, worth saving": {"all": [
                {"field": "churn_risk", "op": "ge", "value": 0.6},
                {"field": "purchases_count", "op": "ge", "value": 5, "window_days": 730}]},
            "Birthday this month": {"field": "birthday_month", "op": "eq", "value": now.month},
            "Value personal attention": {"field": "values", "op": "eq", "value": "personal_attention"},
            "Detractors with an open case": {"all": [{"field": "nps_category", "op": "eq", "value": "detractor"},
                                                     {"field": "open_cases", "op": "ge", "value": 1}]},
        }
        made = {}
        for name, rule in rules.items():
            made[name] = segments.create_segment(session, data=SegmentCreate(name=name, rule=rule), actor=manager)
        counts.segments = len(made)

    with phase("templates and offers"):
        for key, texts in {
            "winback": {"en": ("We miss you, {{ first_name }}", "It has been a while. Your next coffee is on us."),
                        "ru": ("Мы скучаем, {{ first_name }}", "Давно не виделись. Следующий кофе — за наш счёт."),
                        "uk": ("Ми сумуємо, {{ first_name }}", "Давно не бачились. Наступна кава — за наш рахунок."),
                        "da": ("Vi savner dig, {{ first_name }}", "Det er længe siden. Din næste kaffe er på os.")},
            "birthday": {"en": ("Happy birthday, {{ first_name }}!", "A treat is waiting for you this week."),
                         "ru": ("С днём рождения, {{ first_name }}!", "На этой неделе вас ждёт угощение."),
                         "uk": ("З днем народження, {{ first_name }}!", "Цього тижня на вас чекає частування."),
                         "da": ("Tillykke med fødselsdagen, {{ first_name }}!",
                                "En godbid venter på dig i denne uge.")},
        }.items():
            for locale, (subject, text) in texts.items():
                messaging.create_template(session, actor=manager, data=TemplateCreate(
                    key=key, locale=locale, subject=subject, text=text))

        catalogue = rewards.list_rewards(session, active=True)
        cheapest = min(catalogue, key=lambda r: r.cost_points)
        offers.create_offer(session, actor=manager, data=OfferCreate(
            name="Birthday treat", kind="birthday", reward_type="voucher", reward_id=cheapest.id, lead_days=7))
        offers.create_offer(session, actor=manager, data=OfferCreate(
            name="Regulars: 10% off beans", kind="regulars_exclusive", reward_type="percent",
            discount_value="10", min_purchases=6, purchase_window_days=180))
        winback_offer = offers.create_offer(session, actor=manager, data=OfferCreate(
            name="Come back: 200 bonus points", kind="generic", reward_type="points", points=200))
        tasting = offers.create_offer(session, actor=manager, data=OfferCreate(
            name="Coffee tasting evening", kind="event_invitation", capacity=25,
            event_at=now + timedelta(days=12), location="Copenhagen Central",
            description="Single origins from Ethiopia"))
        if "Champions" in made:
            champions = segments.member_ids(session, segment_id=made["Champions"].id)[:40]
            for cid in champions:
                offers.issue_offer(session, offer_id=tasting.id, customer_id=cid, actor=manager,
                                   issue_key=f"demo-tasting-{cid}")
                counts.offers_issued += 1
                if rng.random() < 0.6:
                    offers.rsvp(session, offer_id=tasting.id, customer_id=cid, actor=manager,
                                response=str(rng.choice(["yes", "maybe", "no"], p=[0.7, 0.15, 0.15])))
        birthdays = offers.issue_birthday_offers(session, as_of=now, actor=admin)
        counts.offers_issued += birthdays.issued

    # a win-back campaign launched two months ago, with a 20% control group that got nothing
    with phase("campaign"):
        at_risk = made["At risk, worth saving"]
        if segments.count(session, segment_id=at_risk.id) < 20:  # a small demo: widen the audience
            at_risk = segments.update_segment(session, segment_id=at_risk.id, actor=manager, data=SegmentUpdate(
                rule={"any": [{"field": "churn_risk", "op": "ge", "value": 0.3},
                              {"field": "last_purchase_days", "op": "ge", "value": 60}]}))
            made["At risk, worth saving"] = at_risk
        if segments.count(session, segment_id=at_risk.id) > 0:
            launched_at = now - timedelta(days=60)
            campaign = campaigns.create_campaign(session, actor=manager, data=CampaignCreate(
                name="Win back at-risk regulars", segment_id=made["At risk, worth saving"].id,
                offer_id=winback_offer.id,
                template="winback", control_percent=20, seed="demo", attribution_days=30, retention_days=90,
                budget="5000", message_cost="0.05", margin="0.6"))
            with clock.frozen_at(launched_at):
                launched = campaigns.launch(session, campaign_id=campaign.id, actor=manager)
            counts.campaign_members = launched.treatment + launched.control
            # customers respond: some of the treated come back within the attribution window
            treated: list[int] = []
            while len(page := campaigns.list_members(session, campaign.id, group="treatment", limit=1000,
                                                     offset=len(treated))) > 0:
                treated += [m.customer_id for m in page]
            by_id = {p.customer_id: p for p in people}
            for cid in treated:
                if rng.random() < 0.12 and cid in by_id:
                    when = launched_at + timedelta(days=float(rng.uniform(1, 28)))
                    events.ingest(session, actor=admin, data=EventIn(
                        type="purchase", idempotency_key=f"demo-winback-{cid}",
                        customer_external_id=by_id[cid].external_id,
                        order_ref=f"WB-{cid}", occurred_at=when, net_amount="14.60", currency="EUR", store="aarhus"))

    # automations: the seeds' two-minute gestures, and the service-recovery follow-up
    with phase("automations"):
        for data in [
            AutomationCreate(name="Birthday greeting", trigger=TriggerSpec(type="birthday"),
                             actions=[ActionSpec(type="send_message", channel="email", template="birthday"),
                                      ActionSpec(type="create_task", task_kind="greet", title="Wish a happy birthday",
                                                 assignee_id=agent.id)]),
            AutomationCreate(name="Detractor call-back", trigger=TriggerSpec(type="nps_detractor"),
                             actions=[ActionSpec(type="create_task", task_kind="call", assignee_id=agent.id,
                                                 title="Call back: unhappy survey answer")]),
            AutomationCreate(name="Win back after 90 quiet days", trigger=TriggerSpec(type="inactivity", days=90,
                                                                                      max_days=120),
                             actions=[ActionSpec(type="send_message", channel="email", template="winback"),
                                      ActionSpec(type="add_tag", tag="winback")]),
            AutomationCreate(name="Thank after a resolved case", trigger=TriggerSpec(type="case_resolved"),
                             actions=[ActionSpec(type="create_task", task_kind="follow_up", assignee_id=agent.id,
                                                 title="Follow up: is the customer satisfied?", delay_hours=48)]),
        ]:
            automation.create_automation(session, data=data, actor=manager)
            counts.automations += 1
        automation.run_all(session, kinds=frozenset({"birthday", "inactivity"}), as_of=now)

    # staff reminders: call the flagged customers
    with phase("staff tasks"):
        for flag in cases.list_flags(session, status="confirmed", limit=15).items:
            tasks.create_task(session, kind="call", title="Personal call: flagged as unhappy",
                              customer_id=flag.customer_id, assignee_id=agent.id, due_at=now + timedelta(days=2),
                              actor=manager,
                              dedupe_key=f"demo-flag-call-{flag.id}")
        counts.tasks = tasks.list_tasks(session, limit=1).total
