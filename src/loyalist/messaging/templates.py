"""Rendering of message templates with a sandboxed Jinja2.

Templates are written by staff, so they are untrusted code: the sandbox refuses attribute
access to internals (`__class__`, `__globals__`...), StrictUndefined turns a misspelt variable
into an error instead of an empty greeting ("Dear ,"), and the HTML body is auto-escaped so a
customer's name cannot inject markup. Variables are plain values handed in by the caller; no
database object is ever exposed to a template.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from jinja2 import StrictUndefined, Template, TemplateError, TemplateSyntaxError, UndefinedError
from jinja2.exceptions import SecurityError
from jinja2.sandbox import SandboxedEnvironment

from loyalist.errors import ValidationFailed

# a guard against templates that try to allocate the world ("{{ 'x' * 10**9 }}")
MAX_OUTPUT = 1_000_000


class _Sandbox(SandboxedEnvironment):
    """The stock sandbox plus limits on `*` and `**`, which it would otherwise evaluate freely."""

    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator: str, left: Any, right: Any) -> Any:
        if operator == "**":
            if isinstance(right, (int, float)) and abs(right) > 100:
                raise SecurityError("exponent too large")
            return left ** right
        for a, b in ((left, right), (right, left)):
            if isinstance(a, (str, list, tuple)) and isinstance(b, int) and len(a) * b > MAX_OUTPUT:
                raise SecurityError("repetition too large")
        return left * right


_text_env = _Sandbox(undefined=StrictUndefined, autoescape=False, keep_trailing_newline=True)
_html_env = _Sandbox(undefined=StrictUndefined, autoescape=True, keep_trailing_newline=True)


@lru_cache(maxsize=512)
def _compiled(source: str, html: bool) -> Template:
    """Compiling costs far more than rendering; a campaign renders one text thousands of times."""
    return (_html_env if html else _text_env).from_string(source)


def _compile(source: str, field: str) -> Template:
    try:
        return _compiled(source, field.endswith("html"))
    except TemplateSyntaxError as exc:
        raise ValidationFailed(f"{field}: template syntax error on line {exc.lineno}: {exc.message}",
                               field=field, line=exc.lineno) from exc


def check_syntax(source: str | None, *, field: str) -> None:
    """Refuse a template that does not parse, naming the field and line."""
    if source is not None:
        _compile(source, field)


def render(source: str | None, context: dict[str, Any], *, field: str) -> str | None:
    """Render one template text; every failure becomes a ValidationFailed naming the field."""
    if source is None:
        return None
    template = _compile(source, field)
    try:
        out = template.render(**context)
    except UndefinedError as exc:
        raise ValidationFailed(f"{field}: {exc.message}", field=field) from exc
    except SecurityError as exc:
        raise ValidationFailed(f"{field}: not allowed in a template: {exc}", field=field) from exc
    except (TemplateError, ArithmeticError, TypeError, ValueError, OverflowError, MemoryError) as exc:
        raise ValidationFailed(f"{field}: cannot render: {exc}", field=field) from exc
    if len(out) > MAX_OUTPUT:
        raise ValidationFailed(f"{field}: rendered text longer than {MAX_OUTPUT} characters", field=field)
    return out
