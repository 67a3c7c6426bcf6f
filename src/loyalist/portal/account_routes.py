"""Balance, points history with the reason for every change and when lots expire, tier progress,
the rewards catalogue with redemption, and vouchers."""

from __future__ import annotations

import secrets
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from loyalist.api.deps import SessionDep
from loyalist.customer_auth.service import customer_actor
from loyalist.errors import DomainError
from loyalist.ledger import service as ledger
from loyalist.portal.render import current, page, require_csrf
from loyalist.rewards import service as rewards
from loyalist.tiers import service as tiers

router = APIRouter(prefix="/portal", include_in_schema=False)
PAGE_SIZE = 25

# What each ledger entry kind means to a customer, per language (the entry's own reason follows).
KIND_LABELS: dict[str, dict[str, str]] = {
    "earn": {"en": "Earned", "ru": "Начислено", "uk": "Нараховано", "da": "Optjent"},
    "bonus": {"en": "Bonus", "ru": "Бонус", "uk": "Бонус", "da": "Bonus"},
    "compensation": {"en": "Our apology", "ru": "Компенсация", "uk": "Компенсація", "da": "Kompensation"},
    "redeem": {"en": "Spent on a reward", "ru": "Обмен на награду", "uk": "Обмін на нагороду",
               "da": "Brugt på en belønning"},
    "expire": {"en": "Expired", "ru": "Сгорели", "uk": "Згоріли", "da": "Udløbet"},
    "adjust": {"en": "Correction", "ru": "Корректировка", "uk": "Коригування", "da": "Rettelse"},
    "reversal": {"en": "Cancelled", "ru": "Отмена", "uk": "Скасування", "da": "Annulleret"},
    "clawback": {"en": "Returned purchase", "ru": "Возврат покупки", "uk": "Повернення покупки",
                 "da": "Returneret køb"},
    "transfer": {"en": "Transfer", "ru": "Перевод", "uk": "Переказ", "da": "Overførsel"},
    "release": {"en": "Now available", "ru": "Стали доступны", "uk": "Стали доступні", "da": "Nu tilgængelige"},
}


def kind_label(kind: str, language: str) -> str:
    return KIND_LABELS.get(kind, {}).get(language) or KIND_LABELS.get(kind, {}).get("en") or kind


@router.get("/home")
def home(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    balance = ledger.get_balance(session, me.customer_id)
    tier = tiers.customer_view(session, me.customer_id)
    recent = ledger.list_entries(session, me.customer_id, limit=5)
    return page(request, "home.html", language=me.language, me=me, balance=balance, tier=tier,
                recent=recent.items, kind_label=kind_label)


@router.get("/history")
def history(request: Request, session: SessionDep, page_no: int = 1) -> Response:
    me = current(request, session)
    page_no = max(1, min(page_no, 10**6))
    entries = ledger.list_entries(session, me.customer_id, limit=PAGE_SIZE, offset=(page_no - 1) * PAGE_SIZE)
    lots = ledger.list_lots(session, me.customer_id, open_only=True)
    return page(request, "history.html", language=me.language, me=me, entries=entries.items,
                total=entries.total, page_no=page_no, pages=max(1, -(-entries.total // PAGE_SIZE)), lots=lots,
                kind_label=kind_label)


@router.get("/rewards")
def rewards_page(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    return _rewards(request, session, me)


def _rewards(request: Request, session: SessionDep, me, **extra) -> Response:  # type: ignore[no-untyped-def]
    catalogue = rewards.list_rewards(session, active=True, eligible_for=me.customer_id)
    balance = ledger.get_balance(session, me.customer_id)
    return page(request, "rewards.html", language=me.language, me=me, catalogue=catalogue, balance=balance,
                redeem_key=secrets.token_urlsafe(16), **extra)


@router.post("/rewards/{reward_id}/redeem")
def redeem(request: Request, session: SessionDep, reward_id: int, csrf: Annotated[str, Form()] = "",
           key: Annotated[str, Form()] = "") -> Response:
    """The form carries a one-time key, so a double-click or a resubmitted form redeems once."""
    me = current(request, session)
    require_csrf(me, csrf)
    try:
        redemption = rewards.redeem_reward(session, customer_id=me.customer_id, reward_id=reward_id,
                                           idempotency_key=f"portal:{me.customer_id}:{key or secrets.token_hex(8)}",
                                           actor=customer_actor(me.customer_id))
    except DomainError as exc:  # the service wrote nothing (it works in a savepoint)
        return _rewards(request, session, me, error=str(exc), status_code=409)
    return _rewards(request, session, me, voucher=redemption.voucher)


@router.get("/vouchers")
def vouchers(request: Request, session: SessionDep) -> Response:
    me = current(request, session)
    items = rewards.list_vouchers(session, me.customer_id)
    names = {r.id: r.name for r in rewards.list_rewards(session)}
    return page(request, "vouchers.html", language=me.language, me=me, vouchers=items, names=names)
