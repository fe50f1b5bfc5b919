"""Jinja2 templates (autoescaped) with what every page needs: the viewer, the CSRF token, the navigation."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import Request
from fastapi.templating import Jinja2Templates
from starlette.responses import Response

from bot.adapters.html import to_html
from bot.web.security import csrf_token, current_viewer

TEMPLATES_DIR = Path(__file__).resolve().parent / "templates"
STATIC_DIR = Path(__file__).resolve().parent / "static"

NAVIGATION = (
    ("overview", "/dashboard", "Overview"),
    ("quizzes", "/dashboard/quizzes", "Quizzes"),
    ("knowledge", "/dashboard/knowledge", "Knowledge"),
    ("gaps", "/dashboard/gaps", "Gaps"),
    ("jobs", "/dashboard/jobs", "Demo jobs"),
    ("playground", "/playground", "Playground"),
)


def _cell(value: Any, kind: str = "text") -> str:
    """A table cell as text: shares as percentages, times to the minute, lists joined."""
    if value is None or value == "":
        return "—"
    if kind == "share":
        return f"{float(value) * 100:.0f}%"
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    if isinstance(value, tuple | list):
        return ", ".join(str(v) for v in value) or "—"
    return str(value)


def _link(template: str, row: dict[str, Any]) -> str | None:
    values = {k: quote(str(v), safe="") for k, v in row.items() if v is not None}
    try:
        return template.format(**values)
    except KeyError:
        return None


templates = Jinja2Templates(directory=str(TEMPLATES_DIR))
templates.env.filters["cell"] = _cell
templates.env.filters["markup"] = to_html
templates.env.globals["row_link"] = _link
templates.env.globals["navigation"] = NAVIGATION


def render(request: Request, name: str, status_code: int = 200, headers: dict[str, str] | None = None,
           **context: Any) -> Response:
    """A page with the viewer, the CSRF token and the navigation filled in."""
    context.setdefault("viewer", current_viewer(request))
    context.setdefault("csrf_token", csrf_token(request))
    context.setdefault("section", "")
    return templates.TemplateResponse(request, name, context, status_code=status_code, headers=headers)
