"""Analytics scores per customer (RFM, P(alive), churn risk with reasons, CLV) and their refresh."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel

from loyalist.api.deps import Permit, SessionDep
from loyalist.customers import service as customers_service
from loyalist.scores import service
from loyalist.scores.schemas import RefreshResult, ScorePage, ScoreRead
from loyalist.types import Actor

router = APIRouter(prefix="/v1", tags=["scores"])
Reader = Annotated[Actor, Permit("scores:read")]


class RefreshIn(BaseModel):
    as_of: datetime | None = None
    model: Literal["bgnbd", "paretonbd", "mbgnbd"] = "bgnbd"
    churn_horizon_days: int = 90


@router.get("/customers/{customer_id}/scores", response_model=ScoreRead)
def customer_scores(customer_id: int, session: SessionDep, _actor: Reader) -> ScoreRead:
    customers_service.get_customer(session, customer_id)
    return service.get_scores(session, customer_id)


@router.get("/scores", response_model=ScorePage)
def list_scores(session: SessionDep, _actor: Reader, rfm_segment: str | None = None,
                min_churn_risk: Annotated[float | None, Query(ge=0, le=1)] = None,
                order: Literal["churn_risk", "value_at_risk", "predicted_clv", "customer_id"] = "churn_risk",
                limit: Annotated[int, Query(ge=1, le=500)] = 50,
                offset: Annotated[int, Query(ge=0, le=10**9)] = 0) -> ScorePage:
    return service.list_scores(session, rfm_segment=rfm_segment, min_churn_risk=min_churn_risk, order=order,
                               limit=limit, offset=offset)


@router.get("/scores/last-run", response_model=RefreshResult | None)
def last_run(session: SessionDep, _actor: Reader) -> RefreshResult | None:
    return service.last_run(session)


@router.post("/scores/refresh", response_model=RefreshResult)
def refresh(session: SessionDep, actor: Annotated[Actor, Permit("scores:write")],
            body: RefreshIn | None = None) -> RefreshResult:
    """Recompute every customer's scores now (the worker also does this daily)."""
    body = body or RefreshIn()
    return service.refresh(session, as_of=body.as_of, actor=actor, model=body.model,
                           churn_horizon_days=body.churn_horizon_days)
