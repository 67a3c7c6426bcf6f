"""Rewards catalogue and earning rules editors, and the earning dry-run.

The dry-run runs the real rule engine on a hypothetical event (`events.service.dry_run`) and
writes nothing, so a manager can see what a rule change would award before customers do.
"""

from __future__ import annotations

import json
import secrets
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import RedirectResponse, Response
from pydantic import ValidationError

from loyalist.customers import service as customers
from loyalist.errors import DomainError
from loyalist.events import service as events
from loyalist.events.schemas import PARAMS_BY_KIND, EventIn, RuleCreate, RuleKind, RuleUpdate, Stacking
from loyalist.rewards import service as rewards
from loyalist.rewards.schemas import RewardCreate, RewardUpdate
from loyalist.staff.sessions import ConsoleSession
from loyalist.web import paging
from loyalist.web.auth import DbDep, needs, root_state
from loyalist.web.forms import FormInvalid, Reader, errors_of
from loyalist.web.templating import render, url

router = APIRouter()
REWARD_KINDS = ("discount_percent", "discount_amount", "free_product", "service", "gift", "event_invitation")


# ------------------------------------------------------------------------------------------ rewards

@router.get("/rewards")
def reward_list(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("rewards:read"))],
                active: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    # The rewards service has no paging (a catalogue is dozens of rows): the page is cut here.
    page = paging.cut(rewards.list_rewards(db, active={"yes": True, "no": False}.get(active)), offset=offset)
    return render(request, "rewards.html", title="Rewards", items=page.items, page=page, form={"active": active},
                  page_href=lambda o: url(request, "/rewards", active=active, offset=o))


def _reward_values(form: dict[str, Any]) -> dict[str, Any]:
    r = Reader(form)
    values = {
        "kind": r.text("kind", required=True), "name": r.text("name", required=True, max_len=200),
        "description": r.text("description") or "", "cost_points": r.integer("cost_points", required=True, minimum=1),
        "value": r.decimal("value"), "stock": r.integer("stock", minimum=0),
        "valid_from": r.when("valid_from"), "valid_until": r.when("valid_until"),
        "voucher_validity_days": r.integer("voucher_validity_days", required=True, minimum=1),
        "limit_per_customer": r.integer("limit_per_customer", minimum=1),
        "limit_per_period": r.integer("limit_per_period", minimum=1),
        "period_days": r.integer("period_days", minimum=1),
        "min_tier_rank": r.integer("min_tier_rank", minimum=0), "tier_codes": r.words("tier_codes"),
        "active": r.boolean("active"),
    }
    r.check()
    return values


def _reward_form(row: Any) -> dict[str, Any]:
    data = row.model_dump()
    for k in ("valid_from", "valid_until"):
        data[k] = data[k].strftime("%Y-%m-%dT%H:%M") if data[k] else ""
    data["tier_codes"] = ", ".join(data["tier_codes"] or [])
    return data


@router.get("/rewards/new")
def reward_new(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("rewards:write"))]) -> Response:
    return render(request, "reward_form.html", title="New reward", kinds=REWARD_KINDS, reward=None,
                  form={"kind": "gift", "voucher_validity_days": 30, "active": True})


@router.get("/rewards/{reward_id}")
def reward_edit(request: Request, reward_id: int, db: DbDep,
                me: Annotated[ConsoleSession, Depends(needs("rewards:write"))]) -> Response:
    row = rewards.get_reward(db, reward_id)
    return render(request, "reward_form.html", title=row.name, kinds=REWARD_KINDS, reward=row, form=_reward_form(row))


@router.post("/rewards/new")
async def reward_create(request: Request, db: DbDep,
                        me: Annotated[ConsoleSession, Depends(needs("rewards:write"))]) -> Response:
    form = dict(await request.form())
    try:
        row = rewards.create_reward(db, data=RewardCreate(**_reward_values(form)), actor=me.actor)
    except (FormInvalid, DomainError, ValidationError) as exc:
        db.rollback()
        db.begin()
        return render(request, "reward_form.html", status_code=400, title="New reward", kinds=REWARD_KINDS,
                      reward=None, form=form, errors=errors_of(exc))
    return RedirectResponse(url(request, "/rewards", flash=f"Reward “{row.name}” created."), status_code=303)


@router.post("/rewards/{reward_id}")
async def reward_update(request: Request, reward_id: int, db: DbDep,
                        me: Annotated[ConsoleSession, Depends(needs("rewards:write"))]) -> Response:
    current = rewards.get_reward(db, reward_id)
    form = dict(await request.form())
    try:
        row = rewards.update_reward(db, reward_id=reward_id, data=RewardUpdate(**_reward_values(form)), actor=me.actor)
    except (FormInvalid, DomainError, ValidationError) as exc:
        db.rollback()
        db.begin()
        return render(request, "reward_form.html", status_code=400, title=current.name, kinds=REWARD_KINDS,
                      reward=current, form=form, errors=errors_of(exc))
    return RedirectResponse(url(request, "/rewards", flash=f"Reward “{row.name}” saved."), status_code=303)


# ------------------------------------------------------------------------------------------ rules

@router.get("/rules")
def rule_list(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("rules:read"))],
              active: str = "", offset: Annotated[int, Query(ge=0)] = 0) -> Response:
    # The events service has no paging (earning rules are tens of rows): the page is cut here.
    page = paging.cut(events.list_rules(db, active={"yes": True, "no": False}.get(active)), offset=offset)
    return render(request, "rules.html", title="Earning rules", items=page.items, page=page, form={"active": active},
                  page_href=lambda o: url(request, "/rules", active=active, offset=o),
                  dry={"type": "purchase", "currency": root_state(request).settings.default_currency},
                  result=None, dry_errors={})


def _rule_values(form: dict[str, Any], *, creating: bool) -> dict[str, Any]:
    r = Reader(form)
    values: dict[str, Any] = {
        "name": r.text("name", required=True, max_len=200), "priority": r.integer("priority") or 0,
        "stacking": r.text("stacking") or "stack", "active": r.boolean("active"),
        "starts_at": r.when("starts_at"), "ends_at": r.when("ends_at"),
        "conditions": r.json_object("conditions") or {}, "params": r.json_object("params") or {},
        "event_types": r.words("event_types"),
        "cap_per_day": r.integer("cap_per_day", minimum=1), "cap_per_month": r.integer("cap_per_month", minimum=1),
        "budget_total": r.integer("budget_total", minimum=1), "pending_days": r.integer("pending_days", minimum=0) or 0,
        "expiry_months": r.integer("expiry_months", minimum=1),
    }
    if creating:
        values["kind"] = r.text("kind", required=True)
        if values["kind"] not in {k.value for k in RuleKind}:
            r.errors.setdefault("kind", f"one of {', '.join(k.value for k in RuleKind)}")
        elif "params" not in r.errors:
            try:  # checked here so the message lands at the params field, naming the parameter
                PARAMS_BY_KIND[RuleKind(values["kind"])].model_validate(values["params"])
            except ValidationError as exc:
                err = exc.errors()[0]
                r.errors["params"] = f"{'.'.join(str(p) for p in err['loc']) or 'params'}: {err['msg']}"
    r.check()
    if not creating and values["event_types"] is None:
        values.pop("event_types")
    return values


def _rule_form(row: Any) -> dict[str, Any]:
    data = row.model_dump(mode="json")
    data["conditions"] = json.dumps(row.conditions, indent=2)
    data["params"] = json.dumps(row.params, indent=2)
    data["event_types"] = ", ".join(row.event_types)
    for k in ("starts_at", "ends_at"):
        v = getattr(row, k)
        data[k] = v.strftime("%Y-%m-%dT%H:%M") if v else ""
    return data


def _rule_page(request: Request, *, rule: Any, form: dict[str, Any], status_code: int = 200,
               errors: dict[str, str] | None = None) -> Response:
    return render(request, "rule_form.html", status_code=status_code, title=rule.name if rule else "New rule",
                  rule=rule, form=form, errors=errors or {}, kinds=[k.value for k in RuleKind],
                  stackings=[s.value for s in Stacking])


@router.get("/rules/new")
def rule_new(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("rules:write"))]) -> Response:
    return _rule_page(request, rule=None, form={"kind": "points_per_amount", "active": True, "priority": 0,
                                                "params": '{\n  "points": 1,\n  "per_amount": 1\n}', "conditions": "{}",
                                                "pending_days": 0})


@router.get("/rules/{rule_id}")
def rule_edit(request: Request, rule_id: int, db: DbDep,
              me: Annotated[ConsoleSession, Depends(needs("rules:write"))]) -> Response:
    row = events.get_rule(db, rule_id)
    return _rule_page(request, rule=row, form=_rule_form(row))


@router.post("/rules/new")
async def rule_create(request: Request, db: DbDep,
                      me: Annotated[ConsoleSession, Depends(needs("rules:write"))]) -> Response:
    form = dict(await request.form())
    try:
        row = events.create_rule(db, data=RuleCreate(**_rule_values(form, creating=True)), actor=me.actor)
    except (FormInvalid, DomainError, ValidationError) as exc:
        db.rollback()
        db.begin()
        return _rule_page(request, rule=None, form=form, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, "/rules", flash=f"Rule “{row.name}” created."), status_code=303)


@router.post("/rules/{rule_id}")
async def rule_update(request: Request, rule_id: int, db: DbDep,
                      me: Annotated[ConsoleSession, Depends(needs("rules:write"))]) -> Response:
    current = events.get_rule(db, rule_id)
    form = dict(await request.form())
    try:
        row = events.update_rule(db, rule_id=rule_id, data=RuleUpdate(**_rule_values(form, creating=False)),
                                 actor=me.actor)
    except (FormInvalid, DomainError, ValidationError) as exc:
        db.rollback()
        db.begin()
        return _rule_page(request, rule=current, form=form, status_code=400, errors=errors_of(exc))
    return RedirectResponse(url(request, "/rules", flash=f"Rule “{row.name}” saved."), status_code=303)


@router.post("/rules-dry-run")
async def dry_run(request: Request, db: DbDep, me: Annotated[ConsoleSession, Depends(needs("events:dry_run"))],
                  active: Annotated[str, Query()] = "") -> Response:
    """What a purchase (or other event) would earn now, rule by rule; nothing is written."""
    form = dict(await request.form())
    r = Reader(form)
    customer_id = r.integer("customer_id", required=True, minimum=1)
    event_type = r.text("type", required=True)
    amount = r.decimal("net_amount")
    result, errors = None, {}
    try:
        r.check()
        customers.get_customer(db, customer_id or 0)
        data = EventIn(type=event_type or "", idempotency_key=f"dry-run:{secrets.token_hex(8)}", source="console",
                       customer_id=customer_id, net_amount=amount, currency=r.text("currency"),
                       store=r.text("store"), channel=r.text("channel"),
                       order_ref=f"dry-run-{secrets.token_hex(4)}" if event_type == "purchase" else None)
        result = events.dry_run(db, data=data, actor=me.actor, settings=root_state(request).settings)
    except (FormInvalid, DomainError, ValidationError) as exc:
        errors = errors_of(exc)
    db.rollback()  # belt and braces: a dry run leaves nothing behind, whatever the engine did
    db.begin()
    page = paging.cut(events.list_rules(db, active={"yes": True, "no": False}.get(active)), offset=0)
    return render(request, "rules.html", status_code=400 if errors else 200, title="Earning rules", items=page.items,
                  page=page, page_href=lambda o: url(request, "/rules", active=active, offset=o),
                  form={"active": active}, dry=form, result=result, dry_errors=errors)
