"""`analyze`: language, sentiment and reason tags for one short text."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from loyalist.feedback.analyzer import language as langid
from loyalist.feedback.analyzer import tagger
from loyalist.feedback.analyzer.lexicon import SUPPORTED

if TYPE_CHECKING:
    from loyalist.feedback.analyzer.model import FeedbackModel

REASONS: tuple[str, ...] = (
    "price", "quality", "competitor_offer", "slow_response", "promise_broken", "complaint_unresolved",
    "general_dissatisfaction", "service", "delivery", "staff", "product_availability", "other",
)
# Reasons that are problems by definition (the exit-interview codes other than price/quality/other).
NEGATIVE_REASONS = frozenset({"competitor_offer", "slow_response", "promise_broken", "complaint_unresolved",
                              "general_dissatisfaction"})
SENTIMENTS = ("positive", "neutral", "negative")
DEFAULT_LANGUAGES: tuple[str, ...] = SUPPORTED
POSITIVE_AT = 0.2
NEGATIVE_AT = -0.2

Source = Literal["lexicon", "model", "staff"]


@dataclass(frozen=True, slots=True)
class TagHit:
    code: str
    matched: list[str] = field(default_factory=list)
    source: Source = "lexicon"
    confidence: float = 1.0

    def as_dict(self) -> dict[str, object]:
        return {"code": self.code, "matched": list(self.matched), "source": self.source,
                "confidence": self.confidence}


@dataclass(frozen=True, slots=True)
class Analysis:
    language: str | None
    language_confidence: float
    sentiment: str
    sentiment_score: float
    tags: list[TagHit]
    is_question: bool = False
    sentiment_source: Source = "lexicon"

    @property
    def codes(self) -> list[str]:
        return [t.code for t in self.tags]


def sentiment_label(score: float) -> str:
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


def _lexicon_tags(result: tagger.LexiconResult) -> list[TagHit]:
    hits = [TagHit(code=code, matched=words, source="lexicon", confidence=round(min(0.95, 0.55 + 0.15 * len(words)), 2))
            for code, words in result.tags.items()]
    # "General dissatisfaction" means no specific reason was given: a specific tag supersedes it.
    if len(hits) > 1:
        hits = [h for h in hits if h.code != "general_dissatisfaction"]
    order = {code: i for i, code in enumerate(REASONS)}
    hits.sort(key=lambda h: order.get(h.code, len(order)))
    return hits or [TagHit(code="other", matched=[], source="lexicon", confidence=0.5)]


def analyze(text: str, languages: Sequence[str] = DEFAULT_LANGUAGES, *,
            model: FeedbackModel | None = None) -> Analysis:
    """Analyse one text. With `model`, its tags/sentiment replace the lexicon's where the model
    was chosen by cross-validation (the lexicon's matched words are still shown for agreeing tags)."""
    return analyze_many([text], languages, model=model)[0]


def analyze_many(texts: Sequence[str], languages: Sequence[str] = DEFAULT_LANGUAGES, *,
                 model: FeedbackModel | None = None) -> list[Analysis]:
    """Batch form: the model (when used) scores all texts in one matrix product."""
    langs = tuple(lang for lang in languages if lang in SUPPORTED) or DEFAULT_LANGUAGES
    lexical: list[tuple[str | None, float, tagger.LexiconResult]] = []
    for text in texts:
        tokenized = tagger.tokenize(text)
        lang, conf = langid.detect(tokenized[0], tokenized[1], langs)
        result = tagger.tag(text, lang if lang in SUPPORTED else langs[0], tokenized)
        lexical.append((lang, conf, result))
    predictions = model.predict(texts) if model is not None else None
    out: list[Analysis] = []
    for i, (lang, conf, result) in enumerate(lexical):
        tags = _lexicon_tags(result)
        score = result.score
        sentiment_source: Source = "lexicon"
        if predictions is not None and model is not None:
            pred = predictions[i]
            if model.use_for_tags:
                words = {t.code: t.matched for t in tags}
                tags = [TagHit(code=code, matched=words.get(code, []), source="model", confidence=round(p, 3))
                        for code, p in pred.tags]
            if model.use_for_sentiment and pred.sentiment_score is not None:
                score = pred.sentiment_score
                sentiment_source = "model"
        out.append(Analysis(language=lang, language_confidence=round(conf, 4), sentiment=sentiment_label(score),
                            sentiment_score=round(max(-1.0, min(1.0, score)), 4), tags=tags,
                            is_question=result.is_question, sentiment_source=sentiment_source))
    return out
