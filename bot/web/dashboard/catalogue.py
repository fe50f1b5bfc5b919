"""The tables of the overview and knowledge sections."""

from __future__ import annotations

from typing import Any

from bot.core.admin import usage
from bot.web.dashboard.gaps import gap_rows
from bot.web.dashboard.tables import Chart, Column, Context, TableSpec, register

ENTRY_LINK = "/dashboard/knowledge/{entry_id}"


def _questions_per_day(ctx: Context) -> list[dict[str, Any]]:
    return usage.questions_per_day(session=ctx.session, period=ctx.period)


def _platforms(ctx: Context) -> list[dict[str, Any]]:
    return usage.questions_by_platform(session=ctx.session, period=ctx.period)


def _top_entries(ctx: Context) -> list[dict[str, Any]]:
    rows = usage.top_entries(session=ctx.session, period=ctx.period)
    by_id = ctx.runtime.knowledge.index.by_id
    for row in rows:
        entry = by_id.get(row["entry_id"])
        row["question"] = entry.question if entry else "(no longer in the knowledge base)"
    return rows


def _channels(ctx: Context) -> list[dict[str, Any]]:
    return usage.channel_activity(session=ctx.session, period=ctx.period)


def _people(ctx: Context) -> list[dict[str, Any]]:
    return usage.people_activity(session=ctx.session, period=ctx.period)


def knowledge_rows(ctx: Context) -> list[dict[str, Any]]:
    """Every live entry (documents and dashboard), plus stored ones not live (removed, or waiting for reindex)."""
    stored = {info.entry.id: info for info in ctx.runtime.knowledge_admin.list(include_deleted=True)
              if info.version}
    rows: list[dict[str, Any]] = []
    live = ctx.runtime.knowledge.index.entries
    for entry in live:
        info = stored.get(entry.id)
        pending = info is not None and (info.deleted or entry.source != "database" or info.version != entry.position)
        rows.append({"entry_id": entry.id, "question": entry.question, "aliases": entry.aliases, "tags": entry.tags,
                     "demo": entry.demo, "answer": entry.answer, "source": _source(entry.source),
                     "version": info.version if info else None, "updated_by": info.updated_by if info else None,
                     "updated_at": info.updated_at if info else None, "status": "reindexing" if pending else "live"})
    live_ids = {entry.id for entry in live}
    for info in stored.values():
        if info.entry.id not in live_ids:
            e = info.entry
            rows.append({"entry_id": e.id, "question": e.question, "aliases": e.aliases, "tags": e.tags,
                         "demo": e.demo, "answer": e.answer, "source": "dashboard", "version": info.version,
                         "updated_by": info.updated_by, "updated_at": info.updated_at,
                         "status": "removed" if info.deleted else "reindexing"})
    query = ctx.query.casefold().strip()
    if query:
        rows = [r for r in rows if query in " ".join([r["entry_id"], r["question"], r["answer"], *r["aliases"],
                                                       *r["tags"]]).casefold()]
    return sorted(rows, key=lambda r: (r["status"] == "removed", r["question"].casefold()))


def _source(source: str) -> str:
    if source == "database":
        return "dashboard"
    return source.rsplit("/", 1)[-1] or "documents"


register(
    TableSpec("questions-per-day", "Questions per day", "overview", (
        Column("day", "Day"), Column("asked", "Asked", "int"), Column("answered", "Answered", "int"),
        Column("declined", "Declined", "int"), Column("answered_share", "Answered", "share"),
    ), _questions_per_day, (Chart("bars", "day", ("answered", "declined"), title="Asked"),
                            Chart("line", "day", ("answered_share",), percent=True, title="Share answered")),
        "Questions answered from the knowledge base and declined, per UTC day."),
    TableSpec("platforms", "Per platform", "overview", (
        Column("platform", "Platform"), Column("asked", "Asked", "int"), Column("answered", "Answered", "int"),
        Column("answered_share", "Answered", "share"), Column("people", "People", "int"),
    ), _platforms, (Chart("hbars", "platform", ("asked",)),)),
    TableSpec("channels", "Active channels", "overview", (
        Column("platform", "Platform"), Column("channel", "Channel"), Column("asked", "Asked", "int"),
        Column("answered_share", "Answered", "share"), Column("people", "People", "int"),
        Column("last_active", "Last active", "datetime"),
    ), _channels),
    TableSpec("top-entries", "Most used entries", "overview", (
        Column("entry_id", "Entry", link=ENTRY_LINK), Column("question", "Question"),
        Column("answered", "Answered", "int"), Column("helpful", "Helpful", "int"),
        Column("not_helpful", "Not helpful", "int"), Column("last_asked", "Last asked", "datetime"),
    ), _top_entries, (Chart("hbars", "question", ("answered",)),)),
    TableSpec("people", "Active people", "overview", (
        Column("platform", "Platform"), Column("person", "Person"), Column("asked", "Asked", "int"),
        Column("answered_share", "Answered", "share"), Column("channels", "Channels", "int"),
        Column("last_active", "Last active", "datetime"),
    ), _people),
    TableSpec("knowledge-entries", "Knowledge entries", "knowledge", (
        Column("question", "Question", link=ENTRY_LINK), Column("entry_id", "Id"), Column("source", "Source"),
        Column("tags", "Tags"), Column("demo", "Demo"), Column("version", "Version", "int"),
        Column("updated_by", "Edited by"), Column("updated_at", "Edited", "datetime"), Column("status", "Status"),
    ), knowledge_rows),
    TableSpec("gaps", "Knowledge gaps", "gaps", (
        Column("key", "Gap"), Column("question", "Question"), Column("asked", "Asked", "int"),
        Column("people", "People", "int"), Column("platforms", "Platforms"), Column("reasons", "Why"),
        Column("first_asked", "First asked", "datetime"), Column("last_asked", "Last asked", "datetime"),
        Column("nearest_entry", "Nearest entry", link="/dashboard/knowledge/{nearest_entry}"),
    ), gap_rows, description="Questions the bot declined, answered with low confidence or voted down, grouped by "
                             "meaning; the question nearest each group's centre shown."),
)
