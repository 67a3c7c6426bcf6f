"""Lexicon tagger: reason tags with the matched words, and a lexicon sentiment score.

Negation: a sentiment-bearing match preceded (within three words, same clause) by a negator
("не", "not", "ikke"...) flips its polarity ("не дорого", "not bad"). Contrast: matches after
"but"/"но"/"але"/"men" weigh more than those before it ("good product but slow delivery" is a
complaint about delivery).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache

from loyalist.feedback.analyzer.lexicon import Entry, load
from loyalist.feedback.analyzer.text import _WORD, lemma, normalise

_CLAUSE_BREAK = re.compile(r"[.,;:!?()\n]")
NEGATION_WINDOW = 3


@dataclass(frozen=True, slots=True)
class LexiconResult:
    tags: dict[str, list[str]]  # code -> matched phrases in order of appearance
    positive: float
    negative: float
    score: float
    is_question: bool


def _match(pattern: str, tok: str, lem: str) -> bool:
    if pattern == "*":
        return True
    if pattern.endswith("*"):
        stem = pattern[:-1]
        return tok.startswith(stem) or lem.startswith(stem)
    return tok == pattern or lem == pattern


def tokenize(text: str) -> tuple[str, list[str], list[int]]:
    """Normalised text, tokens and a clause number per token (punctuation starts a new clause)."""
    norm = normalise(text)
    toks: list[str] = []
    clauses: list[int] = []
    clause, last = 0, 0
    for m in _WORD.finditer(norm):
        if _CLAUSE_BREAK.search(norm, last, m.start()):
            clause += 1
        toks.append(m.group())
        clauses.append(clause)
        last = m.end()
    return norm, toks, clauses


@lru_cache(maxsize=100_000)
def _candidates(lang: str, tok: str, lem: str) -> tuple[Entry, ...]:
    """Entries whose first pattern matches this token (cached: feedback vocabulary repeats)."""
    lex = load(lang)
    found: list[Entry] = []
    found.extend(lex.exact.get(tok, ()))
    if lem != tok:
        found.extend(lex.exact.get(lem, ()))
    for word in (tok, lem) if lem != tok else (tok,):
        for k in range(min(len(word), lex.max_prefix), 1, -1):
            hit = lex.prefix.get(word[:k])
            if hit:
                found.extend(hit)
    return tuple(found)


def tag(text: str, lang: str, tokenized: tuple[str, list[str], list[int]] | None = None) -> LexiconResult:
    """Tag one text; `tokenized` is `tokenize(text)` when the caller already has it."""
    lex = load(lang)
    norm, toks, clauses = tokenized if tokenized is not None else tokenize(text)
    lems = [lemma(t, lang) for t in toks]
    n = len(toks)
    hits: list[tuple[int, int, Entry]] = []
    for i in range(n):
        for entry in _candidates(lang, toks[i], lems[i]):
            pats = entry.patterns
            end = i + len(pats)
            if end > n:
                continue
            if all(_match(pats[j], toks[i + j], lems[i + j]) for j in range(1, len(pats))):
                hits.append((i, end, entry))
    # Longest first at each start, so a phrase wins over the single word it begins with.
    hits.sort(key=lambda h: (h[0], -(h[1] - h[0])))
    contrast_at = next((i for i, t in enumerate(toks) if t in lex.contrast), None)
    tags: dict[str, list[str]] = {}
    strong: set[str] = set()
    seen_phrase: set[tuple[str, int]] = set()
    covered = [False] * n
    pos = neg = 0.0
    for start, end, entry in hits:
        phrase = " ".join(toks[start:end])
        if entry.kind == "reason" and (entry.code, start) not in seen_phrase:
            seen_phrase.add((entry.code, start))
            words = tags.setdefault(entry.code, [])
            if phrase not in words:
                words.append(phrase)
            if not entry.weak:
                strong.add(entry.code)
        if entry.polarity == 0 or any(covered[start:end]):
            continue
        for j in range(start, end):
            covered[j] = True
        polarity = entry.polarity
        if entry.patterns[0] not in lex.negators:
            window = range(max(0, start - NEGATION_WINDOW), start)
            if any(toks[j] in lex.negators and clauses[j] == clauses[start] for j in window):
                polarity = -polarity
        weight = 1.0
        if contrast_at is not None:
            weight = 1.5 if start > contrast_at else 0.75
        if polarity > 0:
            pos += weight
        else:
            neg += weight
    if strong:
        tags = {code: words for code, words in tags.items() if code in strong}
    total = pos + neg
    score = 0.0 if total == 0 else (pos - neg) / total * min(1.0, 0.5 + total / 4)
    # A question mark, or a leading question word in a short text ("подскажите, когда привезут").
    is_question = "?" in norm or (0 < n <= 12 and toks[0] in lex.question_words and toks[0] not in lex.stopwords)
    if is_question:  # "is it durable?" asks, it does not praise
        score *= 0.25
    return LexiconResult(tags=tags, positive=pos, negative=neg, score=round(score, 4), is_question=is_question)
