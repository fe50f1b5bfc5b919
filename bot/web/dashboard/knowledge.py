"""Knowledge entries in the dashboard: search, add, edit and remove (admins), with history and live reindexing."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Depends, Form, HTTPException, Request
from fastapi.responses import RedirectResponse, Response

from bot.core.admin.entries import EditConflict, EntryDraft, EntryInfo
from bot.core.errors import NotFound, TorchtutorError
from bot.web.dashboard import tables
from bot.web.dashboard.catalogue import knowledge_rows
from bot.web.dashboard.params import FiltersDep
from bot.web.dashboard.tables import Context
from bot.web.security import AdminDep, Viewer, ViewerDep, require_csrf
from bot.web.templating import render
from knowledge.entries import Entry

router = APIRouter(prefix="/dashboard/knowledge")
FIELD_LIMIT = 25_000


def _demo_names() -> list[str]:
    from workers.demos import list_demos

    return [demo.name for demo in list_demos()]


def _index_status(request: Request) -> dict[str, Any]:
    runtime = request.app.state.runtime
    reindexer = request.app.state.reindexer
    return {"version": runtime.knowledge.version, "entries": len(runtime.knowledge.index),
            "busy": reindexer.busy or not runtime.ready, "error": reindexer.last_error,
            "calibration": runtime.ask.calibration.to_json()}


@router.get("")
def list_entries(request: Request, viewer: ViewerDep,
                 chosen: FiltersDep) -> Response:
    """Every entry, searchable by id, question, other phrasings, answer and tags."""
    runtime = request.app.state.runtime
    spec = tables.get("knowledge-entries")
    with runtime.database.session() as session:
        rows = knowledge_rows(Context(runtime, session, chosen.period, chosen.query))
    return render(request, "dashboard/knowledge.html", section="knowledge", viewer=viewer, rows=rows, spec=spec,
                  filters=chosen, status=_index_status(request))


@router.get("/new")
def new_entry_form(request: Request, viewer: AdminDep, question: str = "") -> Response:
    """An empty form; from a gap, the question is filled in."""
    form = {"question": question[:500], "answer": "", "aliases": "", "tags": "", "demo": ""}
    return _form(request, viewer, None, form, version=0)


@router.post("/new", dependencies=[Depends(require_csrf)])
def create_entry(request: Request, viewer: AdminDep,
                 question: str = Form("", max_length=FIELD_LIMIT), answer: str = Form("", max_length=FIELD_LIMIT),
                 aliases: str = Form("", max_length=FIELD_LIMIT), tags: str = Form("", max_length=2000),
                 demo: str = Form("", max_length=64)) -> Response:
    """Store a new entry and reindex; the id is the question's slug."""
    form = {"question": question, "answer": answer, "aliases": aliases, "tags": tags, "demo": demo}
    admin = request.app.state.runtime.knowledge_admin
    try:
        entry_id = admin.add(EntryDraft.from_form(**form), by=viewer.username).entry_id
    except TorchtutorError as exc:
        return _form(request, viewer, None, form, version=0, error=exc.user_message(), status_code=400)
    return RedirectResponse(f"/dashboard/knowledge/{quote(entry_id)}?saved=1", 303)


@router.get("/{entry_id}")
def show_entry(request: Request, entry_id: str, viewer: ViewerDep, saved: int = 0) -> Response:
    """One entry as the bot answers it, and every saved version."""
    runtime = request.app.state.runtime
    # The status first: a rebuild finishing while this page is read then shows as "reindexing", and the page
    # reloads, rather than as "up to date" beside an entry read from the index it replaced.
    status = _index_status(request)
    live = runtime.knowledge.index.by_id.get(entry_id)
    info = runtime.knowledge_admin.get(entry_id)
    if live is None and info is None:
        raise HTTPException(404, f"there is no entry {entry_id!r}")
    row = info if info is not None and info.version else None  # the stored versions' latest, if any
    history = runtime.knowledge_admin.history(entry_id)
    # What the bot answers now, or (until the reindex catches up, or once removed) the saved version.
    is_live = live is not None and (row is None or _is_current(live, row))
    current = live if is_live or row is None else row.entry
    return render(request, "dashboard/entry.html", section="knowledge", viewer=viewer, entry_id=entry_id, live=live,
                  row=row, current=current, is_live=is_live, history=history, saved=bool(saved), status=status)


def _is_current(live: Entry, row: EntryInfo) -> bool:
    return live.source == "database" and live.position == row.version and not row.deleted


@router.get("/{entry_id}/edit")
def edit_entry_form(request: Request, entry_id: str, viewer: AdminDep) -> Response:
    """The entry's current text in the form, with the version it was read at."""
    current, version = _current(request, entry_id)
    form = {"question": current.question, "answer": current.answer, "aliases": "\n".join(current.aliases),
            "tags": ", ".join(current.tags), "demo": current.demo or ""}
    return _form(request, viewer, entry_id, form, version=version)


@router.post("/{entry_id}/edit", dependencies=[Depends(require_csrf)])
def update_entry(request: Request, entry_id: str, viewer: AdminDep,
                 question: str = Form("", max_length=FIELD_LIMIT), answer: str = Form("", max_length=FIELD_LIMIT),
                 aliases: str = Form("", max_length=FIELD_LIMIT), tags: str = Form("", max_length=2000),
                 demo: str = Form("", max_length=64), version: int = Form(0)) -> Response:
    """Save a new version of the entry (409 when someone saved meanwhile) and reindex."""
    _current(request, entry_id)
    form = {"question": question, "answer": answer, "aliases": aliases, "tags": tags, "demo": demo}
    admin = request.app.state.runtime.knowledge_admin
    try:
        admin.save(entry_id, EntryDraft.from_form(**form), by=viewer.username, expected_version=version)
    except TorchtutorError as exc:
        status = 409 if isinstance(exc, EditConflict) else 400
        return _form(request, viewer, entry_id, form, version=version, error=exc.user_message(), status_code=status)
    return RedirectResponse(f"/dashboard/knowledge/{quote(entry_id)}?saved=1", 303)


@router.post("/{entry_id}/delete", dependencies=[Depends(require_csrf)])
def remove_entry(request: Request, entry_id: str, viewer: AdminDep,
                 version: int = Form(0)) -> Response:
    """Take the entry out of the knowledge base (its history stays) and reindex."""
    try:
        request.app.state.runtime.knowledge_admin.delete(entry_id, by=viewer.username, expected_version=version)
    except TorchtutorError as exc:
        raise HTTPException(404 if isinstance(exc, NotFound) else 409, exc.user_message()) from None
    return RedirectResponse(f"/dashboard/knowledge/{quote(entry_id)}?saved=1", 303)


def _current(request: Request, entry_id: str) -> tuple[EntryDraft, int]:
    """What the entry says now (the stored version wins over the document) and its stored version (0: none)."""
    info = request.app.state.runtime.knowledge_admin.get(entry_id)
    if info is None:
        raise HTTPException(404, f"there is no entry {entry_id!r}")
    return EntryDraft.from_entry(info.entry), info.version


def _form(request: Request, viewer: Viewer, entry_id: str | None, form: dict[str, str], *, version: int,
          error: str | None = None, status_code: int = 200) -> Response:
    return render(request, "dashboard/entry_form.html", status_code=status_code, section="knowledge", viewer=viewer,
                  entry_id=entry_id, form=form, version=version, error=error, demos=_demo_names())
