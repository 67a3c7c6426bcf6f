"""Language identification restricted to the configured languages.

py3langid alone confuses Russian and Ukrainian (and English/Danish) on the very short texts that
feedback mostly is, so the decision is layered: script (Cyrillic/Latin) narrows the candidates;
letters unique to one language (і ї є ґ / ы э ъ / æ ø å) decide when present; otherwise function
words from the lexicons vote, and py3langid (restricted to the remaining candidates) breaks ties
and decides longer texts.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from loyalist.feedback.analyzer.lexicon import load

CYRILLIC = frozenset({"ru", "uk", "bg", "be", "sr", "mk"})
_UK_ONLY = frozenset("іїєґ")
_RU_ONLY = frozenset("ыэъё")
_DA_ONLY = frozenset("æøå")


@lru_cache(maxsize=16)
def _identifier(languages: tuple[str, ...]) -> Any:
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    ident = LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)
    ident.set_languages(list(languages))
    return ident


_CYR = re.compile(r"[а-яіїєґё]")
_LAT = re.compile(r"[a-zæøå]")


def _script(text: str) -> str | None:
    """Dominant script of lower-cased text."""
    cyr, lat = len(_CYR.findall(text)), len(_LAT.findall(text))
    if cyr == lat == 0:
        return None
    return "cyrillic" if cyr >= lat else "latin"


def detect(text: str, words: Sequence[str], languages: Sequence[str]) -> tuple[str | None, float]:
    """(language, confidence in [0, 1]) for lower-cased `text` and its tokens `words`."""
    langs = tuple(dict.fromkeys(languages))
    if not langs:
        return None, 0.0
    script = _script(text)
    if script is None:
        return (langs[0], 0.0) if len(langs) == 1 else (None, 0.0)
    candidates = tuple(lang for lang in langs if (lang in CYRILLIC) == (script == "cyrillic"))
    if not candidates:
        candidates = langs
    if len(candidates) == 1:
        return candidates[0], 0.99
    letters = set(text)
    if {"ru", "uk"} <= set(candidates):
        uk, ru = bool(letters & _UK_ONLY), bool(letters & _RU_ONLY)
        if uk != ru:
            return ("uk" if uk else "ru"), 0.98
    if "da" in candidates and letters & _DA_ONLY:
        return "da", 0.98
    votes = {lang: sum(1 for w in words if w in load(lang).stopwords) for lang in candidates}
    best = max(votes.values())
    leaders = [lang for lang, v in votes.items() if v == best]
    if best >= 1 and len(leaders) == 1:
        runner_up = max((v for lang, v in votes.items() if lang != leaders[0]), default=0)
        # Function words are a strong signal on short texts; long texts go to the statistical model
        # unless the vote is lopsided.
        if len(words) <= 8 or best >= 2 * max(runner_up, 1):
            return leaders[0], min(0.95, 0.6 + 0.1 * (best - runner_up))
    lang, prob = _identifier(tuple(sorted(leaders if best >= 1 else candidates))).classify(text)
    return str(lang), float(prob)
