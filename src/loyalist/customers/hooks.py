"""Extension points through which other domains take part in customer-wide operations.

Domains above `customers` (ledger, events, rewards, tiers...) register from their `service`
module at import time; merge/export/erase/360 call `registry.load_all_services()` first, so a
handler is never missed because its module happened not to be imported yet.

- merge handler:   fn(session, *, survivor_id, duplicate_id, actor) -> None   (move your rows)
- export section:  fn(session, customer_id) -> JSON-able                    (GDPR export)
- erasure handler: fn(session, *, customer_id, actor) -> None              (anonymise your PII)
- view section:    fn(session, customer_id) -> JSON-able                    (customer 360 page)

Registration is keyed by the function's module and qualified name, so re-importing a module
replaces rather than duplicates its handler.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

MergeHandler = Callable[..., None]
ErasureHandler = Callable[..., None]
SectionFn = Callable[[Any, int], Any]

_merge: dict[str, MergeHandler] = {}
_erasure: dict[str, ErasureHandler] = {}
_export: dict[str, SectionFn] = {}
_view: dict[str, SectionFn] = {}


def _key(fn: Callable[..., Any]) -> str:
    return f"{getattr(fn, '__module__', '?')}.{getattr(fn, '__qualname__', repr(fn))}"


def register_merge_handler(fn: MergeHandler) -> MergeHandler:
    _merge[_key(fn)] = fn
    return fn


def register_erasure_handler(fn: ErasureHandler) -> ErasureHandler:
    _erasure[_key(fn)] = fn
    return fn


def register_export_section(name: str, fn: SectionFn) -> SectionFn:
    _export[name] = fn
    return fn


def register_view_section(name: str, fn: SectionFn) -> SectionFn:
    _view[name] = fn
    return fn


def unregister(fn_or_name: Callable[..., Any] | str) -> None:
    """Remove a handler or a named section (tests register temporary ones)."""
    if isinstance(fn_or_name, str):
        _export.pop(fn_or_name, None)
        _view.pop(fn_or_name, None)
        return
    key = _key(fn_or_name)
    _merge.pop(key, None)
    _erasure.pop(key, None)


def merge_handlers() -> list[MergeHandler]:
    return list(_merge.values())


def erasure_handlers() -> list[ErasureHandler]:
    return list(_erasure.values())


def export_sections() -> dict[str, SectionFn]:
    return dict(_export)


def view_sections() -> dict[str, SectionFn]:
    return dict(_view)
