"""HTTP routes of uploaded files (images): upload into a document, and serve to its readers.

Imports starlette, never a database driver.
"""

from __future__ import annotations

import hashlib
import time
from typing import cast
from urllib.parse import quote

from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route
from starlette.types import Message

from .. import access
from ..files import FilesAndDocs, sniff_image
from ..store.base import DocumentNotFound
from ..sync.rooms import Rooms
from .errors import HTTPError
from .params import doc_name

# The multipart envelope around the file (boundaries, part headers) may add this much.
_MULTIPART_SLACK = 64 * 1024
_SHA256_HEX = frozenset("0123456789abcdef")
# Private: only the document's readers may have it. Immutable: the address is the content's hash.
_CACHE = "private, max-age=31536000, immutable"


def file_url(name: str, sha256: str) -> str:
    return f"/api/docs/{quote(name, safe='')}/files/{sha256}"


def _too_large(limit: int) -> HTTPError:
    return HTTPError(413, f"the file is larger than {limit} bytes")


async def _raw_body(request: Request, limit: int) -> bytes:
    chunks: list[bytes] = []
    size = 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _too_large(limit)  # stop reading: nothing past the limit is kept
        chunks.append(chunk)
    return b"".join(chunks)


async def _multipart_file(request: Request, limit: int) -> bytes:
    """The `file` part of a multipart form, refusing a body past the limit while it arrives
    (Starlette spools the parts to a temporary file, never holding more than 1 MB of one)."""
    received = 0
    receive = request.receive

    async def capped() -> Message:
        nonlocal received
        message = await receive()
        received += len(message.get("body", b""))
        if received > limit + _MULTIPART_SLACK:
            raise _too_large(limit)
        return message

    form = await Request(request.scope, capped).form(max_files=1, max_fields=10)
    try:
        upload = form.get("file")
        if not isinstance(upload, UploadFile):
            raise HTTPError(400, "the form needs a `file` part holding the file")
        data = await upload.read(limit + 1)
    finally:
        await form.close()
    if len(data) > limit:
        raise _too_large(limit)
    return data


async def upload_file(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    limit: int = request.app.state.settings.max_upload_bytes
    name = doc_name(request)
    await access.require(request, name, "editor")
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit + _MULTIPART_SLACK:
        raise _too_large(limit)
    content_type = request.headers.get("content-type", "")
    if content_type.lower().startswith("multipart/form-data"):
        data = await _multipart_file(request, limit)
    else:
        data = await _raw_body(request, limit)
    if not data:
        raise HTTPError(400, "the file is empty")
    media_type = sniff_image(data)
    if media_type is None:
        raise HTTPError(415, "only PNG, JPEG, GIF and WebP images can be uploaded")
    sha256 = hashlib.sha256(data).hexdigest()
    store = cast(FilesAndDocs, rooms.store)
    try:
        await store.put_file(name, sha256=sha256, media_type=media_type, data=data, now=time.time())
    except DocumentNotFound:
        raise HTTPError(404, f"no document named {name!r}") from None
    body = {"url": file_url(name, sha256), "sha256": sha256, "type": media_type, "bytes": len(data)}
    return JSONResponse(body, status_code=201)


async def get_file(request: Request) -> Response:
    rooms: Rooms = request.app.state.rooms
    name = doc_name(request)
    await access.require(request, name, "viewer")
    sha256 = request.path_params["sha256"]
    if len(sha256) != 64 or not set(sha256) <= _SHA256_HEX:
        raise HTTPError(404, "no such file")
    stored = await cast(FilesAndDocs, rooms.store).get_file(name, sha256)
    if stored is None:
        raise HTTPError(404, "no such file in this document")
    return Response(
        stored.data,
        media_type=stored.media_type,
        headers={
            "Cache-Control": _CACHE,
            "ETag": f'"{sha256}"',
            "X-Content-Type-Options": "nosniff",
            # Opened on its own, the file is an image and nothing else.
            "Content-Security-Policy": "default-src 'none'; sandbox",
        },
    )


ROUTES = [
    Route("/api/docs/{name}/files", upload_file, methods=["POST"]),
    Route("/api/docs/{name}/files/{sha256}", get_file, methods=["GET"]),
]
