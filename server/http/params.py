"""Reading a request: its JSON body, string fields, and the document name in its raw path."""

from __future__ import annotations

import json
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.types import ASGIApp, Receive, Scope, Send

from ..names import name_problem
from ..store.base import DocName
from .errors import HTTPError

MAX_BODY_BYTES = 8 * 1024 * 1024


async def json_body(request: Request) -> dict[str, Any]:
    """The request's JSON object, refusing oversize, malformed or non-object bodies."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise HTTPError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    body = b""
    async for chunk in request.stream():
        body += chunk
        if len(body) > MAX_BODY_BYTES:
            raise HTTPError(413, f"request body is larger than {MAX_BODY_BYTES} bytes")
    if not body:
        return {}
    try:
        value = json.loads(body)
    except ValueError as exc:
        raise HTTPError(400, "request body is not valid JSON") from exc
    if not isinstance(value, dict):
        raise HTTPError(400, "request body must be a JSON object")
    return value


def optional_str(body: dict[str, Any], key: str, limit: int) -> str | None:
    value = body.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        raise HTTPError(400, f"{key} must be a string")
    if len(value) > limit:
        raise HTTPError(400, f"{key} is longer than {limit} characters")
    return value


def page_limit(request: Request, default: int, most: int) -> int:
    """`?limit=` of a paged list: an integer from 1 to `most`, `default` when absent."""
    try:
        limit = int(request.query_params.get("limit", str(default)))
    except ValueError:
        raise HTTPError(400, "limit must be an integer") from None
    if not 1 <= limit <= most:
        raise HTTPError(400, f"limit must be between 1 and {most}")
    return limit


def doc_name(request: Request) -> DocName:
    # The path segment stays percent-encoded (see RawDocPaths), so a name may hold "/".
    name = unquote(request.path_params["name"])
    problem = name_problem(name)
    if problem is not None:
        raise HTTPError(400, problem)
    return DocName(name)


# Paths whose next segment is a document's name (percent-encoded).
DOC_PATHS = (b"/api/docs/", b"/api/trash/")


class RawDocPaths:
    """Routes /api/docs/<name>/... (and /api/trash/<name>/...) on the raw path, so that
    "a%2Fexport" stays one name.

    Starlette matches routes against the decoded path, where a document named "notes/export"
    would be indistinguishable from the export of "notes". Under /api/docs/ the name is one
    percent-encoded segment (what encodeURIComponent produces), decoded by `doc_name`.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        raw = scope.get("raw_path")
        if scope["type"] == "http" and raw is not None and raw.startswith(DOC_PATHS):
            scope = {**scope, "path": raw.decode("latin-1")}
        await self.app(scope, receive, send)
