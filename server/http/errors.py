"""The HTTP layer's errors: the JSON error answer, the status-carrying exception, the decorator
that turns exceptions into answers."""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from ..access import AccessDenied
from ..rooms import ShuttingDown
from ..store.base import DocumentNotFound, StoreError

log = logging.getLogger("coedit.api")


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


class BadRequest(Exception):
    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def handles_errors(
    handler: Callable[[Request], Awaitable[Response]],
) -> Callable[[Request], Awaitable[Response]]:
    async def wrapped(request: Request) -> Response:
        try:
            return await handler(request)
        # BadRequest and AccessDenied are raised before anything was changed.
        except BadRequest as exc:
            return error(exc.status, exc.message)
        except AccessDenied as exc:
            return error(exc.status, exc.message)
        except DocumentNotFound as exc:
            return error(404, str(exc))
        except ShuttingDown as exc:
            return error(503, str(exc))
        except StoreError as exc:
            log.exception("storage failed during %s %s", request.method, request.url.path)
            return error(503, f"storage failed: {exc}")

    return wrapped
