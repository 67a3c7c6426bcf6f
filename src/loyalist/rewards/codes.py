"""Voucher codes people can read aloud and type at a till.

Alphabet: 32 symbols without 0/O/1/I (the pairs people confuse). A code is 10 random symbols
(50 bits from `secrets`) plus one check symbol, shown as ``XXXX-XXXX-XXX``.

The check symbol uses the Damm scheme over the quasigroup ``x * y = 2x + y`` in GF(32): that
operation is totally anti-symmetric, so every single-symbol typo and every swap of two adjacent
symbols (the check symbol included) is caught, and a mistyped code is refused before the
database is asked. (Luhn mod 32 was not enough: it misses swapping the first and last symbol
of the alphabet, e.g. ``A9`` <-> ``9A``.)
"""

from __future__ import annotations

import secrets

ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"
_INDEX = {ch: i for i, ch in enumerate(ALPHABET)}
N = len(ALPHABET)
BODY_LENGTH = 10


_POLY = 0b100101  # x^5 + x^2 + 1, irreducible: GF(32) arithmetic


def _times_two(x: int) -> int:
    x <<= 1
    return x ^ _POLY if x & 0b100000 else x


def _interim(symbols: str) -> int:
    acc = 0
    for ch in symbols:
        acc = _times_two(acc) ^ _INDEX[ch]  # x * y = 2x + y (addition in GF(2^5) is XOR)
    return acc


def check_symbol(body: str) -> str:
    """Damm check symbol of `body` (characters from ALPHABET): the c with interim * c = 0."""
    return ALPHABET[_times_two(_interim(body))]


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
    if _interim(raw) != 0:
        return None
    return _format(raw)
