"""Every WebSocket close code the server sends, in one place (README's table; the browser's
copy, web/src/closecodes.ts, is checked against this file by tests/test_closecodes.py)."""

from __future__ import annotations

from enum import IntEnum


class Close(IntEnum):
    """Why a connection was closed. 1xxx are RFC 6455's; 44xx are Coedit's own, meaning that
    reconnecting as-is cannot help."""

    NORMAL = 1000
    # The server is shutting down: reconnect later.
    GOING_AWAY = 1001
    # A malformed frame: bad varint, truncated or trailing bytes, a malformed Yjs update.
    PROTOCOL_ERROR = 1002
    # An unknown message type (y-protocols auth, type 2), or a text frame.
    UNSUPPORTED = 1003
    # Awareness state that is not UTF-8 JSON, or an update the CRDT engine rejects.
    INVALID_PAYLOAD = 1007
    # Policy: a bad document name, too many awareness ids, step 1 requests or held updates.
    POLICY = 1008
    # A frame larger than max_message_bytes.
    TOO_BIG = 1009
    # An internal error or a storage failure: reconnect.
    INTERNAL = 1011
    # This instance is restarting (SIGTERM with a shared store): reconnect, to another one.
    SERVICE_RESTART = 1012
    # The client stopped reading its frames, or the store is unreachable: reconnect later.
    TRY_AGAIN = 1013
    # The connection's access changed (a link revoked, a role changed): ask again.
    REVOKED = 4403
    # The document was deleted.
    DELETED = 4404
    # The epoch the client connected with is not the document's: discard the local copy.
    STALE_EPOCH = 4410
    # The page's editor schema is older than the server's: reload the page (newer build) before
    # syncing, or it would drop content it cannot represent. Its local copy is kept.
    SCHEMA_OUTDATED = 4426
