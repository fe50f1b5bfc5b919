"""The conversation core asks `bot/db` for rows and never writes SQL itself: no file under `bot/core` imports
SQLAlchemy's statement builders (`select`, `text`, ...) or the package whole (which would reach them as `sa.select`).
Sessions, exceptions and the ORM's types stay allowed: they are how the core holds a transaction."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
CORE = REPO / "bot" / "core"
BUILDERS = {"select", "text", "insert", "update", "delete", "func", "case", "distinct", "and_", "or_", "not_",
            "literal", "literal_column", "column", "table", "union", "exists", "bindparam"}


def sql_imports(source: str) -> list[str]:
    """Each import in the source that brings SQL-building into a module, as written."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found += [f"import {a.name}" for a in node.names if a.name == "sqlalchemy" or
                      a.name.startswith(("sqlalchemy.sql", "sqlalchemy.dialects", "sqlalchemy.future"))]
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("sqlalchemy"):
            module = node.module or ""
            names = [a.name for a in node.names]
            if module.startswith(("sqlalchemy.sql", "sqlalchemy.dialects", "sqlalchemy.future")) or \
                    (module == "sqlalchemy" and (BUILDERS & set(names) or "*" in names)):
                found.append(f"from {module} import {', '.join(names)}")
    return found


@pytest.mark.parametrize("source", [
    "from sqlalchemy import select",
    "from sqlalchemy import ColumnElement, func, select",
    "from sqlalchemy import text",
    "import sqlalchemy as sa",
    "from sqlalchemy.sql import text",
    "from sqlalchemy.dialects import postgresql",
    "def f():\n    from sqlalchemy import select\n    return select",
    "from sqlalchemy import *",
])
def test_the_scan_finds_each_way_of_importing_sql(source: str) -> None:
    assert sql_imports(source)


@pytest.mark.parametrize("source", [
    "from sqlalchemy.orm import Session",
    "from sqlalchemy.exc import IntegrityError, SQLAlchemyError",
    "from bot.db import repo\nrepo.find_user(session=s, platform='x', platform_user_id='1')",
    "text = 'select(' + 'x'",
])
def test_the_scan_leaves_sessions_and_exceptions_alone(source: str) -> None:
    assert not sql_imports(source)


def test_no_core_module_builds_sql() -> None:
    files = sorted(CORE.rglob("*.py"))
    assert len(files) > 20, "the scan sees the core"
    found = {str(path.relative_to(CORE)): imports for path in files
             if (imports := sql_imports(path.read_text()))}
    assert not found, f"SQL belongs in a bot/db repository, not in bot/core: {found}"
