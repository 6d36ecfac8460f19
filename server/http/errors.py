"""How the HTTP layer fails: one error type, and the one handler that answers every failure as
JSON `{"error": "..."}`."""

from __future__ import annotations

import logging

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..access import AccessDenied
from ..store.base import DocumentNotFound, StoreError, UserExists, UserNotFound
from ..sync.rooms import ShuttingDown
from ..versions import DocumentBusy, VersionNotFound

log = logging.getLogger("coedit.api")


class HTTPError(Exception):
    """Refuse the request with this status and message; raised before anything was changed."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# Failures whose message is fit to show as it is. Order matters: the store's own "not found"
# and "exists" errors are StoreErrors too, and must not read as a storage failure.
STATUSES: tuple[tuple[type[Exception], int], ...] = (
    (DocumentNotFound, 404),
    (UserNotFound, 404),
    (VersionNotFound, 404),
    (UserExists, 409),
    (ShuttingDown, 503),
    (DocumentBusy, 503),
)


async def answer(request: Request, exc: Exception) -> Response:
    """The one exception handler: every route's failures, as JSON with their status."""
    if isinstance(exc, HTTPError | AccessDenied):
        return error(exc.status, exc.message)
    for kind, status in STATUSES:
        if isinstance(exc, kind):
            return error(status, str(exc))
    if isinstance(exc, StoreError):
        log.error("storage failed during %s %s", request.method, request.url.path, exc_info=exc)
        return error(503, f"storage failed: {exc}")
    # Anything else is a bug: Starlette re-raises it after this answer, so it is logged there.
    return error(500, "internal error")


# Registering Exception puts `answer` in Starlette's outermost error middleware too, so that
# even a bug answers JSON; the others are answered by the exception middleware around routes.
EXCEPTION_HANDLERS = {
    kind: answer
    for kind in (HTTPError, AccessDenied, StoreError, *(kind for kind, _ in STATUSES), Exception)
}
