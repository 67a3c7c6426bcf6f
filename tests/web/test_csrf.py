"""The one CSRF module shared by the console and the portal (`loyalist.csrf`).

The forms themselves are covered where they live: a missing or forged token is refused on
console forms (tests/web/test_pages.py, test_acting_editors.py, test_auth.py) and on portal forms
(tests/portal/test_account.py, test_sign_in.py)."""

from __future__ import annotations

import pytest

from loyalist import csrf

SECRET = "s" * 40


def test_a_session_token_is_bound_to_its_session_and_its_face() -> None:
    console = csrf.session_token("console", "cookie-a", secret=SECRET)
    assert console == csrf.session_token("console", "cookie-a", secret=SECRET)  # stable: nothing stored
    assert console != csrf.session_token("console", "cookie-b", secret=SECRET)
    assert console != csrf.session_token("portal", "cookie-a", secret=SECRET)  # a console token is no portal token
    assert console != csrf.session_token("console", "cookie-a", secret="t" * 40)
    assert "cookie-a" not in console and len(console) == 64
    assert csrf.check_session("console", "cookie-a", console, secret=SECRET)
    assert not csrf.check_session("portal", "cookie-a", console, secret=SECRET)
    assert not csrf.check_session("console", "cookie-b", console, secret=SECRET)
    assert not csrf.check_session("console", None, console, secret=SECRET)


@pytest.mark.parametrize("presented", [None, "", "x" * 64])
def test_missing_or_forged_tokens_never_match(presented: str | None) -> None:
    token = csrf.session_token("portal", "cookie", secret=SECRET)
    assert not csrf.check_session("portal", "cookie", presented, secret=SECRET)
    assert not csrf.matches(None, presented) and not csrf.matches("", presented)
    assert not csrf.check_double_submit(None, presented) and not csrf.check_double_submit("", token)


def test_double_submit_needs_cookie_and_field_to_agree() -> None:
    value = csrf.new_double_submit()
    assert value != csrf.new_double_submit() and len(value) >= 32
    assert csrf.check_double_submit(value, value)
    assert not csrf.check_double_submit(value, value[:-1])


def test_an_unknown_purpose_is_a_programming_error() -> None:
    with pytest.raises(ValueError, match="purpose"):
        csrf.session_token("admin", "cookie", secret=SECRET)
    with pytest.raises(ValueError, match="cookie"):
        csrf.session_token("console", "", secret=SECRET)
