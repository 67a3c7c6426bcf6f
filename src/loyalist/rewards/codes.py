"""Voucher codes people can read aloud and type at a till.

Alphabet: 32 symbols without 0/O/1/I (the pairs people confuse). A code is 10 random symbols
(50 bits from `secrets`) plus one check symbol, shown as ``XXXX-XXXX-XXX``. The check symbol is
Luhn mod N over the alphabet, which catches every single-symbol typo and every swap of two
adjacent symbols, so a mistyped code is refused before the database is asked.
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
N = len(ALPHABET)
BODY_LENGTH = 10


def check_symbol(body: str) -> str:
    """Luhn mod N check symbol of `body` (characters from ALPHABET)."""
    factor = 2
    total = 0
    for ch in reversed(body):
        addend = factor * _INDEX[ch]
        factor = 1 if factor == 2 else 2
        total += addend // N + addend % N
    return ALPHABET[(N - total % N) % N]


def _format(raw: str) -> str:
    return "-".join(raw[i:i + 4] for i in range(0, len(raw), 4))


def generate() -> str:
    body = "".join(secrets.choice(ALPHABET) for _ in range(BODY_LENGTH))
    return _format(body + check_symbol(body))


def normalise(code: str) -> str | None:
    """Canonical form of a typed code (case, spaces and dashes ignored), or None if it cannot
    be one of ours (wrong length, foreign symbol, wrong check symbol)."""
    raw = "".join(ch for ch in code.upper() if ch not in " -\t")
    if len(raw) != BODY_LENGTH + 1 or any(ch not in _INDEX for ch in raw):
        return None
    if check_symbol(raw[:-1]) != raw[-1]:
        return None
    return _format(raw)
