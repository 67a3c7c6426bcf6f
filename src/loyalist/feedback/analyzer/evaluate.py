"""Measure the analyser against a labelled set ({text, language, sentiment, reasons} per record)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from loyalist.feedback.analyzer.core import REASONS, analyze_many
from loyalist.feedback.analyzer.model import macro_f1

if TYPE_CHECKING:
    from loyalist.feedback.analyzer.model import FeedbackModel


@dataclass
class Report:
    n: int
    language_accuracy: float
    reason_macro_f1: float
    sentiment_accuracy: float
    per_reason_f1: dict[str, float] = field(default_factory=dict)
    per_language: dict[str, dict[str, float]] = field(default_factory=dict)
    errors: list[dict[str, Any]] = field(default_factory=list)


def evaluate(records: Iterable[Mapping[str, Any]], *, model: FeedbackModel | None = None,
             languages: Sequence[str] = ("ru", "uk", "en", "da")) -> Report:
    recs = list(records)
    analyses = analyze_many([r["text"] for r in recs], languages, model=model)
    gold = [list(r["reasons"]) for r in recs]
    pred = [a.codes for a in analyses]
    classes = [c for c in REASONS if any(c in g for g in gold)]
    per_lang: dict[str, dict[str, float]] = {}
    for lang in sorted({r["language"] for r in recs}):
        idx = [i for i, r in enumerate(recs) if r["language"] == lang]
        per_lang[lang] = {
            "n": len(idx),
            "language_accuracy": round(sum(analyses[i].language == lang for i in idx) / len(idx), 4),
            "reason_macro_f1": round(macro_f1([gold[i] for i in idx], [pred[i] for i in idx], classes), 4),
            "sentiment_accuracy": round(sum(analyses[i].sentiment == recs[i]["sentiment"] for i in idx) / len(idx), 4),
        }
    errors = [{"text": r["text"], "language": (r["language"], a.language), "sentiment": (r["sentiment"], a.sentiment),
               "reasons": (gold[i], pred[i])}
              for i, (r, a) in enumerate(zip(recs, analyses, strict=True))
              if a.language != r["language"] or a.sentiment != r["sentiment"] or set(gold[i]) != set(pred[i])]
    n = len(recs) or 1
    pairs = list(zip(recs, analyses, strict=True))
    return Report(
        n=len(recs),
        language_accuracy=round(sum(a.language == r["language"] for r, a in pairs) / n, 4),
        reason_macro_f1=round(macro_f1(gold, pred, classes), 4),
        sentiment_accuracy=round(sum(a.sentiment == r["sentiment"] for r, a in pairs) / n, 4),
        per_reason_f1={c: round(macro_f1(gold, pred, [c]), 4) for c in classes},
        per_language=per_lang,
        errors=errors,
    )
