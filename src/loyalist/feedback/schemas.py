"""Public shapes of the feedback domain."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from loyalist.feedback.analyzer import REASONS, SENTIMENTS

__all__ = ["REASONS", "SENTIMENTS", "SOURCE_TYPES", "SCORE_SCALES", "TagRead", "FeedbackItemRead", "FeedbackCreate",
           "AnalysisRead", "AnalyzeRequest", "MentionIn", "ImportResult", "TagChange", "SentimentChange",
           "ThemeRow", "ThemesRead", "ModelRead", "FeedbackPage"]

SOURCE_TYPES = frozenset({"survey_answer", "complaint", "review", "mention", "case", "note", "interaction", "import",
                          "other"})
# How a numeric score maps to sentiment training labels.
SCORE_SCALES = frozenset({"nps", "csat", "ces", "stars"})
MAX_TEXT = 10_000


class TagRead(BaseModel):
    code: str
    matched: list[str] = Field(default_factory=list, description="words/phrases that triggered the tag")
    source: Literal["lexicon", "model", "staff"] = "lexicon"
    confidence: float = 1.0


class FeedbackItemRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    customer_id: int | None
    source_type: str
    source_id: str | None
    platform: str | None = None
    external_id: str | None = None
    author: str | None = None
    url: str | None = None
    channel: str
    text: str
    language: str | None
    language_confidence: float
    sentiment: str
    sentiment_score: float
    sentiment_source: str
    tags: list[TagRead]
    score: int | None
    score_scale: str | None
    labels: list[str] | None
    sentiment_label: str | None
    corrected: bool
    is_question: bool
    needs_answer: bool
    erased: bool
    occurred_at: datetime
    created_at: datetime


class FeedbackPage(BaseModel):
    items: list[FeedbackItemRead]
    total: int
    limit: int
    offset: int


class FeedbackCreate(BaseModel):
    customer_id: int | None = None
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    source_type: str = Field(default="other", examples=["complaint"])
    source_id: str | None = Field(default=None, max_length=200)
    channel: str = "web"
    occurred_at: datetime | None = None
    score: int | None = None
    score_scale: str | None = None
    labels: list[str] | None = None


class AnalyzeRequest(BaseModel):
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    languages: list[str] | None = None


class AnalysisRead(BaseModel):
    language: str | None
    language_confidence: float
    sentiment: str
    sentiment_score: float
    sentiment_source: str
    is_question: bool
    tags: list[TagRead]


class MentionIn(BaseModel):
    """A review or social-media mention from an integration (webhook) or an import file."""

    kind: Literal["review", "mention"] = "mention"
    source: str = Field(min_length=1, max_length=50, description="platform, e.g. google, trustpilot, facebook")
    external_id: str = Field(min_length=1, max_length=200)
    text: str = Field(min_length=1, max_length=MAX_TEXT)
    customer_id: int | None = None
    author: str | None = Field(default=None, max_length=200)
    url: str | None = Field(default=None, max_length=1000)
    rating: int | None = Field(default=None, ge=1, le=5, description="stars 1-5 (reviews)")
    occurred_at: datetime | None = None


class ImportResult(BaseModel):
    created: int
    duplicates: int
    needs_answer: int
    item_ids: list[int]


class TagChange(BaseModel):
    code: str


class SentimentChange(BaseModel):
    sentiment: str


class ThemeRow(BaseModel):
    code: str
    count: int
    share: float = Field(description="share of items in the period carrying this reason")
    previous_count: int
    previous_share: float
    trend: float = Field(description="share change vs the previous period (percentage points / 100)")


class ThemesRead(BaseModel):
    period: Literal["week", "month"]
    start: datetime
    end: datetime
    previous_start: datetime
    language: str | None
    total_items: int
    previous_total_items: int
    rows: list[ThemeRow]


class ModelRead(BaseModel):
    model_config = ConfigDict(from_attributes=True)

    id: int
    trained_at: datetime
    n_samples: int
    n_tag_samples: int
    n_sentiment_samples: int
    folds: int
    model_tag_f1: float | None
    lexicon_tag_f1: float | None
    model_sentiment_accuracy: float | None
    lexicon_sentiment_accuracy: float | None
    use_for_tags: bool
    use_for_sentiment: bool
    active: bool
    classes: list[str]
    actor: str
    note: str | None
