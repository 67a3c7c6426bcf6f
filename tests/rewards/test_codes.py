"""Voucher codes: readable alphabet, canonical form, and typos caught by the check symbol."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from loyalist.rewards import codes

BODY = st.text(alphabet=codes.ALPHABET, min_size=codes.BODY_LENGTH, max_size=codes.BODY_LENGTH)


def _code(body: str) -> str:
    return body + codes.check_symbol(body)


def test_generated_codes_are_canonical_and_unambiguous() -> None:
    for _ in range(200):
        code = codes.generate()
        assert len(code) == 13 and code[4] == code[9] == "-"
        assert codes.normalise(code) == code
        assert codes.normalise(f"  {code.lower().replace('-', ' ')} ") == code
        assert not set(code) & set("0O1I")


@settings(max_examples=200, deadline=None)
@given(BODY)
def test_every_single_substitution_is_detected(body: str) -> None:
    raw = _code(body)
    for i, original in enumerate(raw):
        for ch in codes.ALPHABET:
            if ch != original:
                assert codes.normalise(raw[:i] + ch + raw[i + 1:]) is None


@settings(max_examples=200, deadline=None)
@given(BODY)
def test_every_adjacent_swap_is_detected(body: str) -> None:
    raw = _code(body)
    for i in range(len(raw) - 1):
        swapped = raw[:i] + raw[i + 1] + raw[i] + raw[i + 2:]
        if swapped != raw:
            assert codes.normalise(swapped) is None


def test_foreign_symbols_and_lengths_are_refused() -> None:
    good = codes.generate().replace("-", "")
    assert codes.normalise(good[:-1]) is None
    assert codes.normalise(good + "A") is None
    assert codes.normalise("0" + good[1:]) is None
    assert codes.normalise("") is None
