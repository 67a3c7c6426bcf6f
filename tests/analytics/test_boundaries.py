"""`loyalist.analytics` depends on nothing else of ours and on no web/database framework."""

from __future__ import annotations

import ast
from pathlib import Path

import loyalist.analytics as analytics

FORBIDDEN = ("sqlalchemy", "fastapi", "starlette", "pydantic")


def test_analytics_imports_no_framework_and_no_other_loyalist_package() -> None:
    root = Path(analytics.__file__).parent
    offenders = []
    for path in root.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            for name in names:
                if name.split(".")[0] in FORBIDDEN or (name.startswith("loyalist.")
                                                       and not name.startswith("loyalist.analytics")):
                    offenders.append(f"{path.relative_to(root)}: {name}")
    assert offenders == []


def test_public_api_is_reachable() -> None:
    assert callable(analytics.analyze) and callable(analytics.summary_data)
    assert analytics.AnalyticsInputError.__name__ == "AnalyticsInputError"
