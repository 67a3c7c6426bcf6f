"""Lexicon files (lexicons/<lang>.json) compiled into lookup indexes.

Entry syntax, per language file:
- `word` matches the token or its simplemma lemma exactly; `stem*` matches any token/lemma starting
  with `stem` (inflected Slavic and Danish forms without listing every ending);
- several space-separated words form a phrase matched on consecutive tokens; a lone `*` matches any
  one token ("waited * hours");
- in `reasons`, a leading `-` marks an entry that also counts as negative sentiment (a problem
  phrase such as "-never replied"), `+` as positive; entries of the problem reasons
  (competitor_offer, slow_response, ...) are negative by default;
- a leading `~` marks a weak cue ("website", "cheaper", "size"): it tags its reason only when no
  strong cue of any reason matched, so broad words do not pile up tags on specific complaints.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources

from loyalist.feedback.analyzer.text import normalise

SUPPORTED = ("ru", "uk", "en", "da")
PROBLEM_REASONS = frozenset({"competitor_offer", "slow_response", "promise_broken", "complaint_unresolved",
                             "general_dissatisfaction"})


@dataclass(frozen=True, slots=True)
class Entry:
    kind: str  # "reason" | "sentiment"
    code: str  # reason code, or "positive"/"negative"
    polarity: int  # +1, -1 or 0
    patterns: tuple[str, ...]
    weak: bool = False


@dataclass
class Lexicon:
    lang: str
    stopwords: frozenset[str]
    negators: frozenset[str]
    question_words: frozenset[str]
    contrast: frozenset[str]
    exact: dict[str, list[Entry]] = field(default_factory=dict)
    prefix: dict[str, list[Entry]] = field(default_factory=dict)
    max_prefix: int = 0

    def add(self, entry: Entry) -> None:
        first = entry.patterns[0]
        if first.endswith("*"):
            stem = first[:-1]
            self.prefix.setdefault(stem, []).append(entry)
            self.max_prefix = max(self.max_prefix, len(stem))
        else:
            self.exact.setdefault(first, []).append(entry)


CONTRAST = {"en": ["but", "however", "although", "though"], "ru": ["но", "однако", "зато", "хотя"],
            "uk": ["але", "однак", "проте", "зате", "хоча"], "da": ["men", "dog", "selvom", "alligevel"]}


def _parse(raw: str, kind: str, code: str, polarity: int) -> Entry | None:
    text = normalise(raw.strip())
    weak = False
    if kind == "reason" and text[:1] == "~":
        weak, text = True, text[1:]
    if kind == "reason" and text[:1] in "+-":
        polarity = -1 if text[0] == "-" else 1
        text = text[1:]
    words = tuple(w for w in text.split() if w)
    if not words or words[0] == "*":
        return None
    return Entry(kind=kind, code=code, polarity=polarity, patterns=words, weak=weak)


@lru_cache(maxsize=8)
def load(lang: str) -> Lexicon:
    if lang not in SUPPORTED:
        raise ValueError(f"no lexicon for language {lang!r}")
    data = json.loads(resources.files("loyalist.feedback.analyzer").joinpath("lexicons", f"{lang}.json")
                      .read_text(encoding="utf-8"))
    lex = Lexicon(lang=lang, stopwords=frozenset(normalise(w) for w in data["stopwords"]),
                  negators=frozenset(normalise(w) for w in data["negators"]),
                  question_words=frozenset(normalise(w) for w in data["question_words"]),
                  contrast=frozenset(CONTRAST.get(lang, ())))
    for polarity, key in ((1, "positive"), (-1, "negative")):
        for raw in data[key]:
            if (entry := _parse(raw, "sentiment", key, polarity)) is not None:
                lex.add(entry)
    for code, items in data["reasons"].items():
        default = -1 if code in PROBLEM_REASONS else 0
        for raw in items:
            if (entry := _parse(raw, "reason", code, default)) is not None:
                lex.add(entry)
    return lex
