"""Every table the dashboard shows, declared once: the page, its charts, the JSON API and the CSV export use it."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from sqlalchemy.orm import Session

from bot.core.admin.usage import Period
from bot.runtime import Runtime

# A spreadsheet runs a cell starting with one of these as a formula; people's questions must not (OWASP CSV injection).
_FORMULA_START = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Column:
    """A column: the row key, its heading, how to show it, and optionally a link built from the row."""

    key: str
    label: str
    kind: str = "text"  # text | int | share | datetime
    link: str | None = None  # e.g. "/dashboard/knowledge/{entry_id}", formatted with the row's URL-quoted values


@dataclass(frozen=True)
class Chart:
    """How charts.js draws a table: bars (stacked when several series), a line, or horizontal bars."""

    kind: str  # bars | line | hbars
    x: str
    series: tuple[str, ...]
    percent: bool = False
    title: str = ""


@dataclass
class Context:
    """What a table's rows are computed from: the runtime, an open session, the chosen period, a search."""

    runtime: Runtime
    session: Session
    period: Period
    query: str = ""


@dataclass(frozen=True)
class TableSpec:
    """One dashboard table; `rows` returns plain dicts keyed by the column keys."""

    name: str
    title: str
    section: str
    columns: tuple[Column, ...]
    rows: Callable[[Context], list[dict[str, Any]]] = field(compare=False)
    charts: tuple[Chart, ...] = ()
    description: str = ""


_REGISTRY: dict[str, TableSpec] = {}


def register(*specs: TableSpec) -> None:
    """Make tables known to the pages, the API and the export (a later registration of a name replaces it)."""
    for spec in specs:
        _REGISTRY[spec.name] = spec


def get(name: str) -> TableSpec | None:
    """The table called `name`, if any."""
    return _REGISTRY.get(name)


def in_section(section: str) -> list[TableSpec]:
    """The tables of one dashboard section, in registration order."""
    return [spec for spec in _REGISTRY.values() if spec.section == section]


def all_specs() -> list[TableSpec]:
    return list(_REGISTRY.values())


def plain(value: Any) -> Any:
    """A JSON- and CSV-friendly value: datetimes and dates as ISO text, tuples as lists."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, tuple | list):
        return [plain(v) for v in value]
    return value


def to_json(spec: TableSpec, rows: list[dict[str, Any]]) -> dict[str, Any]:
    """The API's shape of a table."""
    return {"name": spec.name, "title": spec.title,
            "columns": [{"key": c.key, "label": c.label, "kind": c.kind} for c in spec.columns],
            "rows": [{c.key: plain(row.get(c.key)) for c in spec.columns} for row in rows]}


def to_csv(spec: TableSpec, rows: list[dict[str, Any]]) -> str:
    """The table as CSV with a header row; cells that a spreadsheet would run as formulas are quoted with '."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow([c.key for c in spec.columns])
    for row in rows:
        writer.writerow([_csv_cell(plain(row.get(c.key))) for c in spec.columns])
    return out.getvalue()


def _csv_cell(value: Any) -> Any:
    if value is None:
        return ""
    if isinstance(value, list):
        value = "; ".join(str(v) for v in value)
    if isinstance(value, str) and value.startswith(_FORMULA_START):
        return "'" + value
    return value
