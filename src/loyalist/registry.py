"""Import every domain's `models` module so that `Base.metadata` knows every table.

Discovery is by package walk rather than a hand-kept list, so adding a domain with a
`models.py` is enough for Alembic and the test schema to see it.
"""

from __future__ import annotations

import importlib
import importlib.util
import pkgutil

import loyalist


def load_all_models() -> list[str]:
    """Import `loyalist.<domain>.models` for every domain that has one; return their names."""
    loaded: list[str] = []
    for info in pkgutil.iter_modules(loyalist.__path__):
        if not info.ispkg:
            continue
        spec = importlib.util.find_spec(f"loyalist.{info.name}.models")
        if spec is None:
            continue
        importlib.import_module(f"loyalist.{info.name}.models")
        loaded.append(info.name)
    return loaded


def load_all_services() -> list[str]:
    """Import every `loyalist.<domain>.service` so that domains register their hooks
    (merge, export, erasure handlers) before a cross-domain operation runs."""
    loaded: list[str] = []
    for info in pkgutil.iter_modules(loyalist.__path__):
        if not info.ispkg:
            continue
        if importlib.util.find_spec(f"loyalist.{info.name}.service") is None:
            continue
        importlib.import_module(f"loyalist.{info.name}.service")
        loaded.append(info.name)
    return loaded
