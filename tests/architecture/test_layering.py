"""The dependency direction of docs/architecture.md, checked on every import in the package.

Why a test: the layering is what lets a domain be understood (and changed) without reading the
ones above it. A lower domain importing a higher one compiles fine and rots the design quietly.
Rules: a package may import packages of a lower rank (or its own); delivery packages (rank 100)
never import each other, except that the CLI may start the demo and the worker; `analytics`
imports nothing of ours.
"""

from __future__ import annotations

import ast
from pathlib import Path

import loyalist

CORE = {"config", "db", "errors", "types", "clock", "migrate", "registry", "signing", "csrf", "audit", "staff",
        "backup", "ratelimit", "migrations", "runtime", "__init__"}
DOMAIN_ORDER = [
    "interactions", "customers", "messaging", "tasks", "customer_auth", "purchases", "ledger", "tiers", "rewards",
    "events", "feedback", "surveys", "cases", "scores", "segments", "offers", "campaigns", "automation",
]
DELIVERY = {"api", "web", "portal", "cli", "worker", "demo"}
ALLOWED_DELIVERY_EDGES = {("cli", "demo"), ("cli", "worker"), ("cli", "api"), ("demo", "api"), ("web", "api"),
                          ("api", "web"), ("api", "portal"), ("portal", "api"), ("portal", "web"), ("worker", "api")}


def rank(top: str) -> int:
    if top in CORE:
        return 0
    if top == "analytics":
        return -1
    if top in DELIVERY:
        return 100
    if top in DOMAIN_ORDER:
        return 1 + DOMAIN_ORDER.index(top)
    raise AssertionError(f"package loyalist.{top} has no place in the layering: add it to "
                         "tests/architecture/test_layering.py and docs/architecture.md")


def imports_of(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]
        else:
            continue
        for name in names:
            parts = name.split(".")
            if parts[0] == "loyalist" and len(parts) > 1:
                found.add(parts[1])
    return found


def test_every_import_points_down() -> None:
    root = Path(loyalist.__file__).parent
    violations = []
    files = list(root.rglob("*.py"))
    assert len(files) > 50
    for path in files:
        rel = path.relative_to(root)
        top = rel.parts[0].removesuffix(".py")
        if top in CORE:
            continue
        mine = rank(top)
        for other in imports_of(path) - {top}:
            theirs = rank(other)
            if top == "analytics":
                if other not in {"analytics"}:
                    violations.append(f"{rel}: analytics must not import loyalist.{other}")
                continue
            if mine == 100 and theirs == 100:
                if (top, other) not in ALLOWED_DELIVERY_EDGES:
                    violations.append(f"{rel}: delivery layer {top} imports delivery layer {other}")
            elif theirs > mine:
                violations.append(f"{rel}: {top} (rank {mine}) imports higher loyalist.{other} (rank {theirs})")
    assert violations == []
