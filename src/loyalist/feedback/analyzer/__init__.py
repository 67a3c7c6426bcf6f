"""Offline text analysis of short customer feedback (pure: no database, no I/O after loading).

`analyze(text)` returns the language, a sentiment with a score in [-1, 1] and reason tags from the
taxonomy, each with the words that triggered it so staff can see why. The lexicon tagger is the
default; a trained char-n-gram model (see `model.py`) replaces its tags/sentiment only when its
cross-validated score beat the lexicons.
"""

from __future__ import annotations

from loyalist.feedback.analyzer.core import (
    DEFAULT_LANGUAGES,
    NEGATIVE_REASONS,
    REASONS,
    SENTIMENTS,
    Analysis,
    TagHit,
    analyze,
    analyze_many,
)

__all__ = ["DEFAULT_LANGUAGES", "NEGATIVE_REASONS", "REASONS", "SENTIMENTS", "Analysis", "TagHit", "analyze",
           "analyze_many"]
