"""HTTP routes of version history: list, save, read, compare and restore versions of a document;
imports starlette, never aiosqlite or uvicorn.

Every route asks `access.require` first (viewers read, editors write); refusals and failures
are answered by `errors.answer`, a refusal having changed nothing.
"""

from __future__ import annotations

import asyncio
import logging
import unicodedata
from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from .. import content
from ..access import require
from ..restore import RestoreError
from ..store.base import DocName, DocumentNotFound, DocumentStore, VersionInfo
from ..sync.rooms import Rooms
from ..types import Role
from ..versions import (
    NotUndoable,
    TextDiff,
    VersionRecorder,
    diff_texts,
    doc_from_state,
)
from .errors import HTTPError
from .params import doc_name, json_body, page_limit

log = logging.getLogger("coedit.history")

MAX_LABEL = 200
DEFAULT_PAGE = 100
MAX_PAGE = 500
FORMATS = ("json", "html", "md", "text")
MEDIA_TYPES = {
    "html": "text/html; charset=utf-8",
    "md": "text/markdown; charset=utf-8",
    "text": "text/plain; charset=utf-8",
}
# Document HTML is user content: opened directly, it must not run scripts or load anything on
# this origin. A panel that fetches it and inserts it into its own page is unaffected.
HTML_HEADERS = {
    "Content-Security-Policy": "sandbox; default-src 'none'",
    "X-Content-Type-Options": "nosniff",
}


def version_json(info: VersionInfo) -> dict[str, Any]:
    return {
        "id": info.id,
        "created_at": info.created_at,
        "kind": info.kind,
        "label": info.label,
        "authors": list(info.authors),
        "size": info.size,
        # A restore entry: what it restored (its label or time names it) and the backup that
        # undoes it, which the list does not show separately.
        "restored": None
        if info.restored is None
        else {
            "id": info.restored.id,
            "label": info.restored.label,
            "created_at": info.restored.created_at,
            "backup": info.restored.backup,
        },
        "undone_at": info.undone_at,
    }


# -- request parts -----------------------------------------------------------------------------


def _store(request: Request) -> DocumentStore:
    rooms: Rooms = request.app.state.rooms
    return rooms.store


async def _document(request: Request, role: Role) -> DocName:
    """The document named in the path, once the caller may act on it as `role`."""
    name = doc_name(request)  # one percent-encoded segment, see params.RawDocPaths
    await require(request, name, role)
    if await _store(request).info(name) is None:
        raise HTTPError(404, f"no document {name!r}")
    return name


def _parse_id(raw: str) -> int | None:
    # Plain decimal digits only: int() would also take "+5", " 5" and non-ASCII digits.
    if not raw.isascii() or not raw.isdigit() or len(raw) > 18:
        return None
    value = int(raw)
    return value if value > 0 else None


async def _version_state(request: Request, name: DocName, raw: str) -> tuple[VersionInfo, bytes]:
    version_id = _parse_id(raw)
    version = None if version_id is None else await _store(request).get_version(name, version_id)
    if version is None:
        raise HTTPError(404, f"{name!r} has no version {raw!r}")
    return version.info, version.state


def _label(body: dict[str, Any]) -> str:
    label = body.get("label")
    if not isinstance(label, str):
        raise HTTPError(400, 'a named version needs {"label": "..."} (a string)')
    label = label.strip()
    if not 1 <= len(label) <= MAX_LABEL:
        raise HTTPError(400, f"label must be 1 to {MAX_LABEL} characters (not just spaces)")
    if any(unicodedata.category(ch) in ("Cc", "Cs") for ch in label):
        raise HTTPError(400, "label must not contain control characters")
    return label


# -- rendering (in a worker thread: building a Doc and converting it take a while) -------------


def _content(state: bytes) -> dict[str, Any]:
    return content.doc_to_json(doc_from_state(state))


def _render(state: bytes, fmt: str) -> str:
    node = _content(state)
    if fmt == "html":
        return content.json_to_html(node)
    if fmt == "md":
        return content.json_to_markdown(node)
    return content.json_to_text(node)


def _text(state: bytes) -> str:
    return content.json_to_text(_content(state))


# -- routes ------------------------------------------------------------------------------------


async def list_versions(request: Request) -> Response:
    """GET: newest first, `?limit=` (1..500, default 100) and `?before=<next>` to page."""
    name = await _document(request, "viewer")
    limit = page_limit(request, DEFAULT_PAGE, MAX_PAGE)
    before = None
    cursor = request.query_params.get("before")
    if cursor:
        before = _parse_id(cursor)
        if before is None:
            raise HTTPError(400, "before must be a cursor returned as `next` by this endpoint")
    versions = await _store(request).list_versions(name, limit=limit + 1, before=before)
    page = versions[:limit]
    more = len(versions) > limit
    return JSONResponse(
        {
            "versions": [version_json(v) for v in page],
            "next": str(page[-1].id) if more and page else None,
        }
    )


async def save_version(request: Request) -> Response:
    """POST {"label": "..."}: record the current state as a named version (kept forever)."""
    name = await _document(request, "editor")
    label = _label(await json_body(request))
    recorder: VersionRecorder = request.app.state.recorder
    info = await recorder.save_named(name, label)
    return JSONResponse(version_json(info), status_code=201)


async def get_version(request: Request) -> Response:
    """GET ?format=json (default: metadata and ProseMirror JSON) | html | md | text."""
    name = await _document(request, "viewer")
    fmt = request.query_params.get("format", "json")
    if fmt not in FORMATS:
        raise HTTPError(400, f"format must be one of {', '.join(FORMATS)}")
    info, state = await _version_state(request, name, request.path_params["version_id"])
    if fmt == "json":
        document = await asyncio.to_thread(_content, state)
        return JSONResponse({"version": version_json(info), "content": document})
    body = await asyncio.to_thread(_render, state, fmt)
    headers = HTML_HEADERS if fmt == "html" else None
    return Response(body, media_type=MEDIA_TYPES[fmt], headers=headers)


async def diff_version(request: Request) -> Response:
    """GET ?against=current (default) | previous | <id>: what the version has that the base
    lacks (insertions, offsets into `target_text`) and what it lacks (deletions, offsets into
    `base_text`), on the documents' plain text. Offsets count Unicode code points."""
    name = await _document(request, "viewer")
    against = request.query_params.get("against", "current")
    base_id: int | str | None
    if against not in ("current", "previous") and _parse_id(against) is None:
        raise HTTPError(400, "against must be current, previous or a version id")
    info, state = await _version_state(request, name, request.path_params["version_id"])
    store = _store(request)
    if against == "current":
        base_id = "current"
        base_state = await store.durable_state(name)
        if base_state is None:
            raise DocumentNotFound(f"no document {name!r}")
    elif against == "previous":
        # The version recorded just before this one (for a restore, the state it replaced);
        # none means the empty document.
        if info.restored is not None:
            older_id: int | None = info.restored.backup
        else:
            older = await store.list_versions(name, limit=1, before=info.id)
            older_id = older[0].id if older else None
        base_id, base_state = None, None
        if older_id is not None:
            base_info, base_state = await _version_state(request, name, str(older_id))
            base_id = base_info.id
    else:
        base_info, base_state = await _version_state(request, name, against)
        base_id = base_info.id
    base_text = "" if base_state is None else await asyncio.to_thread(_text, base_state)
    target_text = await asyncio.to_thread(_text, state)
    diff = await asyncio.to_thread(diff_texts, base_text, target_text)
    return JSONResponse({"base": base_id, "target": info.id, **_diff_json(diff)})


def _diff_json(diff: TextDiff) -> dict[str, Any]:
    return {
        "offsets": "codepoints",
        "base_text": diff.base,
        "target_text": diff.target,
        "insertions": [{"start": r.start, "end": r.end, "text": r.text} for r in diff.insertions],
        "deletions": [{"start": r.start, "end": r.end, "text": r.text} for r in diff.deletions],
        "segments": [{"op": s.op, "text": s.text} for s in diff.segments],
    }


async def _editable_version(request: Request) -> tuple[DocName, int]:
    name = await _document(request, "editor")
    version_id = _parse_id(request.path_params["version_id"])
    if version_id is None:
        raise HTTPError(404, f"{name!r} has no version {request.path_params['version_id']!r}")
    return name, version_id


async def restore_version(request: Request) -> Response:
    """POST: make the live document equal the version, as one change everyone connected sees.
    Answers with the backup of the state just before and the restore entry (the version of the
    state just after; POST its /undo to undo); both are null when the document already equals
    the version."""
    name, version_id = await _editable_version(request)
    recorder: VersionRecorder = request.app.state.recorder
    rooms: Rooms = request.app.state.rooms
    try:
        result = await recorder.restore(rooms, name, version_id)
    except RestoreError as exc:
        raise HTTPError(422, f"this version cannot be restored: {exc}") from exc
    summary = result.summary
    return JSONResponse(
        {
            "restored": result.restored,
            "changed": summary.changed,
            "backup": None if result.backup is None else version_json(result.backup),
            "version": None if result.version is None else version_json(result.version),
            "blocks": {
                "kept": summary.kept,
                "patched": summary.patched,
                "inserted": summary.inserted,
                "deleted": summary.deleted,
            },
        }
    )


async def undo_restore(request: Request) -> Response:
    """POST on a restore entry: put back the text from before that restore, as one live change,
    and mark the entry undone (no entry is added)."""
    name, version_id = await _editable_version(request)
    recorder: VersionRecorder = request.app.state.recorder
    rooms: Rooms = request.app.state.rooms
    try:
        summary = await recorder.undo_restore(rooms, name, version_id)
    except NotUndoable as exc:
        raise HTTPError(409, str(exc)) from exc
    except RestoreError as exc:
        raise HTTPError(422, f"this restore cannot be undone: {exc}") from exc
    info, _ = await _version_state(request, name, str(version_id))
    return JSONResponse({"changed": summary.changed, "version": version_json(info)})


ROUTES = [
    Route("/api/docs/{name}/versions", list_versions, methods=["GET"]),
    Route("/api/docs/{name}/versions", save_version, methods=["POST"]),
    Route("/api/docs/{name}/versions/{version_id}", get_version, methods=["GET"]),
    Route("/api/docs/{name}/versions/{version_id}/diff", diff_version, methods=["GET"]),
    Route("/api/docs/{name}/versions/{version_id}/restore", restore_version, methods=["POST"]),
    Route("/api/docs/{name}/versions/{version_id}/undo", undo_restore, methods=["POST"]),
]
