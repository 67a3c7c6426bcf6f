"""Precompute the part of simplemma's dictionaries the lexicons can use.

Why: simplemma decodes a whole language dictionary (0.5-1M forms) on first use, which takes
5-10 seconds per language; four languages would make every CLI call and test run wait ~25 s.
A lemma only changes the tagger's result when it matches a lexicon pattern, so the table keeps
just those (form -> lemma) pairs. The result is identical to live lemmatisation for matching.

Run after editing a lexicon (a test fails when a table is stale):

    python -m loyalist.feedback.analyzer.build_lemmas [ru uk en da]
"""

from __future__ import annotations

import hashlib
import json
from importlib import resources
from pathlib import Path

from loyalist.feedback.analyzer.lexicon import SUPPORTED, load
from loyalist.feedback.analyzer.text import normalise

LEXICON_DIR = Path(str(resources.files("loyalist.feedback.analyzer").joinpath("lexicons")))


def lexicon_digest(lang: str) -> str:
    return hashlib.sha256((LEXICON_DIR / f"{lang}.json").read_bytes()).hexdigest()


def _relevant(lex_words: set[str], stems: set[str], max_stem: int, lemma: str) -> bool:
    if lemma in lex_words:
        return True
    return any(lemma[:k] in stems for k in range(2, min(len(lemma), max_stem) + 1))


def build(lang: str) -> dict[str, object]:
    from simplemma.strategies.dictionaries.dictionary_factory import DefaultDictionaryFactory

    lex = load(lang)
    words: set[str] = set()
    stems: set[str] = set()
    for entries in (*lex.exact.values(), *lex.prefix.values()):
        for entry in entries:
            for pattern in entry.patterns:
                if pattern == "*":
                    continue
                (stems if pattern.endswith("*") else words).add(pattern.rstrip("*"))
    max_stem = max((len(s) for s in stems), default=0)
    table: dict[str, str] = {}
    for form, lemma in DefaultDictionaryFactory().get_dictionary(lang).items():
        f, lem = normalise(str(form)), normalise(str(lemma))
        if f != lem and " " not in f and _relevant(words, stems, max_stem, lem):
            table[f] = lem
    return {"lang": lang, "lexicon_sha256": lexicon_digest(lang), "source": "simplemma dictionary",
            "lemmas": dict(sorted(table.items()))}


def main(argv: list[str] | None = None) -> None:
    import sys

    langs = (argv if argv is not None else sys.argv[1:]) or list(SUPPORTED)
    for lang in langs:
        data = build(lang)
        path = LEXICON_DIR / f"lemmas_{lang}.json"
        path.write_text(json.dumps(data, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
        print(f"{path}: {len(data['lemmas'])} forms")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()
