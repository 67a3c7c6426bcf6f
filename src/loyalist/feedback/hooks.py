"""Extension point: what happens when a review or mention needs an answer.

Feedback sits below cases in the layering, so it cannot open a case itself. The cases domain
appends a handler to `on_needs_answer` at import time:

    from loyalist.feedback import hooks
    hooks.register_needs_answer(open_case_for_feedback)

Handler signature: fn(session, *, item: FeedbackItemRead, actor: Actor) -> None. Handlers run
inside the same transaction as the import, exactly once per item (the item remembers that it
was handed over, so re-imports and re-analysis do not fire again).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

NeedsAnswerHandler = Callable[..., Any]

on_needs_answer: list[NeedsAnswerHandler] = []


def _key(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def register_needs_answer(fn: NeedsAnswerHandler) -> NeedsAnswerHandler:
    """Add a handler (re-registering the same function replaces it instead of duplicating)."""
    key = _key(fn)
    on_needs_answer[:] = [h for h in on_needs_answer if _key(h) != key]
    on_needs_answer.append(fn)
    return fn


def unregister_needs_answer(fn: NeedsAnswerHandler) -> None:
    key = _key(fn)
    on_needs_answer[:] = [h for h in on_needs_answer if _key(h) != key]
