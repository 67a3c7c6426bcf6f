"""Feedback use cases: analyse-and-store, staff corrections, imports, training, themes.

Public contract used by surveys and cases:

    record_text(session, *, customer_id, text, source_type, source_id, occurred_at=None, channel="web",
                score=None, labels=None, actor, score_scale=None, ...) -> FeedbackItemRead

It analyses the text (language, sentiment, reason tags with matched words), stores it, keeps
`labels` (known reason codes such as exit-interview reasons) as training labels, and is idempotent
on (source_type, source_id). Reviews and mentions with a known customer land on the timeline; a
review/mention that needs an answer is handed to `hooks.on_needs_answer` exactly once.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select, update
from sqlalchemy.orm import Session

from loyalist import clock, db
from loyalist.audit import service as audit
from loyalist.customers import hooks as customer_hooks
from loyalist.customers import service as customers_service
from loyalist.errors import NotFound, ValidationFailed
from loyalist.feedback import hooks
from loyalist.feedback.analyzer import REASONS, SENTIMENTS, Analysis, analyze_many
from loyalist.feedback.analyzer.model import FeedbackModel, Sample, cross_validate, fit
from loyalist.feedback.models import FeedbackCorrection, FeedbackItem, FeedbackItemTag, FeedbackModelRun
from loyalist.feedback.schemas import (
    MAX_TEXT,
    SCORE_SCALES,
    AnalysisRead,
    FeedbackItemRead,
    FeedbackPage,
    ImportResult,
    MentionIn,
    ModelRead,
    TagRead,
)
from loyalist.interactions import service as interactions
from loyalist.types import Actor

__all__ = ["record_text", "analyze_text", "get_item", "list_items", "add_tag", "remove_tag", "set_sentiment",
           "ingest_mentions", "train", "current_model", "list_models", "training_samples", "score_sentiment",
           "ANSWERABLE", "COMPLAINT_TAGS"]

# Source types whose "needs an answer" is handed to the hook (the cases domain opens a case).
ANSWERABLE = frozenset({"review", "mention"})
# Tags that mean the author complains about something specific and expects a reaction.
COMPLAINT_TAGS = frozenset({"complaint_unresolved", "promise_broken", "slow_response"})
_SOURCE_TYPE = re.compile(r"^[a-z][a-z0-9_]{0,29}$")
MIN_TRAINING_SAMPLES = 20

_model_cache: dict[int, FeedbackModel] = {}


# ---------------------------------------------------------------------------------------------
# Analysis
# ---------------------------------------------------------------------------------------------


def _active_run_id(session: Session) -> int | None:
    return session.scalar(select(FeedbackModelRun.id).where(
        FeedbackModelRun.active.is_(True),
        (FeedbackModelRun.use_for_tags.is_(True)) | (FeedbackModelRun.use_for_sentiment.is_(True)),
    ).order_by(FeedbackModelRun.id.desc()).limit(1))


def _active_model(session: Session) -> tuple[int | None, FeedbackModel | None]:
    """The trained model, if the last training decided to use it (cached per process by run id)."""
    run_id = _active_run_id(session)
    if run_id is None:
        return None, None
    if run_id not in _model_cache:
        run = session.get(FeedbackModelRun, run_id)
        if run is None or run.blob is None:
            return None, None
        model = FeedbackModel.loads(run.blob)
        model.use_for_tags, model.use_for_sentiment = run.use_for_tags, run.use_for_sentiment
        _model_cache.clear()
        _model_cache[run_id] = model
    return run_id, _model_cache[run_id]


def _analyse(session: Session, texts: Sequence[str], languages: Sequence[str] | None = None
             ) -> tuple[int | None, list[Analysis]]:
    run_id, model = _active_model(session)
    kwargs: dict[str, Any] = {"model": model}
    if languages:
        kwargs["languages"] = tuple(languages)
    return run_id, analyze_many(list(texts), **kwargs)


def _analysis_read(a: Analysis) -> AnalysisRead:
    return AnalysisRead(language=a.language, language_confidence=a.language_confidence, sentiment=a.sentiment,
                        sentiment_score=a.sentiment_score, sentiment_source=a.sentiment_source,
                        is_question=a.is_question, tags=[TagRead(**t.as_dict()) for t in a.tags])  # type: ignore[arg-type]


def analyze_text(session: Session, *, text: str, languages: Sequence[str] | None = None) -> AnalysisRead:
    """Analyse without storing (what would this text be tagged as?)."""
    _check_text(text)
    if languages:
        for lang in languages:
            if lang not in ("ru", "uk", "en", "da"):
                raise ValidationFailed(f"languages: unsupported language {lang!r} (ru, uk, en, da)", field="languages")
    return _analysis_read(_analyse(session, [text], languages)[1][0])


# ---------------------------------------------------------------------------------------------
# Recording
# ---------------------------------------------------------------------------------------------


def score_sentiment(score: int | None, scale: str | None) -> str | None:
    """Sentiment training label implied by a score: NPS 0-6 negative, 7-8 neutral, 9-10 positive;
    CSAT/stars 1-2 negative, 3 neutral, 4-5 positive; CES 1-7 (low effort is good) 1-3 positive,
    4 neutral, 5-7 negative. Without a scale, scores above 5 (or 0) are read as NPS, else 1-5 stars."""
    if score is None:
        return None
    if scale is None:
        scale = "nps" if score > 5 or score == 0 else "stars"
    if scale == "nps":
        return "negative" if score <= 6 else "neutral" if score <= 8 else "positive"
    if scale in ("csat", "stars"):
        return "negative" if score <= 2 else "neutral" if score == 3 else "positive"
    if scale == "ces":
        return "positive" if score <= 3 else "neutral" if score == 4 else "negative"
    return None


def _check_text(text: Any) -> str:
    if not isinstance(text, str) or not text.strip():
        raise ValidationFailed("text: must not be empty", field="text")
    if len(text) > MAX_TEXT:
        raise ValidationFailed(f"text: at most {MAX_TEXT} characters", field="text")
    if "\x00" in text:
        raise ValidationFailed("text: must not contain NUL characters", field="text")
    return text.strip()


def _check_score(score: int | None, scale: str | None) -> None:
    if scale is not None and scale not in SCORE_SCALES:
        raise ValidationFailed(f"score_scale: must be one of {sorted(SCORE_SCALES)}", field="score_scale")
    if score is None:
        return
    if isinstance(score, bool) or not isinstance(score, int):
        raise ValidationFailed("score: must be an integer", field="score")
    bounds = {"nps": (0, 10), "csat": (1, 5), "stars": (1, 5), "ces": (1, 7)}.get(scale or "", (0, 10))
    if not bounds[0] <= score <= bounds[1]:
        raise ValidationFailed(f"score: must be between {bounds[0]} and {bounds[1]}", field="score")


def _check_labels(labels: Iterable[str] | None) -> list[str] | None:
    if labels is None:
        return None
    out: list[str] = []
    for code in labels:
        if code not in REASONS:
            raise ValidationFailed(f"labels: unknown reason code {code!r}", field="labels")
        if code not in out:
            out.append(code)
    return out


def _needs_answer(a: Analysis) -> bool:
    return a.sentiment == "negative" or a.is_question or any(c in COMPLAINT_TAGS for c in a.codes)


def _read(row: FeedbackItem) -> FeedbackItemRead:
    return FeedbackItemRead.model_validate(row)


def _sync_tag_rows(session: Session, row: FeedbackItem) -> None:
    session.execute(delete(FeedbackItemTag).where(FeedbackItemTag.item_id == row.id))
    codes = list(dict.fromkeys(t["code"] for t in row.tags))
    if codes:
        session.execute(FeedbackItemTag.__table__.insert(), [  # type: ignore[attr-defined]
            {"item_id": row.id, "code": c, "language": row.language, "sentiment": row.sentiment,
             "occurred_at": row.occurred_at} for c in codes])


def _check_item(*, text: Any, source_type: Any, source_id: str | None, channel: str, score: int | None,
                score_scale: str | None, labels: list[str] | None, occurred_at: datetime | None
                ) -> tuple[str, list[str] | None, datetime]:
    """The checks of one text that need no database: (clean text, clean labels, when)."""
    clean = _check_text(text)
    if not isinstance(source_type, str) or not _SOURCE_TYPE.match(source_type):
        raise ValidationFailed("source_type: lowercase identifier of at most 30 characters", field="source_type")
    if source_id is not None and (not str(source_id).strip() or len(str(source_id)) > 200 or "\x00" in str(source_id)):
        raise ValidationFailed("source_id: 1-200 characters", field="source_id")
    if channel not in interactions.CHANNELS:
        raise ValidationFailed(f"channel: unknown channel {channel!r}", field="channel")
    _check_score(score, score_scale)
    clean_labels = _check_labels(labels)
    if occurred_at is None:
        when = clock.now()
    else:
        try:
            when = clock.ensure_utc(occurred_at)
        except ValueError as exc:
            raise ValidationFailed("occurred_at: must include a timezone", field="occurred_at") from exc
    return clean, clean_labels, when


def _new_item(*, customer_id: int | None, clean: str, source_type: str, source_id: str | None, channel: str,
              score: int | None, score_scale: str | None, clean_labels: list[str] | None, when: datetime,
              analysis: Any, run_id: int | None, now: datetime, platform: str | None = None,
              external_id: str | None = None, author: str | None = None, url: str | None = None) -> FeedbackItem:
    return FeedbackItem(
        customer_id=customer_id, source_type=source_type, source_id=None if source_id is None else str(source_id),
        platform=platform, external_id=external_id, author=author, url=url, channel=channel, text=clean,
        language=analysis.language, language_confidence=analysis.language_confidence,
        sentiment=analysis.sentiment, sentiment_score=analysis.sentiment_score,
        sentiment_source=analysis.sentiment_source, tags=[t.as_dict() for t in analysis.tags], score=score,
        score_scale=score_scale, labels=clean_labels, sentiment_label=score_sentiment(score, score_scale),
        labelled=bool(clean_labels) or score_sentiment(score, score_scale) is not None,
        corrected=False, is_question=analysis.is_question, needs_answer=_needs_answer(analysis),
        needs_answer_notified_at=None, model_id=run_id, erased=False, occurred_at=when, created_at=now,
        updated_at=now,
    )


def _record_audit(row: FeedbackItem, codes: list[str]) -> dict[str, Any]:
    return {"source_type": row.source_type, "source_id": row.source_id, "customer_id": row.customer_id,
            "language": row.language, "sentiment": row.sentiment, "tags": codes, "needs_answer": row.needs_answer}


def _mention_timeline(row: FeedbackItem, codes: list[str], actor: Actor) -> dict[str, Any]:
    head = "Review" if row.source_type == "review" else "Mention"
    where = f" on {row.platform}" if row.platform else ""
    return dict(customer_id=row.customer_id, kind=row.source_type, channel=row.channel,
                summary=f"{head}{where}: {row.text[:300]}", direction="inbound", occurred_at=row.occurred_at,
                actor=actor, source_type="feedback_item", source_id=str(row.id),
                data={"feedback_item_id": row.id, "platform": row.platform, "sentiment": row.sentiment,
                      "sentiment_score": row.sentiment_score, "tags": codes, "rating": row.score,
                      "needs_answer": row.needs_answer})


def record_text(
    session: Session,
    *,
    customer_id: int | None,
    text: str,
    source_type: str,
    source_id: str | None,
    occurred_at: datetime | None = None,
    channel: str = "web",
    score: int | None = None,
    labels: list[str] | None = None,
    actor: Actor,
    score_scale: str | None = None,
    platform: str | None = None,
    external_id: str | None = None,
    author: str | None = None,
    url: str | None = None,
    languages: Sequence[str] | None = None,
) -> FeedbackItemRead:
    """Analyse and store one text (see the module docstring). Idempotent on (source_type, source_id):
    recording the same source again returns the stored item unchanged."""
    clean, clean_labels, when = _check_item(text=text, source_type=source_type, source_id=source_id,
                                            channel=channel, score=score, score_scale=score_scale, labels=labels,
                                            occurred_at=occurred_at)
    if source_id is not None:
        existing = session.scalar(select(FeedbackItem).where(FeedbackItem.source_type == source_type,
                                                             FeedbackItem.source_id == str(source_id)))
        if existing is not None:
            return _read(existing)
    if customer_id is not None:
        customers_service.get_customer(session, customer_id)  # NotFound names the customer
    run_id, (analysis,) = _analyse(session, [clean], languages)
    row = _new_item(customer_id=customer_id, clean=clean, source_type=source_type, source_id=source_id,
                    channel=channel, score=score, score_scale=score_scale, clean_labels=clean_labels, when=when,
                    analysis=analysis, run_id=run_id, now=clock.now(), platform=platform, external_id=external_id,
                    author=author, url=url)
    session.add(row)
    session.flush()
    _sync_tag_rows(session, row)
    audit.record(session, actor=actor, action="feedback.record", target_type="feedback_item", target_id=row.id,
                 after=_record_audit(row, analysis.codes))
    if customer_id is not None and source_type in ANSWERABLE:
        interactions.record(session, **_mention_timeline(row, analysis.codes, actor))
    item = _read(row)
    if row.needs_answer and source_type in ANSWERABLE:
        _notify_needs_answer(session, row, actor)
        item = _read(row)
    return item


def record_texts(session: Session, *, items: list[dict[str, Any]], actor: Actor) -> list[FeedbackItemRead]:
    """`record_text` for many texts (each dict takes its keyword arguments but `actor`; every item
    needs a `source_id`): the same items, tag rows, audit rows, timeline entries and
    needs-answer hand-overs, with the texts analysed in one batch (the model is several times
    faster on a batch) and a constant number of statements per 1,000 texts. Everything is checked
    before anything is written; an item whose (source_type, source_id) is already stored returns
    the stored item, as `record_text` does. Returns one item per input, in order."""
    checked = []
    for item in items:
        if item.get("source_id") is None:
            raise ValidationFailed("source_id: required for a batch of texts", field="source_id")
        checked.append(_check_item(
            text=item.get("text"), source_type=item.get("source_type"), source_id=item["source_id"],
            channel=item.get("channel", "web"), score=item.get("score"), score_scale=item.get("score_scale"),
            labels=item.get("labels"), occurred_at=item.get("occurred_at")))
    refs = [(item["source_type"], str(item["source_id"])) for item in items]
    existing: dict[tuple[str, str], FeedbackItem] = {}
    for source_type in sorted({t for t, _i in refs}):
        wanted = sorted({i for t, i in refs if t == source_type})
        for start in range(0, len(wanted), 1000):
            existing.update({(r.source_type, str(r.source_id)): r for r in session.scalars(select(FeedbackItem).where(
                FeedbackItem.source_type == source_type, FeedbackItem.source_id.in_(wanted[start:start + 1000])))})
    first: dict[tuple[str, str], int] = {}
    for n, ref in enumerate(refs):
        if ref not in existing and ref not in first:
            first[ref] = n
    who: set[int] = {int(items[n]["customer_id"]) for n in first.values() if items[n].get("customer_id") is not None}
    missing = sorted(who - customers_service.get_customers(session, who).keys())
    if missing:
        raise NotFound(f"customer {missing[0]} not found", field="customer_id")
    todo = list(first.values())
    # one analysis batch per language hint (items without a hint form one batch)
    analyses: dict[int, Any] = {}
    run_id: int | None = None
    hints = {n: tuple(items[n].get("languages") or ()) for n in todo}
    for hint in sorted(set(hints.values())):
        batch = [n for n in todo if hints[n] == hint]
        run_id, found = _analyse(session, [checked[n][0] for n in batch], list(hint) or None)
        analyses.update(zip(batch, found, strict=True))
    now = clock.now()
    made: dict[int, FeedbackItem] = {}
    for n in todo:
        item, (clean, clean_labels, when) = items[n], checked[n]
        made[n] = _new_item(
            customer_id=item.get("customer_id"), clean=clean, source_type=item["source_type"],
            source_id=str(item["source_id"]), channel=item.get("channel", "web"), score=item.get("score"),
            score_scale=item.get("score_scale"), clean_labels=clean_labels, when=when, analysis=analyses[n],
            run_id=run_id, now=now, platform=item.get("platform"), external_id=item.get("external_id"),
            author=item.get("author"), url=item.get("url"))
    # the source ref is unique per item; insert_many matches ids by source_id within one source type
    for source_type in sorted({row.source_type for row in made.values()}):
        keys = [n for n, row in made.items() if row.source_type == source_type]
        made.update(zip(keys, db.insert_many(session, [made[n] for n in keys], key="source_id"), strict=True))
    tag_rows = [{"item_id": row.id, "code": c, "language": row.language, "sentiment": row.sentiment,
                 "occurred_at": row.occurred_at} for row in made.values()
                for c in dict.fromkeys(t["code"] for t in row.tags)]
    if tag_rows:
        session.execute(FeedbackItemTag.__table__.insert(), tag_rows)  # type: ignore[attr-defined]
    audit.record_many(session, actor=actor, action="feedback.record", target_type="feedback_item",
                      items=[(row.id, _record_audit(row, analyses[n].codes)) for n, row in made.items()])
    interactions.record_many(session, [_mention_timeline(row, analyses[n].codes, actor) for n, row in made.items()
                                       if row.customer_id is not None and row.source_type in ANSWERABLE])
    for row in made.values():
        if row.needs_answer and row.source_type in ANSWERABLE:
            _notify_needs_answer(session, row, actor)
    return [_read(made[first[ref]] if ref in first else existing[ref]) for ref in refs]


def _notify_needs_answer(session: Session, row: FeedbackItem, actor: Actor) -> None:
    """Hand the item to the registered handlers once (guarded UPDATE: a second call is a no-op)."""
    result = session.execute(update(FeedbackItem).where(FeedbackItem.id == row.id,
                                                        FeedbackItem.needs_answer_notified_at.is_(None))
                             .values(needs_answer_notified_at=clock.now())
                             .execution_options(synchronize_session=False))
    if result.rowcount != 1:  # type: ignore[attr-defined]
        return
    session.refresh(row)
    item = _read(row)
    for handler in list(hooks.on_needs_answer):
        handler(session, item=item, actor=actor)


# ---------------------------------------------------------------------------------------------
# Reading
# ---------------------------------------------------------------------------------------------


def _row(session: Session, item_id: int) -> FeedbackItem:
    row = session.get(FeedbackItem, item_id)
    if row is None:
        raise NotFound(f"feedback item {item_id} not found", field="item_id")
    return row


def get_item(session: Session, item_id: int) -> FeedbackItemRead:
    return _read(_row(session, item_id))


def list_items(session: Session, *, customer_id: int | None = None, source_type: str | None = None,
               language: str | None = None, sentiment: str | None = None, tag: str | None = None,
               needs_answer: bool | None = None, since: datetime | None = None, until: datetime | None = None,
               limit: int = 50, offset: int = 0) -> FeedbackPage:
    """Newest first; `since` inclusive, `until` exclusive."""
    if not 1 <= limit <= 500:
        raise ValidationFailed("limit: must be between 1 and 500", field="limit")
    if not 0 <= offset <= 10**9:
        raise ValidationFailed("offset: must not be negative", field="offset")
    if sentiment is not None and sentiment not in SENTIMENTS:
        raise ValidationFailed(f"sentiment: must be one of {list(SENTIMENTS)}", field="sentiment")
    if tag is not None and tag not in REASONS:
        raise ValidationFailed(f"tag: unknown reason code {tag!r}", field="tag")
    q = select(FeedbackItem)
    if customer_id is not None:
        q = q.where(FeedbackItem.customer_id == customer_id)
    if source_type is not None:
        q = q.where(FeedbackItem.source_type == source_type)
    if language is not None:
        q = q.where(FeedbackItem.language == language)
    if sentiment is not None:
        q = q.where(FeedbackItem.sentiment == sentiment)
    if needs_answer is not None:
        q = q.where(FeedbackItem.needs_answer.is_(needs_answer))
    if tag is not None:
        q = q.where(FeedbackItem.id.in_(select(FeedbackItemTag.item_id).where(FeedbackItemTag.code == tag)))
    for name, bound in (("since", since), ("until", until)):
        if bound is not None and bound.tzinfo is None:
            raise ValidationFailed(f"{name}: must include a timezone", field=name)
    if since is not None:
        q = q.where(FeedbackItem.occurred_at >= since)
    if until is not None:
        q = q.where(FeedbackItem.occurred_at < until)
    total = session.scalar(select(func.count()).select_from(q.subquery())) or 0
    rows = session.scalars(q.order_by(FeedbackItem.occurred_at.desc(), FeedbackItem.id.desc())
                           .limit(limit).offset(offset)).all()
    return FeedbackPage(items=[_read(r) for r in rows], total=total, limit=limit, offset=offset)


# ---------------------------------------------------------------------------------------------
# Staff corrections (training data)
# ---------------------------------------------------------------------------------------------


def _correct(session: Session, row: FeedbackItem, *, action: str, value: str, previous: str | None,
             actor: Actor) -> None:
    session.add(FeedbackCorrection(item_id=row.id, action=action, value=value, previous=previous, actor=actor.label,
                                   staff_id=actor.id if actor.kind == "staff" else None, created_at=clock.now()))
    row.corrected = True
    row.labelled = True
    row.updated_at = clock.now()


def add_tag(session: Session, *, item_id: int, code: str, actor: Actor) -> FeedbackItemRead:
    """Staff adds a reason the analyser missed; the item's tag set becomes its training label."""
    if code not in REASONS:
        raise ValidationFailed(f"code: unknown reason code {code!r}", field="code")
    row = _row(session, item_id)
    before = [t["code"] for t in row.tags]
    if code in before:
        raise ValidationFailed(f"code: item already has the tag {code!r}", field="code")
    tags = [t for t in row.tags if t["code"] != "other"] if code != "other" else list(row.tags)
    tags.append({"code": code, "matched": [], "source": "staff", "confidence": 1.0})
    row.tags = tags
    row.labels = [t["code"] for t in tags]
    _correct(session, row, action="add_tag", value=code, previous=None, actor=actor)
    session.flush()
    _sync_tag_rows(session, row)
    audit.record(session, actor=actor, action="feedback.tag_add", target_type="feedback_item", target_id=row.id,
                 before={"tags": before}, after={"tags": row.labels})
    return _read(row)


def remove_tag(session: Session, *, item_id: int, code: str, actor: Actor) -> FeedbackItemRead:
    """Staff removes a wrong tag; an item left without reasons is tagged "other"."""
    row = _row(session, item_id)
    before = [t["code"] for t in row.tags]
    if code not in before:
        raise ValidationFailed(f"code: item has no tag {code!r}", field="code")
    tags = [t for t in row.tags if t["code"] != code]
    if not tags:
        tags = [{"code": "other", "matched": [], "source": "staff", "confidence": 1.0}]
    row.tags = tags
    row.labels = [t["code"] for t in tags]
    _correct(session, row, action="remove_tag", value=code, previous=None, actor=actor)
    session.flush()
    _sync_tag_rows(session, row)
    audit.record(session, actor=actor, action="feedback.tag_remove", target_type="feedback_item", target_id=row.id,
                 before={"tags": before}, after={"tags": row.labels})
    return _read(row)


def set_sentiment(session: Session, *, item_id: int, sentiment: str, actor: Actor) -> FeedbackItemRead:
    """Staff corrects the sentiment; it becomes the item's sentiment training label."""
    if sentiment not in SENTIMENTS:
        raise ValidationFailed(f"sentiment: must be one of {list(SENTIMENTS)}", field="sentiment")
    row = _row(session, item_id)
    before = row.sentiment
    if before == sentiment and row.sentiment_label == sentiment:
        raise ValidationFailed(f"sentiment: item is already {sentiment}", field="sentiment")
    row.sentiment = sentiment
    row.sentiment_label = sentiment
    row.sentiment_source = "staff"
    row.sentiment_score = {"positive": 1.0, "neutral": 0.0, "negative": -1.0}[sentiment]
    _correct(session, row, action="set_sentiment", value=sentiment, previous=before, actor=actor)
    session.flush()
    session.execute(update(FeedbackItemTag).where(FeedbackItemTag.item_id == row.id).values(sentiment=sentiment)
                    .execution_options(synchronize_session=False))
    audit.record(session, actor=actor, action="feedback.sentiment_set", target_type="feedback_item",
                 target_id=row.id, before={"sentiment": before}, after={"sentiment": sentiment})
    return _read(row)


def list_corrections(session: Session, item_id: int) -> list[dict[str, Any]]:
    _row(session, item_id)
    rows = session.scalars(select(FeedbackCorrection).where(FeedbackCorrection.item_id == item_id)
                           .order_by(FeedbackCorrection.id)).all()
    return [{"id": r.id, "action": r.action, "value": r.value, "previous": r.previous, "actor": r.actor,
             "created_at": r.created_at} for r in rows]


# ---------------------------------------------------------------------------------------------
# Reviews and social-media mentions (webhook and file import)
# ---------------------------------------------------------------------------------------------


def ingest_mentions(session: Session, *, mentions: Sequence[MentionIn], actor: Actor,
                    lines: Sequence[int] | None = None) -> ImportResult:
    """Store reviews/mentions in the caller's transaction, idempotent on (source, external id).

    An error aborts the whole batch (the caller rolls back) and names the line/item and field.
    """
    created = duplicates = answer = 0
    ids: list[int] = []
    for n, m in enumerate(mentions):
        line = lines[n] if lines is not None else n + 1
        platform = m.source.strip().lower()
        existing = session.scalar(select(FeedbackItem.id).where(FeedbackItem.platform == platform,
                                                                FeedbackItem.external_id == m.external_id))
        if existing is not None:
            duplicates += 1
            ids.append(existing)
            continue
        try:
            item = record_text(
                session, customer_id=m.customer_id, text=m.text, source_type=m.kind,
                source_id=f"{platform}:{m.external_id}", occurred_at=m.occurred_at,
                channel="social" if m.kind == "mention" else "online", score=m.rating,
                score_scale="stars" if m.rating is not None else None, actor=actor, platform=platform,
                external_id=m.external_id, author=m.author, url=m.url)
        except (ValidationFailed, NotFound) as exc:
            field = {"score": "rating", "source_id": "external_id"}.get(getattr(exc, "field", None) or "",
                                                                         getattr(exc, "field", None))
            if isinstance(exc, NotFound) and m.customer_id is not None:
                field = "customer_id"
            raise ValidationFailed(f"line {line}: {exc}", field=field, line=line) from exc
        created += 1
        answer += int(item.needs_answer)
        ids.append(item.id)
    return ImportResult(created=created, duplicates=duplicates, needs_answer=answer, item_ids=ids)


# ---------------------------------------------------------------------------------------------
# Training
# ---------------------------------------------------------------------------------------------


def training_samples(session: Session) -> list[Sample]:
    """Labelled items: reason labels (exit reasons, corrected tag sets) and sentiment labels
    (staff corrections, else implied by an NPS/CSAT/star score). Erased texts are left out."""
    rows = session.execute(select(FeedbackItem.text, FeedbackItem.labels, FeedbackItem.sentiment_label).where(
        FeedbackItem.labelled.is_(True), FeedbackItem.erased.is_(False)).order_by(FeedbackItem.id)).all()
    return [Sample(text=t, reasons=list(lbl) if lbl else None, sentiment=s) for t, lbl, s in rows if t]


def _lexicon_predict(texts: Sequence[str]) -> list[tuple[list[str], str]]:
    return [(a.codes, a.sentiment) for a in analyze_many(list(texts))]


def train(session: Session, *, actor: Actor, folds: int = 5, samples: Sequence[Sample] | None = None) -> ModelRead:
    """Fit the char-n-gram model, cross-validate it against the lexicons on the same folds, and
    store the run; the model is used for tags/sentiment only where it scored higher."""
    data = list(samples) if samples is not None else training_samples(session)
    if not 2 <= folds <= 20:
        raise ValidationFailed("folds: must be between 2 and 20", field="folds")
    now = clock.now()
    note = None
    tag_n = sum(1 for s in data if s.reasons)
    sent_n = sum(1 for s in data if s.sentiment)
    cv = None
    model: FeedbackModel | None = None
    if len(data) < MIN_TRAINING_SAMPLES:
        note = f"only {len(data)} labelled texts (at least {MIN_TRAINING_SAMPLES} needed): lexicons kept"
    else:
        cv = cross_validate(data, _lexicon_predict, folds=folds)
        model = fit(data)
        model.use_for_tags = cv.model_better_for_tags
        model.use_for_sentiment = cv.model_better_for_sentiment
    session.execute(update(FeedbackModelRun).where(FeedbackModelRun.active.is_(True)).values(active=False)
                    .execution_options(synchronize_session=False))
    run = FeedbackModelRun(
        trained_at=now, n_samples=len(data), n_tag_samples=tag_n, n_sentiment_samples=sent_n,
        folds=cv.folds if cv else 0, model_tag_f1=cv.model_tag_f1 if cv else None,
        lexicon_tag_f1=cv.lexicon_tag_f1 if cv else None,
        model_sentiment_accuracy=cv.model_sentiment_accuracy if cv else None,
        lexicon_sentiment_accuracy=cv.lexicon_sentiment_accuracy if cv else None,
        use_for_tags=bool(model and model.use_for_tags), use_for_sentiment=bool(model and model.use_for_sentiment),
        active=True, classes=list(model.tag_classes) if model else [],
        blob=model.dumps() if model is not None and (model.use_for_tags or model.use_for_sentiment) else None,
        actor=actor.label, note=note,
    )
    session.add(run)
    session.flush()
    _model_cache.clear()
    audit.record(session, actor=actor, action="feedback.train", target_type="feedback_model", target_id=run.id,
                 after={"n_samples": run.n_samples, "model_tag_f1": run.model_tag_f1,
                        "lexicon_tag_f1": run.lexicon_tag_f1,
                        "model_sentiment_accuracy": run.model_sentiment_accuracy,
                        "lexicon_sentiment_accuracy": run.lexicon_sentiment_accuracy,
                        "use_for_tags": run.use_for_tags, "use_for_sentiment": run.use_for_sentiment})
    return ModelRead.model_validate(run)


def current_model(session: Session) -> ModelRead | None:
    run = session.scalar(select(FeedbackModelRun).where(FeedbackModelRun.active.is_(True))
                         .order_by(FeedbackModelRun.id.desc()).limit(1))
    return None if run is None else ModelRead.model_validate(run)


def list_models(session: Session, *, limit: int = 20) -> list[ModelRead]:
    rows = session.scalars(select(FeedbackModelRun).order_by(FeedbackModelRun.id.desc()).limit(limit)).all()
    return [ModelRead.model_validate(r) for r in rows]


# ---------------------------------------------------------------------------------------------
# Customer hooks: merge, export, erasure
# ---------------------------------------------------------------------------------------------


def _merge_handler(session: Session, *, survivor_id: int, duplicate_id: int, actor: Actor) -> None:
    """Feedback follows the surviving customer."""
    session.execute(update(FeedbackItem).where(FeedbackItem.customer_id == duplicate_id)
                    .values(customer_id=survivor_id).execution_options(synchronize_session=False))
    for obj in list(session.identity_map.values()):
        if isinstance(obj, FeedbackItem):
            session.expire(obj)


def _erasure_handler(session: Session, *, customer_id: int, actor: Actor) -> None:
    """Blank the text, author and link, and the matched words (fragments of the text); keep the
    language, sentiment and reason codes so the themes stay right."""
    rows = session.scalars(select(FeedbackItem).where(FeedbackItem.customer_id == customer_id)).all()
    now = clock.now()
    for row in rows:
        row.text = ""
        row.author = None
        row.url = None
        row.tags = [{**t, "matched": []} for t in row.tags]
        row.erased = True
        row.updated_at = now
    session.flush()


def _export_section(session: Session, customer_id: int) -> list[dict[str, Any]]:
    rows = session.scalars(select(FeedbackItem).where(FeedbackItem.customer_id == customer_id)
                           .order_by(FeedbackItem.occurred_at, FeedbackItem.id)).all()
    return [_read(r).model_dump(mode="json") for r in rows]


def _register_hooks() -> None:
    customer_hooks.register_merge_handler(_merge_handler)
    customer_hooks.register_erasure_handler(_erasure_handler)
    customer_hooks.register_export_section("feedback", _export_section)


_register_hooks()


# ---------------------------------------------------------------------------------------------
# File import (CSV / JSON / JSON Lines)
# ---------------------------------------------------------------------------------------------

IMPORT_COLUMNS = ("kind", "source", "external_id", "text", "customer_id", "customer_external_id", "author", "url",
                  "rating", "occurred_at")


def _mention(raw: dict[str, Any], line: int, session: Session) -> MentionIn:
    from pydantic import ValidationError

    data = {k: (v.strip() if isinstance(v, str) else v) for k, v in raw.items() if v not in (None, "")}
    unknown = sorted(set(data) - set(IMPORT_COLUMNS))
    if unknown:
        raise ValidationFailed(f"line {line}: unknown field {unknown[0]!r}", field=unknown[0], line=line)
    ext = data.pop("customer_external_id", None)
    if ext is not None:
        if "customer_id" in data:
            raise ValidationFailed(f"line {line}: give customer_id or customer_external_id, not both",
                                   field="customer_external_id", line=line)
        try:
            data["customer_id"] = customers_service.get_customer_by_external_id(session, str(ext)).id
        except NotFound as exc:
            raise ValidationFailed(f"line {line}: customer_external_id: no customer {ext!r}",
                                   field="customer_external_id", line=line) from exc
    try:
        return MentionIn.model_validate(data)
    except ValidationError as exc:
        err = exc.errors()[0]
        field = ".".join(str(p) for p in err["loc"]) or None
        raise ValidationFailed(f"line {line}: {field}: {err['msg']}", field=field, line=line) from exc


def parse_mentions(session: Session, *, content: str, fmt: str) -> tuple[list[MentionIn], list[int]]:
    """Parse an import file; errors name the line (CSV/JSON Lines) or item number (JSON array) and field."""
    import csv
    import io
    import json

    rows: list[tuple[int, Any]] = []
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(content))
        if not reader.fieldnames or "text" not in reader.fieldnames:
            raise ValidationFailed("line 1: header must name the columns (at least source, external_id, text)",
                                   field="header", line=1)
        for row in reader:
            if None in row:
                raise ValidationFailed(f"line {reader.line_num}: more values than header columns",
                                       field="row", line=reader.line_num)
            rows.append((reader.line_num, row))
    elif fmt == "jsonl":
        for n, text in enumerate(content.splitlines(), start=1):
            if not text.strip():
                continue
            try:
                rows.append((n, json.loads(text)))
            except json.JSONDecodeError as exc:
                raise ValidationFailed(f"line {n}: invalid JSON: {exc.msg}", field="json", line=n) from exc
    elif fmt == "json":
        try:
            data = json.loads(content)
        except json.JSONDecodeError as exc:
            raise ValidationFailed(f"line {exc.lineno}: invalid JSON: {exc.msg}", field="json",
                                   line=exc.lineno) from exc
        if isinstance(data, dict) and isinstance(data.get("items"), list):
            data = data["items"]
        if not isinstance(data, list):
            raise ValidationFailed("json: expected an array of objects (or {\"items\": [...]})", field="json")
        rows = list(enumerate(data, start=1))
    else:
        raise ValidationFailed("format: must be csv, json or jsonl", field="format")
    mentions, lines = [], []
    for line, raw in rows:
        if not isinstance(raw, dict):
            raise ValidationFailed(f"line {line}: expected an object", field="row", line=line)
        mentions.append(_mention(raw, line, session))
        lines.append(line)
    return mentions, lines


def import_mentions(session: Session, *, content: str, fmt: str, actor: Actor) -> ImportResult:
    """Import reviews/mentions from a file in one transaction (all or nothing), idempotent on
    (source, external id); audited as one import plus one row per created item."""
    mentions, lines = parse_mentions(session, content=content, fmt=fmt)
    result = ingest_mentions(session, mentions=mentions, actor=actor, lines=lines)
    audit.record(session, actor=actor, action="feedback.import", target_type="feedback_import", target_id=None,
                 after={"format": fmt, "rows": len(mentions), "created": result.created,
                        "duplicates": result.duplicates, "needs_answer": result.needs_answer})
    return result
