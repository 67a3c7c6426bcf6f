"""Tokenisation and lemmatisation shared by the language detector and the tagger."""

from __future__ import annotations

import json
import re
from functools import lru_cache
from importlib import resources

# Words keep inner apostrophes and hyphens: "doesn't", "пам'ять", "pick-up", "кур’єр".
_WORD = re.compile(r"[^\W_]+(?:['’ʼ\-][^\W_]+)*")
_APOSTROPHES = str.maketrans({"’": "'", "ʼ": "'", "`": "'"})


def normalise(text: str) -> str:
    """Lower case, one apostrophe, ё folded to е (Russian writers use both)."""
    return text.lower().translate(_APOSTROPHES).replace("ё", "е")


def tokens(text: str) -> list[str]:
    return _WORD.findall(normalise(text))


@lru_cache(maxsize=16)
def _table(lang: str) -> dict[str, str] | None:
    """The precomputed simplemma forms relevant to the lexicon (see build_lemmas.py), if present."""
    path = resources.files("loyalist.feedback.analyzer").joinpath("lexicons", f"lemmas_{lang}.json")
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    return dict(data["lemmas"])


@lru_cache(maxsize=200_000)
def lemma(token: str, lang: str) -> str:
    """simplemma's dictionary lemma (cached: the same words recur across thousands of texts).

    The precomputed table answers instantly; without it simplemma itself is asked (slow first call).
    """
    table = _table(lang)
    if table is not None:
        return table.get(token, token)
    import simplemma

    try:
        return normalise(str(simplemma.lemmatize(token, lang=lang)))
    except ValueError:  # a language simplemma does not know
        return token
