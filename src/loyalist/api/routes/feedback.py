"""Feedback: analysed texts, staff tag corrections, themes, training, and the mentions webhook."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body

from loyalist.api.deps import Permit, SessionDep
from loyalist.errors import ValidationFailed
from loyalist.feedback import queries, service
from loyalist.feedback.schemas import (
    AnalysisRead,
    AnalyzeRequest,
    FeedbackCreate,
    FeedbackItemRead,
    FeedbackPage,
    ImportResult,
    MentionIn,
    ModelRead,
    SentimentChange,
    TagChange,
    ThemesRead,
)
from loyalist.types import Actor

router = APIRouter(prefix="/v1/feedback", tags=["feedback"])


@router.post("", status_code=201, response_model=FeedbackItemRead)
def record(body: FeedbackCreate, session: SessionDep,
           actor: Annotated[Actor, Permit("feedback:write")]) -> FeedbackItemRead:
    """Analyse and store a text (idempotent on source_type + source_id)."""
    return service.record_text(session, customer_id=body.customer_id, text=body.text, source_type=body.source_type,
                               source_id=body.source_id, occurred_at=body.occurred_at, channel=body.channel,
                               score=body.score, score_scale=body.score_scale, labels=body.labels, actor=actor)


@router.get("", response_model=FeedbackPage)
def list_items(session: SessionDep, actor: Annotated[Actor, Permit("feedback:read")],
               customer_id: int | None = None, source_type: str | None = None, language: str | None = None,
               sentiment: str | None = None, tag: str | None = None, needs_answer: bool | None = None,
               since: datetime | None = None, until: datetime | None = None, limit: int = 50,
               offset: int = 0) -> FeedbackPage:
    return service.list_items(session, customer_id=customer_id, source_type=source_type, language=language,
                              sentiment=sentiment, tag=tag, needs_answer=needs_answer, since=since, until=until,
                              limit=limit, offset=offset)


@router.post("/analyze", response_model=AnalysisRead)
def analyze(body: AnalyzeRequest, session: SessionDep,
            actor: Annotated[Actor, Permit("feedback:read")]) -> AnalysisRead:
    """What the analyser makes of a text, without storing it."""
    return service.analyze_text(session, text=body.text, languages=body.languages)


@router.get("/themes", response_model=ThemesRead)
def themes(session: SessionDep, actor: Annotated[Actor, Permit("feedback:read")],
           period: Literal["week", "month"] = "month", as_of: datetime | None = None, language: str | None = None,
           sentiment: str | None = None, limit: int = 20) -> ThemesRead:
    return queries.themes(session, period=period, as_of=as_of, language=language, sentiment=sentiment, limit=limit)


@router.post("/mentions", response_model=ImportResult)
def mentions_webhook(session: SessionDep, actor: Annotated[Actor, Permit("feedback:write")],
                     body: Annotated[Any, Body()]) -> ImportResult:
    """Webhook for review/social-listening integrations: one mention, a list, or {"items": [...]}.
    One transaction; re-delivery of the same (source, external_id) is reported as a duplicate."""
    from pydantic import ValidationError

    raw = body.get("items") if isinstance(body, dict) and "items" in body else body
    raw = [raw] if isinstance(raw, dict) else raw
    if not isinstance(raw, list) or not raw:
        raise ValidationFailed("body: expected a mention object or a non-empty list of them", field="body")
    if len(raw) > 1000:
        raise ValidationFailed("body: at most 1000 mentions per call", field="body")
    mentions = []
    for n, item in enumerate(raw, start=1):
        try:
            mentions.append(MentionIn.model_validate(item))
        except ValidationError as exc:
            err = exc.errors()[0]
            field = ".".join(str(p) for p in err["loc"]) or "body"
            raise ValidationFailed(f"item {n}: {field}: {err['msg']}", field=field, line=n) from exc
    return service.ingest_mentions(session, mentions=mentions, actor=actor)


@router.get("/model", response_model=ModelRead | None)
def current_model(session: SessionDep, actor: Annotated[Actor, Permit("feedback:read")]) -> ModelRead | None:
    """The last training run: cross-validated figures and whether the model or the lexicons are used."""
    return service.current_model(session)


@router.get("/models", response_model=list[ModelRead])
def list_models(session: SessionDep, actor: Annotated[Actor, Permit("feedback:read")]) -> list[ModelRead]:
    return service.list_models(session)


@router.post("/train", status_code=201, response_model=ModelRead)
def train(session: SessionDep, actor: Annotated[Actor, Permit("feedback:train")], folds: int = 5) -> ModelRead:
    return service.train(session, actor=actor, folds=folds)


@router.get("/{item_id}", response_model=FeedbackItemRead)
def get_item(item_id: int, session: SessionDep, actor: Annotated[Actor, Permit("feedback:read")]) -> FeedbackItemRead:
    return service.get_item(session, item_id)


@router.post("/{item_id}/tags", response_model=FeedbackItemRead)
def add_tag(item_id: int, body: TagChange, session: SessionDep,
            actor: Annotated[Actor, Permit("feedback:write")]) -> FeedbackItemRead:
    """Staff correction: add a reason (stored, audited, becomes training data)."""
    return service.add_tag(session, item_id=item_id, code=body.code, actor=actor)


@router.delete("/{item_id}/tags/{code}", response_model=FeedbackItemRead)
def remove_tag(item_id: int, code: str, session: SessionDep,
               actor: Annotated[Actor, Permit("feedback:write")]) -> FeedbackItemRead:
    return service.remove_tag(session, item_id=item_id, code=code, actor=actor)


@router.put("/{item_id}/sentiment", response_model=FeedbackItemRead)
def set_sentiment(item_id: int, body: SentimentChange, session: SessionDep,
                  actor: Annotated[Actor, Permit("feedback:write")]) -> FeedbackItemRead:
    return service.set_sentiment(session, item_id=item_id, sentiment=body.sentiment, actor=actor)


@router.get("/{item_id}/corrections")
def corrections(item_id: int, session: SessionDep,
                actor: Annotated[Actor, Permit("feedback:read")]) -> list[dict[str, Any]]:
    return service.list_corrections(session, item_id)
