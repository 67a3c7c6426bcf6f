"""Form helpers: turn a posted form into typed values and every failure into `{field: message}`.

Domain services name the offending input in `DomainError.field`; Pydantic names it in the error
location. Both end up next to the field of the re-rendered form (see `_macros.html: field`).
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from pydantic import ValidationError

from loyalist.errors import DomainError


class FormInvalid(Exception):
    """Collected field errors of one form; raised before any service is called."""

    def __init__(self, errors: dict[str, str]) -> None:
        super().__init__("; ".join(f"{k}: {v}" for k, v in errors.items()))
        self.errors = errors


def errors_of(exc: Exception) -> dict[str, str]:
    """Field -> message for a DomainError, a Pydantic ValidationError or a FormInvalid."""
    if isinstance(exc, FormInvalid):
        return dict(exc.errors)
    if isinstance(exc, ValidationError):
        out: dict[str, str] = {}
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ())]
            name = loc[0] if loc else "__all__"
            msg = str(err.get("msg", "invalid"))
            if len(loc) > 1:
                msg = f"{'.'.join(loc[1:])}: {msg}"
            out.setdefault(name, msg.removeprefix("Value error, "))
        return out
    if isinstance(exc, DomainError):
        field = exc.field or "__all__"
        message = exc.message
        if exc.field and message.startswith(exc.field + ":"):
            message = message[len(exc.field) + 1:].strip()
        top, _, rest = field.partition(".")  # "params.points" is shown at the params field
        return {top: f"{rest}: {message}" if rest else message}
    raise TypeError(f"not a form error: {exc!r}")


class Reader:
    """Reads typed values out of a form dict, collecting an error per bad field instead of stopping."""

    def __init__(self, form: dict[str, Any]) -> None:
        self.form = form
        self.errors: dict[str, str] = {}

    def text(self, name: str, *, required: bool = False, max_len: int | None = None) -> str | None:
        value = str(self.form.get(name) or "").strip()
        if not value:
            if required:
                self.errors[name] = "required"
            return None
        if max_len is not None and len(value) > max_len:
            self.errors[name] = f"at most {max_len} characters"
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        raw = self.text(name, required=required)
        if raw is None:
            return None
        try:
            value = int(raw)
        except ValueError:
            self.errors[name] = "must be a whole number"
            return None
        if minimum is not None and value < minimum:
            self.errors[name] = f"must be at least {minimum}"
        return value

    def decimal(self, name: str, *, required: bool = False) -> Decimal | None:
        raw = self.text(name, required=required)
        if raw is None:
            return None
        try:
            value = Decimal(raw.replace(",", "."))
        except InvalidOperation:
            self.errors[name] = "must be a number"
            return None
        if not value.is_finite():
            self.errors[name] = "must be a number"
            return None
        return value

    def boolean(self, name: str) -> bool:
        return str(self.form.get(name) or "").lower() in {"1", "on", "true", "yes"}

    def when(self, name: str) -> datetime | None:
        """A datetime-local input (no zone) is read as UTC, which the page says next to the field."""
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = datetime.fromisoformat(raw)
        except ValueError:
            self.errors[name] = "must be a date and time (YYYY-MM-DD HH:MM)"
            return None
        return value if value.tzinfo else value.replace(tzinfo=UTC)

    def words(self, name: str) -> list[str] | None:
        raw = self.text(name)
        if raw is None:
            return None
        return [w.strip() for w in raw.replace("\n", ",").split(",") if w.strip()]

    def json_object(self, name: str) -> dict[str, Any] | None:
        raw = self.text(name)
        if raw is None:
            return None
        try:
            value = json.loads(raw)
        except json.JSONDecodeError as exc:
            self.errors[name] = f"not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
            return None
        if not isinstance(value, dict):
            self.errors[name] = "must be a JSON object ({...})"
            return None
        return value

    def check(self) -> None:
        if self.errors:
            raise FormInvalid(self.errors)
